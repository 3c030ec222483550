"""The backbone families (trainables/backbones/): presets, the from_pretrained path on local folders, pooling,
LoRA targets, the frame count and fused attention."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from common.errors import ConfigError
from study.preflight import check_backbone
from data.clips import DecodeSettings
from trainables.backbone_source import never_a_preset
from trainables.backbones import check_fits, families, family_of, presets
from trainables.config import ModelConfig
from trainables.embed import backbone_features, embed_clips
from trainables.model import build_model, load_backbone, peft_backbone

TINY = {name: family.tiny_preset for name, family in families().items()}  # a registered family is tested here
SHAPE = DecodeSettings(num_frames=4, image_size=32)  # what _clips makes


def _clips(n: int, frames: int = 4, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, frames, 3, size, size), dtype=np.uint8)


def test_every_family_has_a_tiny_preset_and_a_documented_hub_id():
    assert TINY == {"timesformer": "tiny", "videomae": "videomae-tiny", "vjepa2": "vjepa2-tiny", "clip": "clip-tiny"}
    for name, family in families().items():
        assert presets()[TINY[name]] == name and family.hub_ids
        assert family_of(family.hub_ids[0]) is family  # a documented hub id needs no network to be placed


def test_no_preset_looks_like_a_folder_or_a_hub_id():
    """The sweep refuses a missing folder or hub id before torch loads (study.preflight.check_backbone_source),
    which is sound only while no preset's name has a '/' or starts like a path."""
    assert presets() and not [name for name in presets() if never_a_preset(name)]
    assert never_a_preset("org/name") and never_a_preset("./tiny") and never_a_preset("~/m")


@pytest.mark.parametrize("family", list(TINY))
def test_a_local_save_pretrained_folder_rebuilds_the_preset(family, tmp_path):
    """The real path: <ModelClass>.from_pretrained(folder), found by config.json's model_type."""
    preset = ModelConfig(backbone=TINY[family])
    load_backbone(preset, SHAPE).save_pretrained(tmp_path / family)
    local = ModelConfig(backbone=str(tmp_path / family))
    assert family_of(local.backbone).name == family
    clips = _clips(3)
    expected = backbone_features(preset, clips)
    assert expected.shape == (3, 64) and np.isfinite(expected).all()
    np.testing.assert_array_equal(backbone_features(local, clips), expected)


@pytest.mark.parametrize("family", list(TINY))
def test_pooling_cls_is_the_cls_token_where_there_is_one_and_the_mean_where_not(family):
    clips = _clips(2)
    cls = backbone_features(ModelConfig(backbone=TINY[family], pooling="cls"), clips)
    mean = backbone_features(ModelConfig(backbone=TINY[family], pooling="mean"), clips)
    if families()[family].has_cls:
        assert np.abs(cls - mean).max() > 1e-3
    else:
        np.testing.assert_array_equal(cls, mean)


def test_pooling_is_validated():
    with pytest.raises(ConfigError, match="pooling must be one of .*'max'"):
        ModelConfig(pooling="max")


def test_an_image_family_averages_its_frames_embedded_one_by_one():
    config = ModelConfig(backbone="clip-tiny")
    clips = _clips(2)
    per_frame = backbone_features(config, clips.reshape(8, 1, 3, 32, 32)).reshape(2, 4, -1)
    np.testing.assert_allclose(backbone_features(config, clips), per_frame.mean(1), atol=1e-6)


@pytest.mark.parametrize("family, per_layer", [
    ("videomae", 6), ("vjepa2", 6), ("clip", 6), ("timesformer", 7)])
def test_lora_adapts_every_encoder_layers_linear_layers_and_nothing_else(family, per_layer):
    model = build_model(ModelConfig(backbone=TINY[family]), SHAPE)
    adapted = [name for name, module in peft_backbone(model).named_modules() if hasattr(module, "lora_A")]
    assert len(adapted) == 2 * per_layer and not any("predictor" in name for name in adapted)
    with pytest.raises(ConfigError, match="temporal_dense.*none of these groups exists in a clip backbone"):
        build_model(ModelConfig(backbone="clip-tiny", lora_targets="temporal_dense"), SHAPE)


@pytest.mark.parametrize("family", list(TINY))
def test_every_family_embeds_unit_rows_and_trains_only_adapters_and_head(family):
    model = build_model(ModelConfig(backbone=TINY[family]), SHAPE)
    emb = embed_clips(model, _clips(3))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"backbone", "head"}
    assert all("lora_" in name for name, p in model.backbone.named_parameters() if p.requires_grad)


# ---------------------------------------------------------------- the frame count

def _eight_frame_timesformer(folder) -> str:
    """A tiny TimeSformer whose configuration says 8 frames (as TimeSformer-K400's does), time embeddings zero."""
    model = load_backbone(ModelConfig(backbone="tiny"), DecodeSettings(num_frames=8, image_size=32))
    model.embeddings.time_embeddings.data.zero_()
    model.save_pretrained(folder)
    return str(folder)


