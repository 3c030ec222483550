"""Score every embedded model of an experiment on the held-out test videos: the suite's rows for each
single-run model, per-seed rows and the seed-pooled row (two-level interval) for each replicated model, the
probes, the variance partitions, and every paired difference on the same resamples (against the model's base,
against the linear probe, between replicated variants and between families)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.probes import SOCIAL_AFFECTIVE, ProbeFit, fit_probes, probe_table
from analysis.replicates import SEEDS_AND_VIDEOS, draw_seed, pooled_paired_rows, pooled_rows
from analysis.scorers import ModelScores
from analysis.suite import EvalSet, SuiteSettings, human_ceiling_rows, model_rows, row, scored_paired_rows
from metrics.bootstrap import paired_difference
from metrics.triplet_pairs import positions
from metrics.two_level_bootstrap import two_level_difference, two_level_estimate

BASE = "base"
LANGUAGE = "language"


@dataclass(frozen=True, eq=False)
class Scored:
    """What scoring one model's run kept for the comparisons and the plots."""
    scores: ModelScores
    probes: ProbeFit
    rdm: np.ndarray
    partition: dict | None
    seed: int | None = None  # a replicate's training seed


class _Test:
    """The held-out test set of an experiment and what every model is scored against."""

    def __init__(self, emb, s: SuiteSettings):
        from data.annotations import read_ratings
        from data.judgments import load_judgments
        from metrics.rdm import model_rdm

        j = load_judgments(emb.data_dir)
        self.ev, self.s = EvalSet.build(j.triplets, j.participant, j.n_videos, emb.test_videos), s
        self.ceiling_rows = human_ceiling_rows(self.ev, s)
        self.reliability = next(r["value"] for r in self.ceiling_rows if r["metric"] == "explained_variance")
        self.test_rows = positions(emb.video_ids, j.n_videos)[emb.test_videos]
        self.train_rows = np.flatnonzero(~np.isin(emb.video_ids, emb.test_videos))
        self.ratings = read_ratings(emb.data_dir, [j.video_names[i] for i in emb.video_ids])
        self.language_rdm = model_rdm(emb.models[LANGUAGE][self.test_rows], method=s.rdm_method)
        self.identities = emb.identities

    def key(self, name: str) -> str:
        """What a model's seed draws are keyed by (analysis.replicates.draw_seed)."""
        return self.identities.get(name, name)

    def score(self, name: str, x: np.ndarray, extra: dict) -> tuple[list[dict], Scored]:
        """The suite's rows, probe rows and (for a video model) variance partitions of one run."""
        from metrics.variance_partitioning import bootstrap_variance_partitioning

        s, kept = self.s, {}
        rows = model_rows(name, x[self.test_rows], self.ev, s, self.reliability, samples=kept)
        fit = fit_probes(x, self.ratings, self.train_rows, self.test_rows, n_boot=s.n_boot, seed=s.seed)
        rows += [row(name, f"probe_r2_{p.attribute}", p.r2, p.ci_low, p.ci_high, p.n_test, "videos")
                 for p in probe_table(fit, s.ci).itertuples()]
        parts = None
        if name != LANGUAGE:
            parts = bootstrap_variance_partitioning(kept[name].rdm, self.language_rdm, self.ev.pairs,
                                                    n_boot=s.n_boot, ci=s.ci, seed=s.seed)
            rows += [row(name, f"vp_{k}", *e, "videos") for k, e in parts.items()]
        return [{**r, **extra} for r in rows], Scored(kept[name], fit, kept[name].rdm, parts, extra.get("seed"))


def score_embedded(emb, *, settings: SuiteSettings = SuiteSettings()) -> tuple[pd.DataFrame, dict]:
    """(metrics, extras): tidy rows for every model (columns of suite.row plus `seed`, NaN but on a replicate's
    own rows, and `seeds`, the number of seeds behind the row), and what the plots need."""
    test = _Test(emb, settings)
    rows, scored = list(test.ceiling_rows), {}
    for name, x in emb.models.items():
        new, scored[name] = test.score(name, x, {"seeds": 1})
        rows += new
    for name, seeds in emb.runs.items():
        runs = []
        for seed, x in seeds:
            new, one = test.score(name, x, {"seed": seed, "seeds": 1})
            rows, runs = rows + new, runs + [one]
        scored[name] = runs
        rows += [{**r, "seeds": len(runs)} for r in pooled_rows(name, [r.scores for r in runs], settings,
                                                                 test.key(name))
                 + _pooled_probe_rows(name, runs, settings, test.key(name))]
    rows += _comparisons(emb, scored, test)
    return pd.DataFrame(rows), _extras(scored, test)


def _comparisons(emb, scored: dict, test: _Test) -> list[dict]:
    """Every paired difference: each trial model against its base and against the linear probe, each replicated
    model against the other replicated ones (another variant of its family, or its variant in another family)."""
    rows = []
    for name, base in (emb.base_of or {}).items():
        rows += _paired(name, base, BASE, scored, test)
        probe = _probe_for(name, emb, scored)
        if probe is not None:
            rows += _paired(name, probe, "linear_probe", scored, test)
    replicated = list(emb.runs)
    for name in replicated:
        for other in replicated:
            label = _versus(name, other, emb)
            if label is not None:
                rows += _paired(name, other, label, scored, test)
    return rows


