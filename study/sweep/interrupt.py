"""Stopping a sweep: Ctrl-C (SIGINT), SIGTERM (what `ray job stop`, Kubernetes, SLURM and a spot reclaim send)
and SIGHUP (the terminal or ssh session closed) all stop it the same way.

While Tune runs its loop, the first signal asks Tune to stop the way its own SIGUSR1 handler does (it
checkpoints the experiment state once more, with the running trials still RUNNING, so `--resume` continues
them from their last checkpoint), and the sweep then writes nothing that claims a result; the command prints
the `--resume` line, writes it into the experiment folder (RESUME_FILE: the terminal may be gone), shuts Ray
down and exits 128 + the signal (130, 143, 129). A second signal exits at once. Outside Tune's loop (checks,
data preparation, Ray's start, the analysis) a signal raises `Stopped` at once; a signal that arrived where
Python swallows exceptions (a destructor, a callback) is raised again at the next `raise_pending()`.

Tune's own SIGINT handler is turned off (TUNE_DISABLE_SIGINT_HANDLER): it would let the sweep go on to its
results as if the stopped trials had finished.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_INTERRUPTED = 128 + signal.SIGINT  # what a shell reports for a command stopped by Ctrl-C
RESUME_FILE = "RESUME.txt"


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def exit_status(signum: int) -> int:
    """The conventional status of a command stopped by a signal: 128 + its number."""
    return 128 + int(signum)


class Stopped(KeyboardInterrupt):
    """A stop signal outside Tune's loop: nothing was running that could be resumed."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


class SweepInterrupted(Exception):
    """The sweep was stopped by a signal while Tune ran; its folder can be resumed."""

    def __init__(self, experiment: str, signum: int = signal.SIGINT):
        super().__init__(experiment)
        self.experiment, self.signum = experiment, signum


def say(text: str) -> None:
    """A line on stderr, if there still is one (after SIGHUP the terminal may be gone)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class Interrupts:
    """The stop-signal handler of a running command: `requested` holds the first signal that came while
    Tune ran its loop; `pending` the first that came at all."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self.pending: int | None = None
        self.tune_running = False

    def __call__(self, signum, frame) -> None:
        if self.requested or (self.pending and not self.tune_running):
            say(f"\nsecond stop signal ({signal_name(signum)}): exiting now")
            os._exit(exit_status(self.requested or self.pending))
        self.pending = signum
        if not self.tune_running or not callable(signal.getsignal(signal.SIGUSR1)):
            raise Stopped(signum)  # Tune not (yet, or any more) running its loop: nothing to checkpoint
        self.requested = signum
        say(f"\n{signal_name(signum)}: stopping the sweep; the running trials keep their last checkpoint and can "
            "be resumed (Ctrl-C again to exit at once)")
        os.kill(os.getpid(), signal.SIGUSR1)  # Tune's graceful stop: a last experiment snapshot, then return

    def install(self) -> None:
        """(Re)take the stop signals: ray.init installs its own SIGTERM handler, which exits mid-write."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self)

    def raise_pending(self) -> None:
        if self.pending:
            raise Stopped(self.pending)


@contextlib.contextmanager
def interruptible() -> Iterator[Interrupts]:
    """Install the handler for the block; Tune's own SIGINT handler stays off while it runs."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    handler = Interrupts()
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    handler.install()
    try:
        yield handler
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def hangup_deferred() -> Iterator[None]:
    """Ray's own processes (GCS, raylet, dashboard) join this process group, so a terminal's hangup would reach
    them and take Ray down under the sweep: they start with SIGHUP blocked (a signal mask is inherited), and
    a hangup that came meanwhile reaches this process when the block ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def ray_start_stopped() -> Iterator[None]:
    """Around `ray.init`: a stop signal in the middle of it ends the Ray processes it had started."""
    try:
        yield
    except KeyboardInterrupt:
        end_ray_children()
        raise


def end_ray_children() -> None:
    """Kill the Ray processes this one started and still runs: after a stop in the middle of `ray.init`, Ray
    has not yet registered them, so `ray.shutdown` would leave its agents running."""
    import psutil

    children = [c for c in psutil.Process().children(recursive=True) if _is_ray(c)]
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=10)


def _is_ray(process) -> bool:
    try:
        return "ray" in " ".join(process.cmdline())
    except Exception:  # noqa: BLE001 - psutil.Error: gone already, or not ours to read
        return False


def fit_or_stop(tuner, handler: Interrupts, experiment: str):
    """tuner.fit() under the handler; SweepInterrupted when a stop signal stopped it."""
    handler.install()
    handler.raise_pending()
    handler.tune_running = True
    try:
        grid = tuner.fit()
    finally:
        handler.tune_running = False
    if handler.requested:
        raise SweepInterrupted(experiment, handler.requested)
    return grid
