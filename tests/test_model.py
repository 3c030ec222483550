"""The LoRA TimeSformer embedder: backbone loading, adapter targets, head, checkpoints, embedding helpers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from peft import PeftModel

from data.clips import DecodeSettings
from trainables.checkpoint import load_train_state, save_checkpoint
from trainables.config import ModelConfig, TrainConfig
from trainables.embed import backbone_features, embed_clips, load_trained
from trainables.model import (
    PIXEL_MEAN, PIXEL_STD, build_model, load_backbone, normalise_clips, peft_backbone, trainable_parameters,
)

CLIPS = DecodeSettings(num_frames=8, image_size=64)  # what _clips makes


def _clips(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 3, 64, 64), dtype=np.uint8)


def _base_weights(backbone) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in backbone.parameters()])


def test_preset_rebuilds_the_same_base_weights_without_touching_the_callers_rng():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = load_backbone(ModelConfig(), CLIPS)
    assert torch.equal(torch.rand(1), expected_next)
    b = load_backbone(ModelConfig(), CLIPS)
    assert torch.equal(_base_weights(a), _base_weights(b))
    assert a.config.hidden_size == 64 and a.config.num_hidden_layers == 2


def test_local_save_pretrained_folder_loads(tmp_path):
    original = load_backbone(ModelConfig(), CLIPS)
    original.save_pretrained(tmp_path / "copy")
    loaded = load_backbone(ModelConfig(backbone=str(tmp_path / "copy")), CLIPS)
    assert torch.equal(_base_weights(loaded), _base_weights(original))


def test_missing_backbone_says_what_was_tried_and_how_to_point_at_a_copy(tmp_path):
    with pytest.raises(ValueError, match=r"no folder with config\.json.*save_pretrained.*tiny"):
        load_backbone(ModelConfig(backbone=str(tmp_path / "absent")), CLIPS)


@pytest.mark.parametrize("targets, per_layer", [
    ("qkv,attn_out,mlp_in,mlp_out,temporal_dense",
     {"attention.attention.qkv", "attention.output.dense", "intermediate.dense", "output.dense",
      "temporal_attention.attention.qkv", "temporal_attention.output.dense", "temporal_dense"}),
    ("qkv", {"attention.attention.qkv", "temporal_attention.attention.qkv"}),
    ("mlp_out,temporal_dense", {"output.dense", "temporal_dense"}),
])
def test_lora_targets_are_exactly_the_named_linear_layers(targets, per_layer):
    model = build_model(ModelConfig(lora_targets=targets), CLIPS)
    adapted = {name.split("encoder.layer.")[1] for name, module in peft_backbone(model).named_modules()
               if hasattr(module, "lora_A")}
    assert adapted == {f"{layer}.{suffix}" for layer in (0, 1) for suffix in per_layer}


def test_only_adapters_and_head_train():
    model = build_model(ModelConfig(lora_r=4), CLIPS)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or n.startswith("head.") for n in names)
    assert any(n.startswith("head.") for n in names)
    assert sum(p.numel() for p in trainable_parameters(model)) < 0.25 * sum(p.numel() for p in model.parameters())


def test_embeddings_are_unit_length_and_pixels_are_normalised_once():
    x = torch.full((1, 8, 3, 4, 4), round(PIXEL_MEAN * 255), dtype=torch.uint8)
    assert normalise_clips(x).abs().max().item() < 0.5 / 255 / PIXEL_STD + 1e-6
    model = build_model(ModelConfig(), CLIPS).eval()
    out = model(torch.from_numpy(_clips(3)))
    assert out.shape == (3, 128) and out.dtype == torch.float32
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    assert (out >= 0).all()  # ReLU before the L2 normalisation, as in the paper


def test_gradient_checkpointing_gives_the_same_gradients():
    clips = torch.from_numpy(_clips(2))
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        config = ModelConfig(gradient_checkpointing=checkpointing, lora_dropout=0.0, head_dropout=0.0)
        model = build_model(config, CLIPS)
        with torch.no_grad():  # non-zero B so gradients reach the A matrices too
            for p in trainable_parameters(model):
                p.add_(0.01)
        model(clips).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in trainable_parameters(model)]))
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_checkpoint_round_trip_in_peft_and_safetensors_formats(tmp_path):
    config = TrainConfig.from_dict({"lora_r": 4, "head_dropout": 0.0, "prepared_dir": "somewhere"})
    torch.manual_seed(0)
    model = build_model(config.model, CLIPS)
    with torch.no_grad():
        for p in trainable_parameters(model):
            p.add_(torch.randn_like(p) * 0.05)
    state = {"epoch": 3, "optimizer": {"lr": torch.tensor([0.1])}}
    folder = save_checkpoint(tmp_path / "ckpt", model, config, state)
    assert sorted(p.name for p in folder.iterdir()) == ["adapter", "config.json", "head.safetensors",
                                                        "preprocessing.json", "train_state.pt"]
    clips = _clips(4, seed=1)
    loaded, loaded_config = load_trained(folder)
    assert loaded_config == config
    np.testing.assert_allclose(embed_clips(loaded, clips), embed_clips(model, clips), atol=1e-6)
    assert load_train_state(folder)["epoch"] == 3
    peft_loaded = PeftModel.from_pretrained(load_backbone(config.model, CLIPS), str(folder / "adapter"))
    assert isinstance(peft_loaded, PeftModel)


def test_a_checkpoint_whose_config_carried_the_clip_settings_loads_at_its_own(tmp_path):
    """Checkpoints written before the prepared folder was the one source held them in config.json (and the
    oldest had no preprocessing.json): they load, built for those clips."""
    config = TrainConfig.from_dict({"lora_r": 4, "prepared_dir": "somewhere"})
    small = DecodeSettings(num_frames=4, image_size=32)
    folder = save_checkpoint(tmp_path / "ckpt", build_model(config.model, small), config)
    old = {**json.loads((folder / "config.json").read_text()), "num_frames": 4, "image_size": 32,
           "frame_sampling": "centres", "resize": "crop"}
    (folder / "config.json").write_text(json.dumps(old))
    (folder / "preprocessing.json").unlink()
    loaded, loaded_config = load_trained(folder)
    assert loaded.decode == small and loaded_config == config


def test_backbone_features_are_the_base_cls_without_adapters():
    clips = _clips(3)
    features = backbone_features(ModelConfig(), clips, batch_size=2)
    assert features.shape == (3, 64)
    base = load_backbone(ModelConfig(), CLIPS).eval()
    with torch.no_grad():
        cls = base(pixel_values=normalise_clips(torch.from_numpy(clips))).last_hidden_state[:, 0].numpy()
    np.testing.assert_allclose(features, cls, atol=1e-5)
