"""Linear probes: how well a representation predicts each social-affective rating of a video.

scikit-learn RidgeCV (standardised features, alpha chosen by efficient leave-one-out on the training
videos). `linear_probes` (ours): fit on training videos, scored by R^2 on held-out test videos.
`cross_validated_probes` (the paper's way): k-fold cross-validation within the test videos only, `indoor`
left out. Intervals resample test videos.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from metrics.bootstrap import multiplicities, percentile_interval

DEFAULT_ALPHAS = tuple(np.logspace(-2, 5, 15))


def linear_probes(embeddings: np.ndarray, ratings: pd.DataFrame, train: np.ndarray, test: np.ndarray, *,
                  alphas: tuple[float, ...] = DEFAULT_ALPHAS, n_boot: int = 1000, ci: float = 0.95,
                  seed: int = 0) -> pd.DataFrame:
    """One row per rating: attribute, r2 (test), ci_low, ci_high, alpha, n_train, n_test.

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
    rows = []
    for k, name in enumerate(ratings.columns):
        truth = y[test, k]
        low, high = percentile_interval(_weighted_r2(truth, predicted[:, k], m), ci)
        rows.append({"attribute": name, "r2": _weighted_r2(truth, predicted[:, k], np.ones((1, len(test))))[0],
                     "ci_low": low, "ci_high": high, "alpha": float(np.atleast_1d(probe[-1].alpha_)[k]),
                     "n_train": len(train), "n_test": len(test)})
    return pd.DataFrame(rows)


def _weighted_r2(truth: np.ndarray, predicted: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(n_samples,) R^2 = 1 - SSE / SST of held-out predictions, each test video counted w times."""
    total = w.sum(axis=1)
    mean = (w @ truth) / total
    sse = w @ (truth - predicted) ** 2
    sst = (w * (truth[None, :] - mean[:, None]) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - sse / sst


def cross_validated_probes(embeddings: np.ndarray, ratings: pd.DataFrame, videos: np.ndarray, *,
                           n_folds: int = 5, exclude: tuple[str, ...] = ("indoor",),
                           alphas: tuple[float, ...] = DEFAULT_ALPHAS, n_boot: int = 1000, ci: float = 0.95,
                           seed: int = 0) -> pd.DataFrame:
    """The paper's probes: R^2 of out-of-fold predictions within `videos` (k-fold, seeded), `exclude`d ratings
    left out. Same columns as linear_probes (n_train: videos per training fold, n_test: len(videos))."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    kept = ratings[[c for c in ratings.columns if c not in exclude]]
    x = np.asarray(embeddings, dtype=np.float64)[videos]
    y = kept.to_numpy(dtype=np.float64)[videos]
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, alpha_per_target=True))
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(probe, x, y, cv=folds).reshape(len(videos), -1)
    m = multiplicities(len(videos), n_boot, seed).astype(np.float64)
    rows = []
    for k, name in enumerate(kept.columns):
        low, high = percentile_interval(_weighted_r2(y[:, k], predicted[:, k], m), ci)
        rows.append({"attribute": name, "r2": _weighted_r2(y[:, k], predicted[:, k], np.ones((1, len(videos))))[0],
                     "ci_low": low, "ci_high": high, "alpha": np.nan,
                     "n_train": len(videos) - len(videos) // n_folds, "n_test": len(videos)})
    return pd.DataFrame(rows)
