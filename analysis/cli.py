"""The options both analysis commands share (`python -m analysis`, `python -m analysis.human`), built from the
settings dataclasses' own field help, so the two command lines cannot drift apart."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from analysis.language import COMBINE
from analysis.suite import EV_METHODS, RDM_METHODS, SuiteSettings

# Options whose default is another option's value: the permutation test runs as many permutations as the
# bootstrap draws resamples unless told otherwise.
FOLLOWS = {"n_perm": "n_boot"}
CHOICES = {"rdm_method": RDM_METHODS, "ev_method": EV_METHODS, "combine": COMBINE}


@dataclass(frozen=True)
class CaptionSettings:
    """How the caption-language baseline is embedded."""

    language_model: str | None = field(default=None, metadata={
        "help": "sentence-transformers name or folder (default: the bundled all-MiniLM-L6-v2)"})
    combine: str = field(default="mean", metadata={
        "help": "how a video's captions become one vector: mean of their embeddings, first caption, or concat"})
    cache_dir: Path | None = field(default=None, metadata={
        "help": "caption-embedding cache folder (default: captions/ in the cache root, $SOCIAL_ALIGN_CACHE "
                "else ~/.cache/social-align)", "type": Path})


def add_settings_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """One --option per field of SuiteSettings and CaptionSettings, its help the field's own."""
    for cls in (SuiteSettings, CaptionSettings):
        for f in dataclasses.fields(cls):
            follows = FOLLOWS.get(f.name)
            default = "--" + follows.replace("_", "-") if follows else f.default
            shown = "" if default is None else f" (default: {default})"  # a None default's help says it
            parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None if follows else f.default,
                                type=f.metadata.get("type", type(f.default) if f.default is not None else str),
                                choices=CHOICES.get(f.name), help=f.metadata["help"] + shown)
    return parser


def settings_from_args(args: argparse.Namespace) -> tuple[SuiteSettings, CaptionSettings]:
    """The parsed options as settings; ConfigError naming the option when a value is refused."""
    from common.errors import ConfigError

    values = vars(args)
    suite = {f.name: values[f.name] for f in dataclasses.fields(SuiteSettings)}
    suite.update({name: values[source] for name, source in FOLLOWS.items() if suite[name] is None})
    try:
        settings = SuiteSettings(**suite)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return settings, CaptionSettings(**{f.name: values[f.name] for f in dataclasses.fields(CaptionSettings)})
