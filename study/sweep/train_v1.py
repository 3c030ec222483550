"""Ray Train V1 for the sweep (README "Why Ray Train V1", docs/sweep.md "The Ray path"). `ray.train` chooses V1
or V2 from RAY_TRAIN_V2_ENABLED when it is first imported, so every module of the sweep that imports Ray imports
this one first. A value the user set is kept: RAY_TRAIN_V2_ENABLED=1 makes `build_trainer` refuse to run."""
import os

os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")
