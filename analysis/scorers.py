"""Every metric row of the analysis table, declared once (scikit-learn's one scorer registry): its name, the
function that scores a model, whether it is paired, whether it leads the main table and whether it is drawn.
`suite.model_rows`, `suite.paired_rows`, `report.ORDER` and `plots.BAR_METRICS` all ask SCORERS; a new metric
is one `Scorer(...)` entry.

A Scorer reads a model through `ModelScores`, which computes each shared piece once (the RDM, the odd-one-out
credit, the bootstrap resamples), every resample drawn with the suite's one seed so models pair up.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable

import numpy as np

from metrics.bootstrap import accuracy_samples, percentile_interval, rsa_samples
from metrics.compare import compare_vectors
from metrics.odd_one_out import per_triplet_correct
from metrics.permutation import rsa_permutation_test
from metrics.rdm import model_rdm

if TYPE_CHECKING:
    from analysis.suite import EvalSet, SuiteSettings

RULES = ("three_way", "paper")
UNITS = ("videos", "participants")
SEEDS_AND_VIDEOS = "seeds x videos"  # ci_over of a seed-pooled row (analysis.replicates)


class ModelScores:
    """One model's embeddings of the held-out videos, scored lazily: each piece is computed once and shared by
    every Scorer that reads it. embeddings: (n_test_videos, dim) in `ev.videos` order."""

    def __init__(self, embeddings: np.ndarray, ev: EvalSet, settings: SuiteSettings,
                 reliability: float | None = None):
        self.embeddings, self.ev, self.s, self.reliability = embeddings, ev, settings, reliability

    @cached_property
    def rdm(self) -> np.ndarray:
        return model_rdm(self.embeddings, method=self.s.rdm_method)

    @cached_property
    def credit(self) -> np.ndarray:
        """(n_triplets, len(RULES)) odd-one-out credit per rule."""
        return np.column_stack([per_triplet_correct(1.0 - self.rdm, self.ev.triplets, rule=r) for r in RULES])

    def ooo_samples(self, over: str) -> np.ndarray:
        """(n_boot, len(RULES)) accuracy per resample of `over`, both rules on the same resamples."""
        return self._cached(("ooo", over), lambda: accuracy_samples(
            self.credit, self.ev.triplets, self.ev.participant, over=over, n_boot=self.s.n_boot, seed=self.s.seed))

    @cached_property
    def pair_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(model dissimilarity, human dissimilarity) over the pairs humans judged."""
        return self.rdm[self.ev.pairs.i, self.ev.pairs.j], 1.0 - self.ev.pairs.similarity()

    def rsa(self, method: str) -> float:
        return self._cached(("rsa", method), lambda: compare_vectors(*self.pair_vectors, method=method))

    def rsa_samples(self, method: str, over: str = "videos") -> np.ndarray:
        return self._cached(("rsa", method, over), lambda: rsa_samples(
            self.rdm, self.ev.pairs, over=over, method=method, n_boot=self.s.n_boot, seed=self.s.seed))

    def rsa_interval(self, method: str, over: str) -> tuple[float, float]:
        boot = self.rsa_samples(method, over)
        if over == "participants":
            # A participant resample repeats people, so its human matrix rests on fewer of them and is noisier:
            # every correlation is attenuated. Centre the resamples on the estimate (shift-corrected percentile
            # interval) so the interval measures spread, not that bias.
            boot = boot - (np.nanmean(boot) - self.rsa(method))
        return percentile_interval(boot, self.s.ci)

    @property
    def n_pairs(self) -> int:
        return len(self.ev.pairs.i)

    def _cached(self, key, compute):
        store = self.__dict__.setdefault("_store", {})
        if key not in store:
            store[key] = compute()
        return store[key]


Row = tuple  # (value, ci_low, ci_high, n, ci_over)
Resampled = tuple  # (value, (n_boot,) video resamples, n): what paired differences and seed pooling read


@dataclass(frozen=True)
class Scorer:
    """One metric of the table. rows: the model's rows of it (None: a row of the human data only, written by
    suite.human_ceiling_rows); over_videos: its value and video resamples (None: no resampled form);
    paired: whether `diff_vs_<label>_<name>` rows compare two models on it; headline: leads the main table
    (in registry order); plot: (title, chance) of its panel in metrics.png."""

    name: str
    rows: Callable[[ModelScores], list[Row]] | None = None
    over_videos: Callable[[ModelScores], Resampled] | None = None
    paired: bool = False
    headline: bool = True
    plot: tuple[str, float] | None = None

    def __post_init__(self):
        if self.paired and self.over_videos is None:
            raise ValueError(f"Scorer {self.name!r}: paired=True needs over_videos")


