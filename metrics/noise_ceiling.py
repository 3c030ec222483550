"""How well any model could do, given how much the human judgments disagree with themselves.

Which figure to compare with which metric (see docs/analysis.md):
- RSA correlation with the full human matrix  ->  `rsa_noise_ceiling` (lower, upper) = (r_full, sqrt(r_full)).
- Explained variance (r squared)               ->  `SplitHalf.r_full`, the Spearman-Brown reliability.
- Odd-one-out accuracy (either rule)           ->  `ooo_noise_ceiling` (lower, upper) for the same rule,
                                                   and `repeated_triad_agreement` for the three-way rule.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from metrics.compare import compare_vectors
from metrics.odd_one_out import credit_from_pairs, per_triplet_correct
from metrics.triplet_pairs import ParticipantPairs, pair_counts, pair_events, participant_pairs


class NoiseCeiling(NamedTuple):
    lower: float
    upper: float


class SplitHalf(NamedTuple):
    """r_half: mean correlation between the two halves' matrices; r_full: Spearman-Brown 2r/(1+r), the
    expected correlation between two independent full-size samples (the matrix's reliability);
    per_split: (n_splits,) r of each split; n_pairs: (n_splits,) pairs seen by both halves."""
    r_half: float
    r_full: float
    per_split: np.ndarray
    n_pairs: np.ndarray


class RepeatedTriads(NamedTuple):
    """Triads (same three videos) judged more than once. agreement: chance two responses to the same triad
    pick the same odd one out; loo_majority: accuracy of predicting each response by the majority of the
    other responses to its triad (ties split)."""
    n_triads: int
    n_responses: int
    agreement: float
    loo_majority: float


def spearman_brown(r: float | np.ndarray, factor: float = 2.0) -> float | np.ndarray:
    """Reliability of a sample `factor` times larger than the one whose reliability is r."""
    return factor * r / (1.0 + (factor - 1.0) * r)


def split_half_reliability(triplets: np.ndarray, participant: np.ndarray, *, n_videos: int,
                           n_splits: int = 100, method: str = "spearman", seed: int = 0,
                           videos: np.ndarray | None = None) -> SplitHalf:
    """Split participants in random halves, correlate the halves' similarity matrices over the pairs both
    saw, and Spearman-Brown correct the mean.

    triplets: (n, 3) [kept_a, kept_b, odd]; participant: (n,) int; videos: only pairs within them count
    (from every triplet, mixed ones included).
    """
    pairs = participant_pairs(triplets, participant, n_videos, videos)
    return split_half_from_pairs(pairs, n_splits=n_splits, method=method, seed=seed)


def split_half_from_pairs(pairs: ParticipantPairs, *, n_splits: int = 100, method: str = "spearman",
                          seed: int = 0) -> SplitHalf:
    """`split_half_reliability` on precomputed per-participant pair counts."""
    halves = _random_halves(pairs.shown.shape[1], n_splits, seed)
    t_a, n_a = (pairs.together @ halves.T).T, (pairs.shown @ halves.T).T
    t_all = np.asarray(pairs.together.sum(axis=1)).ravel()
    n_all = np.asarray(pairs.shown.sum(axis=1)).ravel()
    rs, n_pairs = np.empty(n_splits), np.empty(n_splits, dtype=np.int64)
    for s in range(n_splits):
        both = (n_a[s] > 0) & (n_all - n_a[s] > 0)
        sim_a = t_a[s, both] / n_a[s, both]
        sim_b = (t_all[both] - t_a[s, both]) / (n_all[both] - n_a[s, both])
        rs[s], n_pairs[s] = compare_vectors(sim_a, sim_b, method=method), both.sum()
    r_half = float(np.nanmean(rs))
    return SplitHalf(r_half, float(spearman_brown(r_half)), rs, n_pairs)


def rsa_noise_ceiling(split: SplitHalf) -> NoiseCeiling:
    """(lower, upper) for a model's correlation with the full human matrix: lower = r_full (a model as good
    as an independent group of the same size), upper = sqrt(r_full) (the noise-free mean judgment)."""
    return NoiseCeiling(split.r_full, float(np.sqrt(max(split.r_full, 0.0))))


def ooo_noise_ceiling(triplets: np.ndarray, participant: np.ndarray, *, n_videos: int,
                      rule: str = "three_way", n_splits: int = 100, seed: int = 0) -> NoiseCeiling:
    """(lower, upper) for odd-one-out accuracy under `rule`.

    lower: predict one half of the participants' choices from the other half's similarity matrix (both
    directions, mean over splits): a half-size sample is noisier than the full one, so this under-estimates.
    upper: predict every choice from the full matrix, its own trial included: over-estimates.
    Pairs a half never saw get that half's mean similarity (an uninformed guess).
    """
    return ooo_noise_ceilings(triplets, participant, n_videos=n_videos, rules=(rule,), n_splits=n_splits,
                              seed=seed)[rule]


def ooo_noise_ceilings(triplets: np.ndarray, participant: np.ndarray, *, n_videos: int,
                       rules: tuple[str, ...] = ("three_way", "paper"), n_splits: int = 100, seed: int = 0,
                       pairs: ParticipantPairs | None = None) -> dict[str, NoiseCeiling]:
    """`ooo_noise_ceiling` for several rules from one pass over the splits.

    pairs: the human pair counts the matrices are built from (default: from `triplets` themselves). Pass
    the pairs among the held-out videos from every triplet (`participant_pairs(..., videos=test)`) to
    predict the held-out triplets with all the human data about those pairs."""
    pairs = pairs if pairs is not None else participant_pairs(triplets, participant, n_videos)
    halves = _random_halves(pairs.shown.shape[1], n_splits, seed)
    t_a, n_a = (pairs.together @ halves.T).T, (pairs.shown @ halves.T).T
    t_all = np.asarray(pairs.together.sum(axis=1)).ravel()
    n_all = np.asarray(pairs.shown.sum(axis=1)).ravel()
    hits = {rule: 0.0 for rule in rules}
    for s, h in enumerate(halves):
        in_a = h[participant] > 0
        sim_a = _pair_matrix(t_a[s], n_a[s], pairs, n_videos)                     # predicts half B
        sim_b = _pair_matrix(t_all - t_a[s], n_all - n_a[s], pairs, n_videos)     # predicts half A
        for rule in rules:
            hits[rule] += (per_triplet_correct(sim_a, triplets[~in_a], rule=rule).sum()
                           + per_triplet_correct(sim_b, triplets[in_a], rule=rule).sum())
    full = _pair_matrix(t_all, n_all, pairs, n_videos)
    return {rule: NoiseCeiling(float(hits[rule] / (n_splits * len(triplets))),
                               float(per_triplet_correct(full, triplets, rule=rule).mean())) for rule in rules}


def _pair_matrix(together: np.ndarray, shown: np.ndarray, pairs: ParticipantPairs, n: int) -> np.ndarray:
    """(n, n) similarity from per-pair counts; unseen pairs get the mean of the seen ones."""
    seen = shown > 0
    values = together[seen] / shown[seen]
    sim = np.full((n, n), values.mean() if values.size else 0.5)
    sim[pairs.i[seen], pairs.j[seen]] = sim[pairs.j[seen], pairs.i[seen]] = values
    return sim


def repeated_triad_agreement(triplets: np.ndarray) -> RepeatedTriads:
    """Consistency of choices on triads shown more than once (by anyone)."""
    t = np.asarray(triplets, dtype=np.int64)
    ordered = np.sort(t, axis=1)
    _, triad = np.unique(ordered, axis=0, return_inverse=True)
    triad = triad.ravel()
    position = np.argmax(ordered == t[:, 2:3], axis=1)              # which of the sorted three was odd
    votes = np.zeros((triad.max() + 1, 3))
    np.add.at(votes, (triad, position), 1.0)
    n_triad = votes.sum(axis=1)
    repeated = n_triad[triad] > 1
    if not repeated.any():
        return RepeatedTriads(0, 0, float("nan"), float("nan"))
    agreement = (votes * (votes - 1)).sum() / (n_triad * (n_triad - 1)).sum()
    # Leave each response out: its own choice loses its vote; credit when it is (one of) the top.
    others = votes[triad[repeated]] - np.eye(3)[position[repeated]]
    top = others.max(axis=1, keepdims=True)
    own = np.take_along_axis(others, position[repeated][:, None], axis=1)
    credit = (own == top).ravel() / (others == top).sum(axis=1)
    return RepeatedTriads(int((n_triad > 1).sum()), int(repeated.sum()), float(agreement),
                          float(credit.mean()))


def participant_consistency(triplets: np.ndarray, participant: np.ndarray, *, n_videos: int,
                            rule: str = "three_way") -> np.ndarray:
    """(n_participants,) accuracy of predicting each participant's choices from everyone else's similarity
    matrix (leave one participant out): low values flag careless or idiosyncratic participants."""
    ev = pair_events(triplets, n_videos)
    who = np.repeat(np.asarray(participant, dtype=np.int64)[:, None], 3, axis=1)
    _, key = np.unique(who * n_videos * n_videos + ev.pair, return_inverse=True)
    key = key.reshape(ev.pair.shape)
    tog_flag = np.broadcast_to(ev.together, ev.pair.shape)
    own_tog, own_shown = np.bincount(key.ravel(), weights=tog_flag.ravel()), np.bincount(key.ravel())
    together, shown = (m.ravel() for m in pair_counts(triplets, n_videos))
    t_other, n_other = together[ev.pair] - own_tog[key], shown[ev.pair] - own_shown[key]
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(n_other > 0, t_other / np.maximum(n_other, 1), np.nan)
    sim = np.where(np.isnan(sim), np.nanmean(sim), sim)
    credit = credit_from_pairs(sim[:, 0], sim[:, 1], sim[:, 2], rule=rule)
    n = int(np.max(participant)) + 1
    return np.bincount(participant, weights=credit, minlength=n) / np.bincount(participant, minlength=n)


def _random_halves(n_participants: int, n_splits: int, seed: int) -> np.ndarray:
    """(n_splits, n_participants) 0/1: which participants are in half A."""
    rng = np.random.default_rng(seed)
    order = rng.permuted(np.tile(np.arange(n_participants), (n_splits, 1)), axis=1)
    halves = np.zeros((n_splits, n_participants))
    np.put_along_axis(halves, order[:, : n_participants // 2], 1.0, axis=1)
    return halves
