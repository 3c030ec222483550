"""The authors' protocol, point by point (docs/paper.md), and the guards against the five defects of their code.

Hand-made tiny data: a prepared folder of random 4-frame 32 px clips, the tiny preset backbone, a few steps.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import search_spaces
from data.clips import DecodeSettings
import trainables.loop as loop
import trainables.objectives.terms as terms
from trainables.config import TrainConfig
from trainables.losses import anchored_rsa_loss, violation_extra_triplet
from trainables.objectives import objective_of
# The hand-made prepared folder; `prepared` is a fixture used by name.
from paper_helpers import paper_config, prepared, run_loop  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------- the paper space and the defaults

AUTHORS = {"num_frames": 16, "image_size": 224, "frame_sampling": "linspace", "resize": "squash",
           "head_dropout": 0.3, "rsa_steps_per_epoch": 6, "rsa_videos": 24, "rsa_grad_videos": 6,
           "rsa_only_beta_start": 0.5, "rsa_only_beta_end": 1.0, "budget_constraints": 738, "lr": 1e-4,
           "batch_size": 4, "epochs": 50, "lr_schedule": "plateau", "plateau_patience": 3, "plateau_factor": 0.5,
           "early_stop_patience": 5, "select_metric": "val_rsa", "alpha": 0.7, "beta_start": 0.3, "beta_end": 0.7}


@pytest.mark.parametrize("key, value", sorted(AUTHORS.items()))
def test_the_paper_space_sets_the_authors_value(key, value):
    space = search_spaces.get("paper")
    assert space.fixed[key] == value
    assert space.metric == "val_rsa" and space.fixed["select_metric"] == space.metric


def test_the_default_config_and_the_default_space_keep_our_protocol():
    config = TrainConfig()
    assert (config.loss.rsa_steps_per_epoch, config.loss.budget_constraints) == (0, 0)
    assert (config.loss.rsa_only_beta_start, config.loss.rsa_only_beta_end) == (1.0, 1.0)
    assert (config.optim.lr_schedule, config.optim.early_stop_patience) == ("warmup-cosine", 0)
    assert config.optim.select_metric == "val_ooo_acc" and config.model.head_dropout == 0.1
    assert (DecodeSettings().frame_sampling, DecodeSettings().resize) == ("centres", "crop")  # the clips
    default = search_spaces.get("default")
    assert default.metric == "val_ooo_acc"
    assert default.fixed == {"backbone": "facebook/timesformer-base-finetuned-k400", "num_frames": 8,
                             "image_size": 224, "beta_step": 0.1, "epochs": 10}


@pytest.mark.parametrize("flat, message", [
    ({"rsa_grad_videos": 30, "rsa_videos": 24}, "rsa_grad_videos must be <= rsa_videos"),
    ({"rsa_steps_per_epoch": -1}, "rsa_steps_per_epoch must be >= 0, got -1"),
    ({"lr_schedule": "step"}, "lr_schedule must be one of .* got 'step'"),
    ({"select_metric": "val_loss"}, "select_metric must be one of .* got 'val_loss'"),
    ({"plateau_factor": 1.0}, "plateau_factor must be in \\(0, 1\\), got 1.0"),
])
def test_bad_protocol_settings_name_the_setting_and_the_value(flat, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(flat)


@pytest.mark.parametrize("flat, message", [
    ({"frame_sampling": "random"}, "frame_sampling must be one of .* got 'random'"),
    ({"resize": "pad"}, "resize must be one of .* got 'pad'"),
])
def test_bad_clip_settings_name_the_setting_and_the_value(flat, message):
    with pytest.raises(ValueError, match=message):   # where they are set: the prepared folder's decode
        DecodeSettings(**flat)


# ------------------------------------------------------------------- RSA cadence, K and M, gradient

def test_rsa_steps_per_epoch_k_and_m_and_which_embeddings_carry_gradient(prepared, monkeypatch):
    calls = []
    real = terms.anchored_rsa_loss

    def spy(grad, const, distance, observed):
        calls.append((grad.shape[0], grad.requires_grad, const.shape[0], const.requires_grad))
        return real(grad, const, distance, observed)

    monkeypatch.setattr(terms, "anchored_rsa_loss", spy)
    run_loop(paper_config(prepared))                       # 12 steps, 6 RSA steps: one every 12 // 6 = 2 steps
    assert calls == [(6, True, 18, False)] * 6
    calls.clear()
    run_loop(paper_config(prepared, steps_per_epoch=13, rsa_steps_per_epoch=4, rsa_videos=10, rsa_grad_videos=3))
    assert calls == [(3, True, 7, False)] * 5    # every 13 // 4 = 3 steps: steps 0, 3, 6, 9, 12
    calls.clear()
    run_loop(paper_config(prepared, variant="triplet-only"))
    assert calls == []


def test_anchored_rsa_uses_grad_x_grad_and_grad_x_constant_pairs_only():
    torch.manual_seed(0)
    k, m = 24, 6
    grad = torch.nn.functional.normalize(torch.randn(m, 5), dim=1).requires_grad_(True)
    const = torch.nn.functional.normalize(torch.randn(k - m, 5), dim=1).requires_grad_(True)
    human = torch.rand(k, k)
    human = (human + human.T) / 2
    observed = torch.ones(k, k, dtype=torch.bool)
    loss = anchored_rsa_loss(grad, const, human, observed)
    both = torch.cat([grad, const]).detach()
    pairs = [(i, j) for i in range(m) for j in range(i + 1, k)]      # grad x grad, then grad x constant
    assert len(pairs) == 15 + 108
    model = np.array([1 - float(both[i] @ both[j]) for i, j in pairs])
    target = np.array([float(human[i, j]) for i, j in pairs])
    assert float(loss) == pytest.approx(-np.corrcoef(model, target)[0, 1], abs=1e-5)
    loss.backward()
    assert grad.grad is not None and grad.grad.abs().sum() > 0
    assert const.grad is None                    # constants are detached: no gradient reaches them
    observed[0, 1:] = observed[1:, 0] = False   # an unobserved pair drops out of the correlation
    dropped = anchored_rsa_loss(grad, const, human, observed)
    kept = [(i, j) for i, j in pairs if i != 0]
    model = np.array([1 - float(both[i] @ both[j]) for i, j in kept])
    target = np.array([float(human[i, j]) for i, j in kept])
    assert float(dropped) == pytest.approx(-np.corrcoef(model, target)[0, 1], abs=1e-5)


def test_train_mode_is_restored_after_the_no_grad_embedding(prepared):
    """Defect 3 of the authors' code: after an RSA step the model stayed in eval mode (dropout off)."""
    seen = []
    original = terms.paper_terms

    def watch(batch, **kwargs):
        handle = batch.module.head.register_forward_hook(
            lambda mod, inp, out: seen.append((torch.is_grad_enabled(), mod.training)))
        try:
            return original(batch, **kwargs)
        finally:
            handle.remove()
            seen.append(("after step", batch.module.training))

    terms.paper_terms = watch
    try:
        run_loop(paper_config(prepared))
    finally:
        terms.paper_terms = original
    with_grad = [training for grad, training in seen if grad is True]
    without = [training for grad, training in seen if grad is False]
    after = [training for tag, training in seen if tag == "after step"]
    assert len(with_grad) == 12 and all(with_grad)        # every gradient forward ran with dropout on
    assert len(without) >= 6 and not any(without)          # the constants were embedded in eval mode
    assert len(after) == 12 and all(after)


