"""What the human judgments alone can tell: participant quality, noise ceilings, and the caption-language
baseline on the held-out test videos (no video needed).

    python -m analysis.human DATA_DIR [--out DIR] [--n-boot 1000] [--language-model NAME_OR_DIR]

DATA_DIR holds all_triplets.csv, video_mapping.csv, test.csv, captions.csv and annotations.csv.
The command checks its flags (the caption model included) before pandas, the suite or a model is imported.
"""
from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from analysis.settings import CaptionSettings, SuiteSettings
from common.atomic import atomic_path
from common.cache import cache_root

if TYPE_CHECKING:
    import pandas as pd

LANGUAGE = "language"
AUTHORS_MATRIX = "authors' test matrix"
PAPER_LANGUAGE_MODEL = "paraphrase-multilingual-mpnet-base-v2"


def language_model_note(model) -> str:
    """The line every report carries about the caption model."""
    name = str(model) if model else "all-MiniLM-L6-v2 (bundled, offline)"
    if PAPER_LANGUAGE_MODEL in name:
        return f"Language model: {name}, the paper's model."
    return (f"Language model: {name}. Not the paper's model ({PAPER_LANGUAGE_MODEL}, first caption only); "
            "its figures are not comparable with the paper's language baseline.")


def participant_quality(j) -> pd.DataFrame:
    """One row per kept participant: triplets, catch accuracy, median response time, leave-one-out
    consistency with everyone else (three-way accuracy predicted from the others' matrix)."""
    import pandas as pd

    from metrics.noise_ceiling import participant_consistency

    n = len(j.participants)
    accuracy = dict(zip(j.catch.participants, j.catch.catch_accuracy))
    rt = pd.Series(j.response_time).groupby(j.participant).median().reindex(range(n))
    return pd.DataFrame({
        "participant": j.participants,
        "n_triplets": np.bincount(j.participant, minlength=n),
        "catch_accuracy": [accuracy[p] for p in j.participants],
        "median_rt_s": rt.to_numpy(),
        "loo_consistency": participant_consistency(j.triplets, j.participant, n_videos=j.n_videos),
    })


def cached_caption_embeddings(data_dir: Path, video_names, *, model=None, combine: str = "mean",
                              cache_dir: Path | None = None) -> np.ndarray:
    """Caption embeddings, cached on disk by the captions file's bytes, the model and `combine`."""
    from analysis.language import caption_embeddings
    from data.annotations import read_captions

    captions_path = Path(data_dir) / "captions.csv"
    if not captions_path.is_file():
        raise FileNotFoundError(f"{captions_path}: no captions file (needed for the language baseline)")
    digest = hashlib.sha256(captions_path.read_bytes() + f"|{model}|{combine}|{list(video_names)}".encode())
    cache_dir = Path(cache_dir or cache_root() / "captions")
    target = cache_dir / f"{digest.hexdigest()[:16]}.npy"
    if target.is_file():
        return np.load(target)
    from analysis.language import load_sentence_model

    vectors = caption_embeddings(read_captions(data_dir), video_names, combine=combine,
                                 encoder=load_sentence_model(model))
    with atomic_path(target) as tmp:
        np.save(tmp, vectors)
    return vectors


