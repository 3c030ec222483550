"""How often the two-level interval (metrics.two_level_bootstrap) covers the truth, on simulated experiments
whose answer is known: two models, each trained on K seeds, scored on the same n test videos.

    python -m analysis.coverage [--n-sim 400] [--seeds 2 3 5 10]

A model's score on video v with seed k is  mu + seed effect (sd seed_sd, one per training run) + video
difficulty (sd video_sd, shared by every model and seed) + noise (sd noise_sd, per model, seed and video: a
new training run gets different videos right). Its statistic is the mean over videos (like an accuracy).
Reported: the share of simulated experiments whose 95% interval holds the true mean of model a and the true
difference a - b, and, for contrast, the video-only interval of the difference (seeds averaged, not resampled).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from metrics.bootstrap import multiplicities, percentile_interval
from metrics.two_level_bootstrap import two_level_estimate, two_level_difference


@dataclass(frozen=True)
class World:
    """A simulated comparison; the defaults put the seed spread of a difference near its video spread, as in the
    default sweep (issue 23: run-to-run spread about the size of the video interval)."""

    difference: float = field(default=0.03, metadata={"help": "true mean of a minus true mean of b"})
    seed_sd: float = field(default=0.015, metadata={"help": "spread of a model's score from seed to seed"})
    video_sd: float = field(default=0.15, metadata={"help": "spread of video difficulty (shared by all models)"})
    noise_sd: float = field(default=0.1, metadata={"help": "per model, seed and video noise"})
    n_videos: int = field(default=50, metadata={"help": "test videos per experiment"})


class Coverage(NamedTuple):
    """Shares of simulated experiments whose interval holds the truth, and the mean width of the difference's."""
    mean: float
    difference: float
    difference_videos_only: float
    width: float


def simulate_coverage(world: World, n_seeds: int, *, n_sim: int = 400, n_boot: int = 500, ci: float = 0.95,
                      seed: int = 0) -> Coverage:
    """Coverage of the two-level intervals over n_sim simulated experiments, each with its own video sample."""
    rng = np.random.default_rng(seed)
    hits, width = np.zeros(3), 0.0
    for sim in range(n_sim):
        a, b = (_scores(world, n_seeds, mu, rng) for mu in (world.difference, 0.0))
        shared = world.video_sd * rng.normal(size=world.n_videos)  # the videos' difficulty, the same for a and b
        a, b = a + shared, b + shared
        m = multiplicities(world.n_videos, n_boot, seed=int(rng.integers(2**31))).astype(np.float64)
        per_seed_a, per_seed_b = (m @ a.T).T / world.n_videos, (m @ b.T).T / world.n_videos
        mean = two_level_estimate(a.mean(axis=1), per_seed_a, ci=ci, seed=2 * sim)
        diff = two_level_difference(a.mean(axis=1), per_seed_a, b.mean(axis=1), per_seed_b, ci=ci,
                                    seed_a=2 * sim, seed_b=2 * sim + 1)
        video_only = percentile_interval(per_seed_a.mean(axis=0) - per_seed_b.mean(axis=0), ci)
        hits += [mean.ci_low <= world.difference <= mean.ci_high, diff.ci_low <= world.difference <= diff.ci_high,
                 video_only[0] <= world.difference <= video_only[1]]
        width += (diff.ci_high - diff.ci_low) / n_sim
    return Coverage(*(hits / n_sim), width)


def _scores(world: World, n_seeds: int, mu: float, rng: np.random.Generator) -> np.ndarray:
    """(n_seeds, n_videos) one model's per-video scores, before the shared video difficulty."""
    return (mu + world.seed_sd * rng.normal(size=(n_seeds, 1))
            + world.noise_sd * rng.normal(size=(n_seeds, world.n_videos)))


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.coverage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-sim", type=int, default=400, help="simulated experiments per cell")
    p.add_argument("--n-boot", type=int, default=500, help="two-level resamples per interval")
    p.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 5, 10], help="seeds per model (K)")
    p.add_argument("--seed-sd", type=float, nargs="+", default=[0.0, 0.015, 0.03],
                   help="seed spreads to simulate (the other World fields keep their defaults)")
    args = p.parse_args(argv)
    print("| seed sd | K | mean of a | difference a - b | difference, videos only | width of the difference |")
    print("|---|---|---|---|---|---|")
    for seed_sd in args.seed_sd:
        for k in args.seeds:
            c = simulate_coverage(World(seed_sd=seed_sd), k, n_sim=args.n_sim, n_boot=args.n_boot)
            print(f"| {seed_sd} | {k} | {c.mean:.3f} | {c.difference:.3f} | {c.difference_videos_only:.3f} | "
                  f"{c.width:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
