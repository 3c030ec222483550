"""The metric suite for one set of held-out videos: every model is scored on the same triplets, pairs and
resamples, so intervals and paired differences are comparable. Rows are tidy:
(model, metric, value, ci_low, ci_high, n, ci_over)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.scorers import RULES, SCORERS, ModelScores
from analysis.settings import SuiteSettings
from metrics.bootstrap import paired_difference
from metrics.noise_ceiling import (ooo_noise_ceilings, repeated_triad_agreement, rsa_noise_ceiling,
                                    split_half_from_pairs)
from metrics.triplet_pairs import ParticipantPairs, participant_pairs, positions

COLUMNS = ("model", "metric", "value", "ci_low", "ci_high", "n", "ci_over")


@dataclass(frozen=True, eq=False)
class EvalSet:
    """The held-out videos and the human data about them, in local ids 0..m-1 (the `videos` order).

    triplets: (n, 3) [kept_a, kept_b, odd] with all three videos held out (for odd-one-out accuracy);
    participant: (n,); pairs: human pair counts among these videos from every triplet, mixed ones included
    (for RSA: a pair judged next to a training video is still a human judgment of that pair)."""

    videos: np.ndarray
    triplets: np.ndarray
    participant: np.ndarray
    pairs: ParticipantPairs

    @classmethod
    def build(cls, triplets: np.ndarray, participant: np.ndarray, n_videos: int, videos: np.ndarray, *,
              pair_source: tuple[np.ndarray, np.ndarray] | None = None) -> EvalSet:
        """pair_source: (triplets, participant) to build the human pair matrix from instead, e.g. the
        authors' construction (data.judgments.authors_test_triplets)."""
        videos = np.asarray(videos, dtype=np.int64)
        local = positions(videos, n_videos)
        inside = (local[triplets] >= 0).all(axis=1)
        pair_triplets, pair_participant = pair_source if pair_source is not None else (triplets, participant)
        return cls(videos, local[triplets[inside]], np.asarray(participant)[inside],
                   participant_pairs(pair_triplets, pair_participant, n_videos, videos))


def row(model: str, metric: str, value: float, low: float = np.nan, high: float = np.nan, n: int = 0,
        over: str = "") -> dict:
    return dict(zip(COLUMNS, (model, metric, float(value), float(low), float(high), int(n), over)))


def human_ceiling_rows(ev: EvalSet, s: SuiteSettings) -> list[dict]:
    """Noise ceilings of these videos' human data, named like the model metrics they bound."""
    rows = pair_ceiling_rows(ev, s)
    ceilings = ooo_noise_ceilings(ev.triplets, ev.participant, n_videos=len(ev.videos), rules=RULES,
                                  n_splits=s.n_splits, seed=s.seed, pairs=ev.pairs)
    for rule, c in ceilings.items():
        rows.append(row("noise_ceiling", f"ooo_acc_{rule}", c.lower, c.lower, c.upper, len(ev.triplets),
                        "lower..upper"))
    rep = repeated_triad_agreement(ev.triplets)
    rows.append(row("noise_ceiling", "repeated_triad_agreement", rep.agreement, n=rep.n_responses))
    return rows


def pair_ceiling_rows(ev: EvalSet, s: SuiteSettings) -> list[dict]:
    """The ceilings of the human pair matrix alone: split-half r, explained variance, RSA (Spearman)."""
    split = split_half_from_pairs(ev.pairs, n_splits=s.n_splits, seed=s.seed)
    # The explained-variance ceiling uses the correlation the models' explained variance uses (s.ev_method).
    ev_split = split if s.ev_method == "spearman" else split_half_from_pairs(ev.pairs, n_splits=s.n_splits,
                                                                             method=s.ev_method, seed=s.seed)
    rows = [row("noise_ceiling", "split_half_r", split.r_half, n=int(split.n_pairs.mean())),
            row("noise_ceiling", "explained_variance", ev_split.r_full, n=int(ev_split.n_pairs.mean()))]
    low, high = rsa_noise_ceiling(split)
    rows.append(row("noise_ceiling", "rsa_spearman", low, low, high, int(split.n_pairs.mean()), "lower..upper"))
    return rows


def model_rows(name: str, embeddings: np.ndarray, ev: EvalSet, s: SuiteSettings,
               reliability: float | None = None, samples: dict | None = None) -> list[dict]:
    """Every registered metric of one model (analysis.scorers.SCORERS, in registry order): odd-one-out accuracy
    (both rules, intervals over videos and participants), RSA, explained variance (and its share of the
    reliability), permutation p-value. samples: a dict that receives this model's ModelScores for `paired_rows`."""
    scores = ModelScores(embeddings, ev, s, reliability)
    if samples is not None:
        samples[name] = scores
    return [row(name, sc.name, *r) for sc in SCORERS if sc.rows is not None for r in sc.rows(scores)]


def paired_rows(name: str, base_name: str, embeddings: np.ndarray, base: np.ndarray, ev: EvalSet,
                s: SuiteSettings, samples: dict | None = None, label: str | None = None) -> list[dict]:
    """name minus base on the same triplets and the same video resamples, for every paired Scorer (accuracy,
    Spearman RSA, explained variance), as metrics `diff_vs_<label>_<metric>` (label: base_name unless given).
    samples: what `model_rows` kept for both models (else they are scored here)."""
    samples = samples if samples is not None else {}
    for model, x in ((name, embeddings), (base_name, base)):
        if model not in samples:
            samples[model] = ModelScores(x, ev, s)
    return scored_paired_rows(name, samples[name], samples[base_name], s, label or base_name)


def scored_paired_rows(name: str, a: ModelScores, b: ModelScores, s: SuiteSettings, label: str) -> list[dict]:
    """paired_rows of two models already scored (their ModelScores, on the same EvalSet and settings): name's
    `diff_vs_<label>_<metric>` rows."""
    rows = []
    for sc in (sc for sc in SCORERS if sc.paired):
        (value_a, boot_a, n), (value_b, boot_b, _) = sc.over_videos(a), sc.over_videos(b)
        d = paired_difference(value_a, value_b, boot_a, boot_b, s.ci)
        rows.append(row(name, f"diff_vs_{label}_{sc.name}", d.difference, d.ci_low, d.ci_high, n,
                        f"videos (p={d.p_value:.3g})"))
    return rows
