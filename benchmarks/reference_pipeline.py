"""The authors' data path, reproduced small and faithfully, to measure ours against.

In garciakathy/similarity-judgments-finetuning (scripts/train_timesformer.py) every training step's
`TripletDataset.__getitem__` opens each of the triplet's three videos with a fresh decord `VideoReader`, reads
16 frames at `np.linspace(0, len - 1, 16)` one `vr[i]` at a time, and passes each frame through PIL:
`transforms.Resize((224, 224))` then `ToTensor()` (float in [0, 1], channels first), stacked to (C, T, H, W).
torchvision is not installed here; `Image.resize(..., BILINEAR)` is what its Resize does on a PIL image
(bilinear with antialiasing), and the ToTensor division is written out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

REFERENCE_FRAMES = 16
REFERENCE_SIZE = 224


def reference_clip(path: str | Path, num_frames: int = REFERENCE_FRAMES, size: int = REFERENCE_SIZE) -> torch.Tensor:
    """One clip the authors' way: float32 (3, T, size, size) in [0, 1]."""
    from decord import VideoReader, cpu

    reader = VideoReader(str(path), ctx=cpu(0))
    frames = []
    for i in np.linspace(0, len(reader) - 1, num_frames).astype(int):
        frame = Image.fromarray(reader[int(i)].asnumpy()).resize((size, size), Image.BILINEAR)
        frames.append(torch.from_numpy(np.asarray(frame, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(frames).permute(1, 0, 2, 3)


def reference_batch(paths: list[tuple[Path, Path, Path]], num_frames: int = REFERENCE_FRAMES,
                    size: int = REFERENCE_SIZE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of triplets: anchor, positive and negative tensors (B, 3, T, size, size), each clip decoded anew."""
    anchors, positives, negatives = zip(*[tuple(reference_clip(p, num_frames, size) for p in triplet)
                                          for triplet in paths])
    return torch.stack(anchors), torch.stack(positives), torch.stack(negatives)
