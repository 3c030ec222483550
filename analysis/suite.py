"""The metric suite for one set of held-out videos: every model is scored on the same triplets, pairs and
resamples, so intervals and paired differences are comparable. Rows are tidy:
(model, metric, value, ci_low, ci_high, n, ci_over)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metrics.bootstrap import accuracy_samples, paired_difference, percentile_interval, rsa_samples
from metrics.compare import compare_vectors
from metrics.noise_ceiling import (ooo_noise_ceilings, repeated_triad_agreement, rsa_noise_ceiling,
                                    split_half_from_pairs)
from metrics.odd_one_out import per_triplet_correct
from metrics.permutation import rsa_permutation_test
from metrics.rdm import model_rdm
from metrics.triplet_pairs import ParticipantPairs, participant_pairs, positions

RULES = ("three_way", "paper")
EV_METHODS = ("pearson", "spearman")
COLUMNS = ("model", "metric", "value", "ci_low", "ci_high", "n", "ci_over")


@dataclass(frozen=True)
class SuiteSettings:
    """How much resampling the suite does."""

    n_boot: int = field(default=1000, metadata={"help": "bootstrap resamples per interval"})
    n_perm: int = field(default=1000, metadata={"help": "label permutations of the RSA permutation test"})
    n_splits: int = field(default=100, metadata={"help": "random participant split-halves (noise ceilings)"})
    ci: float = field(default=0.95, metadata={"help": "confidence level of every interval"})
    rdm_method: str = field(default="cosine", metadata={"help": "model RDM: 'cosine' or 'correlation'"})
    seed: int = field(default=0, metadata={"help": "seed of every resample (shared by all models: paired)"})
    ev_method: str = field(default="pearson", metadata={
        "help": "explained variance as 'pearson' r^2 (ours) or 'spearman' rho^2 (the paper's, presumably); the "
                "noise ceiling it is divided by is computed with the same correlation, never mixed"})

    def __post_init__(self):
        for name in ("n_boot", "n_perm", "n_splits"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"SuiteSettings.{name} must be >= 2, got {getattr(self, name)!r}")
        if not 0.5 <= self.ci < 1:
            raise ValueError(f"SuiteSettings.ci must be in [0.5, 1), got {self.ci!r}")
        if self.ev_method not in EV_METHODS:
            raise ValueError(f"SuiteSettings.ev_method must be one of {EV_METHODS}, got {self.ev_method!r}")
        if self.rdm_method not in ("cosine", "correlation"):
            raise ValueError(f"SuiteSettings.rdm_method must be 'cosine' or 'correlation', got {self.rdm_method!r}")


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
        authors' construction (analysis.human.authors_test_triplets)."""
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
    """Odd-one-out accuracy (both rules, intervals over videos and participants), RSA (Spearman with both
    intervals, Pearson over videos, Kendall tau-a), explained variance (and its share of the reliability),
    permutation p-value. samples: a dict that receives this model's video resamples for `paired_rows`."""
    rdm = model_rdm(embeddings, method=s.rdm_method)
    credit = np.column_stack([per_triplet_correct(1.0 - rdm, ev.triplets, rule=rule) for rule in RULES])
    rows, kept, values = [], {}, {}
    for over in ("videos", "participants"):
        acc = accuracy_samples(credit, ev.triplets, ev.participant, over=over, n_boot=s.n_boot, seed=s.seed)
        kept[f"ooo/{over}"] = acc
        rows += [row(name, f"ooo_acc_{rule}", credit[:, k].mean(), *percentile_interval(acc[:, k], s.ci),
                     len(credit), over) for k, rule in enumerate(RULES)]
    model, human = rdm[ev.pairs.i, ev.pairs.j], 1.0 - ev.pairs.similarity()
    # Spearman (the headline RSA) resamples videos and participants; Pearson (for explained variance) videos.
    for method, units in (("spearman", ("videos", "participants")), ("pearson", ("videos",))):
        values[method] = value = compare_vectors(model, human, method=method)
        for over in units:
            kept[f"rsa_{method}/{over}"] = boot = rsa_samples(rdm, ev.pairs, over=over, method=method,
                                                              n_boot=s.n_boot, seed=s.seed)
            if over == "participants":
                # A participant resample repeats people, so its human matrix rests on fewer of them and is
                # noisier: every correlation is attenuated. Centre the resamples on the estimate (shift-
                # corrected percentile interval) so the interval measures spread, not that bias.
                boot = boot - (np.nanmean(boot) - value)
            rows.append(row(name, f"rsa_{method}", value, *percentile_interval(boot, s.ci), len(human), over))
    rows.append(row(name, "rsa_kendall_tau_a", compare_vectors(model, human, method="kendall_tau_a"), n=len(human)))
    ev_source = next(r for r in rows if r["metric"] == f"rsa_{s.ev_method}" and r["ci_over"] == "videos")
    rows.append(_explained_variance_row(name, ev_source))
    if reliability:
        rows.append(_ratio_row(rows[-1], reliability))
    test = rsa_permutation_test(rdm, ev.pairs, method="spearman", n_perm=s.n_perm, seed=s.seed)
    rows.append(row(name, "rsa_spearman_permutation_p", test.p_value, n=s.n_perm))
    if samples is not None:
        samples[name] = {"credit": credit, "rsa_spearman": values["spearman"], "rsa_pearson": values["pearson"],
                         **kept}
    return rows


