"""Score a finished sweep: the base model, the best K trials and the caption-language baseline on the
held-out test videos. Trials are ranked by the sweep's own objective, the best value of its selection metric
(`best_val_rsa` for a sweep that selects on `val_rsa`), by analysis.ranking, the rule the report and the plots
also ask."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.storage import local_folder, output_folder, read_bytes, sibling_uri
from analysis.settings import CaptionSettings
from analysis.ranking import LEGACY_COLUMNS, rank_column, ranked
from analysis.scoring import BASE, LANGUAGE
from analysis.suite import SuiteSettings

VARIANT = "config/variant"


@dataclass(frozen=True, eq=False)
class Embedded:
    """Every representation of the same videos (rows follow `video_ids`) plus where they came from. models: one
    embedding per single-run model; runs: a replicated model's (seed, embeddings) per replicate; variants: each
    trial model's variant name, read from its config."""

    video_ids: np.ndarray
    models: dict[str, np.ndarray]
    data_dir: Path
    test_videos: np.ndarray
    base_of: dict[str, str] | None = None  # trial model -> the base it is compared with (default: BASE)
    runs: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)
    probes: tuple[str, ...] = ()  # the trial models whose objective is a probe of frozen features, best first
    # a model -> what its seed resampling is keyed by (analysis.replicates.draw_seed): its name without the trial
    # id, which Tune draws at random, so a second run of the same sweep gives the same intervals; default: name
    identities: dict[str, str] = field(default_factory=dict)
    # a replicated model -> its replicates' checkpoint locations, in the order of `runs` (scored again on transfer
    # sets by analysis.transfer)
    run_checkpoints: dict[str, tuple[str, ...]] = field(default_factory=dict)


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
    try:
        return pq.read_table(pa.BufferReader(data)).to_pandas()
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a parquet table ({str(err).splitlines()[0] if str(err) else 'unreadable'})") \
            from None


def embed_everything(trials: pd.DataFrame, *, replicates: dict[str, pd.DataFrame] | None = None,
                     captions: CaptionSettings = CaptionSettings()) -> Embedded:
    """Embed train/val clips (from the prepared folder) and test clips (decoded from the data folder) with the
    base backbone of each family, each trial's checkpoint and each of its replicates' (replicates: trial_id ->
    its replicate rows), each through its own family's preprocessing; caption embeddings for the same videos.
    With trials of several families, models are named '<variant> ID (family)' and 'base (family)'. Where any
    trial has replicates, its seed mean is '<variant> ID (K seeds)' and every search run is '... (single run)'."""
    from analysis.human import cached_caption_embeddings
    from trainables.objectives import objective_of

    replicates, loaded, prepared = replicates or {}, [], None
    for trial in trials.itertuples():  # every checkpoint must fit the first one's prepared clips
        model, config = _loaded(trial.checkpoint_path, prepared)
        prepared = prepared or config.prepared_dir
        loaded.append((trial, model, config))
    clips, ids, data_dir, test, names = _clips_for(prepared)
    family = {trial.trial_id: model.family.name for trial, model, _ in loaded}  # each model carries its family
    several, replicated = len(set(family.values())) > 1, any(len(r) for r in replicates.values())
    models, runs, base_of, configs, identities, sources = {}, {}, {}, {}, {}, {}
    for trial, model, config in loaded:
        suffix = f" ({family[trial.trial_id]})" if several else ""
        if BASE + suffix not in models:  # the family's base: its first (best) trial's backbone, no fine-tuning
            models[BASE + suffix] = _backbone(config, clips)
        label = f"{objective_of(config).name} {trial.trial_id}{suffix}"
        single = label + (" (single run)" if replicated else "")
        models[single], base_of[single], configs[single] = _embed(model, clips), BASE + suffix, config
        seeds = replicates.get(trial.trial_id, pd.DataFrame())
        if len(seeds):
            pooled = f"{label} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"
            sources[pooled] = tuple(seeds["checkpoint_path"])
            runs[pooled] = [embed_replicate(path, config.prepared_dir, clips) for path in sources[pooled]]
            base_of[pooled], configs[pooled] = BASE + suffix, config
            identity = pooled.replace(f" {trial.trial_id}", "", 1)
            identities[pooled] = pooled if identity in identities.values() else identity
    language = cached_caption_embeddings(data_dir, names, model=captions.language_model, combine=captions.combine,
                                         cache_dir=captions.cache_dir)
    models[LANGUAGE] = language[ids]
    variants = {m: objective_of(c).name for m, c in configs.items()}  # contract C2: from the config, not a label
    probes = tuple(m for m in base_of if objective_of(configs[m]).probe)
    return Embedded(ids, models, data_dir, test, base_of, runs, variants, probes, identities, sources)