def _accuracy(rule: str):
    k = RULES.index(rule)

    def rows(m: ModelScores) -> list[Row]:
        value = m.credit[:, k].mean()
        return [(value, *percentile_interval(m.ooo_samples(over)[:, k], m.s.ci), len(m.credit), over)
                for over in UNITS]

    def over_videos(m: ModelScores) -> Resampled:
        return m.credit[:, k].mean(), m.ooo_samples("videos")[:, k], len(m.credit)

    return rows, over_videos


def _rsa(method: str, units: tuple[str, ...]):
    def rows(m: ModelScores) -> list[Row]:
        return [(m.rsa(method), *m.rsa_interval(method, over), m.n_pairs, over) for over in units]

    def over_videos(m: ModelScores) -> Resampled:
        return m.rsa(method), m.rsa_samples(method), m.n_pairs

    return rows, over_videos


def _explained_variance(m: ModelScores) -> Row:
    """r^2 of the RSA with s.ev_method; r^2 is monotone in |r|: square the interval's ends, and start it at 0
    when it straddles 0."""
    r = m.rsa(m.s.ev_method)
    low, high = m.rsa_interval(m.s.ev_method, "videos")
    ends = sorted([low * low, high * high])
    return r * r, 0.0 if low < 0 < high else ends[0], ends[1], m.n_pairs, "videos"


def _explained_variance_over_videos(m: ModelScores) -> Resampled:
    return m.rsa(m.s.ev_method) ** 2, m.rsa_samples(m.s.ev_method) ** 2, m.n_pairs


def _of_ceiling(m: ModelScores) -> list[Row]:
    if not m.reliability:
        return []
    value, low, high, n, over = _explained_variance(m)
    return [(value / m.reliability, low / m.reliability, high / m.reliability, n, over)]


def _of_ceiling_over_videos(m: ModelScores) -> Resampled:
    value, samples, n = _explained_variance_over_videos(m)
    return value / (m.reliability or np.nan), samples / (m.reliability or np.nan), n


def _permutation_p(m: ModelScores) -> list[Row]:
    test = rsa_permutation_test(m.rdm, m.ev.pairs, method="spearman", n_perm=m.s.n_perm, seed=m.s.seed)
    return [(test.p_value, np.nan, np.nan, m.s.n_perm, "")]


_THREE_WAY, _PAPER = _accuracy("three_way"), _accuracy("paper")
_SPEARMAN, _PEARSON = _rsa("spearman", UNITS), _rsa("pearson", ("videos",))

SCORERS: tuple[Scorer, ...] = (
    Scorer("ooo_acc_three_way", *_THREE_WAY, paired=True, plot=("odd-one-out acc. (3-way)", 1 / 3)),
    Scorer("ooo_acc_paper", *_PAPER, paired=True, plot=("odd-one-out acc. (paper rule)", 0.5)),
    Scorer("rsa_spearman", *_SPEARMAN, paired=True, plot=("RSA (Spearman r)", 0.0)),
    Scorer("rsa_pearson", *_PEARSON),
    Scorer("rsa_kendall_tau_a", lambda m: [(compare_vectors(*m.pair_vectors, method="kendall_tau_a"), np.nan,
                                            np.nan, m.n_pairs, "")]),
    Scorer("explained_variance", lambda m: [_explained_variance(m)], _explained_variance_over_videos, paired=True,
           plot=("explained variance (r²)", 0.0)),
    Scorer("explained_variance_of_ceiling", _of_ceiling, _of_ceiling_over_videos),
    Scorer("rsa_spearman_permutation_p", _permutation_p),
    Scorer("split_half_r"),
    Scorer("repeated_triad_agreement"),
)


def scorer(name: str) -> Scorer:
    """The registered Scorer of a metric name; ValueError naming the unknown one."""
    for s in SCORERS:
        if s.name == name:
            return s
    raise ValueError(f"unknown metric {name!r}; registered: {[s.name for s in SCORERS]}")
