"""The training loop every trial runs: under Ray Train (`train_loop_per_worker`) or in one process (`train`).

Reads top to bottom: build (data, model, optimiser, resume), then per epoch: order the triplets, train (the
trial's objective gives each step's named terms and their total: trainables.objectives), validate on the gathered
validation embeddings, report with a checkpoint. Workers agree on the triplet order through a
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
from metrics.odd_one_out import odd_one_out_accuracy, per_triplet_correct
from metrics.rdm import model_rdm
from metrics.triplet_pairs import positions
from trainables.checkpoint import load_train_state, load_weights, write_atomically, write_checkpoint_files
from trainables.config import TrainConfig
from data.budget import JudgmentBudget
from data.prepared import PreparedData, load_prepared, prepare_budget
from trainables.embed import embed_clips
from trainables.model import build_variant_model, trainable_parameters, use_device
from trainables.sampling import TripletPool, sample_triplets
from trainables.step import Batch, StepData

# What every objective reports each epoch; an objective with more terms adds train_<term>_loss for each.
METRICS = ("epoch", "train_loss", "train_triplet_loss", "train_rsa_loss", "val_ooo_acc", "val_rsa", "time_epoch_s")


@dataclass(frozen=True)
class Worker:
    """Where this process sits: its rank among `world` workers, its device, and how it wraps the model."""
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda model: model


@dataclass(frozen=True, eq=False)
class Training:
    """What the epochs of one trial work on: the model (wrapped for DDP) and its unwrapped module, the optimiser
    and its scheduler, the step data (clips, targets, the objective), the config, this worker, steps an epoch."""
    model: torch.nn.Module
    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    data: StepData
    cfg: TrainConfig
    worker: Worker
    steps: int


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
    torch.manual_seed(_seed(cfg.seed, -1, 0))  # same head and adapter init on every worker
    module = use_device(build_variant_model(cfg, data.meta.decode), cfg.model, worker.device)  # the folder's clips
    steps = _steps_per_epoch(len(data.triplets_train), cfg, worker.world)
    optimizer = torch.optim.AdamW(trainable_parameters(module), lr=cfg.optim.lr,
                                  weight_decay=cfg.optim.weight_decay)
    scheduler = _scheduler(optimizer, cfg, steps)
    start, best, since_best = _resume(resume_dir, module, optimizer, scheduler)
    training = Training(worker.wrap(module), module, optimizer, scheduler, StepData(data, cfg, worker.device), cfg,
                        worker, steps)
    for epoch in range(start, cfg.optim.epochs):
        began = time.perf_counter()
        losses = _train_epoch(training, epoch)
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


def _train_epoch(training: Training, epoch: int) -> dict[str, float]:
    """One epoch of steps on this worker's shard: the objective gives each step's terms, the loop backpropagates
    their total; every term averaged over the steps that updated and over workers."""
    cfg, worker, objective = training.cfg, training.worker, training.data.objective
    order = _epoch_order(training, epoch)
    torch.manual_seed(_seed(cfg.seed, epoch, worker.rank))   # dropout: reproducible per epoch, so resumes match
    rng = np.random.default_rng([cfg.seed, epoch, worker.rank])
    training.model.train()
    sums, updates = torch.zeros(1 + len(objective.terms), dtype=torch.float64, device=worker.device), 0
    for index, batch_index in enumerate(order):
        terms = objective.step(Batch(training.data.triplets[batch_index], training.data, training.model,
                                     training.module, rng, cfg.loss, epoch, index, training.steps))
        if terms is None:  # rsa-only between the authors' RSA steps: their code updates on RSA steps only
            continue
        training.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        training.optimizer.step()
        if cfg.optim.lr_schedule != "plateau":
            training.scheduler.step()
        sums += torch.stack([t.detach().double() for t in (terms.total, *map(terms.parts.get, objective.terms))])
        updates += 1
    sums /= max(1, updates)
    if worker.world > 1:
        dist.all_reduce(sums)
        sums /= worker.world
    return dict(zip(objective.metric_names(), sums.tolist()))


def _epoch_order(training: Training, epoch: int) -> np.ndarray:
    """(steps, batch_size) triplet indices for this worker; the same draw on every worker, then sharded."""
    cfg, worker, data = training.cfg, training.worker, training.data
    violated = None
    if cfg.sampling.sampling == "hard-negative":
        embeddings = _gather_embeddings(training.module, data.clips, data.rows_train, worker)
        violated = per_triplet_correct(1.0 - model_rdm(embeddings), data.position[data.triplets]) == 0
    pool = TripletPool(data.triplets, violated, cfg.sampling.hard_negative_boost)
    draws = training.steps * worker.world * cfg.optim.batch_size
    order = sample_triplets(cfg.sampling.sampling, pool, draws, np.random.default_rng([cfg.seed, epoch]))
    return order.reshape(training.steps, worker.world, cfg.optim.batch_size)[:, worker.rank]


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
