"""Shared by the sweep's refusal tests: a command that must be refused in one `error:` line, before Ray."""
from __future__ import annotations

import pytest
import ray

import study.sweep as sweep


def refused(capsys, argv: list[str]) -> str:
    """Run `python -m study.sweep ARGV` in-process; it must exit 2 with one `error:` line and no Ray started."""
    with pytest.raises(SystemExit) as stop:
        sweep.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not ray.is_initialized()
    return err[0]
