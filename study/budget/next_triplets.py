"""The next triplets for a lab to collect, from a finished run and its data folder: triads of training videos (never
a test video), none the folder already has, chosen by a strategy, written in all_triplets.csv's own columns with
the answers left blank, and a summary of why (the strategy's scores). Every check runs before torch is imported."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.atomic import atomic_path
from common.checks import check_output, check_seed
from common.errors import ConfigError, DataError
from data.judgments import data_fingerprint, load_judgments
from data.prepared import load_rows_train, load_video_ids, read_meta
from study.budget.candidates import candidate_triads, presentation_order
from study.budget.strategies import STRATEGIES, Choice, Pool, get_strategy

COLUMNS = ("participation", "task", "trial", "stim1_name", "stim2_name", "stim3_name", "choice", "response_time",
           "catch_trial_flag", "token", "survey_code")  # all_triplets.csv's, in its order
CONFIG = "config.json"


@dataclass(frozen=True)
class Request:
    """A checked request: the checkpoints (the current model first), the prepared folder they trained on, the data
    folder, how many triplets, which strategy, where to write."""

    checkpoints: tuple[Path, ...]
    prepared_dir: Path
    data_dir: Path
    n: int
    strategy: str
    out: Path
    seed: int = 0


def check_request(runs: list[str], data: str | None, n: str, strategy: str, out: str, seed: int = 0) -> Request:
    """Every refusal, before anything heavy: N, the strategy, the seed, the output file, the runs' checkpoints, the
    data folder's fingerprint."""
    count = _positive_int(n)
    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy {strategy!r}: unknown; expected one of {', '.join(STRATEGIES)}")
    check_seed("--seed", seed)
    for path in (out, summary_path(Path(out))):  # the summary beside it has the longer name
        check_output("--out", path, folder=False)
    checkpoints = tuple(c for run in runs for c in run_checkpoints(Path(run)))
    needed = STRATEGIES[strategy].models_needed
    if len(checkpoints) < needed:
        raise ConfigError(f"--strategy {strategy}: needs {needed} models (replicate seeds: give two or more runs, "
                          f"or a sweep with replicates); got {len(checkpoints)}")
    prepared = _one_prepared_folder(checkpoints)
    meta = read_meta(prepared)
    data_dir = Path(data) if data else Path(meta.data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data folder not found")
    if data_fingerprint(data_dir) != meta.data_fingerprint:
        raise DataError(f"{data_dir}: its judgments (fingerprint {data_fingerprint(data_dir)}) are not the ones the "
                        f"run trained on ({meta.data_fingerprint}, {meta.data_dir})")
    if not Path(out).parent.is_dir():
        raise DataError(f"--out {out}: folder {Path(out).parent} does not exist")
    return Request(checkpoints, prepared, data_dir, count, strategy, Path(out), seed)


def run_checkpoints(run: Path) -> list[Path]:
    """The checkpoint folders of a run: a checkpoint folder itself, the last epoch_* folder of a Ray-free training
    run, or a sweep's best finished trial followed by its replicates (results.parquet's stage column)."""
    if (run / CONFIG).is_file():
        return [run]
    epochs = sorted(p for p in run.glob("epoch_*") if (p / CONFIG).is_file()) if run.is_dir() else []
    if epochs:
        return [epochs[-1]]
    if (run / "results.parquet").is_file():
        return _sweep_checkpoints(run)
    raise DataError(f"{run}: no checkpoint here (a checkpoint folder with {CONFIG}, epoch_* checkpoints of a "
                    "training run, or a sweep folder with results.parquet)")


def _sweep_checkpoints(run: Path) -> list[Path]:
    from analysis.experiment import finished_trials, read_results

    best = finished_trials(run, top_k=1, per=())
    paths = [Path(best["checkpoint_path"].iloc[0])]
    frame = read_results(run)
    if "stage" in frame.columns:  # the replication stage's rows (docs/sweep.md): the same config, other seeds
        twins = frame[(frame["stage"] == "replicate") & (frame["replicate_of"] == best["trial_id"].iloc[0])]
        paths += [run / p if not Path(p).is_absolute() else Path(p) for p in twins["checkpoint_path"].dropna()]
    missing = [p for p in paths if not (p / CONFIG).is_file()]
    if missing:
        raise DataError(f"{missing[0]}: checkpoint listed in {run / 'results.parquet'} is gone")
    return paths


def _one_prepared_folder(checkpoints: tuple[Path, ...]) -> Path:
    folders = set()
    for checkpoint in checkpoints:
        try:
            folders.add(json.loads((checkpoint / CONFIG).read_text())["prepared_dir"])
        except (ValueError, KeyError) as err:
            raise DataError(f"{checkpoint / CONFIG}: not a checkpoint's config ({err})") from None
    data = {read_meta(f).data_fingerprint for f in folders}
    if len(data) > 1:
        raise DataError(f"the runs trained on different data (fingerprints {sorted(data)}); give runs of one data "
                        "folder")
    return Path(sorted(folders)[0])


def _positive_int(text) -> int:
    try:
        value = int(str(text), 10)
    except ValueError:
        value = 0
    if value < 1 or str(value) != str(text).strip().lstrip("+"):
        raise ConfigError(f"--n {text!r}: must be a positive whole number")
    return value


def next_triplets(request: Request) -> dict:
    """Choose and write the triplets (CSV, and its summary beside it as JSON); returns the summary."""
    rng = np.random.default_rng(request.seed)
    judgments = load_judgments(request.data_dir, min_catch_accuracy=0.0)  # every valid row, anyone's
    train_ids = load_video_ids(request.prepared_dir)[load_rows_train(request.prepared_dir)]
    train_ids = np.setdiff1d(train_ids, judgments.test_videos)  # belt and braces: never a test video
    candidates = candidate_triads(train_ids, judgments.triplets, judgments.n_videos, rng)
    if len(candidates) < request.n:
        raise ConfigError(f"--n {request.n}: only {len(candidates)} new triads of training videos are left")
    strategy = get_strategy(request.strategy)
    similarities = _similarities(request, train_ids, judgments.n_videos) if strategy.models_needed else ()
    choice = strategy.choose(Pool(candidates, judgments.triplets, judgments.n_videos, similarities), request.n, rng)
    triads = presentation_order(candidates[choice.picked], rng)
    summary = _summary(request, choice, len(candidates))
    _write(request.out, triads, summary)
    return summary


def _similarities(request: Request, train_ids: np.ndarray, n_videos: int) -> tuple[np.ndarray, ...]:
    """Each checkpoint's cosine similarity of the training videos, (n_videos, n_videos), NaN elsewhere."""
    from data.prepared import load_clip_rows
    from trainables.embed import embed_clips, load_trained

    ids = load_video_ids(request.prepared_dir)
    rows = np.flatnonzero(np.isin(ids, train_ids))
    clips = load_clip_rows(request.prepared_dir)[rows]
    out = []
    for checkpoint in request.checkpoints:
        emb = embed_clips(load_trained(checkpoint)[0], clips)
        full = np.full((n_videos, n_videos), np.nan)
        full[np.ix_(ids[rows], ids[rows])] = emb @ emb.T
        out.append(full)
    return tuple(out)


def _summary(request: Request, choice: Choice, n_candidates: int) -> dict:
    def spread(values: np.ndarray) -> dict:
        q = np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
        return dict(zip(("min", "q25", "median", "q75", "max"), (round(float(v), 6) for v in q)))

    return {"strategy": request.strategy, "why": get_strategy(request.strategy).help, "n": request.n,
            "n_candidates": n_candidates, "score_of_candidates": spread(choice.scores),
            "score_of_picked": spread(choice.scores[choice.picked]),
            "models": [str(c) for c in request.checkpoints], "data_dir": str(request.data_dir), "seed": request.seed}


def _write(out: Path, triads: np.ndarray, summary: dict) -> None:
    import pandas as pd

    frame = pd.DataFrame({c: [""] * len(triads) for c in COLUMNS})
    frame["task"] = "next"
    frame["trial"] = np.arange(len(triads))
    for k, column in enumerate(("stim1_name", "stim2_name", "stim3_name")):
        frame[column] = triads[:, k]
    frame["catch_trial_flag"] = False
    with atomic_path(summary_path(out)) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    with atomic_path(out) as tmp:  # the CSV last: its presence means both are whole
        frame.to_csv(tmp, index=False)


def summary_path(out: Path) -> Path:
    return out.with_name(out.stem + ".summary.json")
