"""The options both analysis commands share (`python -m analysis`, `python -m analysis.human`), built from the
settings dataclasses' own field help, so the two command lines cannot drift apart. Light: the settings and their
checks (the caption model's included) import neither pandas nor a model."""
from __future__ import annotations

import argparse
import dataclasses

from analysis.language import check_language_model
from analysis.settings import COMBINE, EV_METHODS, RDM_METHODS, CaptionSettings, SuiteSettings

# Options whose default is another option's value: the permutation test runs as many permutations as the
# bootstrap draws resamples unless told otherwise.
FOLLOWS = {"n_perm": "n_boot"}
CHOICES = {"rdm_method": RDM_METHODS, "ev_method": EV_METHODS, "combine": COMBINE}


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
    """The parsed options as settings; ConfigError naming the option when a value is refused (the caption model
    too: one that cannot load here is refused now, not after the analysis has read everything)."""
    from common.checks import as_flags
    from common.errors import ConfigError

    values = vars(args)
    suite = {f.name: values[f.name] for f in dataclasses.fields(SuiteSettings)}
    suite.update({name: values[source] for name, source in FOLLOWS.items() if suite[name] is None})
    try:
        settings = SuiteSettings(**suite), CaptionSettings(**{f.name: values[f.name]
                                                             for f in dataclasses.fields(CaptionSettings)})
    except ValueError as err:
        raise ConfigError(as_flags(str(err), "SuiteSettings", "CaptionSettings")) from None
    check_language_model(settings[1].language_model)
    return settings
