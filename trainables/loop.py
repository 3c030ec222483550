"""The training loop every trial runs: under Ray Train (`train_loop_per_worker`) or in one process (`train`).

Reads top to bottom: build (data, model, optimiser, resume), then per epoch: order the triplets, train, validate
on the gathered validation embeddings, report with a checkpoint. Workers agree on the triplet order through a
shared seed and each takes its own shard of every step (the DistributedSampler idea without a DataLoader: the
clips are a memory-mapped array and each step embeds the distinct videos of its triplets once).
"""
from __future__ import annotations

import functools
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from common.errors import ConfigError
from metrics.compare import compare_rdms
from metrics.odd_one_out import model_choices, odd_one_out_accuracy, per_triplet_correct
from metrics.rdm import model_rdm
from metrics.triplet_pairs import positions
from trainables.checkpoint import load_train_state, load_weights, write_atomically, write_checkpoint_files
from trainables.config import TrainConfig
from data.budget import JudgmentBudget
from data.prepared import PreparedData, load_prepared, prepare_budget
from trainables.embed import embed_clips
from trainables.losses import (anchored_rsa_loss, hybrid_loss, mine_hard_negatives, rsa_loss, triplet_loss,
                                violation_extra_triplet)
from trainables.augment import augment_batch, parse_augment
from trainables.model import trainable_parameters, use_device
from trainables.probe import build_variant_model, regulariser
from trainables.sampling import TripletPool, sample_triplets
from trainables.variants import variant_of

METRICS = ("epoch", "train_loss", "train_triplet_loss", "train_rsa_loss", "val_ooo_acc", "val_rsa", "time_epoch_s")


@dataclass(frozen=True)
class Worker:
    """Where this process sits: its rank among `world` workers, its device, and how it wraps the model."""
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda model: model


def train_loop_per_worker(config: dict) -> None:
    """Ray Train worker function (ray.train.torch.TorchTrainer, Train V1 under Tune or V2 alone)."""
    run_ray_worker(config)


def run_ray_worker(config: dict) -> torch.nn.Module:
    """train_loop_per_worker's body; returns this worker's trained model (for tests that compare workers)."""
    import ray.train
    import ray.train.torch

    cfg = TrainConfig.from_dict(config)
    ctx = ray.train.get_context()
    worker = Worker(ctx.get_world_rank(), ctx.get_world_size(), ray.train.torch.get_device(),
                    ray.train.torch.prepare_model)
    checkpoint = ray.train.get_checkpoint()  # set when Tune/Train restores a trial or retries a failure
    if checkpoint is None:
        return run(cfg, worker, _ray_report, resume_dir=cfg.resume_from or None)
    with checkpoint.as_directory() as resume_dir:
        return run(cfg, worker, _ray_report, resume_dir=resume_dir)


def _ray_report(metrics: dict, write: Callable[[Path], None], worker: Worker) -> None:
    import ray.train

    if worker.rank != 0:  # every worker reports; rank 0 alone carries the checkpoint
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))


def train(config: dict, *, checkpoint_dir: str | Path | None = None) -> list[dict]:
    """The same loop in this process, no Ray. Checkpoints go to checkpoint_dir/epoch_NNN when given."""
    cfg = TrainConfig.from_dict(config)
    history: list[dict] = []

    def report(metrics: dict, write: Callable[[Path], None], worker: Worker) -> None:
        history.append(metrics)
        if checkpoint_dir is not None:
            write_atomically(Path(checkpoint_dir) / f"epoch_{metrics['epoch']:03d}", write)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run(cfg, Worker(device=device), report, resume_dir=cfg.resume_from or None)
    return history


