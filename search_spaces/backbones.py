"""The v2 paper's comparison (Garcia & Isik, arXiv 2510.01502v2): the same LoRA fine-tuning of four backbone
families, one trial each, at the paper's protocol otherwise. For GPUs: the hub checkpoints need a machine that can
download them (or local save_pretrained copies given with --set backbone=...). `--smoke` runs each family's tiny
random preset on a CPU instead."""
from search_spaces.paper import PAPER_CONFIG
from search_spaces.space import Grid, SearchSpace

# The comparison is every registered backbone family (trainables.backbones); a space only declares, so it names
# them by these two values, which the sweep expands before anything else reads the space
# (study.sweep.overrides.expand_families): each family's first documented hub checkpoint, or its tiny preset.
EVERY_FAMILY = "every-family"
EVERY_FAMILY_TINY = "every-family-tiny"

SPACE = SearchSpace(
    name="backbones",
    description="the v2 paper's four backbone families (TimeSformer, VideoMAE, V-JEPA 2, CLIP) under the paper's "
                "hybrid protocol, one trial each; --smoke: their tiny presets",
    fixed={**{k: v for k, v in PAPER_CONFIG.items() if k != "backbone"}, "variant": "hybrid"},
    params={"backbone": Grid((EVERY_FAMILY,))},
    num_samples=1,
    metric="val_rsa",
    asha=False,  # every family runs its whole budget: the comparison, not a search
    smoke={"backbone": {"grid": [EVERY_FAMILY_TINY]}},
)