def paired_rows(name: str, base_name: str, embeddings: np.ndarray, base: np.ndarray, ev: EvalSet,
                s: SuiteSettings, samples: dict | None = None, label: str | None = None) -> list[dict]:
    """name minus base on the same triplets and the same video resamples: accuracy, Spearman RSA, explained
    variance, as metrics `diff_vs_<label>_...` (label: base_name unless given).
    samples: what `model_rows` kept for both models (else everything is resampled here)."""
    label = label or base_name
    samples = samples if samples is not None else {}
    for model, x in ((name, embeddings), (base_name, base)):
        if model not in samples:
            model_rows(model, x, ev, s, samples=samples)
    a, b = samples[name], samples[base_name]
    rows = []
    for k, rule in enumerate(RULES):
        d = paired_difference(a["credit"][:, k].mean(), b["credit"][:, k].mean(), a["ooo/videos"][:, k],
                              b["ooo/videos"][:, k], s.ci)
        rows.append(row(name, f"diff_vs_{label}_ooo_acc_{rule}", d.difference, d.ci_low, d.ci_high,
                        len(a["credit"]), f"videos (p={d.p_value:.3g})"))
    d = paired_difference(a["rsa_spearman"], b["rsa_spearman"], a["rsa_spearman/videos"],
                          b["rsa_spearman/videos"], s.ci)
    rows.append(row(name, f"diff_vs_{label}_rsa_spearman", d.difference, d.ci_low, d.ci_high,
                    len(ev.pairs.i), f"videos (p={d.p_value:.3g})"))
    # Explained variance is r^2 of the Pearson RSA: the same video resamples, squared.
    d = paired_difference(a["rsa_pearson"] ** 2, b["rsa_pearson"] ** 2, a["rsa_pearson/videos"] ** 2,
                          b["rsa_pearson/videos"] ** 2, s.ci)
    rows.append(row(name, f"diff_vs_{label}_explained_variance", d.difference, d.ci_low, d.ci_high,
                    len(ev.pairs.i), f"videos (p={d.p_value:.3g})"))
    return rows


def _explained_variance_row(name: str, correlation: dict) -> dict:
    r, low, high = correlation["value"], correlation["ci_low"], correlation["ci_high"]
    # r^2 is monotone in |r|: square the interval's ends, and start it at 0 when it straddles 0.
    ends = sorted([low * low, high * high])
    lo = 0.0 if low < 0 < high else ends[0]
    return row(name, "explained_variance", r * r, lo, ends[1], correlation["n"], "videos")


def _ratio_row(ev_row: dict, reliability: float) -> dict:
    return row(ev_row["model"], "explained_variance_of_ceiling", ev_row["value"] / reliability,
               ev_row["ci_low"] / reliability, ev_row["ci_high"] / reliability, ev_row["n"], "videos")