# ------------------------------------------------------------------- beta ramps, RSA-only updates

def _rsa_weights(config: dict, epochs: int, monkeypatch) -> list[float]:
    """The weight the trial's objective puts on an RSA term of 1 (and a triplet term of 0), per epoch."""
    one = (torch.tensor(0.0), torch.tensor(1.0))
    monkeypatch.setattr(terms, "paper_terms", lambda batch, **kw: one)
    monkeypatch.setattr(terms, "batch_terms", lambda batch, **kw: one)
    loss = TrainConfig.from_dict(config).loss
    return [float(objective_of(loss).step(SimpleNamespace(loss=loss, epoch=e, index=0, steps=1)).total)
            for e in range(epochs)]


def test_the_ramps_hybrid_and_rsa_only(monkeypatch):
    hybrid = _rsa_weights(paper_config(""), 7, monkeypatch)
    rsa_only = _rsa_weights(paper_config("", variant="rsa-only"), 8, monkeypatch)
    assert hybrid == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7, 0.7, 0.7])
    assert rsa_only == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0])
    assert _rsa_weights({"variant": "rsa-only"}, 3, monkeypatch) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("variant, updates", [("rsa-only", 6), ("hybrid", 12), ("triplet-only", 12)])
def test_rsa_only_updates_on_rsa_steps_only(prepared, monkeypatch, variant, updates):
    count = []
    real = torch.optim.AdamW.step
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, *a, **k: (count.append(1), real(self, *a, **k))[1])
    run_loop(paper_config(prepared, variant=variant))
    assert len(count) == updates


# ------------------------------------------------------------------- budget-matched

