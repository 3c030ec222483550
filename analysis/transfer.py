"""Zero-shot transfer: the base and the analysed trials, as they are (no training), scored on another judgments
folder's test videos with the same suite as the main table (analysis.experiment.score_embedded: the same metrics
and the same paired differences). Rows carry `transfer_set`, the folder's name ("" for the main rows).

    python -m analysis RUN --transfer DATA_DIR [--transfer DATA_DIR ...]

`check_transfer_folder` runs before any model loads: the folder's judgments must read, its videos must be there
(a checkpoint embeds clips; a judgments folder without videos cannot be scored zero-shot) and so must captions.csv
(the language baseline)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.experiment import Embedded, embed_replicate
from analysis.scoring import LANGUAGE, score_embedded
from analysis.suite import SuiteSettings
from common.errors import DataError

TRANSFER_SET = "transfer_set"


def check_transfer_folder(data_dir: str | Path) -> str:
    """The folder's name, or DataError (one line naming the folder and what is missing). Loads no model."""
    from data.judgments import load_judgments

    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"--transfer {data_dir}: no such folder (give a judgments folder with videos/)")
    judgments = load_judgments(folder)
    missing = [n for n in judgments.video_names if not (folder / "videos" / n).is_file()]
    if missing:
        raise DataError(f"--transfer {data_dir}: {len(missing)} of {len(judgments.video_names)} videos are not in "
                        f"{folder / 'videos'} (first: {missing[0]}); the checkpoints embed video clips, so a folder "
                        "without them cannot be scored zero-shot")
    if not (folder / "captions.csv").is_file():
        raise DataError(f"--transfer {data_dir}: no captions.csv (needed for the caption-language baseline)")
    return folder.name


def transfer_embedded(loaded: list, emb: Embedded, data_dir: str | Path, *, language_model=None,
                      combine: str = "mean", cache_dir: Path | None = None) -> tuple[Embedded, np.ndarray]:
    """Every model of the main analysis (same labels, same bases) embedding every video of `data_dir`, each
    decoded as its checkpoint's clips were. loaded: (label, model, TrainConfig) per analysed trial, in the order of
    `single_runs(emb)`. A replicated model's seeds are embedded again from their checkpoints (emb.run_checkpoints)
    and keep their seed draws (emb.identities), so its seed mean and two-level interval are the main table's rule.
    Returns the Embedded and the clips of the test videos (for the attention maps)."""
    from analysis.human import cached_caption_embeddings
    from data.judgments import load_judgments

    data_dir = Path(data_dir)
    judgments = load_judgments(data_dir)
    names, ids = list(judgments.video_names), np.arange(judgments.n_videos)
    models: dict[str, np.ndarray] = {}
    decoded: dict[str, np.ndarray] = {}  # prepared folder -> the folder's clips decoded its way (once each)
    for label, model, config in loaded:
        if config.prepared_dir not in decoded:
            decoded[config.prepared_dir] = _clips(data_dir, names, config)
        clips = decoded[config.prepared_dir]
        base = emb.base_of[label]
        if base not in models:
            models[base] = _backbone(config, clips)
        models[label] = _embed(label, model, clips)
    first = loaded[0][2]  # every analysed checkpoint reads the first trial's clips (analysis.experiment)
    runs = _replicates(emb, decoded[first.prepared_dir], first.prepared_dir)
    language = cached_caption_embeddings(data_dir, names, model=language_model, combine=combine, cache_dir=cache_dir)
    models[LANGUAGE] = language
    ordered = {k: models[k] for k in emb.models if k in models}  # the main table's column order
    test_clips = _clips(data_dir, [names[i] for i in judgments.test_videos], first)
    labels = [label for label, _, _ in loaded] + list(runs)
    return Embedded(ids, ordered, data_dir, np.asarray(judgments.test_videos),
                    {k: emb.base_of[k] for k in labels}, runs, variants={k: emb.variants[k] for k in labels},
                    probes=tuple(k for k in emb.probes if k in labels),
                    identities=emb.identities, run_checkpoints=emb.run_checkpoints), test_clips


def _replicates(emb: Embedded, clips: np.ndarray, prepared_dir: str) -> dict[str, list[tuple[int, np.ndarray]]]:
    """Each replicated model's (seed, embeddings) per replicate on the transfer folder's clips."""
    runs = {}
    for name, checkpoints in emb.run_checkpoints.items():
        try:
            runs[name] = [embed_replicate(path, prepared_dir, clips) for path in checkpoints]
        except DataError as err:
            raise DataError(f"{name}: cannot take the transfer folder's clips: {err}") from None
    return runs


def single_runs(emb: Embedded) -> list[str]:
    """The analysed trials' labels, one per trial in the trials' order (a replicated model's seed mean left out)."""
    return [label for label in emb.base_of if label in emb.models]


def transfer_rows(loaded: list, emb: Embedded, data_dir: str | Path, settings: SuiteSettings, **kwargs
                  ) -> tuple[pd.DataFrame, Embedded, np.ndarray]:
    """The suite's rows for `data_dir`, tagged with its name in TRANSFER_SET."""
    transfer, test_clips = transfer_embedded(loaded, emb, data_dir, **kwargs)
    metrics, _ = score_embedded(transfer, settings=settings)
    return metrics.assign(**{TRANSFER_SET: Path(data_dir).name}), transfer, test_clips


def transfer_report(metrics: pd.DataFrame, name: str, source: str) -> str:
    """A report section: the main table of one transfer set."""
    from analysis.report import main_table

    shown = metrics[metrics[TRANSFER_SET] == name].drop(columns=TRANSFER_SET)
    return "\n".join([f"## Zero-shot transfer: {name}", "",
                      f"The same models, not trained on it, scored on the test videos of {source}; "
                      "`diff_vs_base_*` are paired against the base on the same resamples.", "",
                      main_table(shown), ""])


def _clips(data_dir: Path, names: list[str], config) -> np.ndarray:
    """The videos decoded with the decode settings of the checkpoint's prepared folder."""
    from data.clips import load_clips
    from data.prepared import read_meta

    return np.asarray(load_clips(data_dir, names, read_meta(config.prepared_dir).decode))


def _backbone(config, clips: np.ndarray) -> np.ndarray:
    from trainables.embed import backbone_features

    return np.asarray(backbone_features(config, clips), dtype=np.float64)


def _embed(label: str, model, clips: np.ndarray) -> np.ndarray:
    from trainables.embed import embed_clips

    try:
        return np.asarray(embed_clips(model, clips), dtype=np.float64)
    except (RuntimeError, ValueError) as err:
        raise DataError(f"{label}: cannot take the transfer folder's clips: {err}") from None
