"""A --resume runs code stored in the folder (Tune's restore unpickles tuner.pkl), so it trusts only what it
should, however the folder is spelled: every check applies to the local folder a file:// URI names; a folder
whose Tune state this user's sweep did not sign (copied, downloaded, edited) is refused unless --trust-folder;
a corrupt or foreign sweep.json is one line; flags a resume cannot honour are refused. A crafted tuner.pkl's
payload (it would create a marker file) never runs."""
from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path

import pytest

import study.sweep as sweep
from study.sweep.trust import key_path, resume_key
from sweep_helpers import refused


class _Payload:
    """What a hostile tuner.pkl holds: unpickling it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _crafted(tmp_path: Path, data: Path) -> tuple[Path, Path]:
    """A folder shaped exactly like a sweep's (this user's, 0700), whose tuner.pkl is a payload."""
    import optuna

    folder = tmp_path / "runs" / "exp"
    folder.mkdir(parents=True)
    settings = {"space": "smoke", "data": str(data), "storage_path": str(folder.parent), "name": "exp"}
    (folder / "sweep.json").write_text(json.dumps({"settings": settings}))
    marker = tmp_path / "payload-ran"
    (folder / "tuner.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    optuna.create_study(study_name="exp", storage=f"sqlite:///{folder / 'optuna.db'}")
    folder.chmod(0o700)
    return folder, marker


@pytest.mark.parametrize("spelling", ["path", "file-uri"])
def test_a_crafted_tuner_pkl_in_a_folder_this_user_owns_is_refused_and_never_runs(synthetic_dir, tmp_path, capsys,
                                                                                 spelling):
    folder, marker = _crafted(tmp_path, synthetic_dir)
    capsys.readouterr()
    target = str(folder) if spelling == "path" else f"file://{folder}"
    line = refused(capsys, ["--resume", target, "--no-analysis", "--no-dashboard"])
    assert f"--resume {folder}: not signed by a sweep of this user" in line and "--trust-folder" in line
    assert not marker.exists()


def test_through_a_file_uri_the_owner_and_mode_checks_apply_too(synthetic_dir, tmp_path, capsys):
    folder, marker = _crafted(tmp_path, synthetic_dir)
    capsys.readouterr()
    sweep.sign_folder(folder)
    folder.chmod(0o770)
    line = refused(capsys, ["--resume", f"file://{folder}", "--no-analysis", "--no-dashboard"])
    assert f"{folder} is not trusted" in line and "drwxrwx---" in line
    folder.chmod(0o700)
    (folder / "tuner.pkl").chmod(0o666)
    assert f"{folder / 'tuner.pkl'} is not trusted" in refused(capsys, ["--resume", f"file://{folder}"])
    assert not marker.exists()


def test_state_edited_after_the_sweep_signed_it_is_refused(synthetic_dir, tmp_path, capsys):
    folder, marker = _crafted(tmp_path, synthetic_dir)
    capsys.readouterr()
    (folder / "tuner.pkl").write_bytes(b"what the sweep wrote")
    sweep.sign_folder(folder)
    (folder / "tuner.pkl").write_bytes(pickle.dumps(_Payload(marker)))  # swapped in afterwards
    line = refused(capsys, ["--resume", str(folder), "--no-dashboard"])
    assert f"{folder / 'tuner.pkl'} is not as this user's sweep wrote it" in line
    (folder / "tuner.pkl").write_bytes(b"what the sweep wrote")
    (folder / "trial_x").mkdir()
    (folder / "trial_x" / "error.pkl").write_bytes(pickle.dumps(_Payload(marker)))  # a trial's pickle added
    assert f"{folder / 'trial_x' / 'error.pkl'} is not as" in refused(capsys, ["--resume", str(folder)])
    assert not marker.exists()


def test_trust_folder_skips_only_the_signature_check(synthetic_dir, tmp_path, capsys):
    folder, marker = _crafted(tmp_path, synthetic_dir)
    capsys.readouterr()
    (folder / "optuna.db").unlink()  # so the resume stops at the next check, before Ray and the unpickling
    line = refused(capsys, ["--resume", str(folder), "--trust-folder", "--no-dashboard"])
    assert "optuna.db is missing" in line
    folder.chmod(0o777)  # the owner and mode checks still hold
    assert "is not trusted" in refused(capsys, ["--resume", str(folder), "--trust-folder"])
    folder.chmod(0o700)
    assert "--trust-folder goes with --resume" in refused(capsys, ["--trust-folder"])
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"other": 1}', b'{"settings": {"seed": -1}}'])
def test_a_corrupt_or_foreign_sweep_json_is_one_line(synthetic_dir, tmp_path, capsys, content):
    folder, _ = _crafted(tmp_path, synthetic_dir)
    capsys.readouterr()
    (folder / "sweep.json").write_bytes(content)
    sweep.sign_folder(folder)
    line = refused(capsys, ["--resume", str(folder), "--no-dashboard"])
    assert str(folder / "sweep.json") in line or "--seed -1" in line


def test_flags_a_resume_cannot_honour_are_refused_not_ignored(synthetic_dir, tmp_path, capsys):
    folder, _ = _crafted(tmp_path, synthetic_dir)
    capsys.readouterr()
    line = refused(capsys, ["--resume", str(folder), "--seed", "-1", "--num-samples", "7", "--space", "paper"])
    assert line == (f"error: --resume {folder}: --space, --num-samples, --seed cannot change on a resume (the "
                    "sweep continues with the settings saved in its sweep.json); drop them, or start a new sweep")
    assert "--set" in refused(capsys, ["--resume", str(folder), "--set", "lr=0.1"])


def test_the_key_is_made_once_private_and_a_shared_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIAL_ALIGN_RESUME_KEY", str(tmp_path / "cfg" / "resume.key"))
    assert resume_key(create=False) is None
    key = resume_key(create=True)
    assert len(key) == 32 and resume_key(create=True) == key
    assert stat.S_IMODE(os.stat(key_path()).st_mode) == 0o600
    key_path().chmod(0o644)
    with pytest.raises(sweep.ConfigError, match="must be yours and private"):
        resume_key(create=False)


def test_state_signed_in_tune_s_staging_folder_verifies_before_and_after_its_copy(tmp_path):
    folder, staging = tmp_path / "exp", tmp_path / "staging"
    folder.mkdir()
    staging.mkdir()
    (folder / "tuner.pkl").write_bytes(b"tuner")
    (folder / "experiment_state-x.json").write_bytes(b"old state")
    (staging / "experiment_state-x.json").write_bytes(b"new state")  # Tune's next snapshot, not yet copied
    sweep.sign_folder(folder, staging)
    sweep.check_signed(folder, "--resume")  # a kill before the copy
    (folder / "experiment_state-x.json").write_bytes(b"new state")
    sweep.check_signed(folder, "--resume")  # a kill after it
    (folder / "experiment_state-x.json").write_bytes(b"edited state")
    with pytest.raises(sweep.ConfigError, match="is not as this user's sweep wrote it"):
        sweep.check_signed(folder, "--resume")
