"""The paper's configuration (Garcia & Isik 2025) and its four loss variants as a grid: the ablation table in one run."""
from search_spaces.space import Grid, SearchSpace

# The paper's settings: LoRA r 8, alpha 16, dropout 0.1 on TimeSformer-K400; triplet margin 0.2;
# hybrid weights alpha 0.7 and beta rising 0.3 -> 0.7 by 0.1 a epoch; AdamW lr 1e-4, batch 4.
PAPER_CONFIG = {
    "backbone": "facebook/timesformer-base-finetuned-k400",
    "num_frames": 8,
    "image_size": 224,
    "lora_r": 8,
    "lora_alpha": 16.0,
    "lora_dropout": 0.1,
    "margin": 0.2,
    "alpha": 0.7,
    "beta_start": 0.3,
    "beta_end": 0.7,
    "beta_step": 0.1,
    "lr": 1e-4,
    "batch_size": 4,
    "epochs": 10,
}

SPACE = SearchSpace(
    name="paper",
    description="the paper's configuration x its four loss variants (hybrid, triplet-only, rsa-only, "
                "budget-matched), a grid",
    fixed=PAPER_CONFIG,
    params={"variant": Grid(("hybrid", "triplet-only", "rsa-only", "budget-matched"))},
    num_samples=1,
    asha=False,  # the ablation compares variants at equal budget: every one runs to the end
)
