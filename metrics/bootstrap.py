"""Bootstrap confidence intervals over videos or over participants, and paired model differences.

Every resample is a row of multiplicities (how often each video or participant was drawn); statistics are
weighted by them, so 1,000 resamples are a few array operations instead of 1,000 rebuilt matrices.
Resampling videos: a triplet counts m_a * m_b * m_odd times and a pair m_i * m_j times (pairs of a video
with its own copy are left out, as in rsatoolbox). Resampling participants: their triplets count m_p times
and the human matrix is rebuilt from the reweighted counts.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from metrics.compare import compare_vectors
from metrics.triplet_pairs import ParticipantPairs
from metrics.weighted_stats import (dense_codes, pair_weighted_sums, pearson_from_sums, weighted_correlation,
                                     weighted_pearson)

_CHUNK = 50  # resamples per block: bounds memory (~50 x n_triplets floats) and stays cache-friendly


class Estimate(NamedTuple):
    value: float
    ci_low: float
    ci_high: float
    n: int


class PairedDifference(NamedTuple):
    """difference = a - b on the same resamples; p_value: two-sided, share of resamples crossing zero."""
    difference: float
    ci_low: float
    ci_high: float
    p_value: float


def multiplicities(n_units: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_units) counts of each unit in a resample of n_units drawn with replacement."""
    draws = np.random.default_rng(seed).integers(0, n_units, size=(n_boot, n_units))
    offsets = np.arange(n_boot)[:, None] * n_units
    return np.bincount((draws + offsets).ravel(), minlength=n_boot * n_units).reshape(n_boot, n_units)


def percentile_interval(samples: np.ndarray, ci: float = 0.95) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [(1 - ci) / 2, (1 + ci) / 2])
    return float(low), float(high)


def accuracy_samples(correct: np.ndarray, triplets: np.ndarray, participant: np.ndarray | None = None, *,
                     over: str = "videos", n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot,) mean credit per resample, or (n_boot, k) for k credit columns scored on the same resamples.

    correct: (n,) or (n, k) from `per_triplet_correct`; triplets in the same row order, indexing videos
    0..max; over: "videos" or "participants" (then participant is needed)."""
    correct = np.asarray(correct, dtype=np.float64)
    if over == "participants" and participant is not None:
        # A participant's triplets move together, so their sums are all a resample needs.
        m = multiplicities(int(np.max(participant)) + 1, n_boot, seed).astype(np.float64)
        hits = np.stack([np.bincount(participant, weights=c, minlength=m.shape[1])
                         for c in correct.reshape(len(correct), -1).T], axis=1)
        out = (m @ hits) / (m @ np.bincount(participant, minlength=m.shape[1]))[:, None]
        return out.reshape((n_boot,) + correct.shape[1:])
    # float32 is exact for these small integer weights and halves the memory traffic of the gathers.
    columns = np.column_stack([correct.reshape(len(correct), -1), np.ones(len(correct))]).astype(np.float32)
    sums = np.concatenate([w @ columns for w in _triplet_weights(np.asarray(triplets), participant, over,
                                                                  n_boot, seed)]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample may hold no triplet: NaN, dropped later
        out = sums[:, :-1] / sums[:, -1:]
    return out.reshape((n_boot,) + correct.shape[1:])


def bootstrap_accuracy(correct: np.ndarray, triplets: np.ndarray, participant: np.ndarray | None = None, *,
                       over: str = "videos", n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> Estimate:
    """Mean odd-one-out credit with a percentile interval from resampling `over`."""
    samples = accuracy_samples(correct, triplets, participant, over=over, n_boot=n_boot, seed=seed)
    return Estimate(float(np.mean(correct)), *percentile_interval(samples, ci), len(correct))


def rsa_samples(model_rdm: np.ndarray, pairs: ParticipantPairs, *, over: str = "videos",
                method: str = "spearman", n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot,) correlation of model dissimilarity with human dissimilarity (1 - similarity) per resample.

    model_rdm: (m, m) in the order of the videos `pairs` was built with."""
    model = np.asarray(model_rdm, dtype=np.float64)[pairs.i, pairs.j]
    if method == "spearman" and len(np.unique(model)) == len(model):
        # Put the pairs in the model's order once, so no resample has to reorder its weights.
        order = np.argsort(model)
        pairs = ParticipantPairs(pairs.together[order], pairs.shown[order], pairs.i[order], pairs.j[order])
        model = model[order]
    if over == "videos" and method == "pearson":
        m = multiplicities(model_rdm.shape[0], n_boot, seed).astype(np.float64)
        x, y = model, 1.0 - pairs.similarity()
        features = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)
        return pearson_from_sums(pair_weighted_sums(m, pairs.i, pairs.j, features))
    if over == "videos":
        human = 1.0 - pairs.similarity()
        codes = (dense_codes(model), dense_codes(human))
        m = multiplicities(model_rdm.shape[0], n_boot, seed)
        return _blocks(lambda mb: weighted_correlation(model, human, mb[:, pairs.i] * mb[:, pairs.j],
                                                       method=method, x_codes=codes[0], y_codes=codes[1]), m)
    if over == "participants":
        m = multiplicities(pairs.shown.shape[1], n_boot, seed)
        return _blocks(lambda mb: _participant_rsa(model, pairs, mb, method), m)
    raise ValueError(f"unknown resampling unit over={over!r}; expected 'videos' or 'participants'")