def run(cfg: TrainConfig, worker: Worker, report: Callable, *, resume_dir: str | Path | None) -> torch.nn.Module:
    """Build, optionally resume, then train epoch by epoch, reporting metrics and a checkpoint each time."""
    budget = JudgmentBudget(cfg.sampling.judgment_fraction, cfg.sampling.judgment_unit, cfg.seed)
    data = load_prepared(prepare_budget(cfg.prepared_dir, budget))  # the folder itself for the full budget
    _check_clip_shape(data, cfg)
    torch.manual_seed(_seed(cfg.seed, -1, 0))  # same head and adapter init on every worker
    module = use_device(build_variant_model(cfg), cfg.model, worker.device)
    steps = _steps_per_epoch(len(data.triplets_train), cfg, worker.world)
    optimizer = torch.optim.AdamW(trainable_parameters(module), lr=cfg.optim.lr,
                                  weight_decay=cfg.optim.weight_decay)
    scheduler = _scheduler(optimizer, cfg, steps)
    start, best, since_best = _resume(resume_dir, module, optimizer, scheduler)
    model = worker.wrap(module)
    step_data = StepData(data, cfg, worker.device)
    for epoch in range(start, cfg.optim.epochs):
        began = time.perf_counter()
        losses = _train_epoch(model, module, optimizer, scheduler, step_data, cfg, worker, epoch, steps)
        metrics = {"epoch": epoch + 1, **losses, **_validate(module, data, worker)}
        metrics["time_epoch_s"] = time.perf_counter() - began
        score = metrics[cfg.optim.select_metric]
        best, since_best = (score, 0) if score > best else (best, since_best + 1)  # NaN never counts as a gain
        if cfg.optim.lr_schedule == "plateau":
            scheduler.step(score)
        state = {"epoch": epoch + 1, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "best": best, "since_best": since_best}
        report(metrics, functools.partial(write_checkpoint_files, model=module, config=cfg, train_state=state),
               worker)
        if cfg.optim.early_stop_patience and since_best >= cfg.optim.early_stop_patience:
            break  # the authors' early stop: this many epochs without a new best select_metric
    return module


def _scheduler(optimizer, cfg: TrainConfig, steps: int):
    """Warm-up then cosine, stepped per batch (ours), or ReduceLROnPlateau on select_metric per epoch."""
    if cfg.optim.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=cfg.optim.plateau_patience,
                                                          factor=cfg.optim.plateau_factor)
    total = steps * cfg.optim.epochs
    return torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(
        _warmup_cosine, total=total, warmup=int(cfg.optim.warmup_fraction * total)))


