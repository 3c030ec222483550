"""Ctrl-C during a sweep. The first stops it cleanly: Tune is asked to stop the way its own SIGUSR1 handler
does (it checkpoints the experiment state once more, with the running trials still RUNNING, so `--resume`
continues them from their last checkpoint), and the sweep then writes nothing that claims a result; the
command prints the `--resume` line and exits 130. The second Ctrl-C exits at once.

Tune's own SIGINT handler is turned off (TUNE_DISABLE_SIGINT_HANDLER): it would let the sweep go on to its
results as if the stopped trials had finished.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Iterator

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


class SweepInterrupted(Exception):
    """The sweep was stopped by Ctrl-C; its folder can be resumed."""

    def __init__(self, experiment: str):
        super().__init__(experiment)
        self.experiment = experiment


class Interrupts:
    """The SIGINT handler of a running sweep: `requested` once the first Ctrl-C came while Tune ran."""

    def __init__(self) -> None:
        self.requested = False
        self.tune_running = False

    def __call__(self, signum, frame) -> None:
        if self.requested:
            print("\nsecond Ctrl-C: exiting now", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
        if not self.tune_running or not callable(signal.getsignal(signal.SIGUSR1)):
            raise KeyboardInterrupt  # Tune not (yet, or any more) running its loop: nothing to checkpoint
        self.requested = True
        print("\nCtrl-C: stopping the sweep; the running trials keep their last checkpoint and can be resumed "
              "(Ctrl-C again to exit at once)", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGUSR1)  # Tune's graceful stop: a last experiment snapshot, then return


@contextlib.contextmanager
def interruptible() -> Iterator[Interrupts]:
    """Install the handler for the block; Tune's own SIGINT handler stays off while it runs."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    handler = Interrupts()
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield handler
    finally:
        signal.signal(signal.SIGINT, previous)


def fit_or_stop(tuner, handler: Interrupts, experiment: str):
    """tuner.fit() under the handler; SweepInterrupted when Ctrl-C stopped it."""
    handler.tune_running = True
    try:
        grid = tuner.fit()
    finally:
        handler.tune_running = False
    if handler.requested:
        raise SweepInterrupted(experiment)
    return grid
