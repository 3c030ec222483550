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


def test_a_folder_replaces_an_older_one_whole(tmp_path):
    from common.atomic import atomic_folder

    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_folder(target, existing="replace") as tmp:
        assert tmp.is_dir() and tmp.parent == tmp_path and not any(tmp.iterdir())
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"] and [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_an_error_leaves_the_old_folder_and_no_temporary(tmp_path):
    from common.atomic import atomic_folder

    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(target, existing="replace") as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert [p.name for p in target.iterdir()] == ["old.txt"] and [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_keep_rebuilds_an_incomplete_folder_and_keeps_a_complete_one_renamed_in_first(tmp_path):
    from common.atomic import atomic_folder

    def complete(folder):
        return (folder / "meta.json").is_file()

    target = tmp_path / "cache"
    target.mkdir()
    (target / "clips.npy").write_text("half")  # an interrupted build: no meta.json
    with atomic_folder(target, existing="keep", complete=complete) as tmp:
        (tmp / "meta.json").write_text("ours")
    assert sorted(p.name for p in target.iterdir()) == ["meta.json"]
    with atomic_folder(target, existing="keep", complete=complete) as tmp:
        (tmp / "meta.json").write_text("second")  # the same content built twice: the first one stays
    assert (target / "meta.json").read_text() == "ours" and [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_an_unknown_rule_for_an_existing_folder_is_refused(tmp_path):
    from common.atomic import atomic_folder

    with pytest.raises(ValueError, match="existing must be one of .*'merge'"), \
            atomic_folder(tmp_path / "x", existing="merge"):
        pass
    with pytest.raises(ValueError, match="needs complete="), atomic_folder(tmp_path / "x", existing="keep"):
        pass
