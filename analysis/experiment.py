"""Score a finished sweep: the base model, the best K trials and the caption-language baseline on the
held-out test videos. Trials are ranked by the sweep's own objective, the best value of its selection metric
(`best_val_rsa` for a sweep that selects on `val_rsa`), by analysis.ranking, the rule the report and the plots
also ask."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.storage import local_folder, output_folder, read_bytes, sibling_uri
from metrics.triplet_pairs import positions
from analysis.ranking import LEGACY_COLUMNS, rank_column, ranked
from analysis.suite import EvalSet, SuiteSettings, human_ceiling_rows, model_rows, paired_rows, row

BASE = "base"
LANGUAGE = "language"
VARIANT = "config/variant"
PROBE = "linear-probe "  # the column label of the best linear-probe trial (trial_label)


@dataclass(frozen=True, eq=False)
class Embedded:
    """Every representation of the same videos (rows follow `video_ids`) plus where they came from."""

    video_ids: np.ndarray
    models: dict[str, np.ndarray]
    data_dir: Path
    test_videos: np.ndarray
    base_of: dict[str, str] | None = None  # trial model -> the base it is compared with (default: BASE)


def finished_trials(experiment_dir: str | Path, top_k: int = 1, per: tuple[str, ...] = (VARIANT,), *,
                    per_family: bool = False) -> pd.DataFrame:
    """The top_k finished trials with a checkpoint, best first (per_family: the top_k of each backbone family, by
    results.parquet's backbone_family), then the best of each value of the `per` columns not among them (the best
    linear probe beside the best fine-tuned trial); their checkpoint_path is a location of its own (a URI where
    the experiment is one). DataError when there is none."""
    from common.errors import DataError

    frame, path = read_results(experiment_dir), f"{experiment_dir}/results.parquet"
    column = rank_column(frame)
    if column is None or "checkpoint_path" not in frame.columns:
        raise DataError(f"{path}: needs a checkpoint_path column and one of {list(LEGACY_COLUMNS)} "
                        "or the best_ column of its selection_metric")
    done = frame["checkpoint_path"].notna()
    if "status" in frame.columns:
        done &= frame["status"].eq("TERMINATED")
    ranked_rows = ranked(frame)
    ranked_rows = ranked_rows[done.loc[ranked_rows.index]]
    if ranked_rows.empty:
        raise DataError(f"{path}: no finished trial with a checkpoint among {len(frame)} trial(s)")
    if per_family and "backbone_family" not in ranked_rows.columns:
        raise DataError(f"{path}: no backbone_family column (written before the backbone families); "
                        "score it without --per-family")
    chosen = ranked_rows.groupby("backbone_family", sort=False, dropna=False).head(top_k) if per_family \
        else ranked_rows.head(top_k)
    for key in (k for k in per if k in ranked_rows.columns):
        best = ranked_rows.drop_duplicates(key)
        chosen = pd.concat([chosen, best[~best["trial_id"].isin(chosen["trial_id"])]])
    return chosen.assign(checkpoint_path=[sibling_uri(str(experiment_dir), p) for p in chosen["checkpoint_path"]])


def read_results(experiment_dir: str | Path) -> pd.DataFrame:
    """The sweep's results.parquet from a local folder or a URI (file://, s3://), read as the sweep wrote it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from common.errors import DataError

    path = f"{experiment_dir}/results.parquet"
    data = read_bytes(path)
    if data is None:
        raise DataError(f"{path}: no results table (is {experiment_dir} a finished sweep's folder?)")
    return pq.read_table(pa.BufferReader(data)).to_pandas()


