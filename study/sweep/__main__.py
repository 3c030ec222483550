"""`python -m study.sweep`: Ray Train V1 is chosen here, where the process starts, before ray.train is imported
(ray.train reads RAY_TRAIN_V2_ENABLED at import; Ray passes it on to every worker, see resources.start_ray)."""
import os
import sys


def run() -> int:
    os.environ["RAY_TRAIN_V2_ENABLED"] = "0"
    from study.sweep.command import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
