"""Linear probes: how well a representation predicts each social-affective rating of a video.

scikit-learn RidgeCV (standardised features, alpha chosen by efficient leave-one-out on the training
videos). `linear_probes` (ours): fit on training videos, scored by R^2 on held-out test videos.
`cross_validated_probes` (the paper's way): k-fold cross-validation within the test videos only, `indoor`
left out. Intervals resample test videos.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.suite import SuiteSettings
from metrics.bootstrap import multiplicities, percentile_interval

DEFAULT_ALPHAS = tuple(np.logspace(-2, 5, 15))
# The ratings of the paper's last claim (fine-tuning strengthens what probes read of them): these get paired
# differences against the base.
SOCIAL_AFFECTIVE = ("intimacy", "valence", "dominance", "communication")


class ProbeFit(NamedTuple):
    """Held-out R^2 of each rating's probe and its test-video resamples: r2 (k,), samples (k, n_boot)."""
    attributes: tuple[str, ...]
    r2: np.ndarray
    samples: np.ndarray
    alpha: np.ndarray
    n_train: int
    n_test: int


def fit_probes(embeddings: np.ndarray, ratings: pd.DataFrame, train: np.ndarray, test: np.ndarray, *,
               alphas: tuple[float, ...] = DEFAULT_ALPHAS, n_boot: int = 1000, seed: int = 0) -> ProbeFit:
    """Fit on the training rows, score R^2 on the test rows, on the whole test set and on each resample of the
    test videos (seeded: every model's probes share the resamples, so they pair up).

    embeddings: (n_videos, dim); ratings: (n_videos, k) one column per attribute, same row order;
    train, test: row indices (disjoint)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(embeddings, dtype=np.float64)
    y = ratings.to_numpy(dtype=np.float64)
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, alpha_per_target=True))
    probe.fit(x[train], y[train])
    predicted = probe.predict(x[test]).reshape(len(test), -1)
    m = multiplicities(len(test), n_boot, seed).astype(np.float64)
    columns = range(len(ratings.columns))
    return ProbeFit(tuple(ratings.columns),
                    np.array([_weighted_r2(y[test, k], predicted[:, k], np.ones((1, len(test))))[0] for k in columns]),
                    np.stack([_weighted_r2(y[test, k], predicted[:, k], m) for k in columns]),
                    np.broadcast_to(np.atleast_1d(probe[-1].alpha_), (len(columns),)).astype(float),
                    len(train), len(test))


def linear_probes(embeddings: np.ndarray, ratings: pd.DataFrame, train: np.ndarray, test: np.ndarray, *,
                  alphas: tuple[float, ...] = DEFAULT_ALPHAS, n_boot: int = 1000, ci: float = 0.95,
                  seed: int = 0) -> pd.DataFrame:
    """One row per rating: attribute, r2 (test), ci_low, ci_high, alpha, n_train, n_test (see fit_probes)."""
    return probe_table(fit_probes(embeddings, ratings, train, test, alphas=alphas, n_boot=n_boot, seed=seed), ci)


def probe_table(fit: ProbeFit, ci: float = 0.95) -> pd.DataFrame:
    """A ProbeFit as linear_probes' rows, percentile intervals over test videos."""
    return pd.DataFrame([{"attribute": name, "r2": fit.r2[k], "ci_low": low, "ci_high": high,
                          "alpha": float(fit.alpha[k]), "n_train": fit.n_train, "n_test": fit.n_test}
                         for k, name in enumerate(fit.attributes)
                         for low, high in [percentile_interval(fit.samples[k], ci)]])


def _weighted_r2(truth: np.ndarray, predicted: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(n_samples,) R^2 = 1 - SSE / SST of held-out predictions, each test video counted w times."""
    total = w.sum(axis=1)
    mean = (w @ truth) / total
    sse = w @ (truth - predicted) ** 2
    sst = (w * (truth[None, :] - mean[:, None]) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - sse / sst


def cross_validated_probes(embeddings: np.ndarray, ratings: pd.DataFrame, videos: np.ndarray, *,
                           settings: SuiteSettings = SuiteSettings(), n_folds: int = 5,
                           exclude: tuple[str, ...] = ("indoor",),
                           alphas: tuple[float, ...] = DEFAULT_ALPHAS) -> pd.DataFrame:
    """The paper's probes: R^2 of out-of-fold predictions within `videos` (k-fold, seeded), `exclude`d ratings
    left out. Same columns as linear_probes (n_train: videos per training fold, n_test: len(videos)); settings:
    the resamples (n_boot, ci) and the seed of the folds and the resamples."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    kept = ratings[[c for c in ratings.columns if c not in exclude]]
    x = np.asarray(embeddings, dtype=np.float64)[videos]
    y = kept.to_numpy(dtype=np.float64)[videos]
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, alpha_per_target=True))
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=settings.seed)
    predicted = cross_val_predict(probe, x, y, cv=folds).reshape(len(videos), -1)
    m = multiplicities(len(videos), settings.n_boot, settings.seed).astype(np.float64)
    rows = []
    for k, name in enumerate(kept.columns):
        low, high = percentile_interval(_weighted_r2(y[:, k], predicted[:, k], m), settings.ci)
        rows.append({"attribute": name, "r2": _weighted_r2(y[:, k], predicted[:, k], np.ones((1, len(videos))))[0],
                     "ci_low": low, "ci_high": high, "alpha": np.nan,
                     "n_train": len(videos) - len(videos) // n_folds, "n_test": len(videos)})
    return pd.DataFrame(rows)