@pytest.mark.parametrize("steps, budget, expected", [(12, 738, 12), (12, 4, 4), (13, 4, 5 - 1), (12, 5, 5)])
def test_budget_matched_adds_the_authors_count_of_extra_constraints(prepared, monkeypatch, steps, budget, expected):
    """Every max(1, steps // budget)-th step one extra triplet, never more than budget an epoch."""
    calls = []
    real = terms.violation_extra_triplet
    monkeypatch.setattr(terms, "violation_extra_triplet", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    run_loop(paper_config(prepared, variant="budget-matched", steps_per_epoch=steps, budget_constraints=budget))
    spacing = max(1, steps // budget)
    assert len(calls) == min(budget, len(range(0, steps, spacing))) == expected


@pytest.mark.parametrize("variant", ["hybrid", "triplet-only", "rsa-only"])
def test_only_budget_matched_adds_extra_constraints(prepared, monkeypatch, variant):
    """The paper space sets budget_constraints for every variant (it is one grid); the authors' hybrid is
    alpha * triplet + beta * RSA with no extra triplet (until 2026-12-05 ours added the budget-matched ones)."""
    calls = []
    real = terms.violation_extra_triplet
    monkeypatch.setattr(terms, "violation_extra_triplet", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    run_loop(paper_config(prepared, variant=variant, steps_per_epoch=12, budget_constraints=738))
    assert calls == []


def test_the_extra_constraint_is_the_worst_anchor_against_its_hardest_other_negative():
    e = torch.nn.functional.normalize(torch.tensor([
        [1.0, 0.0], [0.9, 0.1], [0.0, 1.0],      # triplet 0: satisfied (positive close, negative far)
        [1.0, 1.0], [-1.0, 1.0], [1.0, 0.9],     # triplet 1: violated (negative closer than positive)
        [-1.0, 0.0], [-0.9, 0.2], [0.0, -1.0],   # triplet 2: satisfied
    ]), dim=1)
    triplets = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    extra = violation_extra_triplet(e, triplets, margin=0.2)
    # anchor 3 violates most; of the other negatives (2 and 8), 2 = (0, 1) is closer to (1, 1) than (0, -1)
    assert extra.tolist() == [[3, 4, 2]]
    assert violation_extra_triplet(e, triplets[:1], margin=0.2).shape == (0, 3)


# ------------------------------------------------------------------- plateau, early stop, selection

def _scripted(monkeypatch, rsa: list[float], acc: list[float]) -> None:
    scores = iter(zip(rsa, acc))
    monkeypatch.setattr(loop, "_validate", lambda *a, **k: dict(zip(("val_rsa", "val_ooo_acc"), next(scores))))


def test_plateau_halves_the_lr_after_patience_and_early_stop_ends_after_five_flat_epochs(prepared, monkeypatch):
    _scripted(monkeypatch, rsa=[0.5, 0.6] + [0.4] * 10, acc=[0.3] * 12)
    history = run_loop(paper_config(prepared, variant="triplet-only", epochs=12, steps_per_epoch=1))
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6, 7]     # best at 2, then 5 without gain
    # ReduceLROnPlateau(max, patience 3): the 4th epoch without gain (epoch 6) halves 1e-4
    assert [h["lr"] for h in history] == pytest.approx([1e-4] * 5 + [5e-5] * 2)


def test_the_selection_metric_drives_early_stopping(prepared, monkeypatch):
    rsa, acc = [0.5] + [0.1] * 9, [0.1 * k for k in range(10)]   # RSA peaks at once, accuracy keeps rising
    _scripted(monkeypatch, rsa, acc)
    by_rsa = run_loop(paper_config(prepared, variant="triplet-only", epochs=10, steps_per_epoch=1))
    _scripted(monkeypatch, rsa, acc)
    by_acc = run_loop(paper_config(prepared, variant="triplet-only", epochs=10, steps_per_epoch=1, select_metric="val_ooo_acc"))
    assert len(by_rsa) == 6 and len(by_acc) == 10


def test_the_sweep_passes_its_metric_to_the_trials_and_refuses_a_second_one():
    from study import sweep
    from common.errors import ConfigError

    paper = search_spaces.get("paper")
    with pytest.raises(ConfigError, match="select_metric 'val_ooo_acc' differs from the space's metric 'val_rsa'"):
        sweep.validate_space(type(paper)(**{**paper.__dict__, "fixed": {**paper.fixed, "backbone": "tiny",
                                                                         "select_metric": "val_ooo_acc"}}))


# ------------------------------------------------------------------- frames and resizing

def test_linspace_frames_include_first_and_last_and_centres_do_not():
    from data.clips import frame_indices

    assert frame_indices(100, 16, "linspace").tolist() == np.linspace(0, 99, 16).astype(int).tolist()
    assert frame_indices(100, 16, "linspace")[[0, -1]].tolist() == [0, 99]
    assert frame_indices(100, 4).tolist() == [12, 37, 62, 87]   # centres of 4 segments: today's default
    with pytest.raises(ValueError, match="unknown frame sampling 'random'"):
        frame_indices(10, 2, "random")


def test_squash_keeps_the_whole_frame_and_crop_cuts_the_sides(tmp_path):
    from data.clips import decode_clip, write_clip

    frames = np.zeros((8, 32, 64, 3), dtype=np.uint8)           # 64 wide, 32 high
    frames[:, :, :8] = (255, 0, 0)                              # a red band at the far left
    frames[:, :, 8:] = (0, 0, 255)
    path = write_clip(tmp_path / "wide.mp4", frames)
    squash = decode_clip(path, DecodeSettings(num_frames=2, image_size=16, resize="squash"))
    crop = decode_clip(path, DecodeSettings(num_frames=2, image_size=16, resize="crop"))
    assert squash.shape == crop.shape == (2, 3, 16, 16)
    assert squash[:, 0, :, 0].mean() > 150                      # the red band survives squashing
    assert crop[:, 0, :, :2].mean() < 60                        # the centre crop drops it
    assert DecodeSettings().key() == {"num_frames": 8, "image_size": 64}   # today's cache keys unchanged


