"""The objectives registry (trainables.objectives): one module per objective, the config's choices, what each
objective needs, and how each weighs its terms into the total the loop backpropagates."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import trainables.objectives.terms as terms
from trainables.config import VARIANTS, LossConfig, TrainConfig, config_help
from trainables.model import IdentityLinear
from trainables.objectives import OBJECTIVES, objective_of

PACKAGE = Path(__file__).resolve().parents[1] / "trainables" / "objectives"
SHARED = {"__init__", "base", "terms"}


def test_every_objective_module_is_registered_once_and_the_config_takes_the_registrys_names():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in SHARED)
    assert sorted(type(o).__module__.rsplit(".", 1)[-1] for o in OBJECTIVES.values()) == modules
    assert VARIANTS == tuple(OBJECTIVES) == ("hybrid", "triplet-only", "rsa-only", "budget-matched",
                                             "linear-probe", "language-distill")
    assert all(f"'{name}'" in config_help()["variant"] for name in OBJECTIVES)
    with pytest.raises(ValueError, match="variant.*mixed"):
        LossConfig(variant="mixed")


def test_a_config_a_loss_section_and_a_flat_trial_config_name_the_same_objective():
    for name in OBJECTIVES:
        config = TrainConfig.from_dict({"variant": name})
        assert objective_of(config) is objective_of(config.loss) is objective_of({"variant": name}) is OBJECTIVES[name]
    assert objective_of({}).name == "hybrid"  # a trial config without the key trains the default


def test_what_each_objective_needs():
    def names(need):
        return [n for n, o in OBJECTIVES.items() if need(o)]
    assert names(lambda o: o.extra_videos) == ["hybrid", "rsa-only", "budget-matched", "linear-probe",
                                               "language-distill"]
    assert names(lambda o: o.probe) == ["linear-probe"]
    assert names(lambda o: o.target == "language") == ["language-distill"]
    assert OBJECTIVES["linear-probe"].metric_names() == ("train_loss", "train_triplet_loss", "train_rsa_loss",
                                                         "train_identity_loss")


def _batch(name: str, epoch: int, **loss) -> SimpleNamespace:
    head = IdentityLinear(4)
    with torch.no_grad():
        head.weight.add_(0.1)                                   # ||W - I||^2 = 0.01 * 16
    return SimpleNamespace(loss=LossConfig(variant=name, **loss), epoch=epoch, index=0, steps=1,
                           module=SimpleNamespace(head=head))


@pytest.mark.parametrize("name, epoch, expected", [
    ("hybrid", 2, 0.7 * 2.0 + 0.5 * -0.5), ("language-distill", 0, 0.7 * 2.0 + 0.3 * -0.5),
    ("linear-probe", 0, 0.7 * 2.0 + 0.3 * -0.5 + 0.1 * 0.01 * 16), ("triplet-only", 2, 2.0),
    ("budget-matched", 2, 2.0), ("rsa-only", 2, -0.5)])
def test_each_objective_weighs_its_terms_and_returns_every_one(monkeypatch, name, epoch, expected):
    seen = []
    monkeypatch.setattr(terms, "batch_terms", lambda batch, **kw: (seen.append(kw), (torch.tensor(2.0),
                                                                                     torch.tensor(-0.5)))[1])
    out = OBJECTIVES[name].step(_batch(name, epoch))
    assert float(out.total) == pytest.approx(expected, rel=1e-6)
    assert (float(out.parts["triplet"]), float(out.parts["rsa"])) == (2.0, -0.5)
    assert tuple(out.parts) == OBJECTIVES[name].terms
    assert seen == [{"mined": True} if name == "budget-matched" else {}]


def test_the_rsa_weight_ramps_by_step_and_caps_and_rsa_only_has_its_own():
    def weights(name, epochs, **loss):
        return [float(OBJECTIVES[name].step(_batch(name, e, **loss)).total) for e in range(epochs)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(terms, "batch_terms", lambda batch, **kw: (torch.tensor(0.0), torch.tensor(1.0)))
        assert weights("hybrid", 7) == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7, 0.7, 0.7])
        assert weights("rsa-only", 3) == [1.0, 1.0, 1.0]       # ours: a constant 1
        assert weights("rsa-only", 7, rsa_only_beta_start=0.5) == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0])


def test_under_the_authors_cadence_rsa_only_skips_the_steps_between_rsa_steps(monkeypatch):
    monkeypatch.setattr(terms, "paper_terms", lambda batch, **kw: (torch.tensor(0.0), torch.tensor(1.0)))
    steps = [SimpleNamespace(**{**vars(_batch("rsa-only", 0, rsa_steps_per_epoch=2)), "index": i, "steps": 6})
             for i in range(6)]
    assert [OBJECTIVES["rsa-only"].step(b) is not None for b in steps] == [True, False, False, True, False, False]