class StepData:
    """What a step needs besides the model: the clips (each drawn under a random view of `augment` when a
    generator is given), the variant, and the target train matrix on the device: the humans', or for a variant
    whose target is language the caption-language similarity, which then also answers every training triad.
    With `train_step`, the loop's public step API (benchmarks time it)."""

    def __init__(self, data: PreparedData, cfg: TrainConfig, device: torch.device):
        self.clips, self.device, self.cfg = data.clips, device, cfg
        self.variant, self.augment = variant_of(cfg), parse_augment(cfg.augment.augment)
        self.triplets, self.rows_train = data.triplets_train, data.rows_train
        self.position = positions(data.rows_train, len(data.clips))  # clip row -> index in rows_train
        target, seen = np.asarray(data.human_train_similarity), np.asarray(data.human_train_counts) > 0
        if self.variant.target == "language":
            target, seen = _language_target(data, cfg)
            self.triplets = self.rows_train[model_choices(target, self.position[self.triplets])]
        similarity = torch.from_numpy(np.asarray(target, dtype=np.float32)).to(device)
        self.similarity = similarity                                  # NaN where never seen
        self.distance = torch.nan_to_num(1.0 - similarity, nan=0.0)
        self.observed = torch.from_numpy(seen).to(device)

    def extra_rows(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The RSA subset (or budget-matched negative pool): training videos outside the batch."""
        if not self.variant.extra_videos or self.cfg.sampling.rsa_subset == 0:
            return np.zeros(0, dtype=np.int64)
        outside = np.setdiff1d(self.rows_train, batch)
        return np.sort(rng.choice(outside, size=min(self.cfg.sampling.rsa_subset, len(outside)), replace=False))

    def clip_tensor(self, rows: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        clips = torch.from_numpy(np.ascontiguousarray(self.clips[rows]))
        return (clips if rng is None else augment_batch(clips, self.augment, rng)).to(self.device)


def _train_epoch(model, module, optimizer, scheduler, step_data: StepData, cfg: TrainConfig, worker: Worker,
                 epoch: int, steps: int) -> dict[str, float]:
    """One epoch of steps on this worker's shard; losses averaged over steps and workers."""
    order = _epoch_order(module, step_data, cfg, worker, epoch, steps)
    torch.manual_seed(_seed(cfg.seed, epoch, worker.rank))   # dropout: reproducible per epoch, so resumes match
    rng = np.random.default_rng([cfg.seed, epoch, worker.rank])
    model.train()
    sums, updates = torch.zeros(3, dtype=torch.float64, device=worker.device), 0
    rsa_every, extra_every = _every(steps, cfg.loss.rsa_steps_per_epoch), _every(steps, cfg.loss.budget_constraints)
    for step, batch_index in enumerate(order):
        triplets = step_data.triplets[batch_index]
        if step_data.variant.paper_cadence(cfg.loss):
            extra = step % extra_every == 0 and step // extra_every < cfg.loss.budget_constraints
            parts = paper_step(model, module, step_data, triplets, rng, cfg, epoch,
                                rsa_step=step % rsa_every == 0, extra=extra)
        else:
            parts = train_step(model, step_data, triplets, rng, cfg, epoch)
        if parts is None:  # rsa-only between RSA steps: the authors' code updates on RSA steps only
            continue
        pull = regulariser(model, cfg)
        optimizer.zero_grad(set_to_none=True)
        (parts.total if pull is None else parts.total + pull).backward()
        optimizer.step()
        if cfg.optim.lr_schedule != "plateau":
            scheduler.step()
        sums += torch.stack([p.detach().double() for p in parts])
        updates += 1
    sums /= max(1, updates)  # rsa-only under the authors' cadence updates on RSA steps only
    if worker.world > 1:
        dist.all_reduce(sums)
        sums /= worker.world
    return dict(zip(("train_loss", "train_triplet_loss", "train_rsa_loss"), sums.tolist()))


def _language_target(data: PreparedData, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(the caption-language similarity of the training rows, every pair off the diagonal observed)."""
    if data.language_train_similarity is None:
        raise ConfigError(f"variant {cfg.loss.variant!r} needs the caption-language similarity of the training "
                          f"videos in {cfg.prepared_dir} (python -m study.sweep writes it for a space with that "
                          "variant: study.language_targets)")
    target = np.asarray(data.language_train_similarity, dtype=np.float64)
    return target, ~np.eye(len(target), dtype=bool)


def train_step(model, step_data: StepData, triplets: np.ndarray, rng: np.random.Generator, cfg: TrainConfig,
                epoch: int):
    """Embed each distinct video of the batch and the extra subset once; every loss term reuses them."""
    extra = step_data.extra_rows(np.unique(triplets), rng)
    rows = np.unique(np.concatenate([triplets.ravel(), extra]))
    embeddings = model(step_data.clip_tensor(rows, rng))
    local = torch.from_numpy(np.searchsorted(rows, triplets)).to(embeddings.device)
    position = torch.from_numpy(step_data.position[rows]).to(embeddings.device)
    similarity = step_data.similarity[position][:, position]
    if step_data.variant.mined_negatives:
        pool = torch.from_numpy(np.searchsorted(rows, extra)).to(embeddings.device)
        local = torch.cat([local, mine_hard_negatives(embeddings, local, pool, similarity)])
    triplet = triplet_loss(embeddings, local, margin=cfg.loss.margin)
    rsa = rsa_loss(embeddings, step_data.distance[position][:, position], step_data.observed[position][:, position])
    return hybrid_loss(triplet, rsa, epoch=epoch, config=cfg.loss)


def _every(steps: int, per_epoch: int) -> int:
    """The authors' spacing: an event every max(1, steps // per_epoch) steps (never when per_epoch is 0)."""
    return max(1, steps // per_epoch) if per_epoch else steps + 1


def paper_step(model, module, step_data: StepData, triplets: np.ndarray, rng: np.random.Generator,
               cfg: TrainConfig, epoch: int, *, rsa_step: bool, extra: bool):
    """One step under the authors' rules; None when the step updates nothing (rsa-only off an RSA step).

    On an RSA step K training videos are drawn: the first M share the batch's forward pass (train mode, with
    gradient), the other K - M are embedded without gradient in eval mode, after which train mode is restored
    (the authors' code left the model in eval mode: their defect 3).
    """
    loss, variant = cfg.loss, step_data.variant
    rsa_only = not variant.triplet
    if rsa_only and not rsa_step:
        return None
    drawn = np.zeros(0, dtype=np.int64)
    if rsa_step and variant.rsa:
        k = min(loss.rsa_videos, len(step_data.rows_train))
        drawn = rng.choice(step_data.rows_train, size=k, replace=False)
    grad_rows, const_rows = drawn[:loss.rsa_grad_videos], drawn[loss.rsa_grad_videos:]
    rows = np.unique(np.concatenate([np.zeros(0, np.int64) if rsa_only else triplets.ravel(), grad_rows]))
    embeddings = model(step_data.clip_tensor(rows, rng))
    zero = embeddings.sum() * 0.0
    triplet = zero
    if not rsa_only:
        local = torch.from_numpy(np.searchsorted(rows, triplets)).to(embeddings.device)
        triplet = triplet_loss(embeddings, local, margin=loss.margin)
        if extra:
            triplet = triplet + triplet_loss(embeddings, violation_extra_triplet(embeddings, local, margin=loss.margin),
                                             margin=loss.margin)
    rsa = zero
    if len(drawn):
        anchors = step_data.clip_tensor(np.sort(const_rows), rng).cpu().numpy()
        const = torch.from_numpy(embed_clips(module, anchors, views=[()])).to(embeddings.device)
        order = np.concatenate([grad_rows, np.sort(const_rows)])
        position = torch.from_numpy(step_data.position[order]).to(embeddings.device)
        grad = embeddings[torch.from_numpy(np.searchsorted(rows, grad_rows)).to(embeddings.device)]
        rsa = anchored_rsa_loss(grad, const, step_data.distance[position][:, position],
                                step_data.observed[position][:, position])
    return hybrid_loss(triplet, rsa, epoch=epoch, config=loss)


def _epoch_order(module, step_data: StepData, cfg: TrainConfig, worker: Worker, epoch: int,
                 steps: int) -> np.ndarray:
    """(steps, batch_size) triplet indices for this worker; the same draw on every worker, then sharded."""
    violated = None
    if cfg.sampling.sampling == "hard-negative":
        embeddings = _gather_embeddings(module, step_data.clips, step_data.rows_train, worker)
        positions = step_data.position[step_data.triplets]
        violated = per_triplet_correct(1.0 - model_rdm(embeddings), positions) == 0
    pool = TripletPool(step_data.triplets, violated, cfg.sampling.hard_negative_boost)
    draws = steps * worker.world * cfg.optim.batch_size
    order = sample_triplets(cfg.sampling.sampling, pool, draws, np.random.default_rng([cfg.seed, epoch]))
    return order.reshape(steps, worker.world, cfg.optim.batch_size)[:, worker.rank]


def _validate(module, data: PreparedData, worker: Worker) -> dict[str, float]:
    """3-way odd-one-out accuracy and Spearman RSA on the whole validation set, gathered from every worker."""
    embeddings = _gather_embeddings(module, data.clips, data.rows_val, worker)
    rdm = model_rdm(embeddings, method="cosine")
    position = positions(data.rows_val, len(data.clips))
    human = 1.0 - np.asarray(data.human_val_similarity, dtype=np.float64)
    return {"val_ooo_acc": odd_one_out_accuracy(1.0 - rdm, position[data.triplets_val], rule="three_way"),
            "val_rsa": compare_rdms(rdm, human, mask=np.asarray(data.human_val_counts) > 0, method="spearman")}


def _gather_embeddings(module, clips: np.ndarray, rows: np.ndarray, worker: Worker) -> np.ndarray:
    """Each worker embeds rows[rank::world]; all_gather puts the full (len(rows), dim) array on every worker."""
    mine = embed_clips(module, clips[rows[worker.rank::worker.world]])
    if worker.world == 1:
        return mine
    per_worker = -(-len(rows) // worker.world)
    padded = torch.zeros(per_worker, mine.shape[1], device=worker.device)
    padded[:len(mine)] = torch.from_numpy(mine).to(worker.device)
    gathered = [torch.empty_like(padded) for _ in range(worker.world)]
    dist.all_gather(gathered, padded)
    out = np.empty((len(rows), mine.shape[1]), dtype=np.float32)
    for rank, part in enumerate(gathered):
        out[rank::worker.world] = part[:len(range(rank, len(rows), worker.world))].cpu().numpy()
    return out


def _resume(resume_dir, module, optimizer, scheduler) -> tuple[int, float, int]:
    """Load a checkpoint's weights, optimiser and scheduler state; return the epoch to start from, the best
    select_metric so far and the epochs since it (early stopping's state)."""
    if resume_dir is None:
        return 0, -math.inf, 0
    load_weights(resume_dir, module)
    state = load_train_state(resume_dir)
    if state is None:
        raise ConfigError(f"resume_from {str(resume_dir)!r}: no train_state.pt; it cannot continue a run")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["epoch"]), float(state.get("best", -math.inf)), int(state.get("since_best", 0))


def _steps_per_epoch(n_triplets: int, cfg: TrainConfig, world: int) -> int:
    full = max(1, n_triplets // (cfg.optim.batch_size * world))
    return min(full, cfg.optim.steps_per_epoch) if cfg.optim.steps_per_epoch else full


def _warmup_cosine(step: int, *, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, epoch + 1, rank]).generate_state(1)[0])


def _check_clip_shape(data: PreparedData, cfg: TrainConfig) -> None:
    _, frames, _, height, width = data.clips.shape
    for name, want, got in (("num_frames", cfg.model.num_frames, frames), ("image_size", cfg.model.image_size, height),
                            ("frame_sampling", cfg.model.frame_sampling, data.meta.decode.frame_sampling),
                            ("resize", cfg.model.resize, data.meta.decode.resize)):
        if want != got:
            raise ConfigError(f"{name} = {want!r} does not match the prepared clips in {cfg.prepared_dir} ({got!r})")
