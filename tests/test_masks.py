"""Where the agents are: the synthetic world's masks mark the pixels it draws agents on, in both visual domains,
and follow the clips through decoding (frame sampling, resize, crop) pixel for pixel."""
from __future__ import annotations

import json

import numpy as np
import pytest

from data.clips import DecodeSettings, clip_masks, decode_clip, load_clips, write_clip
from data.judgments import video_names
from data.masks import load_clip_masks, masks_missing
from study.synthetic.command import main as synthetic_main
from study.synthetic.config import DOMAINS
from study.synthetic.domain import render
from study.synthetic.world import sample_latents, sample_nuisance


def _world(n: int, strength: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = sample_latents(rng, n, 0.15)
    z[:, 3] = 0.0  # no communication: no turn halo around the agents
    return z, sample_nuisance(rng, n, strength)


@pytest.mark.parametrize("domain", DOMAINS)
def test_masks_mark_exactly_the_pixels_the_agents_change(domain):
    """Two videos on the same scene (same nuisance), agents elsewhere: where neither has an agent the frames are
    equal; where only the first has one fully, they differ."""
    z, nu = _world(2)
    (fa, ma), (fb, mb) = (render(domain, z[k], nu.iloc[0], 8, 64) for k in (0, 1))
    empty = (ma == 0) & (mb == 0)
    assert (fa[empty] == fb[empty]).all()
    only_a = (ma == 1) & (mb == 0)
    assert only_a.sum() > 100
    assert (np.abs(fa[only_a].astype(int) - fb[only_a].astype(int)).max(axis=1) > 20).mean() > 0.97


@pytest.mark.parametrize("settings", [DecodeSettings(num_frames=5, image_size=24),
                                      DecodeSettings(num_frames=6, image_size=32, frame_sampling="linspace"),
                                      DecodeSettings(num_frames=4, image_size=20, resize="squash")])
def test_masks_follow_the_decoded_frames(tmp_path, settings):
    """Masks drawn as white on black, written as video and decoded the way clips are, match clip_masks of the
    same masks; the masks of neighbouring frames, or shifted a pixel, match worse."""
    z, nu = _world(1, strength=1.0, seed=3)
    _, masks = render("default", z[0], nu.iloc[0], 16, 64)
    masks = masks[:, 8:56]  # 48 x 64: the short-side resize and the centre crop both matter
    path = write_clip(tmp_path / "m.mp4", np.repeat((masks * 255).round().astype(np.uint8)[..., None], 3, -1))
    decoded = decode_clip(path, settings).mean(axis=1) / 255.0
    aligned = clip_masks(masks, settings)
    assert aligned.shape == decoded.shape
    error = np.abs(aligned - decoded).mean()
    assert error < 0.03
    shifted = np.abs(np.roll(aligned, 1, axis=2) - decoded).mean()
    other_frames = np.abs(clip_masks(masks[::-1].copy(), settings) - decoded).mean()
    assert shifted > 1.5 * error and other_frames > 2 * error


def test_the_benchmark_writes_masks_and_the_data_layer_reads_them_aligned(synthetic_dir, real_data_dir):
    names = list(video_names(synthetic_dir))[:3]
    settings = DecodeSettings(num_frames=4, image_size=32)
    masks = load_clip_masks(synthetic_dir, names, settings)
    assert masks.shape == load_clips(synthetic_dir, names, settings).shape[:2] + (32, 32)
    assert 0.02 < masks.mean() < 0.5 and masks.max() == 1.0
    assert masks_missing(synthetic_dir) is None
    assert "real videos" in masks_missing(real_data_dir)


def test_the_out_of_distribution_domain_is_one_flag(tmp_path, capsys):
    assert synthetic_main(["--out", str(tmp_path / "ood"), "--tiny", "--domain", "shapes"]) == 0
    config = json.loads((tmp_path / "ood" / "ground_truth" / "config.json").read_text())
    assert config["domain"] == "shapes" and (tmp_path / "ood" / "ground_truth" / "agent_masks.npz").is_file()
    with pytest.raises(SystemExit) as exit_:
        synthetic_main(["--out", str(tmp_path / "bad"), "--tiny", "--domain", "cartoon"])
    assert exit_.value.code == 2 and not (tmp_path / "bad").exists()
    assert "--domain must be one of" in capsys.readouterr().err