def _loaded(checkpoint_path: str, prepared_dir: str | None):
    """(model, config) of a checkpoint; a bucket's checkpoint is copied down first. Its model is built for the
    clips of its own prepared folder (read from there when it trained); scored on another folder's clips
    (prepared_dir), it must fit those."""
    with local_folder(checkpoint_path) as checkpoint:
        model, config = _load_checkpoint(checkpoint)
        if prepared_dir is not None and prepared_dir != config.prepared_dir:
            _check_clips_match(checkpoint, model.decode, prepared_dir)
    return model, config


def embed_replicate(checkpoint_path: str, prepared_dir: str, clips: np.ndarray) -> tuple[int, np.ndarray]:
    """(training seed, embeddings) of one replicate, reading `clips` (decoded as the chosen trial's prepared folder
    decodes: a replicate trained on another folder must fit those settings)."""
    model, config = _loaded(checkpoint_path, prepared_dir)
    return config.seed, _embed(model, clips)


def _load_checkpoint(path: Path):
    from common.errors import DataError
    from trainables.embed import load_trained

    try:
        return load_trained(path)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise DataError(f"{path}: checkpoint does not load with its config.json: "
                        f"{str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}") from None


def _check_clips_match(checkpoint_path: Path, trained, prepared_dir: str) -> None:
    """The frames, size, frame picking and resizing the checkpoint trained on must be the clips' (defect 2 of the
    authors')."""
    from common.errors import DataError
    from data.prepared import META_FILE, read_meta
    from trainables.checkpoint import check_clip_settings

    try:
        check_clip_settings(trained, read_meta(prepared_dir).decode, str(Path(prepared_dir) / META_FILE))
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


def run_analysis(experiment_dir: str | Path, top_k: int = 1, *, per_family: bool = False,
                 out_dir: str | Path | None = None, settings: SuiteSettings = SuiteSettings(),
                 captions: CaptionSettings = CaptionSettings(), plots: bool = True, sections=None) -> pd.DataFrame:
    """Everything `python -m analysis EXPERIMENT_DIR` does; returns the tidy metrics table. Writes
    metrics.parquet, report.md and PNG plots into out_dir (default EXPERIMENT_DIR/analysis). sections: called as
    sections(metrics, trials, emb, settings, out) -> (metrics, markdown) after the main table (analysis.sections:
    transfer, attention)."""
    from analysis.human import language_model_note
    from analysis.plots import experiment_plots
    from analysis.replicates import replicates_of
    from analysis.report import experiment_report, write_tables
    from analysis.scoring import score_embedded

    trials = finished_trials(experiment_dir, top_k, per_family=per_family)
    results = read_results(experiment_dir)
    replicates = {t: replicates_of(results, t).assign(checkpoint_path=lambda f: [
        sibling_uri(str(experiment_dir), p) for p in f["checkpoint_path"]]) for t in trials["trial_id"]}
    emb = embed_everything(trials, replicates=replicates, captions=captions)
    metrics, extras = score_embedded(emb, settings=settings)
    with output_folder(str(out_dir or f"{experiment_dir}/analysis")) as out:
        figures = experiment_plots(out, metrics, extras, results) if plots else []
        report = experiment_report(metrics, trials, figures) + "\n\n" + language_model_note(captions.language_model) + "\n"
        if sections is not None:
            metrics, more = sections(metrics, trials, emb, settings, out)
            report += "\n" + more + "\n"
        write_tables(out, metrics, report=report)
    return metrics
