"""Where a backbone's configuration and weights come from, decided without importing torch or transformers (the
backbone families, trainables.backbones, import both): the one rule for "this names a local folder" (else a hub
id), what from_pretrained is given, and whether a name can only be a folder or a hub id (no preset's name can:
tests/test_backbones.py holds it), so that a sweep can refuse a missing folder before anything heavy loads."""
from __future__ import annotations

from pathlib import Path

from common.errors import ConfigError

FOLDER_HINT = ("Set backbone to a local copy saved with <ModelClass>.from_pretrained(hub_id).save_pretrained(DIR) "
               "on a machine with internet, or to a preset")


def is_local_backbone(backbone: str) -> bool:
    """The one rule for "this backbone names a local folder" (else a hub id): it exists, starts like a path,
    or has more slashes than `org/name`."""
    return (Path(backbone).expanduser().exists() or backbone.startswith((".", "/", "~"))
            or backbone.count("/") > 1)


def backbone_source(backbone: str) -> str:
    """What from_pretrained is given: the expanded folder for a local backbone, else the hub id."""
    return str(Path(backbone).expanduser()) if is_local_backbone(backbone) else backbone


def never_a_preset(backbone: str) -> bool:
    """A name with a '/' or that starts like a path names a folder or a hub id, whatever presets exist."""
    return "/" in backbone or backbone.startswith((".", "~"))


def check_folder(backbone: str, *, hint: str = FOLDER_HINT + ".") -> Path:
    """The local backbone's folder, which must hold config.json; ConfigError naming the backbone otherwise."""
    folder = Path(backbone_source(backbone))
    if not (folder / "config.json").is_file():
        raise ConfigError(f"backbone {backbone!r}: no folder with config.json there. {hint}")
    return folder
