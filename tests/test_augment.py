"""Content-preserving views (trainables.augment), multi-view evaluation and the linear-probe objective's model:
small cases on the tiny preset, seconds on CPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.errors import ConfigError
from data.clips import DecodeSettings
from trainables.augment import (AUGMENTATIONS, EVAL_VIEWS, apply_view, augment_batch, eval_view_set, parse_augment,
                                random_view)
from trainables.config import TrainConfig
from trainables.embed import backbone_features, embed_clips
from trainables.model import IdentityLinear, build_variant_model


CLIPS = DecodeSettings(num_frames=4, image_size=32)  # what _clips makes by default


def _clips(n=3, frames=4, size=32, seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, frames, 3, size, size), dtype=np.uint8))


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_every_augmentation_keeps_the_clip_shape_dtype_and_frame_order(name):
    clip = _clips(1)[0]
    rng = np.random.default_rng(1)
    for _ in range(10):
        out = AUGMENTATIONS[name].apply(clip, AUGMENTATIONS[name].draw(rng))
        assert out.shape == clip.shape and out.dtype == torch.uint8
        # frame t of the view comes from frame t of the clip alone: time is never reversed or mixed
        for t in range(len(clip)):
            single = clip.clone()
            single[np.arange(len(clip)) != t] = 0
            kept = AUGMENTATIONS[name].apply(single, AUGMENTATIONS[name].draw(np.random.default_rng(2)))
            assert kept[np.arange(len(clip)) != t].sum() == 0


def test_flips_quarter_turns_and_channel_orders_move_pixels_without_changing_them():
    clip = _clips(1)[0]
    for view in EVAL_VIEWS["dihedral-channels"]:
        out = apply_view(clip, view)
        assert torch.equal(out.flatten().sort().values, clip.flatten().sort().values)  # a permutation of pixels
    # the 8 dihedral views of a random clip are all different; four quarter turns are the identity
    dihedral = {apply_view(clip, v).numpy().tobytes() for v in EVAL_VIEWS["dihedral"]}
    assert len(dihedral) == 8
    turned = clip
    for _ in range(4):
        turned = apply_view(turned, (("rot90", 1),))
    assert torch.equal(turned, clip)
    # a channel order param p puts old channel p[c] at c
    reordered = apply_view(clip, (("channels", (2, 0, 1)),))
    assert torch.equal(reordered[:, 0], clip[:, 2]) and torch.equal(reordered[:, 1], clip[:, 0])


def test_shift_repeats_the_edge_and_moves_the_content():
    clip = _clips(1)[0]
    out = apply_view(clip, (("shift", (2 / 32, -1 / 32)),))
    assert torch.equal(out[..., 2:, :-1], clip[..., :-2, 1:])
    assert torch.equal(out[..., 0, :-1], clip[..., 0, 1:]) and torch.equal(out[..., 1, :-1], clip[..., 0, 1:])


def test_augment_batch_draws_each_video_its_own_view_reproducibly():
    clips = _clips(6)
    a = augment_batch(clips, ("flip", "rot90", "channels"), np.random.default_rng(5))
    b = augment_batch(clips, ("flip", "rot90", "channels"), np.random.default_rng(5))
    assert torch.equal(a, b) and not torch.equal(a, clips)
    assert torch.equal(augment_batch(clips, (), np.random.default_rng(5)), clips)
    views = [random_view(("flip", "rot90", "channels"), np.random.default_rng(k)) for k in range(30)]
    assert len({repr(v) for v in views}) > 10


@pytest.mark.parametrize("bad", ["flip,flip", "mirror", "flip;rot90"])
def test_bad_augment_and_eval_views_settings_are_refused_naming_the_value(bad):
    with pytest.raises(ConfigError, match="augment"):
        parse_augment(bad)
    with pytest.raises(ValueError, match=r"augment.*" + bad.replace(";", ";")):
        TrainConfig.from_dict({"augment": bad})
    with pytest.raises(ValueError, match="eval_views.*'sideways'"):
        TrainConfig.from_dict({"eval_views": "sideways"})
    assert parse_augment("none") == () and eval_view_set("none") == [()]


def _config(**flat) -> TrainConfig:
    return TrainConfig.from_dict({"lora_r": 2, **flat})


def test_multi_view_embeddings_are_the_renormalised_mean_of_the_single_view_embeddings():
    torch.manual_seed(0)
    model = build_variant_model(_config(eval_views="flips"), CLIPS)
    clips = _clips(4).numpy()
    single = [embed_clips(model, np.stack([apply_view(torch.from_numpy(c), v).numpy() for c in clips]), views=[()])
              for v in EVAL_VIEWS["flips"]]
    mean = np.mean(single, axis=0)
    expected = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    np.testing.assert_allclose(embed_clips(model, clips), expected, atol=1e-5)  # the model's own eval_views
    assert not np.allclose(embed_clips(model, clips, views=[()]), expected, atol=1e-3)
    # the base is averaged over the same views
    features = backbone_features(_config(eval_views="flips"), clips)
    per_view = [backbone_features(_config(), np.stack([apply_view(torch.from_numpy(c), v).numpy() for c in clips]))
                for v in EVAL_VIEWS["flips"]]
    np.testing.assert_allclose(features, np.mean(per_view, axis=0), atol=1e-5)


def test_the_untrained_linear_probe_is_the_base_geometry_and_only_its_map_trains():
    torch.manual_seed(0)
    config = _config(variant="linear-probe", head_dropout=0.0)
    model = build_variant_model(config, CLIPS).eval()
    clips = _clips(5).numpy()
    base = backbone_features(config, clips)
    np.testing.assert_allclose(embed_clips(model, clips), base / np.linalg.norm(base, axis=1, keepdims=True),
                               atol=1e-5)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["head.weight", "head.bias"] and isinstance(model.head, IdentityLinear)
    assert float(model.head.distance_from_identity()) == 0.0  # at the identity
    with torch.no_grad():
        model.head.weight.add_(0.1)
    assert float(model.head.distance_from_identity()) == pytest.approx(0.01 * 64 * 64, rel=1e-5)