def embed_everything(trials: pd.DataFrame, *, language_model=None, combine: str = "mean",
                     cache_dir: Path | None = None) -> Embedded:
    """Embed train/val clips (from the prepared folder) and test clips (decoded from the data folder) with the
    base backbone of each family and each trial's checkpoint, each through its own family's preprocessing;
    caption embeddings for the same videos. With trials of several families, models are named
    'trial ID (family)' and 'base (family)'."""
    from analysis.human import cached_caption_embeddings
    from trainables.backbones import family_of

    models, base_of, first_config, loaded = {}, {}, None, []
    for trial in trials.itertuples():
        with local_folder(trial.checkpoint_path) as checkpoint:  # a bucket's checkpoint is copied down
            model, config = _load_checkpoint(checkpoint)
            if first_config is None:
                first_config, (clips, ids, data_dir, test, names) = config, _clips_for(config.prepared_dir)
            _check_clips_match(checkpoint, first_config.prepared_dir)
        loaded.append((trial, model, config))
    family = {trial.trial_id: family_of(config.model.backbone).name for trial, _, config in loaded}
    several = len(set(family.values())) > 1
    for trial, model, config in loaded:
        suffix = f" ({family[trial.trial_id]})" if several else ""
        if BASE + suffix not in models:  # the family's base: its first (best) trial's backbone, no fine-tuning
            models[BASE + suffix] = _backbone(config, clips)
        label = trial_label(trials, trial.Index) + suffix
        models[label], base_of[label] = _embed(model, clips), BASE + suffix
    language = cached_caption_embeddings(data_dir, names, model=language_model, combine=combine, cache_dir=cache_dir)
    models[LANGUAGE] = language[ids]
    return Embedded(ids, models, data_dir, test, base_of)


def trial_label(trials: pd.DataFrame, index) -> str:
    """'<variant> <trial_id>' where the table names variants (the linear probe told from the fine-tuned),
    else 'trial <trial_id>'."""
    trial = trials.loc[index]
    kind = trial[VARIANT] if VARIANT in trials.columns and isinstance(trial[VARIANT], str) else "trial"
    return f"{kind} {trial['trial_id']}"


def _load_checkpoint(path: Path):
    from common.errors import DataError
    from trainables.embed import load_trained

    try:
        return load_trained(path)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise DataError(f"{path}: checkpoint does not load with its config.json: "
                        f"{str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}") from None


def _check_clips_match(checkpoint_path: Path, prepared_dir: str) -> None:
    """The checkpoint's frames, size, frame picking and resizing must be the clips' (defect 2 of the authors')."""
    from common.errors import DataError
    from data.prepared import META_FILE, read_meta
    from trainables.checkpoint import check_clip_settings, read_preprocessing

    try:
        check_clip_settings(read_preprocessing(checkpoint_path), read_meta(prepared_dir).decode,
                            str(Path(prepared_dir) / META_FILE))
    except ValueError as err:
        raise DataError(f"{checkpoint_path}: {err}") from None


def _clips_for(prepared_dir: str):
    """(clips of every video with clips, their global ids, data_dir, test ids, all video names)."""
    from data.clips import load_clips
    from data.judgments import video_names
    from data.prepared import load_prepared

    prepared = load_prepared(prepared_dir)
    data_dir, seen_ids = Path(prepared.meta.data_dir), prepared.video_ids
    names = video_names(data_dir)
    # Older prepared folders do not list the test ids; the test videos are then every video not prepared.
    test = np.asarray(prepared.meta.test_video_ids or np.setdiff1d(np.arange(len(names)), seen_ids), dtype=np.int64)
    test_clips = load_clips(data_dir, [names[i] for i in test], prepared.meta.decode)
    return (np.concatenate([np.asarray(prepared.clips), np.asarray(test_clips)]), np.concatenate([seen_ids, test]),
            data_dir, test, names)


def _backbone(config, clips: np.ndarray) -> np.ndarray:
    from trainables.embed import backbone_features

    return np.asarray(backbone_features(config, clips), dtype=np.float64)


def _embed(model, clips: np.ndarray) -> np.ndarray:
    from common.errors import DataError
    from trainables.embed import embed_clips

    try:
        return np.asarray(embed_clips(model, clips), dtype=np.float64)
    except (RuntimeError, ValueError) as err:  # clips unlike the checkpoint's (VideoEmbedder refuses them)
        raise DataError(f"checkpoint does not match the clips of its prepared folder: {err}") from None


