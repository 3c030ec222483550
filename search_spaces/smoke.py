"""A tiny CPU space: the default `python -m study.sweep` run and the tests (seconds per trial on 2 cores).

Its backbone is the synthetic world's pretrained tiny TimeSformer (study.pretrain), named here and swapped for
its save_pretrained folder by the sweep; `--smoke` over another space keeps the random 'tiny' preset."""
from search_spaces.space import Choice, Float, SearchSpace

# The clips the synthetic pretrained backbone (study.pretrain) is built for: 4 frames of 32 px. Declared here once;
# the pretraining, the budget campaign and the smoke sizes below read it.
SYNTHETIC_CLIPS = {"num_frames": 4, "image_size": 32}

# `--smoke` lays these over any space, so e.g. the paper grid runs on a laptop with a random tiny backbone.
SMOKE_SIZES = {
    "backbone": "tiny",
    **SYNTHETIC_CLIPS,
    "epochs": 3,
    "steps_per_epoch": 4,
    "batch_size": 4,
    "rsa_subset": 8,
}

# Every content-preserving view trainables.augment knows (its registry decides which: a new one joins here).
AUGMENT = "all"

SPACE = SearchSpace(
    name="smoke",
    description="tiny backbone pretrained on the synthetic world, 4 epochs of 30 steps; Optuna over the variant "
                "(LoRA hybrid or the linear probe), augmentation, lr, alpha, LoRA rank; ASHA",
    # 4 epochs of 30 steps x 16 triplets: the budget docs/trainer.md measures held-out learning with.
    fixed={**SMOKE_SIZES, "backbone": "synthetic-pretrained", "epochs": 4, "steps_per_epoch": 30, "batch_size": 16,
           "rsa_subset": 16},
    params={
        "variant": Choice(("hybrid", "linear-probe")),
        "augment": Choice(("none", AUGMENT)),
        "lr": Float(1e-4, 3e-3, log=True),
        "alpha": Float(0.3, 1.0),
        "lora_r": Choice((2, 4, 8)),
    },
    # The learning tests' point (docs/trainer.md) first, and the frozen-feature floor it must beat beside it.
    points_to_evaluate=({"variant": "hybrid", "augment": AUGMENT, "lr": 1e-3, "alpha": 0.7, "lora_r": 4},
                        {"variant": "linear-probe", "augment": AUGMENT, "lr": 1e-3, "alpha": 0.7, "lora_r": 4}),
    num_samples=8,
)
