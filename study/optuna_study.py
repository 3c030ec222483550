"""The sweep's Optuna study, persisted in its experiment folder as optuna.db (SQLite, Optuna's RDBStorage).

Ray Tune's OptunaSearch takes an Optuna storage and study name and loads the study with
`load_if_exists=True`; Tune pickles the searcher (storage URL included) with its state, so `--resume`
reconnects to the same file and the same study. Anyone can then open it with Optuna's own tools:

    optuna.load_study(study_name=None, storage="sqlite:////abs/path/runs/NAME/optuna.db")
    optuna-dashboard sqlite:////abs/path/runs/NAME/optuna.db

An experiment folder on a URI (s3://, gs://) keeps the study in the searcher's state only: SQLite needs a
local file.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Sequence

from common.errors import ConfigError

STUDY_FILE = "optuna.db"
PLOTS_DIR = "optuna"


def storage_url(experiment_dir: str) -> str | None:
    """sqlite:////abs/.../optuna.db for a local experiment folder; None for a URI."""
    if "://" in experiment_dir:
        return None
    return f"sqlite:///{Path(experiment_dir).expanduser().resolve() / STUDY_FILE}"


def study_storage(experiment_dir: str, directions: Sequence[str], points: Sequence[dict] = ()):
    """(Optuna RDBStorage, study name) for OptunaSearch; (None, None) where the folder is a URI.

    The study is created here, with the points to evaluate enqueued once. OptunaSearch must then get no
    points of its own: it reruns its setup when Tune restores it, and would enqueue them a second time
    into the stored study (a resumed sweep would evaluate them again)."""
    url = storage_url(experiment_dir)
    if url is None:
        return None, None
    import optuna

    Path(experiment_dir).mkdir(parents=True, exist_ok=True)
    storage, name = optuna.storages.RDBStorage(url), Path(experiment_dir).name
    if name not in optuna.get_all_study_names(storage):
        study = optuna.create_study(storage=storage, study_name=name, directions=list(directions))
        for point in points:
            study.enqueue_trial(point)
    return storage, name


def check_study_file(path: Path, *, setting: str) -> None:
    """A resumable optuna.db: present, an SQLite file, holding the folder's study. Read with the standard
    library's sqlite3 (read-only), so a corrupt or missing file is one line before Ray starts, not an
    SQLAlchemy traceback inside it (nor a study silently recreated empty)."""
    import sqlite3

    if not path.is_file():
        raise ConfigError(f"{setting} {path.parent}: {path} is missing; the sweep's Optuna study cannot be "
                          "continued without it")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            names = [row[0] for row in db.execute("SELECT study_name FROM studies")]
    except sqlite3.Error as err:
        raise ConfigError(f"{setting} {path.parent}: {path} is not a readable Optuna study ({err})") from None
    if path.parent.name not in names:
        raise ConfigError(f"{setting} {path.parent}: {path} holds no study named {path.parent.name!r} "
                          f"(found {names})")


def close_abandoned_trials(experiment_dir: str) -> int:
    """Mark FAIL every trial still RUNNING once Tune has finished: each was asked by a sweep that was killed
    after Tune's last searcher snapshot, and the resumed searcher asked for that Tune trial again. Returns
    how many there were (each keeps a user attribute saying why)."""
    if storage_url(experiment_dir) is None or not (Path(experiment_dir) / STUDY_FILE).is_file():
        return 0
    import optuna

    storage = optuna.storages.RDBStorage(storage_url(experiment_dir))
    study_id = storage.get_study_id_from_name(Path(experiment_dir).name)
    running = storage.get_all_trials(study_id, states=(optuna.trial.TrialState.RUNNING,))
    for trial in running:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "abandoned", "the sweep was killed while it ran; its Tune trial "
                                                           "was asked for again by the resumed searcher")
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
    return len(running)


def load_sweep_study(experiment_dir: str):
    """The sweep's study, loaded with optuna.load_study from the folder's optuna.db."""
    import optuna

    return optuna.load_study(study_name=Path(experiment_dir).name, storage=storage_url(experiment_dir))


def optuna_plots(experiment_dir: str, objectives: Sequence[str]) -> list[Path]:
    """Optuna's optimisation history and (with two or more finished trials) fANOVA parameter importances,
    per objective, from the stored study; PNGs in EXPERIMENT/optuna. Returns the paths written.
    The importance plot needs two finished trials that differ in a parameter and in the objective's value."""
    if storage_url(experiment_dir) is None or not (Path(experiment_dir) / STUDY_FILE).is_file():
        return []
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ot_plots

    from common.atomic import atomic_path

    study = load_sweep_study(experiment_dir)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    out, written = Path(experiment_dir) / PLOTS_DIR, []
    for k, name in enumerate(objectives):
        target = (lambda t, k=k: t.values[k]) if len(objectives) > 1 else None
        suffix = f"_{name}" if len(objectives) > 1 else ""
        figures = {f"optimization_history{suffix}.png": lambda: ot_plots.plot_optimization_history(
            study, target=target, target_name=name)}
        # fANOVA needs both a parameter and the objective to vary: it raises on equal values
        varied = len({t.values[k] for t in done}) > 1
        if varied and any(len({str(t.params.get(p)) for t in done}) > 1 for p in done[0].params):
            figures[f"param_importances{suffix}.png"] = lambda: ot_plots.plot_param_importances(
                study, target=target, target_name=name,
                evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
        for filename, plot in figures.items():
            axes = plot()
            with atomic_path(out / filename) as tmp:
                axes.figure.savefig(tmp, dpi=110, bbox_inches="tight")
            plt.close(axes.figure)
            written.append(out / filename)
    return written