def score_embedded(emb: Embedded, *, settings: SuiteSettings = SuiteSettings()) -> tuple[pd.DataFrame, dict]:
    """(metrics, extras): tidy rows for every model, and what the plots need (matrices, partitions, probes)."""
    from analysis.annotations import read_ratings
    from analysis.probes import linear_probes
    from metrics.variance_partitioning import bootstrap_variance_partitioning
    from metrics.rdm import model_rdm
    from data.judgments import load_judgments

    j = load_judgments(emb.data_dir)
    ev = EvalSet.build(j.triplets, j.participant, j.n_videos, emb.test_videos)
    rows = human_ceiling_rows(ev, settings)
    reliability = next(r["value"] for r in rows if r["metric"] == "explained_variance")
    test_rows = positions(emb.video_ids, j.n_videos)[emb.test_videos]
    train_rows = np.flatnonzero(~np.isin(emb.video_ids, emb.test_videos))
    ratings = read_ratings(emb.data_dir, [j.video_names[i] for i in emb.video_ids])
    language_rdm = model_rdm(emb.models[LANGUAGE][test_rows], method=settings.rdm_method)
    extras = {"partitions": {}, "probes": {}, "rdms": {}, "human": ev}
    samples: dict = {}  # every model's resamples, reused by the paired differences
    bases = {BASE, LANGUAGE, *(emb.base_of or {}).values()}  # models compared with no base
    for name, x in emb.models.items():
        rows += model_rows(name, x[test_rows], ev, settings, reliability, samples=samples)
        extras["rdms"][name] = model_rdm(x[test_rows], method=settings.rdm_method)
        probes = linear_probes(x, ratings, train_rows, test_rows, n_boot=settings.n_boot, seed=settings.seed)
        extras["probes"][name] = probes
        rows += [row(name, f"probe_r2_{p.attribute}", p.r2, p.ci_low, p.ci_high, p.n_test, "videos")
                 for p in probes.itertuples()]
        if name != LANGUAGE:
            parts = bootstrap_variance_partitioning(extras["rdms"][name], language_rdm, ev.pairs,
                                                    n_boot=settings.n_boot, ci=settings.ci, seed=settings.seed)
            extras["partitions"][name] = parts
            rows += [row(name, f"vp_{k}", *e, "videos") for k, e in parts.items()]
        base = (emb.base_of or {}).get(name, None if name in bases else BASE)
        if base is not None:
            rows += paired_rows(name, base, x[test_rows], emb.models[base][test_rows], ev, settings, samples,
                                label=BASE)  # each trial against its own family's base
        probe = next((m for m in emb.models if m.startswith(PROBE)), None)
        if probe is not None and name not in bases and not name.startswith(PROBE):
            # fine-tuning against the frozen-feature floor, paired on the same resamples
            rows += paired_rows(name, probe, x[test_rows], emb.models[probe][test_rows], ev, settings, samples,
                                label="linear_probe")
    return pd.DataFrame(rows), extras


def run_analysis(experiment_dir: str | Path, top_k: int = 1, *, per_family: bool = False,
                 out_dir: str | Path | None = None,
                 settings: SuiteSettings = SuiteSettings(), language_model=None, combine: str = "mean",
                 cache_dir: Path | None = None, plots: bool = True) -> pd.DataFrame:
    """Everything `python -m analysis EXPERIMENT_DIR` does; returns the tidy metrics table. Writes
    metrics.parquet, report.md and PNG plots into out_dir (default EXPERIMENT_DIR/analysis)."""
    from analysis.human import language_model_note
    from analysis.plots import experiment_plots
    from analysis.report import experiment_report, write_tables

    trials = finished_trials(experiment_dir, top_k, per_family=per_family)
    emb = embed_everything(trials, language_model=language_model, combine=combine, cache_dir=cache_dir)
    metrics, extras = score_embedded(emb, settings=settings)
    with output_folder(str(out_dir or f"{experiment_dir}/analysis")) as out:
        figures = experiment_plots(out, metrics, extras, read_results(experiment_dir)) if plots else []
        write_tables(out, metrics, report=experiment_report(metrics, trials, figures) + "\n\n"
                     + language_model_note(language_model) + "\n")
    return metrics
