"""`python -m study.sweep` (Ray Train V1 is chosen by study.sweep.train_v1, before anything imports Ray)."""
import sys

from study.sweep.command import main

if __name__ == "__main__":
    sys.exit(main())
