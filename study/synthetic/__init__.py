"""Synthetic social-video benchmark: the embedded default data, whose right answer is known.

Each video shows two agents (discs with a dark "nose" that marks where they face). Seven social latents drive
what they do; nuisance factors (background colour and texture, agent colours, a distractor box, global
position, rotation and scale) change the pixels but not the simulated humans' judgments. Simulated
participants pick the odd one out of each triplet by a softmax over pair similarities computed from the latents
with per-participant weight noise. The folder has the real dataset's files and columns plus `ground_truth/`.
See docs/synthetic.md.

One module per job: config (SyntheticConfig), world (latents, nuisance, rendering), participants (simulated
judgments), ground_truth (expected accuracy, split-half reliability), annotate (ratings, captions), folder
(writing, `ensure_benchmark`), command (`python -m study.synthetic`).
"""
from study.synthetic.command import main
from study.synthetic.config import (
    CLIP_ENCODING, GENERATOR_VERSION, RATING_COLUMNS, SOCIAL_LATENTS, TRIPLET_COLUMNS, SyntheticConfig,
)
from study.synthetic.folder import ensure_benchmark, generate_benchmark
from study.synthetic.ground_truth import expected_ooo_accuracy, pixel_similarity_spearman
from study.synthetic.participants import true_similarity, validation_videos
from study.synthetic.world import INTERACTIONS, agent_state, render_clip, sample_interactions, sample_latents, sample_nuisance

__all__ = [
    "CLIP_ENCODING", "GENERATOR_VERSION", "INTERACTIONS", "agent_state", "RATING_COLUMNS", "SOCIAL_LATENTS",
    "TRIPLET_COLUMNS", "SyntheticConfig",
    "ensure_benchmark", "expected_ooo_accuracy", "generate_benchmark", "main", "pixel_similarity_spearman",
    "render_clip", "sample_interactions", "sample_latents", "sample_nuisance", "true_similarity",
    "validation_videos",
]
