"""Attention rollout (analysis.rollout, analysis.attention): hand-built attention with a known rollout, every
family's tiny preset, the eager path against the fused one, and the agent share on a constructed pair."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.attention import attention_backbone, attention_maps
from analysis.rollout import (agent_share, divided_mixing, paired_share_difference, pixel_map, pooled_attribution,
                              rollout)
from data.clips import DecodeSettings
from trainables.backbones import family_of
from trainables.checkpoint import save_checkpoint
from trainables.config import ModelConfig, TrainConfig
from trainables.embed import embed_clips, load_trained
from trainables.model import build_variant_model

TINY = {"timesformer": "tiny", "videomae": "videomae-tiny", "vjepa2": "vjepa2-tiny", "clip": "clip-tiny"}
CLIPS = DecodeSettings(num_frames=4, image_size=32)


def _one_token(n: int) -> np.ndarray:
    """Every token attends only to token 0."""
    a = np.zeros((n, n))
    a[:, 0] = 1.0
    return a


@pytest.mark.parametrize("layers", [1, 3, 6])
def test_rollout_of_identity_attention_is_the_identity(layers):
    assert np.allclose(rollout([np.eye(7)] * layers), np.eye(7))


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_rollout_of_one_token_attention(layers):
    """Â = I/2 + e0 column/2: after L layers token i (> 0) keeps 2^-L of itself, the rest came from token 0."""
    r = rollout([_one_token(5)] * layers)
    expected = np.eye(5) * 0.5 ** layers
    expected[:, 0] = 1 - 0.5 ** layers
    expected[0, 0] = 1.0
    assert np.allclose(r, expected)


def test_divided_layer_of_identity_is_the_identity_and_space_reaches_the_cls():
    frames, patches = 3, 4
    spatial, temporal = np.stack([np.eye(patches + 1)] * frames), np.stack([np.eye(frames)] * patches)
    assert np.allclose(divided_mixing(spatial, temporal), np.eye(1 + frames * patches))
    to_cls = np.stack([_one_token(patches + 1)] * frames)  # every token of every frame attends to the CLS
    m = divided_mixing(to_cls, temporal)
    assert np.allclose(m.sum(axis=1), 1.0)
    assert np.allclose(m[1:, 0], 0.5) and np.allclose(np.diag(m)[1:], 0.5) and np.isclose(m[0, 0], 1.0)


def test_divided_layer_time_runs_before_space():
    """Patch 0 of frame 1 attends (in time) only to frame 0; then every patch of frame 1 attends (in space) only
    to patch 0 of its frame: through the layer, patch 1 of frame 1 reaches patch 0 of frame 0."""
    frames, patches = 2, 2
    temporal = np.stack([np.eye(frames)] * patches)
    temporal[0] = [[1, 0], [1, 0]]
    spatial = np.stack([np.eye(patches + 1)] * frames)
    spatial[1] = [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    m = divided_mixing(spatial, temporal, residual=0.0)
    token = lambda p, t: 1 + p * frames + t  # noqa: E731
    assert np.isclose(m[token(1, 1), token(0, 0)], 1.0)


def test_pooled_attribution_and_pixel_map_keep_the_mass():
    r = rollout([_one_token(5)] * 2)
    assert np.allclose(pooled_attribution(r, "cls", has_cls=True), 0.25)  # the CLS keeps only itself: uniform
    tokens = np.random.default_rng(0).dirichlet(np.ones(8)).reshape(2, 2, 2)
    pixels = pixel_map(tokens, frames_per_token=2, patch=4)
    assert pixels.shape == (4, 8, 8) and np.isclose(pixels.sum(), 1.0)
    assert np.allclose(pixels[:2, :4, :4].sum(), tokens[0, 0, 0])


def _agent_world(n_videos: int, seed: int = 0):
    """Masks of one square agent per video on a 4x4 token grid of 2 frames, and attention rows of two joint
    models built by hand: one whose tokens attend to the agent's tokens, one to the background's."""
    rng = np.random.default_rng(seed)
    grid, patch, frames = 4, 4, 2
    masks, maps = np.zeros((n_videos, frames, grid * patch, grid * patch)), {"agents": [], "background": []}
    for v in range(n_videos):
        y, x = rng.integers(0, grid - 1, 2)
        on = np.zeros((frames, grid, grid), bool)
        on[:, y:y + 2, x:x + 2] = True
        masks[v] = np.repeat(np.repeat(on, patch, axis=1), patch, axis=2)
        for kind, target in (("agents", on.ravel()), ("background", ~on.ravel())):
            attention = np.tile(target / target.sum(), (on.size, 1)) + rng.uniform(0, 0.02, (on.size, on.size))
            attention /= attention.sum(axis=1, keepdims=True)
            mass = pooled_attribution(rollout([attention] * 2), "mean", has_cls=False)
            maps[kind].append(pixel_map(mass.reshape(frames, grid, grid), 1, patch))
    return masks, {k: np.stack(v) for k, v in maps.items()}


def test_agent_share_separates_an_agent_attending_model_from_a_background_attending_one():
    masks, maps = _agent_world(30)
    agents, floor = agent_share(maps["agents"], masks)
    background, floor_b = agent_share(maps["background"], masks)
    assert np.allclose(floor, 0.25) and np.allclose(floor, floor_b)  # 4 of 16 tokens
    assert (agents > floor).all() and (background < floor).all()
    d = paired_share_difference(agents, background, n_boot=500)
    assert d.ci_low > 0.3 and d.p_value < 0.01
    uniform = np.full_like(masks, 1.0 / masks[0].size)
    assert np.allclose(agent_share(uniform, masks)[0], floor)


@pytest.mark.parametrize("family", list(TINY))
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_every_family_rolls_out_to_one_map_per_frame(family, pooling, one_torch_thread):
    config = ModelConfig(backbone=TINY[family], pooling=pooling)
    clips = np.random.default_rng(0).integers(0, 256, (3, 4, 3, 32, 32), dtype=np.uint8)
    maps = attention_maps(attention_backbone(TrainConfig(model=config), CLIPS), config, clips)
    assert maps.shape == (3, 4, 32, 32) and (maps >= 0).all()
    assert np.allclose(maps.sum(axis=(1, 2, 3)), 1.0)


@pytest.mark.parametrize("family", list(TINY))
def test_the_eager_backbone_of_a_checkpoint_embeds_as_the_fused_trial(family, tmp_path, one_torch_thread):
    """The maps' model (eager attention, the checkpoint's adapters) gives the trial's embeddings (fused)."""
    config = TrainConfig(model=ModelConfig(backbone=TINY[family], attention="sdpa", lora_dropout=0.0,
                                           head_dropout=0.0))
    torch.manual_seed(1)
    model = build_variant_model(config, CLIPS)
    with torch.no_grad():  # adapters away from zero, so the check covers them
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
    save_checkpoint(tmp_path / "ckpt", model, config)
    trained, _ = load_trained(tmp_path / "ckpt")
    clips = np.random.default_rng(0).integers(0, 256, (2, 4, 3, 32, 32), dtype=np.uint8)
    eager = attention_backbone(config, trained.decode, tmp_path / "ckpt")
    with torch.no_grad():
        fused = trained.family.features(trained.backbone, torch.from_numpy(clips), config.model.pooling)
        plain = family_of(config.model.backbone).features(eager, torch.from_numpy(clips), config.model.pooling)
    torch.testing.assert_close(plain, fused, atol=1e-5, rtol=0)
    assert embed_clips(trained, clips).shape == (2, config.model.embed_dim)


def test_timesformer_weights_recomputed_from_qkv_are_the_ones_transformers_returns(one_torch_thread):
    """The hook recomputes TimeSformer's attention (its temporal attention returns none); for the spatial one,
    which transformers does return, the two agree."""
    from analysis.attention import capture_attention

    config = ModelConfig(backbone="tiny", attention="eager")
    backbone = attention_backbone(TrainConfig(model=config), CLIPS)
    pixels = torch.randn(2, 4, 3, 32, 32)
    out = {}
    with torch.no_grad():
        captured = capture_attention(backbone, lambda: out.setdefault(
            "o", backbone(pixel_values=pixels, output_attentions=True)))
    spatial = [w for name, w in captured if "temporal_attention" not in name]
    assert len(spatial) == len(out["o"].attentions) == backbone.config.num_hidden_layers
    for mine, theirs in zip(spatial, out["o"].attentions):
        np.testing.assert_allclose(mine, theirs.mean(dim=1).numpy(), atol=1e-6)
