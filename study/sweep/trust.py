"""Which experiment folders a --resume may run code from. Ray Tune's restore unpickles the folder's tuner.pkl,
its experiment and searcher state and the trials' pickles, so a folder is resumed only when

- it is this user's and no one else can write it (owner, mode, no symbolic links), and
- its state is the state this user's own sweep wrote: every file restore unpickles carries a keyed hash
  (HMAC-SHA256) in SIGNATURE_FILE, made with a key that lives in the user's config folder
  (~/.config/social-align/resume.key, created 0600; RESUME_KEY_ENV names another file). A folder copied or
  downloaded from elsewhere, or one whose state was edited since, is refused unless the user passes
  --trust-folder, after which the resumed sweep signs it as its own.

The sweep signs its folder whenever Tune writes state (study.sweep.signer); this module imports neither Ray
nor torch, so the checks run before either loads.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

from common.atomic import atomic_path
from common.errors import ConfigError

SIGNATURE_FILE = ".sweep-signature"
RESUME_KEY_ENV = "SOCIAL_ALIGN_RESUME_KEY"
TRUST_FLAG = "--trust-folder"
_UNSIGNED = {"best.json"}  # written by the sweep after Tune, read with json only


def key_path() -> Path:
    if os.environ.get(RESUME_KEY_ENV):
        return Path(os.environ[RESUME_KEY_ENV]).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "social-align" / "resume.key"


def resume_key(*, create: bool) -> bytes | None:
    """This user's signing key (made once, 0600, in a 0700 folder); None when absent and not created."""
    path = key_path()
    if not path.is_file():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
        except FileExistsError:  # another sweep made it just now
            pass
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: the resume key must be yours and private (chmod 600), owner uid "
                          f"{info.st_uid}, mode {stat.filemode(info.st_mode)}")
    return bytes.fromhex(path.read_text().strip())


def signed_files(folder: Path) -> list[Path]:
    """What Tune's restore reads besides JSON it only parses: the folder's *.pkl and *.json (tuner.pkl, the
    experiment and searcher state, sweep.json) and each trial's *.pkl."""
    top = [p for p in folder.iterdir() if p.suffix in (".pkl", ".json") and p.name not in _UNSIGNED]
    return sorted(p for p in (*top, *folder.glob("*/*.pkl")) if p.is_file() or p.is_symlink())


def _digest(key: bytes, name: str, path: Path) -> str:
    """HMAC of the file at `path`, bound to its name in the experiment folder."""
    mac = hmac.new(key, name.encode() + b"\0", hashlib.sha256)
    mac.update(path.read_bytes())
    return mac.hexdigest()


def fingerprint(folder: Path) -> tuple:
    """Cheap: changes whenever a signed file is added, removed or rewritten."""
    out = []
    for path in signed_files(folder):
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        out.append((path.name, path.parent.name, info.st_size, info.st_mtime_ns))
    return tuple(out)


def sign_folder(folder: str | Path, staging: str | Path | None = None) -> None:
    """Record this user's keyed hash of every file restore would unpickle (written whole, 0600). With
    `staging` (the local folder Tune writes its state into before copying it to `folder`, in the background),
    the state being copied is signed ahead of its copy, and the digests signed last are kept, so the folder
    verifies before, during and after the copy, whenever the sweep is killed."""
    folder = Path(folder)
    key = resume_key(create=True)
    record = {name: [d] if isinstance(d, str) else list(d) for name, d in _record(folder).items()}
    sources = [(folder, signed_files(folder))]
    if staging is not None and Path(staging).is_dir():
        sources.append((Path(staging), [p for p in Path(staging).iterdir() if p.suffix in (".pkl", ".json")]))
    for root, paths in sources:
        for path in paths:
            name = path.relative_to(root).as_posix()
            try:
                digest = _digest(key, name, path)
            except FileNotFoundError:  # Tune replaced it as we read; the next signing takes the new one
                continue
            record[name] = [digest, *[d for d in record.get(name, []) if d != digest]][:3]
    with atomic_path(folder / SIGNATURE_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        tmp.chmod(0o600)


def _record(folder: Path) -> dict:
    try:
        record = json.loads((folder / SIGNATURE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def check_signed(folder: Path, setting: str) -> None:
    """Refuse a folder whose restorable state is not what this user's sweep signed."""
    key = resume_key(create=False)
    how = (f"resuming runs code stored in the folder; if you trust where it came from, add {TRUST_FLAG}")
    try:
        record = json.loads((folder / SIGNATURE_FILE).read_text()) if key else None
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        raise ConfigError(f"{setting} {folder}: not signed by a sweep of this user (no valid {SIGNATURE_FILE}, "
                          f"or no key at {key_path()}): it may have been copied or downloaded; {how}")
    for path in signed_files(folder):
        name = path.relative_to(folder).as_posix()
        expected = record.get(name)
        expected = [expected] if isinstance(expected, str) else expected if isinstance(expected, list) else []
        actual = _digest(key, name, path)
        if path.is_symlink() or not any(isinstance(e, str) and hmac.compare_digest(e, actual) for e in expected):
            raise ConfigError(f"{setting} {folder}: {path} is not as this user's sweep wrote it (its keyed hash "
                              f"does not match {SIGNATURE_FILE}); {how}")


def check_owned(folder: Path, setting: str = "--resume") -> None:
    """Refuse a folder (or its Tune state) owned by another user or writable by group or others."""
    if not folder.is_dir():
        raise ConfigError(f"{setting} {folder}: no such folder")
    for path in (folder, *signed_files(folder)):
        info = path.lstat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or stat.S_ISLNK(info.st_mode):
            raise ConfigError(f"{setting} {folder}: {path} is not trusted (owner uid {info.st_uid}, mode "
                              f"{stat.filemode(info.st_mode)}); resuming runs code stored in the folder, so it "
                              "must be yours and writable by you alone (chmod go-w)")