def test_an_eight_frame_timesformer_fed_sixteen_frames_attends_over_the_sixteen(tmp_path):
    """Without time embeddings, a rightly grouped divided attention gives a CLS that ignores the frames' order;
    grouped by the configuration's 8 it does not. The family sets num_frames to the clips' 16."""
    from transformers import TimesformerModel

    folder = _eight_frame_timesformer(tmp_path / "k400-like")
    model = load_backbone(ModelConfig(backbone=folder), DecodeSettings(num_frames=16, image_size=32)).eval()
    assert model.config.num_frames == 16 and model.embeddings.time_embeddings.shape[1] == 16
    clips = torch.from_numpy(_clips(2, frames=16))
    order = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    family = family_of(folder)
    with torch.no_grad():
        fitted = [family.features(model, c, "cls") for c in (clips, clips[:, order])]
        naive = TimesformerModel.from_pretrained(folder).eval()  # config says 8: tokens mis-grouped
        unfitted = [family.features(naive, c, "cls") for c in (clips, clips[:, order])]
    torch.testing.assert_close(fitted[0], fitted[1], atol=1e-5, rtol=0)
    assert (unfitted[0] - unfitted[1]).abs().max() > 1e-3


def test_time_embeddings_are_interpolated_not_reset(tmp_path):
    base = load_backbone(ModelConfig(backbone="tiny"), DecodeSettings(num_frames=8, image_size=32))
    base.embeddings.time_embeddings.data = torch.arange(8.0).view(1, 8, 1).expand(1, 8, 64).clone()
    base.save_pretrained(tmp_path / "b")
    model = load_backbone(ModelConfig(backbone=str(tmp_path / "b")), DecodeSettings(num_frames=15, image_size=32))
    torch.testing.assert_close(model.embeddings.time_embeddings[0, :, 0], torch.arange(15.0) / 2)


@pytest.mark.parametrize("family, setting, value, why", [
    ("videomae", "num_frames", 5, "whole tubelets"), ("vjepa2", "num_frames", 7, "whole tubelets"),
    ("videomae", "image_size", 40, "whole patches")])
def test_a_clip_shape_the_architecture_cannot_take_is_one_error_before_any_weight_loads(
        family, setting, value, why, tmp_path):
    load_backbone(ModelConfig(backbone=TINY[family]), SHAPE).save_pretrained(tmp_path / family)
    clips = replace(SHAPE, **{setting: value})
    with pytest.raises(ConfigError, match=rf"^{setting} {value} does not fit backbone .*{why}"):
        check_fits(str(tmp_path / family), clips)
    with pytest.raises(ConfigError, match=rf"{setting} {value} does not fit"):  # the sweep's preflight
        check_backbone(str(tmp_path / family), decode=clips)
    with pytest.raises(ConfigError, match=rf"^{setting} {value} does not fit backbone .*{why}"):  # the trial
        load_backbone(ModelConfig(backbone=str(tmp_path / family)), clips)


@pytest.mark.parametrize("family", ["videomae", "vjepa2"])
def test_tubelet_families_take_the_prepared_clips_frames_and_size(family, tmp_path):
    load_backbone(ModelConfig(backbone=TINY[family]), DecodeSettings(num_frames=8, image_size=48)).save_pretrained(
        tmp_path / "f")
    config = ModelConfig(backbone=str(tmp_path / "f"))
    check_fits(config.backbone, SHAPE)
    features = backbone_features(config, _clips(2))
    assert features.shape == (2, 64) and np.isfinite(features).all()


# ---------------------------------------------------------------- fused attention

@pytest.mark.parametrize("family", list(TINY))
def test_sdpa_equals_eager_in_fp32(family):
    """Forward and gradient agree within 1e-5 (fp32 rounding; the stated tolerance in docs/trainer.md)."""
    clips = torch.from_numpy(_clips(2))
    outs = {}
    for attention in ("eager", "sdpa"):
        torch.manual_seed(0)
        model = build_model(ModelConfig(backbone=TINY[family], attention=attention, lora_dropout=0.0,
                                        head_dropout=0.0), SHAPE)
        emb = model(clips)
        emb.pow(3).sum().backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        outs[attention] = (emb.detach(), grads)
    torch.testing.assert_close(outs["sdpa"][0], outs["eager"][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(outs["sdpa"][1], outs["eager"][1], atol=1e-5, rtol=1e-4)


def test_timesformer_uses_fused_attention_by_default():
    from trainables.backbones.timesformer import FusedSelfAttention

    model = load_backbone(ModelConfig(), SHAPE)
    fused = [m for m in model.modules() if isinstance(m, FusedSelfAttention)]
    assert len(fused) == 2 * model.config.num_hidden_layers  # spatial and temporal, every layer
    eager = load_backbone(ModelConfig(attention="eager"), SHAPE)
    assert not any(isinstance(m, FusedSelfAttention) for m in eager.modules())


def test_the_lora_target_vocabulary_is_the_union_of_the_families_groups():
    from trainables.config import LORA_TARGET_NAMES

    groups = [g for family in families().values() for g in family.lora_groups]
    assert set(groups) == set(LORA_TARGET_NAMES)  # a family's new group name goes into the config's vocabulary
