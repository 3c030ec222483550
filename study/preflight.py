"""Check, before Ray starts, everything a sweep will read: each video any split needs (train, validation and
the test videos the final analysis embeds) exists and opens, the judgments, captions and annotations the
analysis reads are there and valid, the backbone resolves, and the storage folder is writable.

A bad input fails here in a second, with one line naming the file (and row) or the setting, instead of
after hours of trials. Nothing is started and nothing is written: the storage check writes a probe file
in a folder that already exists and removes it.
"""
from __future__ import annotations

import socket
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.errors import ConfigError, DataError
from common.storage import check_storage
from data.clips import DecodeSettings
from data.judgments import MAPPING_FILE, TRIPLETS_FILE, load_judgments
from data.splits import paper_split, random_split, split_triplets
from search_spaces import SYNTHETIC_CLIPS
from trainables.backbone_source import FOLDER_HINT, check_folder, is_local_backbone, never_a_preset


@dataclass(frozen=True)
class PreflightReport:
    """What the preflight checked and how long it took."""
    n_videos: int
    analysis_files: bool
    seconds: float

    def line(self) -> str:
        extra = ", captions, annotations" if self.analysis_files else ""
        return (f"preflight: {self.n_videos} videos open, judgments{extra}, backbone and storage ok "
                f"({self.seconds:.2f} s)")


def preflight(data_dir: str | Path, *, split: str = "paper", seed: int = 0, analysis: bool = True,
              storage: str | None = None, storage_setting: str = "--storage-path") -> PreflightReport:
    """Every data and storage check above, cheapest first; DataError or ConfigError on the first failure.

    analysis: also the test videos (in a paper split they are trained on by nobody), captions.csv and
    annotations.csv. The backbones are the caller's to check after it (check_backbone: it imports torch, and
    only the caller knows the space's backbones and clip shape: study.sweep.plan).
    """
    start = time.perf_counter()
    if storage is not None:
        check_writable(storage, setting=storage_setting)
    data_dir = Path(data_dir)
    j = load_judgments(data_dir)
    chosen = (paper_split if split == "paper" else random_split)(j, seed=seed)
    check_split_triplets(data_dir, j, chosen, split=split, seed=seed, test=analysis)
    ids = sorted(set(chosen.train) | set(chosen.val) | (set(chosen.test) if analysis else set()))
    if analysis:  # two tables: cheaper than opening every video
        _check_analysis_files(data_dir, j.video_names)
    rows = _mapping_rows(data_dir)
    for i in ids:
        check_video(data_dir / "videos" / j.video_names[i], where=f"{MAPPING_FILE} row {rows[j.video_names[i]]}")
    return PreflightReport(len(ids), analysis, time.perf_counter() - start)


def check_split_triplets(data_dir: Path, j, chosen, *, split: str, seed: int, test: bool) -> None:
    """Each part the sweep trains, validates (and, with the analysis, tests) on holds at least one triplet
    whose three videos all fall in it; an empty validation set would train and report NaN as the best."""
    parts = split_triplets(j, chosen)
    for name in ("train", "val", "test") if test else ("train", "val"):
        if not len(getattr(parts, name)):
            raise DataError(f"{data_dir / TRIPLETS_FILE}: no {name} triplet in the {split} split (seed {seed}): "
                            f"none of the {len(j)} valid triplets has all three videos among the "
                            f"{len(getattr(chosen, name))} {name} videos")


def check_video(path: Path, *, where: str = "") -> None:
    """The file exists and its container header names a video stream: PyAV opens it, reads no frame."""
    import av

    suffix = f" ({where})" if where else ""
    if not path.is_file():
        raise DataError(f"{path}: video file not found{suffix}")
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0] if container.streams.video else None
            if stream is None or not stream.codec_context.width:
                raise DataError(f"{path}: no video stream in the file{suffix}")
    except av.FFmpegError as err:
        raise DataError(f"{path}: not a readable video ({type(err).__name__}: {err.strerror}){suffix}") from None
    except OSError as err:
        raise DataError(f"{path}: cannot open ({err.strerror}){suffix}") from None


def _mapping_rows(data_dir: Path) -> dict[str, int]:
    """Video name -> 1-based data row of video_mapping.csv (already validated by load_judgments)."""
    names = pd.read_csv(data_dir / MAPPING_FILE, dtype=str, keep_default_na=False)["video_name"]
    return {name: row + 1 for row, name in enumerate(names)}


