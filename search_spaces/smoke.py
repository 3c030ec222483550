"""A tiny CPU space: the default `python -m study.sweep` run and the tests (seconds per trial on 2 cores)."""
from search_spaces.space import Choice, Float, SearchSpace

# `--smoke` lays these over any space, so e.g. the paper grid runs on a laptop with a random tiny backbone.
SMOKE_SIZES = {
    "backbone": "tiny",
    "num_frames": 4,
    "image_size": 32,
    "epochs": 3,
    "steps_per_epoch": 4,
    "batch_size": 4,
    "rsa_subset": 8,
}

SPACE = SearchSpace(
    name="smoke",
    description="tiny random backbone, 3 short epochs; Optuna over lr, alpha, LoRA rank, sampling; ASHA",
    fixed=SMOKE_SIZES,
    params={
        "lr": Float(1e-4, 3e-3, log=True),  # trainer note: 1e-3 and above collapse the tiny model
        "alpha": Float(0.3, 1.0),
        "lora_r": Choice((2, 4, 8)),
        "sampling": Choice(("uniform", "coverage")),
    },
    points_to_evaluate=({"lr": 3e-4, "alpha": 0.7, "lora_r": 4, "sampling": "uniform"},),
    num_samples=8,
)