def human_analysis(data_dir: str | Path, *, settings: SuiteSettings = SuiteSettings(),
                   captions: CaptionSettings = CaptionSettings()) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(metrics, participants, extras): tidy metric rows, the participant-quality table, and what the plots
    need (the test EvalSet, the language RDM, the probe table)."""
    import pandas as pd

    from analysis.probes import cross_validated_probes, linear_probes
    from analysis.suite import EvalSet, human_ceiling_rows, model_rows, row
    from common.errors import DataError
    from data.judgments import load_judgments
    from metrics.rdm import model_rdm

    data_dir = Path(data_dir)
    j = load_judgments(data_dir)
    try:
        from data.annotations import read_ratings

        ratings = read_ratings(data_dir, j.video_names)
        language = cached_caption_embeddings(data_dir, j.video_names, model=captions.language_model,
                                             combine=captions.combine, cache_dir=captions.cache_dir)
    except (FileNotFoundError, ValueError) as err:
        raise DataError(str(err)) from None
    rows = _all_video_ceiling_rows(j, settings)
    test = EvalSet.build(j.triplets, j.participant, j.n_videos, j.test_videos)
    rows += human_ceiling_rows(test, settings)
    reliability = next(r["value"] for r in rows if r["metric"] == "explained_variance"
                       and r["model"] == "noise_ceiling")
    rows += model_rows(LANGUAGE, language[j.test_videos], test, settings, reliability)
    rows += authors_matrix_rows(data_dir, j, language, settings)
    train = np.setdiff1d(np.arange(j.n_videos), j.test_videos)
    probes = linear_probes(language, ratings, train, j.test_videos, n_boot=settings.n_boot, seed=settings.seed)
    rows += [row(LANGUAGE, f"probe_r2_{p.attribute}", p.r2, p.ci_low, p.ci_high, p.n_test, "videos")
             for p in probes.itertuples()]
    paper_probes = cross_validated_probes(language, ratings, j.test_videos, settings=settings)
    rows += [row(LANGUAGE, f"probe_cv_r2_{p.attribute}", p.r2, p.ci_low, p.ci_high, p.n_test, "videos")
             for p in paper_probes.itertuples()]
    extras = {"test": test, "language_rdm": model_rdm(language[j.test_videos], method=settings.rdm_method),
              "probes": probes}
    return pd.DataFrame(rows), participant_quality(j), extras


def authors_matrix_rows(data_dir: Path, j, language: np.ndarray, settings: SuiteSettings) -> list[dict]:
    """The RSA, explained-variance and ceiling rows again on the authors' test matrix (the odd-one-out rows
    do not depend on it); models named '<model>, authors' test matrix'."""
    from analysis.suite import EvalSet, model_rows, pair_ceiling_rows
    from data.judgments import authors_test_triplets

    ev = EvalSet.build(j.triplets, j.participant, j.n_videos, j.test_videos,
                       pair_source=authors_test_triplets(data_dir, j.test_videos))
    ceiling = pair_ceiling_rows(ev, settings)
    reliability = next(r["value"] for r in ceiling if r["metric"] == "explained_variance")
    rows = ceiling + model_rows(LANGUAGE, language[j.test_videos], ev, settings, reliability)
    keep = ("rsa_", "explained_variance", "split_half_r")
    return [{**r, "model": f"{r['model']}, {AUTHORS_MATRIX}"} for r in rows if r["metric"].startswith(keep)]


def _all_video_ceiling_rows(j, s: SuiteSettings) -> list[dict]:
    from analysis.suite import row
    from metrics.noise_ceiling import split_half_reliability

    split = split_half_reliability(j.triplets, j.participant, n_videos=j.n_videos, n_splits=s.n_splits,
                                   seed=s.seed)
    return [row("noise_ceiling_all_videos", "split_half_r", split.r_half, n=int(split.n_pairs.mean())),
            row("noise_ceiling_all_videos", "explained_variance", split.r_full, n=int(split.n_pairs.mean()))]


def human_plots(out: Path, metrics: pd.DataFrame, extras: dict) -> list[Path]:
    """Headline bars, human vs language similarity, and the language probes."""
    from analysis.plots import metric_bars, probe_bars, similarity_matrices

    ev = extras["test"]
    human = np.full((len(ev.videos), len(ev.videos)), np.nan)
    human[ev.pairs.i, ev.pairs.j] = human[ev.pairs.j, ev.pairs.i] = ev.pairs.similarity()
    return [metric_bars(metrics, out / "metrics.png"),
            similarity_matrices(human, {LANGUAGE: extras["language_rdm"]}, out / "similarity_matrices.png"),
            probe_bars({LANGUAGE: extras["probes"]}, out / "probes.png")]


def build_parser() -> argparse.ArgumentParser:
    from analysis.cli import add_settings_arguments

    p = argparse.ArgumentParser(prog="python -m analysis.human", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", type=Path, help="folder with all_triplets.csv, captions.csv, annotations.csv")
    p.add_argument("--out", type=Path, default=None, help="write metrics.parquet, participants.csv, report.md")
    return add_settings_arguments(p)


def _main(argv: list[str] | None = None) -> int:
    from analysis.cli import settings_from_args
    from common.checks import check_output
    from common.errors import ConfigError

    args = build_parser().parse_args(argv)
    if not args.data_dir.is_dir():
        raise ConfigError(f"{args.data_dir}: no such folder")
    settings, captions = settings_from_args(args)
    if args.out is not None:
        check_output("--out", args.out, folder=True)
    from analysis.report import human_report, main_table, write_tables  # pandas: past every check

    start = time.perf_counter()
    metrics, participants, extras = human_analysis(args.data_dir, settings=settings, captions=captions)
    print(main_table(metrics))
    note = language_model_note(captions.language_model)
    print(f"\n{note}")
    print(f"\n{len(participants)} participants; median loo consistency "
          f"{participants.loo_consistency.median():.3f}; {time.perf_counter() - start:.1f} s")
    if args.out:
        figures = human_plots(args.out, metrics, extras)
        write_tables(args.out, metrics, participants=participants,
                     report=human_report(metrics, participants) + f"\n{note}\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in figures))
        print(f"wrote {args.out}/metrics.parquet, participants.csv, report.md and {len(figures)} plots")
    return 0


def main(argv: list[str] | None = None) -> int:
    from common.errors import cli_entry

    return cli_entry(_main)(argv)


if __name__ == "__main__":
    raise SystemExit(main())
