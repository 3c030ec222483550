"""What the sweep prints. By default its own short lines: the preflight, one line per trial epoch and per
finished, stopped or failed trial, the summary and the table. Ray's and Tune's log lines go to
EXPERIMENT/ray.log and each Ray Train worker's output (its native crash dumps included) to worker-rank<R>.log
in its trial folder; both places are named when the sweep starts. `-v` gives Ray's full output instead.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from ray import tune

RAY_LOG = "ray.log"
QUIET_ENV = "SOCIAL_ALIGN_QUIET_WORKERS"  # set: trial workers write their output to their trial folder
# Progress bars and advisory lines of the libraries inside a trial (transformers' "Loading weights" bar).
QUIET_LIBRARIES = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
                   "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "TQDM_DISABLE": "1"}


def quiet_console(experiment: str, verbose: bool) -> None:
    """Send Ray's and Optuna's log lines to EXPERIMENT/ray.log (unless verbose) and say where everything goes."""
    # A log line no handler can write (a full disk under Ray's session folder or the experiment folder) is
    # dropped, not reported as "--- Logging error ---" with a traceback once per line: the sweep's own write
    # that fails says so in one line (study.sweep.diskfull).
    logging.raiseExceptions = False
    if verbose or "://" in experiment:
        return
    os.environ.update(QUIET_LIBRARIES | {QUIET_ENV: "1"})
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # Tune's older reporter: silent at verbose 0 (the newer one still
    # prints its configuration box); read by tune.run, in this process only
    import transformers  # already imported here: its progress bars are switched off in process too

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    log = Path(experiment) / RAY_LOG
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("ray", "optuna"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False
    print(f"Ray and Tune log: {log}; each trial worker's output: {experiment}/trial_*/worker-rank*.log "
          "(-v shows them here)", flush=True)


def redirect_worker_output(trial_dir: str, rank: int) -> None:
    """In a trial worker, when the sweep is quiet: its stdout and stderr (file descriptors 1 and 2, so native
    crash dumps too) go to TRIAL/worker-rank<R>.log instead of Ray's driver console."""
    if os.environ.get(QUIET_ENV) != "1" or "://" in trial_dir:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(Path(trial_dir) / f"worker-rank{rank}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


class TrialLines(tune.Callback):
    """One line per trial epoch, and one when a trial finishes, is stopped early or fails."""

    max_epochs = 0  # the epoch budget; 0 (a callback pickled before it was known): every trial "finished"

    def __init__(self, max_epochs: int):
        self.max_epochs = max_epochs

    def on_trial_result(self, iteration, trials, trial, result, **info):
        parts = [f"{k} {result[k]:.4f}" for k in ("train_loss", "val_ooo_acc", "val_rsa") if k in result]
        print(f"[sweep] trial {trial.trial_id} epoch {result.get('epoch', '?')}: " + ", ".join(parts)
              + f" ({result.get('time_epoch_s', float('nan')):.1f} s)", flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        epochs = (trial.last_result or {}).get("epoch", 0)
        how = "finished" if epochs >= self.max_epochs else "stopped early by ASHA"
        print(f"[sweep] trial {trial.trial_id} {how} after {epochs} epoch(s)", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        print(f"[sweep] trial {trial.trial_id} failed (its error is in results.parquet; the worker's output in "
              f"{trial.path}/worker-rank*.log)", flush=True)