def _check_analysis_files(data_dir: Path, video_names) -> None:
    """captions.csv has a caption for every video; annotations.csv a rating row for every video."""
    from data.annotations import read_captions, read_ratings

    try:
        captions = read_captions(data_dir)
        read_ratings(data_dir, video_names)
    except (FileNotFoundError, ValueError) as err:
        raise DataError(str(err)) from None
    captioned = set(captions["video_name"].astype(str))
    missing = [name for name in video_names if name not in captioned]
    if missing:
        raise DataError(f"{data_dir / 'captions.csv'}: no caption for {len(missing)} video(s), e.g. "
                        f"{missing[0]!r}")


def check_writable(storage: str, *, setting: str = "--storage-path") -> None:
    """A local folder we can create files in (or create, under an existing writable folder); URIs are
    probed by writing and deleting a marker object. The probe file is removed; no folder is created here."""
    shown = storage
    if "://" in storage:
        local = check_storage(storage, setting=setting)  # a bucket: a bounded probe (common.storage)
        if local is None:
            return
        storage = str(local)
    path = Path(storage).expanduser().resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise ConfigError(f"{setting} {shown}: not writable ({existing} is not a folder)")
    probe = existing / f".write-test-{uuid.uuid4().hex}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"{setting} {shown}: not writable ({err.strerror})") from None


def check_backbone_source(backbone: str) -> None:
    """The half of check_backbone that needs neither torch nor the family registry, for a name that can only be
    a local folder or a hub id (trainables.backbone_source.never_a_preset): the folder holds config.json and
    whole safetensors files, or the hub id is in the local cache or on a reachable hub. Other names (presets,
    the synthetic backbone, a bare folder name) are check_backbone's. Cheap, so a sweep runs it first."""
    if not never_a_preset(backbone):
        return
    if is_local_backbone(backbone):
        _check_weights(check_folder(backbone))
    else:
        _check_hub_backbone(backbone, hint=FOLDER_HINT + ".")


def check_backbone(backbone: str, *, decode: DecodeSettings | None = None) -> None:
    """A preset, a local folder with config.json (or the synthetic pretrained backbone, which study.pretrain
    builds), or a hub id found in the cache or on a reachable hub; with `decode`, the clips the trials will
    train on, also that the backbone takes them: trainables.backbones.check_fits, the one check where clip
    settings meet a backbone (the synthetic backbone takes only the clips it is pretrained for,
    search_spaces.SYNTHETIC_CLIPS). "Local folder" is the trainer's own rule (is_local_backbone)."""
    from study.pretrain import BACKBONE_NAME  # imports torch, as the check does
    from trainables.backbones import HOW_TO_POINT, check_fits, presets

    if backbone == BACKBONE_NAME:
        _check_synthetic(backbone, decode)
        return
    if backbone not in presets():  # a preset's name means the preset, whatever folder here shares it
        if not is_local_backbone(backbone):
            _check_hub_backbone(backbone, hint=HOW_TO_POINT)
        else:
            _check_weights(check_folder(backbone, hint=HOW_TO_POINT))
    if decode is not None:
        check_fits(backbone, decode)


def _check_synthetic(backbone: str, decode: DecodeSettings | None) -> None:
    """Its weights learned these frames and this size; it is not fitted to others."""
    for key, value in SYNTHETIC_CLIPS.items():
        if decode is not None and getattr(decode, key) != value:
            raise ConfigError(f"backbone {backbone!r} is pretrained at {key}={value}, got {key}={getattr(decode, key)}")


def _check_weights(folder: Path) -> None:
    """Each safetensors file's header is read and its tensors must fit in the file (a truncated copy fails)."""
    from safetensors import SafetensorError, safe_open

    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="numpy") as weights:
                weights.keys()
        except (SafetensorError, OSError, ValueError) as err:
            raise ConfigError(f"backbone {str(folder)!r}: {path} is not a whole safetensors file ({err})") from None


def _check_hub_backbone(backbone: str, *, hint: str) -> None:
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(backbone, "config.json"), str):
        return
    host = urllib.parse.urlparse(constants.ENDPOINT).hostname
    try:  # one quick probe: the hub client's own retries would take a minute to say the same
        socket.create_connection((host, 443), timeout=5).close()
        from transformers import AutoConfig

        AutoConfig.from_pretrained(backbone)
    except Exception as err:  # noqa: BLE001 - any failure means trials could not load it either
        raise ConfigError(f"backbone {backbone!r}: not in the local Hugging Face cache and not loadable from "
                          f"{host} ({type(err).__name__}: {err}). {hint}") from None

