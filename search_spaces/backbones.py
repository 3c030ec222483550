"""The v2 paper's comparison (Garcia & Isik, arXiv 2510.01502v2): the same LoRA fine-tuning of four backbone
families, one trial each, at the paper's protocol otherwise. For GPUs: the hub checkpoints need a machine that can
download them (or local save_pretrained copies given with --set backbone=...). `--smoke` runs each family's tiny
random preset on a CPU instead."""
from search_spaces.paper import PAPER_CONFIG
from search_spaces.space import Grid, SearchSpace

BACKBONES = (
    "facebook/timesformer-base-finetuned-k400",  # TimeSformer, Kinetics-400; configured for 8 frames, fitted to 16
    "MCG-NJU/videomae-base",                     # VideoMAE, self-supervised on Kinetics-400, 16 frames
    "facebook/vjepa2-vitl-fpc64-256",            # V-JEPA 2 ViT-L; rotary positions take 16 x 224 x 224
    "openai/clip-vit-base-patch32",              # CLIP's image encoder, frames embedded one by one and averaged
)
SMOKE_BACKBONES = ("tiny", "videomae-tiny", "vjepa2-tiny", "clip-tiny")

SPACE = SearchSpace(
    name="backbones",
    description="the v2 paper's four backbone families (TimeSformer, VideoMAE, V-JEPA 2, CLIP) under the paper's "
                "hybrid protocol, one trial each; --smoke: their tiny presets",
    fixed={**{k: v for k, v in PAPER_CONFIG.items() if k != "backbone"}, "variant": "hybrid"},
    params={"backbone": Grid(BACKBONES)},
    num_samples=1,
    metric="val_rsa",
    asha=False,  # every family runs its whole budget: the comparison, not a search
    smoke={"backbone": {"grid": list(SMOKE_BACKBONES)}},
)
