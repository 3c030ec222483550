"""Loss terms against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainables.losses import mine_hard_negatives, rsa_loss, triplet_loss


def _unit(*angles_deg: float) -> torch.Tensor:
    """Unit vectors in the plane at the given angles (cosine distances are then 1 - cos(difference))."""
    a = torch.tensor([math.radians(x) for x in angles_deg], dtype=torch.float64)
    return torch.stack([torch.cos(a), torch.sin(a)], dim=1)


def test_triplet_loss_matches_hand_computed_hinge():
    e = _unit(0, 60, 90, 180)  # d(0,1)=0.5, d(0,2)=1, d(0,3)=2, d(1,2)=1-cos30
    triplets = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 3]])
    # [0,1,2]: 0.5 - 1 + 0.2 -> 0;  [0,2,1]: 1 - 0.5 + 0.2 = 0.7;  [1,0,3]: 0.5 - (1 - cos120) + 0.2 = -0.8 -> 0
    got = triplet_loss(e, triplets, margin=0.2)
    assert got.item() == pytest.approx(0.7 / 3, abs=1e-12)


def test_triplet_loss_on_empty_batch_is_zero_and_differentiable():
    e = _unit(0, 90).requires_grad_(True)
    loss = triplet_loss(e, torch.zeros((0, 3), dtype=torch.long), margin=0.2)
    loss.backward()
    assert loss.item() == 0.0 and e.grad is not None


def test_rsa_loss_is_minus_pearson_over_observed_pairs_only():
    e = _unit(0, 30, 100, 170)
    model = (1 - e @ e.T).numpy()
    human = np.array([[0, .1, .9, .4], [.1, 0, .3, .8], [.9, .3, 0, .2], [.4, .8, .2, 0]])
    observed = np.ones((4, 4), dtype=bool)
    observed[0, 3] = observed[3, 0] = False  # this pair must not count
    i, j = np.triu_indices(4, 1)
    keep = observed[i, j]
    expected = -np.corrcoef(model[i, j][keep], human[i, j][keep])[0, 1]
    got = rsa_loss(e, torch.tensor(human), torch.tensor(observed))
    assert got.item() == pytest.approx(expected, abs=1e-10)
    assert rsa_loss(e, torch.tensor(model), torch.tensor(observed)).item() == pytest.approx(-1.0, abs=1e-10)


def test_rsa_loss_needs_three_observed_pairs():
    e = _unit(0, 30, 100)
    observed = torch.zeros(3, 3, dtype=torch.bool)
    observed[0, 1] = observed[0, 2] = True
    assert rsa_loss(e, torch.rand(3, 3, dtype=torch.float64), observed).item() == 0.0


def test_rsa_loss_gradient_raises_correlation():
    torch.manual_seed(0)
    raw = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    human = torch.rand(6, 6, dtype=torch.float64)
    human = (human + human.T) / 2
    observed = torch.ones(6, 6, dtype=torch.bool)
    before = rsa_loss(torch.nn.functional.normalize(raw, dim=1), human, observed)
    before.backward()
    with torch.no_grad():
        stepped = raw - 0.05 * raw.grad
    after = rsa_loss(torch.nn.functional.normalize(stepped, dim=1), human, observed)
    assert after.item() < before.item()


def test_mined_negative_is_the_eligible_pool_video_closest_to_the_anchor():
    e = _unit(0, 40, 10, 20, 170)
    nan = float("nan")
    # human similarity to anchor 0: positive 1 at 0.6; pool 2 at 0.9 (not below: ineligible), 3 at 0.2 and
    # 4 at 0.1 eligible; the model puts 3 (20 deg) closer to 0 than 4 (170 deg), so 3 is mined.
    s = torch.full((5, 5), nan, dtype=torch.float64)
    for k, v in {1: 0.6, 2: 0.9, 3: 0.2, 4: 0.1}.items():
        s[0, k] = s[k, 0] = v
    mined = mine_hard_negatives(e, torch.tensor([[0, 1, 4]]), torch.tensor([2, 3, 4]), s)
    assert mined.tolist() == [[0, 1, 3]]
    s[0, 3] = s[3, 0] = nan  # never seen together: no longer eligible
    assert mine_hard_negatives(e, torch.tensor([[0, 1, 4]]), torch.tensor([2, 3, 4]), s).tolist() == [[0, 1, 4]]
