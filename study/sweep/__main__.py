"""`python -m study.sweep` (Ray Train V1 is chosen by study.sweep.train_v1, before anything imports Ray)."""
import os
import sys

from study.sweep.command import main

if __name__ == "__main__":
    code = main()
    if code > 128:
        # Stopped by a signal, every `finally` has run (Ray shut down, the lock released). The interpreter's
        # own teardown is skipped: with torch loaded it took seconds, and after a stop during Ray's start it
        # has crashed (SIGSEGV) tearing down a half-started Ray.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
