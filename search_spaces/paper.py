"""The authors' protocol (Garcia & Isik 2025, as their public train_timesformer.py runs it) and its four loss
variants as a grid: the ablation table in one run. docs/paper.md lists every point against our defaults."""
from search_spaces.space import Grid, SearchSpace

# K = 24 videos per RSA step, M = 6 of them with gradient: 15 grad x grad + 6 * 18 grad x constant pairs.
_RSA_VIDEOS, _RSA_GRAD_VIDEOS, _RSA_STEPS = 24, 6, 6
_RSA_PAIRS = _RSA_GRAD_VIDEOS * (_RSA_GRAD_VIDEOS - 1) // 2 + _RSA_GRAD_VIDEOS * (_RSA_VIDEOS - _RSA_GRAD_VIDEOS)

PAPER_CONFIG = {
    # model: TimeSformer-K400, LoRA r 8 / alpha 16 / dropout 0.1; head dropout 0.3
    "backbone": "facebook/timesformer-base-finetuned-k400",
    "num_frames": 16,
    "image_size": 224,
    "frame_sampling": "linspace",   # np.linspace(0, n - 1, 16)
    "resize": "squash",             # transforms.Resize((224, 224)): no crop
    "lora_r": 8,
    "lora_alpha": 16.0,
    "lora_dropout": 0.1,
    "head_dropout": 0.3,
    "augment": "none",              # no augmentation and single-view evaluation: the authors used neither
    "eval_views": "none",
    # losses: margin 0.2; hybrid 0.7 * triplet + beta * RSA, beta 0.3 -> 0.7 by 0.1 a epoch; rsa-only 0.5 -> 1.0
    "margin": 0.2,
    "alpha": 0.7,
    "beta_start": 0.3,
    "beta_end": 0.7,
    "beta_step": 0.1,
    "rsa_only_beta_start": 0.5,
    "rsa_only_beta_end": 1.0,
    "rsa_steps_per_epoch": _RSA_STEPS,
    "rsa_videos": _RSA_VIDEOS,
    "rsa_grad_videos": _RSA_GRAD_VIDEOS,
    "budget_constraints": _RSA_STEPS * _RSA_PAIRS,  # 738: the hybrid's RSA pairs per epoch
    # optimisation: AdamW lr 1e-4, batch 4, up to 50 epochs, plateau schedule and early stop on val RSA
    "lr": 1e-4,
    "weight_decay": 0.01,           # AdamW's default, which the authors' code leaves in place
    "batch_size": 4,
    "epochs": 50,
    "lr_schedule": "plateau",
    "plateau_patience": 3,
    "plateau_factor": 0.5,
    "early_stop_patience": 5,
    "select_metric": "val_rsa",
}

SPACE = SearchSpace(
    name="paper",
    description="the authors' protocol x its four loss variants (hybrid, triplet-only, rsa-only, "
                "budget-matched), a grid; selects by validation Spearman RSA",
    fixed=PAPER_CONFIG,
    params={"variant": Grid(("hybrid", "triplet-only", "rsa-only", "budget-matched"))},
    num_samples=1,
    metric="val_rsa",
    asha=False,  # the ablation compares variants at equal budget: every one runs to the end (or early-stops)
)