def bootstrap_rsa(model_rdm: np.ndarray, pairs: ParticipantPairs, *, over: str = "videos",
                  method: str = "spearman", n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> Estimate:
    """RSA (model RDM vs human 1 - similarity over the pairs humans saw) with a bootstrap interval."""
    model = np.asarray(model_rdm, dtype=np.float64)[pairs.i, pairs.j]
    value = compare_vectors(model, 1.0 - pairs.similarity(), method=method)
    samples = rsa_samples(model_rdm, pairs, over=over, method=method, n_boot=n_boot, seed=seed)
    return Estimate(value, *percentile_interval(samples, ci), len(model))


def paired_difference(value_a: float, value_b: float, samples_a: np.ndarray, samples_b: np.ndarray,
                      ci: float = 0.95) -> PairedDifference:
    """a - b with an interval and a two-sided p-value from resamples drawn with the same seed."""
    diff = samples_a - samples_b
    diff = diff[np.isfinite(diff)]
    p = 2 * min(np.mean(diff <= 0), np.mean(diff >= 0)) if diff.size else float("nan")
    return PairedDifference(value_a - value_b, *percentile_interval(diff, ci), float(min(p, 1.0)))


def paired_bootstrap_accuracy(correct_a: np.ndarray, correct_b: np.ndarray, triplets: np.ndarray,
                              participant: np.ndarray | None = None, *, over: str = "videos",
                              n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> PairedDifference:
    """Accuracy of model a minus model b on the same triplets and the same resamples."""
    a, b = (accuracy_samples(c, triplets, participant, over=over, n_boot=n_boot, seed=seed)
            for c in (correct_a, correct_b))
    return paired_difference(float(np.mean(correct_a)), float(np.mean(correct_b)), a, b, ci)


def _triplet_weights(triplets: np.ndarray, participant: np.ndarray | None, over: str, n_boot: int,
                     seed: int):
    """Yield (chunk, n_triplets) weights block by block."""
    if over == "videos":
        m = multiplicities(int(triplets.max()) + 1, n_boot, seed).astype(np.float32)
        for s in range(0, n_boot, _CHUNK):
            mb = m[s:s + _CHUNK]
            yield mb[:, triplets[:, 0]] * mb[:, triplets[:, 1]] * mb[:, triplets[:, 2]]
    elif over == "participants":
        if participant is None:
            raise ValueError("over='participants' needs the participant of each triplet")
        m = multiplicities(int(np.max(participant)) + 1, n_boot, seed).astype(np.float64)
        for s in range(0, n_boot, _CHUNK):
            yield m[s:s + _CHUNK][:, participant]
    else:
        raise ValueError(f"unknown resampling unit over={over!r}; expected 'videos' or 'participants'")


def _blocks(stat: Callable[[np.ndarray], np.ndarray], m: np.ndarray) -> np.ndarray:
    return np.concatenate([stat(m[s:s + _CHUNK].astype(np.float64)) for s in range(0, len(m), _CHUNK)])


def _participant_rsa(model: np.ndarray, pairs: ParticipantPairs, mb: np.ndarray, method: str) -> np.ndarray:
    together = np.ascontiguousarray((pairs.together @ mb.T).T)     # (chunk, n_pairs) reweighted counts
    shown = np.ascontiguousarray((pairs.shown @ mb.T).T)
    present = (shown > 0).astype(np.float64)
    if method == "pearson":
        with np.errstate(invalid="ignore", divide="ignore"):
            human = np.where(shown > 0, 1.0 - together / np.where(shown > 0, shown, 1.0), 0.0)
        return weighted_pearson(model, human, present)
    # Dissimilarity is 1 - together/shown with integer counts: code each (together, shown) fraction so it
    # ranks without sorting a row at a time.
    return weighted_correlation(model, None, present, method=method, x_codes=dense_codes(model),
                                y_codes=_fraction_codes(together, shown))


def _fraction_codes(together: np.ndarray, shown: np.ndarray) -> tuple[np.ndarray, int]:
    t, n = np.rint(together).astype(np.int64), np.rint(shown).astype(np.int64)
    key = t * (n.max() + 1) + n
    used = np.flatnonzero(np.bincount(key.ravel()))
    ut, un = np.divmod(used, n.max() + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(un > 0, 1.0 - ut / np.maximum(un, 1), 0.0)
    uniq, rank_of_used = np.unique(value, return_inverse=True)
    lookup = np.zeros(key.max() + 1, dtype=np.int64)
    lookup[used] = rank_of_used.ravel()
    return lookup[key], len(uniq)
