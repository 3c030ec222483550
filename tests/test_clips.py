"""Decode round trip (PyAV writes, decord reads) and the decode-once clip cache: reuse, invalidation, refusal."""
from __future__ import annotations

import os
import shutil

import decord
import numpy as np
import pytest

import data.clips as clips
from data.clips import DecodeSettings, decode_clip, frame_indices, load_clips, write_clip
from common.errors import ConfigError, DataError

N_FRAMES = 12


def _frames(seed: int, height: int = 48, width: int = 80) -> np.ndarray:
    """A flat frame whose brightness encodes the frame number, plus a seeded colour per clip."""
    frames = np.zeros((N_FRAMES, height, width, 3), np.uint8)
    frames[..., 0] = (np.arange(N_FRAMES) * 20)[:, None, None]
    frames[..., 1] = 40 * seed
    return frames


@pytest.fixture()
def video_dir(tmp_path):
    for seed in range(3):
        write_clip(tmp_path / "videos" / f"v{seed}.mp4", _frames(seed), fps=4)
    return tmp_path


@pytest.fixture()
def decode_counter(monkeypatch):
    calls = []
    real = clips.decode_clip

    def counting(path, settings):
        calls.append(path.name)
        return real(path, settings)

    monkeypatch.setattr(clips, "decode_clip", counting)
    return calls


def test_round_trip_frame_count_shape_dtype_and_uniform_sampling(video_dir):
    path = video_dir / "videos" / "v1.mp4"
    assert len(decord.VideoReader(str(path))) == N_FRAMES
    clip = decode_clip(path, DecodeSettings(num_frames=6, image_size=32))
    assert clip.shape == (6, 3, 32, 32) and clip.dtype == np.uint8
    # Red channel = 20 * frame number, so the sampled frames are readable back (lossy codec: +-6).
    expected = frame_indices(N_FRAMES, 6) * 20
    np.testing.assert_allclose(clip[:, 0, 16, 16], expected, atol=6)
    np.testing.assert_allclose(clip[:, 1].mean(axis=(1, 2)), 40, atol=6)


def test_frame_indices_span_the_clip_and_repeat_when_short():
    assert frame_indices(16, 8).tolist() == [1, 3, 5, 7, 9, 11, 13, 15]
    assert frame_indices(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_cache_is_reused_in_order_and_memory_mapped(video_dir, tmp_path, decode_counter):
    settings = DecodeSettings(num_frames=4, image_size=16)
    names = ["v2.mp4", "v0.mp4", "v1.mp4"]
    first = load_clips(video_dir, names, settings, cache_dir=tmp_path / "cache")
    assert decode_counter == names
    second = load_clips(video_dir, names, settings, cache_dir=tmp_path / "cache")
    assert decode_counter == names, "second call must decode nothing"
    assert isinstance(second, np.memmap) and second.shape == (3, 4, 3, 16, 16)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(second[:, 0, 1].mean(axis=(1, 2)), [80, 0, 40], atol=6)


def test_cache_invalidated_by_settings_and_by_changed_source(video_dir, tmp_path, decode_counter):
    cache = tmp_path / "cache"
    load_clips(video_dir, ["v0.mp4", "v1.mp4"], DecodeSettings(4, 16), cache_dir=cache)
    other = load_clips(video_dir, ["v0.mp4", "v1.mp4"], DecodeSettings(2, 16), cache_dir=cache)
    assert other.shape == (2, 2, 3, 16, 16) and len(decode_counter) == 4
    write_clip(video_dir / "videos" / "v1.mp4", _frames(5), fps=4)  # same name, new content
    os.utime(video_dir / "videos" / "v1.mp4", ns=(1, 1))  # a different mtime even on coarse clocks
    fresh = load_clips(video_dir, ["v0.mp4", "v1.mp4"], DecodeSettings(4, 16), cache_dir=cache)
    assert len(decode_counter) == 6
    assert abs(float(fresh[1, :, 1].mean()) - 200) < 8


def test_cache_built_with_other_settings_is_refused(video_dir, tmp_path):
    cache = tmp_path / "cache"
    load_clips(video_dir, ["v0.mp4"], DecodeSettings(4, 16), cache_dir=cache)
    (built_a,) = cache.glob("clips-*.npy")
    load_clips(video_dir, ["v0.mp4"], DecodeSettings(8, 16), cache_dir=cache)
    (built_b,) = set(cache.glob("clips-*.npy")) - {built_a}
    for suffix in (".npy", ".json"):  # plant A's cache where B's key points
        shutil.copy(built_a.with_suffix(suffix), built_b.with_suffix(suffix))
    with pytest.raises(DataError, match=rf"{built_b.name}.*num_frames.*4.*delete it"):
        load_clips(video_dir, ["v0.mp4"], DecodeSettings(8, 16), cache_dir=cache)


def test_interrupted_build_leaves_nothing_a_later_run_trusts(video_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    real = clips.decode_clip

    def dies_on_second(path, settings):
        if path.name == "v1.mp4":
            raise KeyboardInterrupt
        return real(path, settings)

    monkeypatch.setattr(clips, "decode_clip", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        load_clips(video_dir, ["v0.mp4", "v1.mp4"], DecodeSettings(4, 16), cache_dir=cache)
    assert list(cache.glob("*.npy")) == []
    monkeypatch.setattr(clips, "decode_clip", real)
    out = load_clips(video_dir, ["v0.mp4", "v1.mp4"], DecodeSettings(4, 16), cache_dir=cache)
    assert out.shape == (2, 4, 3, 16, 16)


@pytest.mark.parametrize(
    "content, message",
    [(None, "not found"), (b"", "empty"), (b"not a video" * 50, "cannot decode"), ("truncated", "cannot decode")],
)
def test_bad_video_file_names_the_file(video_dir, tmp_path, content, message):
    bad = video_dir / "videos" / "bad.mp4"
    if content == "truncated":
        data = (video_dir / "videos" / "v0.mp4").read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif content is not None:
        bad.write_bytes(content)
    with pytest.raises(DataError, match=rf"bad\.mp4: .*{message}"):
        decode_clip(bad, DecodeSettings())
    with pytest.raises(DataError, match=r"bad\.mp4"):
        load_clips(video_dir, ["v0.mp4", "bad.mp4"], DecodeSettings(), cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").glob("*.npy")) == []


@pytest.mark.parametrize("kwargs", [{"num_frames": 0}, {"image_size": 4}, {"num_frames": 2.5}, {"image_size": True}])
def test_bad_decode_settings_name_the_field_and_value(kwargs):
    (name, value), = kwargs.items()
    with pytest.raises(ConfigError, match=rf"DecodeSettings\.{name} .*{value!r}"):
        DecodeSettings(**kwargs)
