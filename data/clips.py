"""Decode each video once: uniform frames, resized for the model, cached on disk as a memory-mapped .npy.

Training and evaluation read `load_clips(...)` and never touch video. The cache is keyed by the source files
(names, sizes, mtimes) and the decode settings, so a changed file or changed settings builds a new cache;
it is written to a temporary name and renamed, so an interrupted build never leaves a file a later run trusts.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from common.atomic import atomic_path
from common.cache import cache_root, room_for
from common.errors import ConfigError, DataError

_CACHE_VERSION = 1  # bump when the decoded pixels would change for the same key (resize rule, sampling)


@dataclass(frozen=True)
class DecodeSettings:
    """How a video becomes a model input."""

    num_frames: int = field(
        default=8, metadata={"help": "frames sampled uniformly over the clip (TimeSformer-K400 uses 8)"}
    )
    image_size: int = field(
        default=64, metadata={"help": "side of the square frame in pixels, after short-side resize and centre crop"}
    )
    frame_sampling: str = field(
        default="centres", metadata={"help": "'centres' of num_frames equal segments (ours) or 'linspace': "
                                             "np.linspace(0, n - 1, num_frames) (the authors' code)"}
    )
    resize: str = field(
        default="crop", metadata={"help": "'crop': short side to image_size, then a centre crop (ours); 'squash': "
                                          "both sides to image_size, aspect ratio lost (the authors' code)"}
    )

    def __post_init__(self):
        for name, low in (("num_frames", 1), ("image_size", 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"DecodeSettings.{name} must be an integer >= {low}, got {value!r}")
        for name, choices in (("frame_sampling", FRAME_SAMPLINGS), ("resize", RESIZES)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"DecodeSettings.{name} must be one of {choices}, got {getattr(self, name)!r}")

    def key(self) -> dict:
        """The settings that name a cache; today's defaults are left out so folders built before these two
        options existed keep their keys (their pixels are the same)."""
        doc = asdict(self)
        for name, default in (("frame_sampling", "centres"), ("resize", "crop")):
            if doc[name] == default:
                del doc[name]
        return doc


DECODE_KEYS = tuple(f.name for f in fields(DecodeSettings))  # the settings (and trial keys) that shape the clips


def default_cache_root() -> Path:
    """The one cache root (common.cache), shared with the prepared folders and the synthetic benchmark."""
    return cache_root()


FRAME_SAMPLINGS = ("centres", "linspace")
RESIZES = ("crop", "squash")


def frame_indices(n_available: int, num_frames: int, method: str = "centres") -> np.ndarray:
    """'centres': centres of `num_frames` equal segments of the clip, so the sample spans it evenly (repeats if
    short); 'linspace': np.linspace(0, n - 1, num_frames) truncated, first and last frame included (the authors')."""
    if method == "linspace":
        return np.linspace(0, n_available - 1, num_frames).astype(np.int64)
    if method != "centres":
        raise ValueError(f"unknown frame sampling {method!r}; expected one of {FRAME_SAMPLINGS}")
    return ((np.arange(num_frames) + 0.5) * n_available / num_frames).astype(np.int64)


def decode_clip(path: str | Path, settings: DecodeSettings = DecodeSettings()) -> np.ndarray:
    """Decode `settings.num_frames` uniform frames -> uint8 (T, 3, H, W), H = W = settings.image_size.

    'crop': short side resized to image_size by decord while decoding, then a centre crop (keeps aspect ratio);
    'squash': both sides resized to image_size by decord. A missing, empty or undecodable file raises DataError naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: video file is empty")
    import decord  # heavy; imported only where video is really read

    try:
        size = {}  # 'squash': decoded at full size, resized below (decord fails when the aspect ratio changes)
        if settings.resize == "crop":
            new_w, new_h = _short_side_size(*_probe_size(decord, path), settings.image_size)
            size = {"width": new_w, "height": new_h}
        reader = decord.VideoReader(str(path), num_threads=1, **size)
        if len(reader) == 0:
            raise DataError(f"{path}: video has no frames")
        indices = frame_indices(len(reader), settings.num_frames, settings.frame_sampling)
        frames = reader.get_batch(indices.tolist()).asnumpy()
    except (RuntimeError, decord.DECORDError) as err:
        raise DataError(f"{path}: cannot decode video ({str(err).splitlines()[0][:120]})") from None
    sized = _squash(frames, settings.image_size) if settings.resize == "squash" else \
        _center_crop(frames, settings.image_size)
    return np.ascontiguousarray(sized.transpose(0, 3, 1, 2))


def clip_masks(masks: np.ndarray, settings: DecodeSettings = DecodeSettings()) -> np.ndarray:
    """A video's per-frame masks (T0, H0, W0) in [0, 1] -> float32 (T, S, S) aligned with `decode_clip`'s frames
    of the same video: the same frame indices and the same resize (and crop) geometry, bilinear on coverage."""
    from PIL import Image

    masks = np.asarray(masks, dtype=np.float32)
    picked = masks[frame_indices(len(masks), settings.num_frames, settings.frame_sampling)]
    height, width = masks.shape[1:]
    size = (settings.image_size,) * 2 if settings.resize == "squash" else \
        _short_side_size(width, height, settings.image_size)
    resized = np.stack([np.asarray(Image.fromarray(m, mode="F").resize(size, Image.BILINEAR)) for m in picked])
    if settings.resize == "squash":
        return np.clip(resized, 0.0, 1.0)
    return np.clip(_center_crop(resized[..., None], settings.image_size)[..., 0], 0.0, 1.0)


def _squash(frames: np.ndarray, size: int) -> np.ndarray:
    """frames: (T, H, W, 3) -> (T, size, size, 3), bilinear with antialiasing (PIL, as torchvision's Resize)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in frames])


def _probe_size(decord, path: Path) -> tuple[int, int]:
    height, width = decord.VideoReader(str(path), num_threads=1)[0].shape[:2]
    return width, height


def _short_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    scale = size / min(width, height)
    return max(size, round(width * scale)), max(size, round(height * scale))


def _center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """frames: (T, H, W, 3) with min(H, W) >= size -> (T, size, size, 3)."""
    top = (frames.shape[1] - size) // 2
    left = (frames.shape[2] - size) // 2
    return frames[:, top : top + size, left : left + size]


def load_clips(
    data_dir: str | Path,
    video_names: Sequence[str],
    settings: DecodeSettings = DecodeSettings(),
    *,
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """Memory-mapped uint8 (n_videos, T, 3, H, W), rows in the order of `video_names`.

    Videos are read from `data_dir/videos/<video_name>`; the cache lives in `cache_dir`
    (default `default_cache_root()/clips`) and is reused while its key (files + settings) matches.
    """
    sources = [Path(data_dir) / "videos" / name for name in video_names]
    key_doc = _cache_key_doc(sources, settings)
    key = hashlib.sha256(json.dumps(key_doc, sort_keys=True).encode()).hexdigest()[:24]
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_root() / "clips"
    target = cache_dir / f"clips-{key}.npy"
    if not target.exists():
        with room_for(cache_dir, needed=len(sources) * settings.num_frames * 3 * settings.image_size ** 2):
            _build_cache(sources, settings, target, key_doc)
    return _open_checked(target, len(sources), settings)


def _cache_key_doc(sources: list[Path], settings: DecodeSettings) -> dict:
    files = []
    for path in sources:
        if not path.is_file():
            raise DataError(f"{path}: video file not found")
        stat = path.stat()
        files.append([path.name, stat.st_size, stat.st_mtime_ns])
    return {"version": _CACHE_VERSION, "settings": settings.key(), "files": files}


def _build_cache(sources: list[Path], settings: DecodeSettings, target: Path, key_doc: dict) -> None:
    """Decode every source into a temporary .npy, then rename it into place (the sidecar goes first)."""
    shape = (len(sources), settings.num_frames, 3, settings.image_size, settings.image_size)
    with atomic_path(target) as tmp:
        out = allocated_memmap(tmp, shape)
        for row, path in enumerate(sources):
            out[row] = decode_clip(path, settings)
        out.flush()
        del out
        _write_json_atomic(_sidecar(target), key_doc)


def allocated_memmap(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A new uint8 .npy of `shape` memory-mapped for writing, its disk space taken before the first write: a
    page the disk cannot hold would otherwise kill the process with SIGBUS (no message, temporary files left);
    here a full disk is an OSError naming the file, before anything is written."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    if hasattr(os, "posix_fallocate"):  # not on macOS, whose filesystems allocate what a mapping writes
        try:
            with open(path, "r+b") as file:
                os.posix_fallocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)
        except OSError as err:
            if err.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a filesystem that cannot: it allocates as written
                return out
            del out
            raise OSError(err.errno, err.strerror, str(path)) from None
    return out


def _open_checked(target: Path, n_videos: int, settings: DecodeSettings) -> np.ndarray:
    """Open the cache read-only; one built with other decode settings is refused, never returned."""
    try:
        built_with = json.loads(_sidecar(target).read_text())["settings"]
        clips = np.load(target, mmap_mode="r")
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{target}: unreadable clip cache ({err}); delete it to rebuild") from None
    expected = (n_videos, settings.num_frames, 3, settings.image_size, settings.image_size)
    if built_with != settings.key() or clips.shape != expected or clips.dtype != np.uint8:
        raise DataError(
            f"{target}: clip cache was built with decode settings {built_with} and shape {clips.shape}, "
            f"not {settings.key()} and {expected}; delete it to rebuild"
        )
    return clips


def write_clip(path: str | Path, frames: np.ndarray, *, fps: float | Fraction = 8, crf: int = 12,
               lossless: bool = False) -> Path:
    """Write RGB uint8 frames (T, H, W, 3), H and W even, as H.264 .mp4 with PyAV (decord cannot write).

    x264 pinned to one thread, its lookahead too; even so its lossy bytes are not always repeatable here (1 clip
    write in about 30 decodes a few levels apart from another of the same frames). lossless=True writes H.264 at
    qp 0 in full-resolution colour (yuv444p, High 4:4:4): the only loss is the RGB -> YUV rounding (at most 2
    levels), which is deterministic, so every write decodes to the same pixels (docs/synthetic.md gives the disk
    cost). libx264rgb would keep RGB exactly, but decord cannot resize its frames while decoding. Temp name then
    rename.
    """
    import av

    path = Path(path)
    frames = np.asarray(frames)
    odd_size = frames.ndim != 4 or frames.shape[3] != 3 or frames.shape[1] % 2 or frames.shape[2] % 2
    if frames.dtype != np.uint8 or odd_size:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) with even H, W; got {frames.dtype} {frames.shape}")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv444p" if lossless else "yuv420p"
            stream.options = {**({"qp": "0"} if lossless else {"crf": str(crf)}), "preset": "veryfast",
                              "threads": "1", "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0"}
            stream.codec_context.thread_count = 1
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    return path


def _sidecar(target: Path) -> Path:
    return target.with_suffix(".json")


def _write_json_atomic(path: Path, doc: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, sort_keys=True, indent=1))
