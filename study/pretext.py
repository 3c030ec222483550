"""The pretext training of the synthetic world's pretrained backbone (study.pretrain): the TimeSformer with its
two heads (the 72 interaction-and-scene classes from CLS, the tracker read-outs from the mean patch token), each
clip under a random content-preserving view, AdamW with a one-cycle schedule. The one module of the pretrained
backbone that imports torch; study.pretrain imports it only when a build runs."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import TimesformerModel

from study.pretrain_corpus import CORPUS_TAG, INTERACTIONS, N_CLASSES, SCENE_CLASSES, TRACKED, PretrainConfig, render_corpus
from trainables.augment import apply_view, parse_augment, random_view
from trainables.model import normalise_clips


class Pretext(nn.Module):
    """The backbone with its two pretext heads: classes from CLS, tracker read-outs from the mean patch token."""

    def __init__(self, config: PretrainConfig):
        super().__init__()
        self.backbone = TimesformerModel(config.backbone_config())
        self.classes = nn.Linear(config.hidden_size, N_CLASSES)
        self.tracker = nn.Linear(config.hidden_size, len(TRACKED))

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.backbone(pixel_values=normalise_clips(clips)).last_hidden_state
        return self.classes(tokens[:, 0]), self.tracker(tokens[:, 1:].mean(1))


def pretrain(config: PretrainConfig, log=None, corpus: dict | None = None) -> tuple[TimesformerModel, dict]:
    """Train the backbone on the pretext. Returns it and a summary with the held-out pretext scores (a tenth of
    the corpus, unaugmented). log: called with a line after each epoch; corpus: render_corpus(config) if given."""
    corpus = corpus if corpus is not None else render_corpus(config)
    n_held = max(1, config.n_videos // 10)
    tracks = corpus["tracks"]
    tracks = (tracks - tracks[n_held:].mean(0)) / (tracks[n_held:].std(0) + 1e-6)
    data = {"clips": torch.from_numpy(corpus["clips"]), "tracks": torch.from_numpy(tracks),
            **{k: torch.from_numpy(corpus[k]) for k in ("scene_class", "dominant")}}
    torch.manual_seed(config.seed)
    model, names = Pretext(config), parse_augment(config.augment)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * -(-(config.n_videos - n_held) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.05)
    rng, history = np.random.default_rng([config.seed, CORPUS_TAG]), []
    for epoch in range(config.epochs):
        model.train()
        losses = []
        for idx in (n_held + torch.randperm(config.n_videos - n_held)).split(config.batch_size):
            clips, labels = augmented_batch(data, idx, names, rng)
            loss = _pretext_loss(model(clips), labels, data["tracks"][idx], config.tracker_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
        if log is not None:
            log(f"pretrain epoch {epoch + 1}/{config.epochs}: loss {history[-1]:.4f}")
    model.eval()
    return model.backbone, {"train_loss": history, **_held_out(model, data, n_held)}


def augmented_batch(data: dict, idx: torch.Tensor, names, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's clips (data: render_corpus's arrays as tensors) each under a random view of `names`, and their
    class labels with the dominant background channel as the view shows it."""
    clips, labels = [], []
    for i in idx.tolist():
        view = random_view(names, rng)
        order = dict(view).get("channels", (0, 1, 2))
        clips.append(apply_view(data["clips"][i], view))
        labels.append(int(data["scene_class"][i]) * 3 + list(order).index(int(data["dominant"][i])))
    return torch.stack(clips), torch.tensor(labels)


def _pretext_loss(out, labels: torch.Tensor, tracks: torch.Tensor, tracker_weight: float) -> torch.Tensor:
    classes, tracked = out
    return nn.functional.cross_entropy(classes, labels) + tracker_weight * nn.functional.mse_loss(tracked, tracks)


@torch.no_grad()
def _held_out(model: Pretext, data: dict, n_held: int) -> dict:
    outs = [model(part) for part in data["clips"][:n_held].split(64)]
    classes, tracked = torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs]).numpy()
    labels = data["scene_class"][:n_held] * 3 + data["dominant"][:n_held]
    truth = data["tracks"][:n_held].numpy()
    r2 = 1 - ((tracked - truth) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0).clip(1e-9)
    kind = classes.reshape(len(classes), len(INTERACTIONS), -1).logsumexp(2).argmax(1)
    return {"held_out_class_accuracy": round(float((classes.argmax(1) == labels).float().mean()), 4),
            "held_out_class_chance": round(1 / N_CLASSES, 4),
            "held_out_interaction_accuracy": round(float((kind == labels // SCENE_CLASSES).float().mean()), 4),
            "held_out_interaction_chance": round(1 / len(INTERACTIONS), 4),
            "held_out_tracker_r2": {name: round(float(v), 4) for name, v in zip(TRACKED, r2)}}
