"""The study's main space: loss weights, LoRA rank and shape, learning rate, margin, sampling, RSA subset."""
from search_spaces.paper import PAPER_CONFIG
from search_spaces.smoke import AUGMENT
from search_spaces.space import Choice, Float, Int, SearchSpace

_SEARCHED = {
    "alpha": Float(0.1, 1.0),
    "beta_start": Float(0.0, 0.7),
    "beta_end": Float(0.3, 1.0),
    "lora_r": Int(2, 64, log=True),
    "lora_alpha_ratio": Choice((0.5, 1.0, 2.0, 4.0)),
    "lora_dropout": Float(0.0, 0.3),
    "lr": Float(1e-5, 1e-3, log=True),
    "margin": Float(0.05, 0.5),
    "sampling": Choice(("uniform", "coverage", "hard-negative", "consensus")),
    "rsa_subset": Int(8, 64, log=True),
    "batch_size": Choice((4, 8, 16)),
    "variant": Choice(("hybrid", "linear-probe")),  # the linear probe: the floor fine-tuning must beat
    "augment": Choice(("none", AUGMENT)),
    "pooling": Choice(("cls", "mean")),  # the CLS token or the mean of the last layer's tokens
}

# The paper's own point is evaluated first, so every sweep has the reference to beat.
_PAPER_POINT = {key: PAPER_CONFIG[key] for key in _SEARCHED if key in PAPER_CONFIG}
_PAPER_POINT.update(lora_alpha_ratio=PAPER_CONFIG["lora_alpha"] / PAPER_CONFIG["lora_r"],
                    sampling="uniform", rsa_subset=16, variant="hybrid", augment="none",
                    pooling="cls")

# Our protocol around the searched keys: 8 centre frames at 224 px (crop), warm-up + cosine over 10 epochs,
# selection by 3-way accuracy (the paper space switches each of these to the authors' choice; docs/paper.md).
_FIXED = {"backbone": PAPER_CONFIG["backbone"], "num_frames": 8, "image_size": 224, "beta_step": 0.1, "epochs": 10}

SPACE = SearchSpace(
    name="default",
    description="Optuna TPE over the variant (LoRA hybrid or the linear probe), augmentation, pooling, loss "
                "weights, LoRA rank/alpha ratio/dropout, lr, margin, sampling, RSA subset, batch size; the "
                "paper's point first; ASHA",
    fixed=_FIXED,
    params=_SEARCHED,
    points_to_evaluate=(_PAPER_POINT,),
    num_samples=32,
    asha_reduction_factor=3,
)
