"""The budget benchmark's figures: two-level bootstrap (training seeds x test triplets, paired across budgets and
models) of held-out accuracy gains over the base, and the judgments needed to reach a share of the full-data gain."""
from __future__ import annotations

import numpy as np

N_BOOT = 2000


def resamples(n_seeds: int, n_triplets: int, rng: np.random.Generator, n_boot: int = N_BOOT):
    """(seed indices (B, n_seeds), triplet indices (B, n_triplets)): one paired draw per replicate."""
    return rng.integers(n_seeds, size=(n_boot, n_seeds)), rng.integers(n_triplets, size=(n_boot, n_triplets))


def boot_gain(credit: np.ndarray, base: np.ndarray, draws) -> np.ndarray:
    """(B,) mean over resampled seeds and triplets of credit (n_seeds, n_triplets) minus the base's (n_triplets,)."""
    seeds, triplets = draws
    per_seed = (credit - base)[:, None, :]  # (s, 1, t)
    out = np.empty(len(seeds))
    for b in range(len(seeds)):
        out[b] = per_seed[seeds[b], 0][:, triplets[b]].mean()
    return out


def interval(samples: np.ndarray) -> tuple[float, float]:
    low, high = np.nanpercentile(samples, [2.5, 97.5])
    return float(low), float(high)


def judgments_to_reach(n: np.ndarray, gains: np.ndarray, share: float = 0.9) -> float:
    """Smallest judgment count where the gain curve (measured at n, ascending; linear between points in log n)
    reaches share x its last point's gain; NaN when the full-data gain is not above 0, n[0] when the first point
    already reaches it."""
    target = share * gains[-1]
    if not gains[-1] > 0:
        return float("nan")
    above = np.flatnonzero(gains >= target)
    k = int(above[0])
    if k == 0:
        return float(n[0])
    x0, x1, y0, y1 = np.log(n[k - 1]), np.log(n[k]), gains[k - 1], gains[k]
    return float(np.exp(x0 + (target - y0) / (y1 - y0) * (x1 - x0)))


def curve_headline(n: np.ndarray, credits: list[np.ndarray], base: np.ndarray, rng: np.random.Generator) -> dict:
    """credits: per budget (ascending n), (n_seeds, n_triplets). The gain at each budget with its interval, and the
    judgments to reach 90% of the full-data gain, with its bootstrap interval."""
    draws = resamples(len(credits[0]), len(base), rng)
    boots = np.stack([boot_gain(c, base, draws) for c in credits], axis=1)  # (B, n_budgets)
    means = np.array([(c - base).mean() for c in credits])
    crossing = np.array([judgments_to_reach(n, row) for row in boots])
    return {"gain": means.tolist(), "gain_interval": [interval(boots[:, k]) for k in range(len(n))],
            "n90": judgments_to_reach(n, means), "n90_interval": interval(crossing),
            "n90_undefined_share": float(np.isnan(crossing).mean())}
