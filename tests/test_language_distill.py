"""The language-distillation control (variant `language-distill`, Garcia & Isik v2): the hybrid's objective with
the caption-language similarity of the training videos in place of the human one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.errors import ConfigError
from data.clips import DecodeSettings
from data.prepared import LANGUAGE_FILE, load_prepared, prepare_dataset
from metrics.odd_one_out import odd_one_out_accuracy
from search_spaces import Choice, SearchSpace
from study.language_targets import ensure_language_targets, needs_language
from trainables.config import TrainConfig
from trainables.loop import train
from trainables.step import StepData


@pytest.fixture(scope="module")
def prepared(synthetic_dir, tmp_path_factory):
    folder = prepare_dataset(synthetic_dir, decode=DecodeSettings(num_frames=4, image_size=32),
                             out_root=tmp_path_factory.mktemp("prepared"))
    return folder


def test_the_language_similarity_is_written_once_per_folder_for_the_training_rows(prepared, synthetic_dir):
    path = ensure_language_targets(prepared, synthetic_dir)
    assert path == prepared / LANGUAGE_FILE
    data = load_prepared(prepared)
    s = data.language_train_similarity
    m = len(data.rows_train)
    assert s.shape == (m, m) and np.allclose(s, s.T) and np.allclose(np.diag(s), 1.0)
    assert s.min() > -1 and len(np.unique(np.round(s, 6))) > m  # a real similarity, not a constant
    before = path.stat().st_mtime_ns
    ensure_language_targets(prepared, synthetic_dir)
    assert path.stat().st_mtime_ns == before  # reused, not recomputed


def _config(prepared, variant: str) -> TrainConfig:
    return TrainConfig.from_dict({"prepared_dir": str(prepared), "variant": variant, "epochs": 1, "steps_per_epoch": 2, "batch_size": 4,
                                  "rsa_subset": 4, "lora_r": 2})


def test_language_distill_trains_toward_the_language_similarity_and_its_answers(prepared, synthetic_dir):
    ensure_language_targets(prepared, synthetic_dir)
    data = load_prepared(prepared)
    human = StepData(data, _config(prepared, "hybrid"), torch.device("cpu"))
    distill = StepData(data, _config(prepared, "language-distill"), torch.device("cpu"))
    language = data.language_train_similarity
    # the same triads, answered by the language similarity: it scores every one of them correct
    assert (np.sort(distill.triplets, axis=1) == np.sort(human.triplets, axis=1)).all()
    position = human.position
    assert odd_one_out_accuracy(language, position[distill.triplets]) == 1.0
    assert odd_one_out_accuracy(language, position[human.triplets]) < 1.0  # the humans disagree somewhere
    assert np.array_equal(human.triplets, data.triplets_train)
    # the RSA target is the language similarity, every pair observed; the hybrid keeps the humans'
    assert np.allclose(distill.similarity.numpy(), language, atol=1e-6)
    assert bool(distill.observed.sum() == len(language) * (len(language) - 1))
    assert np.allclose(np.nan_to_num(human.similarity.numpy()), np.nan_to_num(data.human_train_similarity))
    history = train(_config(prepared, "language-distill").to_dict())
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"]) and 0 <= history[0]["val_ooo_acc"] <= 1


def test_language_distill_without_the_language_similarity_is_one_clear_error(synthetic_dir, tmp_path):
    folder = prepare_dataset(synthetic_dir, decode=DecodeSettings(num_frames=4, image_size=32), out_root=tmp_path)
    assert not (folder / LANGUAGE_FILE).exists()
    with pytest.raises(ConfigError, match="'language-distill' needs the caption-language similarity"):
        StepData(load_prepared(folder), _config(folder, "language-distill"), torch.device("cpu"))


def test_the_sweep_prepares_the_language_similarity_only_for_a_space_that_needs_it():
    from study.sweep.settings import SweepSettings
    from study.sweep.trial import TrialData

    assert needs_language(["hybrid", "language-distill"]) and not needs_language(["hybrid", "linear-probe"])
    with_axis = SearchSpace(name="x", description="", fixed={},
                            params={"variant": Choice(("hybrid", "language-distill"))})
    assert TrialData.for_sweep(SweepSettings(), with_axis).language
    assert not TrialData.for_sweep(SweepSettings(), SearchSpace(name="y", description="", fixed={}, params={})).language
