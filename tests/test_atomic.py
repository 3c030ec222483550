"""common.atomic: a target is replaced whole or left as it was, and no temporary survives either way."""
import pytest

from common.atomic import atomic_path


def test_success_replaces_the_target_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "sub" / "plot.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png" and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new" and [p.name for p in target.parent.iterdir()] == ["plot.png"]


def test_an_error_leaves_the_old_target_and_no_temporary(tmp_path):
    target = tmp_path / "best.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["best.json"]
