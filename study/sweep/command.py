"""The command line of `python -m study.sweep`: flags and config file to SweepSettings, every check
(study.sweep.plan), then run or resume the sweep, print where its results are, and evaluate the best trial(s).

Ray, torch and the trainer are imported only once every check has passed, so a refused command returns in
about a second (benchmarks/refusal_timing.py)."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import math
import os
import signal
import sys
import warnings
from pathlib import Path

import search_spaces
from common.errors import ConfigError, cli_entry
from common.storage import local_path, write_bytes
from study.optuna_study import STUDY_FILE, storage_url
from study.sweep.interrupt import RESUME_FILE, SweepInterrupted, exit_status, interruptible, say, signal_name
from study.sweep.lock import unstarted
from study.sweep.plan import plan_resume, plan_sweep
from study.sweep.settings import SweepOutcome, SweepSettings, load_config_file, parse_value

DESCRIPTION = "`python -m study.sweep`: Ray Tune + Optuna + ASHA over the trainer, one Ray Train run per trial."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m study.sweep", description=DESCRIPTION)
    p.add_argument("--list-spaces", action="store_true", help="List the named search spaces and exit.")
    p.add_argument("--space", help="Search space name (default smoke).")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="Override a setting: a value, a list, {low: .., high: .., log: ..}, {choice: [..]}, "
                        "{grid: [..]}. Repeatable; wins over --config.")
    p.add_argument("--config", help="YAML or TOML file with `params` and/or `sweep` tables.")
    p.add_argument("--smoke", action="store_true", default=None, help="Tiny sizes over the chosen space.")
    for flag, kind in (("--num-samples", int), ("--workers-per-trial", int), ("--cpus-per-worker", float),
                       ("--gpus-per-worker", float), ("--storage-path", str), ("--name", str), ("--data", str),
                       ("--split", str), ("--seed", int), ("--max-failures", int), ("--max-concurrent", int),
                       ("--ray-address", str), ("--top-k", int), ("--replicates", int)):
        help_text = _field_help(flag[2:].replace("-", "_"))
        p.add_argument(flag, type=kind, help=help_text)
    p.add_argument("--objectives", help="Comma-separated metrics for multi-objective Optuna, e.g. "
                                        "val_ooo_acc,val_rsa.")
    p.add_argument("--no-analysis", dest="analysis", action="store_false", default=None,
                   help="Skip evaluating the best trial at the end (the test videos, captions and annotations "
                        "are then not checked either).")
    p.add_argument("--no-dashboard", dest="dashboard", action="store_false", default=None,
                   help="Start the local Ray without its dashboard (faster start; tests use it).")
    p.add_argument("-v", "--verbose", action="store_true", default=None, help=_field_help("verbose"))
    p.add_argument("--resume", metavar="DIR", help="Continue the interrupted sweep in DIR (a path or file:// URI, "
                   "or a bucket URI). Resuming runs code stored in DIR (Ray Tune's restore unpickles DIR/tuner.pkl): "
                   "a folder owned by another user, writable by group or others, or whose Tune state your own "
                   "sweep did not sign (copied, downloaded or edited) is refused.")
    p.add_argument("--trust-folder", action="store_true", help="With --resume: run the folder's stored code even "
                   "though your sweep did not sign it (a folder you copied or downloaded and trust); the resumed "
                   "sweep then signs it as yours.")
    return p


def _field_help(name: str) -> str:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(SweepSettings)}.get(name, "")


def settings_from_args(args: argparse.Namespace) -> SweepSettings:
    """Space < config file < --set for parameters; config file < flags for sweep settings."""
    params, sweep = load_config_file(args.config) if args.config else ({}, {})
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: write KEY=VALUE")
        params[key.strip()] = parse_value(text)
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(SweepSettings)
             if getattr(args, f.name, None) is not None and f.name != "objectives"}
    if args.objectives:
        flags["objectives"] = tuple(m.strip() for m in args.objectives.split(",") if m.strip())
    if "objectives" in sweep:
        sweep["objectives"] = tuple(sweep["objectives"])
    try:
        return SweepSettings(**{**sweep, **flags, "overrides": params})
    except TypeError as err:
        raise ConfigError(str(err)) from None


# What a resume keeps from the sweep it continues (sweep.json); --ray-address, --top-k and the output flags
# are honoured, every other setting is refused rather than ignored.
RESUME_KEEPS = ("space", "set", "config", "smoke", "num_samples", "workers_per_trial", "cpus_per_worker",
                "gpus_per_worker", "storage_path", "name", "data", "split", "seed", "max_failures",
                "max_concurrent", "objectives")


def check_resume_flags(args: argparse.Namespace) -> None:
    given = [name for name in RESUME_KEEPS if getattr(args, name) not in (None, [], False)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(f"--resume {args.resume}: {flags} cannot change on a resume (the sweep continues with "
                          "the settings saved in its sweep.json); drop them, or start a new sweep")


def _print_spaces() -> None:
    for name in search_spaces.names():
        space = search_spaces.get(name)
        searched = ", ".join(space.params) or "-"
        print(f"{name:8s} {space.description}\n{'':8s} searched: {searched}; {space.num_samples} "
              f"{'grid repeat(s)' if space.is_grid else 'trials'}")


def _report(outcome: SweepOutcome) -> None:
    best, every = outcome.best, outcome.results
    frame = every[every["stage"] == "search"] if len(every) else every
    counts = frame["status"].value_counts() if len(frame) else {}
    failed, finished = int(counts.get("ERROR", 0)), int(counts.get("TERMINATED", 0))
    early = int(frame["stopped_early"].sum()) if len(frame) else 0
    unstarted = len(frame) - failed - finished
    print(f"\n{len(frame)} trials: {finished} finished ({early} stopped early by ASHA), {failed} failed"
          + (f", {unstarted} never started" if unstarted else ""))
    copies = every[every["stage"] == "replicate"] if len(every) else every
    if len(copies):
        print(f"{len(copies)} replicates: {int(copies['status'].eq('TERMINATED').sum())} finished, "
              f"{int(copies['status'].eq('ERROR').sum())} failed, of {copies['replicate_of'].nunique()} "
              f"selected configuration(s) ({', '.join(sorted(copies['replicate_of'].unique()))})")
    print(f"best trial: {best.get('trial_id')} {best['metric']}={best.get('value', float('nan')):.4f}")
    print(f"best config: {json.dumps(best.get('config', {}), sort_keys=True, default=str)}")
    print(f"best checkpoint: {best.get('checkpoint')}")
    if "pareto_front" in best:
        print(f"Pareto front ({', '.join(best['objectives'])}): {best['pareto_front']}")
    print(f"results: {outcome.results_path}\nbest:    {outcome.best_path}\nTune experiment: "
          f"{outcome.experiment_dir}")
    print(f'load them: python -c "import pandas as pd; print(pd.read_parquet(\'{outcome.results_path}\'))"')
    url = storage_url(outcome.experiment_dir)
    if url and Path(outcome.experiment_dir, STUDY_FILE).is_file():  # Optuna spaces only, local storage only
        print(f"Optuna study: {url} (optuna-dashboard {url}; plots in {outcome.experiment_dir}/optuna)")
    print(f"TensorBoard: tensorboard --logdir {outcome.experiment_dir}")


def _analyse(outcome: SweepOutcome, top_k: int) -> bool:
    """Evaluate the best trial(s). On failure the sweep's results stay as they are, the command that reruns
    the analysis is printed, and False is returned (the command then exits 1)."""
    try:
        import analysis
        from study.sweep.results import several_families

        # each family's best trial against its own base where the backbone was searched, as --per-family does
        table = analysis.run_analysis(outcome.experiment_dir, top_k, per_family=several_families(outcome.results))
        print(analysis.main_table(table))
        print(f"analysis report: {outcome.experiment_dir}/analysis/report.md (metrics.parquet and plots beside it)")
        return True
    except Exception as err:  # noqa: BLE001 - the sweep's results must survive an analysis bug
        message = str(err).strip().splitlines()
        print(f"error: analysis of the best trial failed ({type(err).__name__}: {message[-1] if message else ''}); "
              f"sweep results kept in {outcome.experiment_dir}\nrerun the analysis: python -m analysis "
              f"{outcome.experiment_dir} --top-k {top_k}", file=sys.stderr)
        return False


def quiet_warnings() -> None:
    """Silence notices a user of this command cannot act on, here and (through the environment, which
    start_ray passes on) in every Ray worker. Each is named exactly; every other warning still shows."""
    # Ray Train V1 is our deliberate choice (README "Why Ray Train V1"): Ray's "Passing a Trainer to the
    # Tuner is deprecated" and the train context's get_trial_dir deprecation are migration notices for it.
    os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")
    # PEFT reads transformers' deprecated `is_gradient_checkpointing` property when it wraps the backbone;
    # the FutureWarning is about PEFT's code, not ours, and came once from every worker of every trial.
    ignore = "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    # Optuna marks its matplotlib plots experimental; the sweep's two plots are written with them on purpose.
    from optuna.exceptions import ExperimentalWarning

    warnings.filterwarnings("ignore", category=ExperimentalWarning, message=r"optuna\.visualization\.matplotlib")
    current = os.environ.get("PYTHONWARNINGS", "")
    if ignore not in current:
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [current, ignore]))


@cli_entry
def main(argv: list[str] | None = None) -> int:
    with interruptible() as interrupts:  # every phase: checks, data, Ray's start, Tune, the analysis
        try:
            code = _run(build_parser().parse_args(argv))
            interrupts.raise_pending()  # one that arrived where Python could not raise it
            return code
        except SweepInterrupted as stop:
            return _stopped_resumably(stop)
        except KeyboardInterrupt as stop:
            signum = getattr(stop, "signum", signal.SIGINT)
            say(f"\n{signal_name(signum)}: stopped (no trial was running: nothing to resume)")
            return exit_status(signum)
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
            say(_disk_full(err))
            return 1


def _disk_full(err: OSError) -> str:
    """One line for a full disk: the file, and how to go on once there is space (study.sweep.diskfull)."""
    experiment = getattr(err, "experiment", None)
    line = f"error: disk full writing {err.filename or 'the experiment folder'}; free space there and "
    if experiment is None:
        return line + "--resume the experiment folder (the files the sweep writes itself are whole or absent)"
    local = local_path(experiment)
    if local is not None and unstarted(local):  # stopped before Tune began: the same command takes it over
        return line + "run the same command again (no trial had started)"
    return line + (f"continue the stopped sweep with: python -m study.sweep --resume {experiment} (every file it "
                   "wrote is whole; its trials go on from their last checkpoint)")


def _stopped_resumably(stop: SweepInterrupted) -> int:
    """Print the --resume command and leave it in the folder too (after SIGHUP no terminal may read it)."""
    command = f"python -m study.sweep --resume {stop.experiment}"
    try:
        write_bytes(f"{stop.experiment}/{RESUME_FILE}", f"{command}\n".encode())
        kept = f" (also in {stop.experiment}/{RESUME_FILE})"
    except OSError:
        kept = ""
    say(f"sweep stopped by {signal_name(stop.signum)}; nothing was written that claims a result. Continue it "
        f"with{kept}:\n  {command}")
    return exit_status(stop.signum)


def _run(args: argparse.Namespace) -> int:
    if args.list_spaces:
        _print_spaces()
        return 0
    if args.resume:
        check_resume_flags(args)
        settings, plan = plan_resume(args.resume, trust_folder=args.trust_folder, ray_address=args.ray_address,
                                     analysis=args.analysis, dashboard=args.dashboard, verbose=args.verbose,
                                     top_k=args.top_k)
        quiet_warnings()
        from study.sweep.tune import resume_sweep  # Ray and torch: only past every check

        outcome = resume_sweep(args.resume, checked=(settings, plan))
    else:
        if args.trust_folder:
            raise ConfigError("--trust-folder goes with --resume DIR only")
        settings = settings_from_args(args)
        plan = plan_sweep(settings)
        quiet_warnings()
        from study.sweep.tune import run_sweep

        outcome = run_sweep(settings, plan=plan)
    leftover = local_path(f"{outcome.experiment_dir}/{RESUME_FILE}")
    if leftover is not None:
        leftover.unlink(missing_ok=True)  # the sweep is finished: nothing to resume any more
    _report(outcome)
    value = outcome.best.get("value")
    if value is None or not math.isfinite(value):
        say(f"error: no trial reached a finite {outcome.best['metric']} (every trial failed, or its objective was "
            f"NaN or infinite: see the lines above and {outcome.experiment_dir}/trial_*/worker-rank*.log); "
            "no analysis was run")
        return 1
    if settings.analysis and outcome.best.get("checkpoint") and not _analyse(outcome, settings.top_k):
        return 1
    return 0

