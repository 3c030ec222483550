"""7. GPU: clips per second, peak memory and model FLOPs utilisation of the base-size TimeSformer
(8 x 224 x 224, random weights, bf16) forward + backward with LoRA. Without a CUDA device the row is kept,
marked not measured, with the reason.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from benchmarks.common import BenchSettings, spread

NOT_MEASURED = "not measured: no GPU lent in this session"
# Dense bf16 peak in FLOP/s (vendor data sheets, without sparsity), by a substring of the device name.
BF16_PEAK = {"H100 SXM": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12,
             "L40S": 362e12, "A10G": 70e12, "L4": 121e12}


def run(settings: BenchSettings, work_dir: Path) -> dict:
    if not torch.cuda.is_available():
        return {"name": "gpu", "measured": False, "reason": NOT_MEASURED}
    return {"name": "gpu", "measured": True, **_measure(settings)}


def _measure(settings: BenchSettings) -> dict:
    from data.clips import DecodeSettings
    from trainables.config import ModelConfig
    from trainables.model import build_model, trainable_parameters, use_device

    config = ModelConfig(backbone="base-random", precision="bf16")
    model = use_device(build_model(config, DecodeSettings(num_frames=8, image_size=224)), config,
                       torch.device("cuda")).train()
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-4)
    batch = 8
    clips = torch.randint(0, 256, (batch, 8, 3, 224, 224), dtype=torch.uint8, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    times = [_step(model, optimizer, clips) for _ in range(3 + settings.repeats)][3:]
    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
    flops = _step_flops(model.backbone.config, batch)
    rates = [flops / t for t in times]
    return {"device": name, "batch": batch, "clips_per_s": spread([batch / t for t in times]),
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30, "step_flops": flops,
            "bf16_peak_flops": peak, "mfu": spread([r / peak for r in rates]) if peak else None}


def _step(model, optimizer, clips) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    model(clips).square().sum().backward()
    optimizer.step()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def _step_flops(config, batch: int) -> float:
    """Matmul FLOPs of forward + backward (3x forward; LoRA's frozen base still back-propagates activations).

    Per layer and token: qkv + output projections of the temporal and the spatial attention (2 x 4 h^2),
    the temporal dense (h^2), the MLP (2 x h x i); attention scores over T frames and over the patches of a frame.
    """
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    patches = (config.image_size // config.patch_size) ** 2
    tokens = config.num_frames * patches + 1
    dense = 2 * tokens * (8 * h * h + h * h + 2 * h * i)
    attention = 2 * 2 * config.num_frames * patches * h * (config.num_frames + patches)
    return 3.0 * batch * layers * (dense + attention)
