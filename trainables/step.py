"""What a training step reads: the clips and the training target on the device (StepData, one per trial), and
one step's inputs (Batch), which the trial's objective turns into loss terms (trainables.objectives)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from common.errors import ConfigError
from data.prepared import PreparedData
from metrics.odd_one_out import model_choices
from metrics.triplet_pairs import positions
from trainables.augment import augment_batch, parse_augment
from trainables.config import LossConfig, TrainConfig
from trainables.embed import embed_clips
from trainables.objectives import objective_of


class StepData:
    """The clips (each drawn under a random view of `augment` when a generator is given), the objective, and the
    target train matrix on the device: the humans', or for an objective whose target is language the
    caption-language similarity, which then also answers every training triad."""

    def __init__(self, data: PreparedData, cfg: TrainConfig, device: torch.device):
        self.clips, self.device, self.cfg = data.clips, device, cfg
        self.objective, self.augment = objective_of(cfg), parse_augment(cfg.augment.augment)
        self.triplets, self.rows_train = data.triplets_train, data.rows_train
        self.position = positions(data.rows_train, len(data.clips))  # clip row -> index in rows_train
        target, seen = np.asarray(data.human_train_similarity), np.asarray(data.human_train_counts) > 0
        if self.objective.target == "language":
            target, seen = _language_target(data, cfg)
            self.triplets = self.rows_train[model_choices(target, self.position[self.triplets])]
        similarity = torch.from_numpy(np.asarray(target, dtype=np.float32)).to(device)
        self.similarity = similarity                                  # NaN where never seen
        self.distance = torch.nan_to_num(1.0 - similarity, nan=0.0)
        self.observed = torch.from_numpy(seen).to(device)

    def extra_rows(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The RSA subset (or budget-matched negative pool): training videos outside the batch."""
        if not self.objective.extra_videos or self.cfg.sampling.rsa_subset == 0:
            return np.zeros(0, dtype=np.int64)
        outside = np.setdiff1d(self.rows_train, batch)
        return np.sort(rng.choice(outside, size=min(self.cfg.sampling.rsa_subset, len(outside)), replace=False))

    def clip_tensor(self, rows: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        clips = torch.from_numpy(np.ascontiguousarray(self.clips[rows]))
        return (clips if rng is None else augment_batch(clips, self.augment, rng)).to(self.device)

    def embed_constant(self, module: torch.nn.Module, rows: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Unit embeddings of `rows` (each under a random view) without gradient, in eval mode, one view each;
        the module's train mode is restored after (trainables.embed.embed_clips)."""
        anchors = self.clip_tensor(rows, rng).cpu().numpy()
        return torch.from_numpy(embed_clips(module, anchors, views=[()]))


@dataclass(frozen=True, eq=False)
class Batch:
    """One step's inputs. model: what carries gradient (DDP-wrapped under Ray Train); module: the same model
    unwrapped (eval-mode embeddings, the probe's head); index: the step within the epoch, of `steps`."""
    triplets: np.ndarray          # (batch_size, 3) clip rows [anchor, positive, odd one]
    data: StepData
    model: torch.nn.Module
    module: torch.nn.Module
    rng: np.random.Generator
    loss: LossConfig
    epoch: int
    index: int = 0
    steps: int = 1


def _language_target(data: PreparedData, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(the caption-language similarity of the training rows, every pair off the diagonal observed)."""
    if data.language_train_similarity is None:
        raise ConfigError(f"variant {cfg.loss.variant!r} needs the caption-language similarity of the training "
                          f"videos in {cfg.prepared_dir} (python -m study.sweep writes it for a space with that "
                          "variant: study.language_targets)")
    target = np.asarray(data.language_train_similarity, dtype=np.float64)
    return target, ~np.eye(len(target), dtype=bool)
