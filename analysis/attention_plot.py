"""The attention-map grid: per video a row of its frames, then one row per model (base first) with the model's
rollout over each frame, frames left to right."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def attention_grid(path: Path, clips: np.ndarray, maps: dict[str, np.ndarray], titles: list[str]) -> Path:
    """clips: uint8 (n, T, 3, H, W); maps: model -> (n, T, H, W) (insertion order = row order); titles: one per
    video. Each map is shown over its frame, scaled to its own clip's maximum, so a model's focus reads at a
    glance whatever its spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, frames = clips.shape[:2]
    rows = n * (1 + len(maps))
    fig, axes = plt.subplots(rows, frames, figsize=(1.3 * frames + 1.6, 1.3 * rows), squeeze=False)
    for v in range(n):
        top = v * (1 + len(maps))
        for t in range(frames):
            axes[top, t].imshow(clips[v, t].transpose(1, 2, 0))
        axes[top, 0].set_ylabel(titles[v], rotation=0, ha="right", va="center", fontsize=8)
        for k, (label, m) in enumerate(maps.items(), start=1):
            peak = m[v].max() or 1.0
            for t in range(frames):
                axes[top + k, t].imshow(clips[v, t].transpose(1, 2, 0).mean(axis=2), cmap="gray", vmin=0, vmax=255)
                axes[top + k, t].imshow(m[v, t] / peak, cmap="inferno", alpha=0.6, vmin=0, vmax=1)
            axes[top + k, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for t in range(frames):
        axes[0, t].set_title(f"frame {t + 1}", fontsize=8)
    fig.suptitle("Attention rollout (Abnar & Zuidema 2020): bright = more of the pooled vector", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / rows))  # room for the title above the frame titles
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