def _paired(name: str, other: str, label: str, scored: dict, test: _Test) -> list[dict]:
    """name minus other on the same resamples: the suite's paired rows and the social-affective probes. A
    replicated model gets its seed-pooled difference and, against a single run, each seed's own."""
    runs_a, runs_b, s = _as_runs(scored[name]), _as_runs(scored[other]), test.s
    if isinstance(scored[name], Scored) and isinstance(scored[other], Scored):
        return [{**r, "seeds": 1} for r in _single_pair(name, runs_a[0], other, runs_b[0], test, label)]
    keys = (test.key(name), test.key(other))
    rows = pooled_paired_rows(name, [r.scores for r in runs_a], other, [r.scores for r in runs_b], s, label, keys)
    rows = [{**r, "seeds": len(runs_a)} for r in rows + _probe_differences(name, runs_a, other, runs_b, s, label,
                                                                           pooled=True, keys=keys)]
    if len(runs_b) == 1:
        rows += [{**r, "seed": a.seed, "seeds": 1} for a in runs_a
                 for r in _single_pair(name, a, other, runs_b[0], test, label)]
    return rows


def _single_pair(name: str, a: Scored, other: str, b: Scored, test: _Test, label: str) -> list[dict]:
    return (scored_paired_rows(name, a.scores, b.scores, test.s, label)
            + _probe_differences(name, [a], other, [b], test.s, label, pooled=False))


def _probe_differences(name, runs_a, other, runs_b, s, label, *, pooled: bool, keys=None) -> list[dict]:
    """diff_vs_<label>_probe_r2_<rating> for the social-affective ratings, on the same test-video resamples
    (pooled: each side's seeds drawn by draw_seed of its key, default its name)."""
    rows, fit, (key_a, key_b) = [], runs_a[0].probes, keys or (name, other)
    for k, attribute in enumerate(fit.attributes):
        if attribute not in SOCIAL_AFFECTIVE:
            continue
        va, sa = np.array([r.probes.r2[k] for r in runs_a]), np.stack([r.probes.samples[k] for r in runs_a])
        vb, sb = np.array([r.probes.r2[k] for r in runs_b]), np.stack([r.probes.samples[k] for r in runs_b])
        if pooled:
            d = two_level_difference(va, sa, vb, sb, ci=s.ci, seed_a=draw_seed(key_a, s), seed_b=draw_seed(key_b, s))
        else:
            d = paired_difference(va[0], vb[0], sa[0], sb[0], s.ci)
        over = f"{SEEDS_AND_VIDEOS if pooled else 'videos'} (p={d.p_value:.3g})"
        rows.append(row(name, f"diff_vs_{label}_probe_r2_{attribute}", d.difference, d.ci_low, d.ci_high,
                        fit.n_test, over))
    return rows


def _pooled_probe_rows(name: str, runs: list[Scored], s: SuiteSettings, key: str | None = None) -> list[dict]:
    fit = runs[0].probes
    rows = []
    for k, attribute in enumerate(fit.attributes):
        est = two_level_estimate([r.probes.r2[k] for r in runs], np.stack([r.probes.samples[k] for r in runs]),
                                 ci=s.ci, seed=draw_seed(key or name, s))
        rows.append(row(name, f"probe_r2_{attribute}", est.value, est.ci_low, est.ci_high, fit.n_test,
                        SEEDS_AND_VIDEOS))
    return rows


def _as_runs(scored) -> list[Scored]:
    return scored if isinstance(scored, list) else [scored]


def _probe_for(name: str, emb, scored: dict) -> str | None:
    """The linear probe a fine-tuned model is compared with (a trial whose objective probes frozen features, told
    by its config): a replicated one for a replicated model where there is one, else the single-run one; None
    for a probe itself and where no probe was scored."""
    if name in emb.probes:
        return None
    probes = [m for m in emb.probes if m in scored]
    same_kind = [m for m in probes if (m in emb.runs) == (name in emb.runs)]
    return (same_kind or probes or [None])[0]


def _versus(name: str, other: str, emb) -> str | None:
    """How a replicated model names another in its difference rows: by variant within a family, by family
    across families (same variant); None when they are not compared (itself, the probe, the base comparisons
    already made, or two models alike in both)."""
    if name == other or name in emb.probes or other in emb.probes:
        return None
    same_family = emb.base_of[name] == emb.base_of[other]
    if same_family and emb.variants[name] != emb.variants[other]:
        return emb.variants[other]
    if not same_family and emb.variants[name] == emb.variants[other]:
        return emb.base_of[other].removeprefix(f"{BASE} (").removesuffix(")")
    return None


def _extras(scored: dict, test: _Test) -> dict:
    """What the plots need: each model's RDM, variance partitions and probe table (a replicated model's: its
    first seed's RDM and partitions, its seed-pooled probes)."""
    extras = {"partitions": {}, "probes": {}, "rdms": {}, "human": test.ev}
    for name, value in scored.items():
        runs = _as_runs(value)
        shown = name if runs[0].seed is None else f"{name}, seed {runs[0].seed}"  # say which seed is drawn
        extras["rdms"][shown] = runs[0].rdm
        if runs[0].partition is not None:
            extras["partitions"][shown] = runs[0].partition
        pooled = pd.DataFrame(_pooled_probe_rows(name, runs, test.s, test.key(name))) if len(runs) > 1 else None
        extras["probes"][name] = probe_table(runs[0].probes, test.s.ci) if pooled is None else pooled.assign(
            attribute=pooled.metric.str.removeprefix("probe_r2_"), r2=pooled.value)
    return extras
