"""Loss terms as pure tensor functions. Embeddings are L2-normalised, so cosine distance is 1 - dot product.

How an objective weighs them into its total: trainables.objectives."""
from __future__ import annotations

import torch


def cosine_distance_matrix(embeddings: torch.Tensor) -> torch.Tensor:
    """embeddings: (n, dim), unit rows. Returns (n, n) 1 - cosine similarity."""
    return 1.0 - embeddings @ embeddings.T


def triplet_loss(embeddings: torch.Tensor, triplets: torch.Tensor, *, margin: float) -> torch.Tensor:
    """Mean of max(0, d(anchor, positive) - d(anchor, negative) + margin) on cosine distance.

    embeddings: (n, dim) unit rows; triplets: (k, 3) rows of `embeddings`, [anchor, positive, negative]
    (the two the participant kept together, then the chosen odd one).
    """
    if triplets.numel() == 0:
        return embeddings.sum() * 0.0  # keeps the graph (and DDP's gradient hooks) alive on an empty batch
    a, p, n = embeddings[triplets[:, 0]], embeddings[triplets[:, 1]], embeddings[triplets[:, 2]]
    d_ap = 1.0 - (a * p).sum(dim=1)
    d_an = 1.0 - (a * n).sum(dim=1)
    return torch.clamp(d_ap - d_an + margin, min=0.0).mean()


def rsa_loss(embeddings: torch.Tensor, human_distance: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Minus the Pearson correlation of model and human distances over the observed pairs (i < j).

    embeddings: (n, dim) unit rows; human_distance: (n, n), 1 - human similarity; observed: (n, n) bool
    (pairs humans saw together). Fewer than 3 observed pairs carry no correlation: the loss is 0 then.
    """
    i, j = torch.triu_indices(len(embeddings), len(embeddings), offset=1, device=embeddings.device)
    keep = observed[i, j]
    if int(keep.sum()) < 3:
        return embeddings.sum() * 0.0
    model = cosine_distance_matrix(embeddings)[i[keep], j[keep]]
    return _negative_pearson(model, human_distance[i[keep], j[keep]].to(model.dtype))


def anchored_rsa_loss(grad_embeddings: torch.Tensor, const_embeddings: torch.Tensor, human_distance: torch.Tensor,
                      observed: torch.Tensor) -> torch.Tensor:
    """The authors' RSA step: minus Pearson over the observed grad x grad (i < j) and grad x constant pairs.

    grad_embeddings: (m, dim) unit rows that carry gradient; const_embeddings: (k - m, dim) unit rows without;
    human_distance, observed: (k, k), rows and columns in the order [grad..., const...]. Constant x constant
    pairs carry no gradient and are left out (m = 6, k = 24: 15 + 108 = 123 pairs before the observed mask).
    """
    m, k = len(grad_embeddings), len(grad_embeddings) + len(const_embeddings)
    i, j = torch.triu_indices(m, m, offset=1, device=grad_embeddings.device)
    gi, cj = torch.meshgrid(torch.arange(m, device=i.device), torch.arange(m, k, device=i.device), indexing="ij")
    rows, cols = torch.cat([i, gi.reshape(-1)]), torch.cat([j, cj.reshape(-1)])
    keep = observed[rows, cols]
    if int(keep.sum()) < 3:
        return grad_embeddings.sum() * 0.0
    both = torch.cat([grad_embeddings, const_embeddings.detach()])
    model = 1.0 - (both[rows[keep]] * both[cols[keep]]).sum(dim=1)
    return _negative_pearson(model, human_distance[rows[keep], cols[keep]].to(model.dtype))


def _negative_pearson(model: torch.Tensor, human: torch.Tensor) -> torch.Tensor:
    model, human = model - model.mean(), human - human.mean()
    denom = torch.sqrt((model * model).sum() * (human * human).sum()).clamp_min(1e-12)
    return -(model * human).sum() / denom


def mine_hard_negatives(embeddings: torch.Tensor, triplets: torch.Tensor, pool: torch.Tensor,
                        human_similarity: torch.Tensor) -> torch.Tensor:
    """For each [a, p, .] triplet, the pool video humans rank below p for a that the model puts closest to a.

    pool: (m,) rows eligible as negatives; human_similarity: (n, n), NaN where never seen (those are not
    eligible). Returns (k', 3) mined triplets [a, p, mined], one per triplet that has an eligible candidate.
    """
    a, p = triplets[:, 0], triplets[:, 1]
    with torch.no_grad():
        sim_model = embeddings[a] @ embeddings[pool].T                        # (k, m)
        s_an = human_similarity[a][:, pool]                                    # NaN compares False: ineligible
        eligible = (s_an < human_similarity[a, p][:, None]) & (pool[None, :] != a[:, None])
        eligible &= pool[None, :] != p[:, None]
        score = torch.where(eligible, sim_model, torch.full_like(sim_model, -torch.inf))
        best = score.argmax(dim=1)
        has = eligible.any(dim=1)
    return torch.stack([a[has], p[has], pool[best[has]]], dim=1)


def violation_extra_triplet(embeddings: torch.Tensor, triplets: torch.Tensor, *, margin: float) -> torch.Tensor:
    """The authors' budget-matched constraint: one extra [a_i, p_i, n_j] triplet (shape (1, 3)).

    i is the batch triplet whose anchor violates the margin most against its own negative, j != i the other
    in-batch negative closest to that anchor. No human check. Fewer than two triplets -> (0, 3).
    """
    if len(triplets) < 2:
        return triplets[:0]
    with torch.no_grad():
        a, p, n = embeddings[triplets[:, 0]], embeddings[triplets[:, 1]], embeddings[triplets[:, 2]]
        d_ap = 1.0 - (a * p).sum(dim=1)
        d_an = 1.0 - a @ n.T                                   # (B, B): anchor i against negative j
        i = int(torch.argmax(d_ap + margin - d_an.diagonal()))
        others = d_an[i].clone()
        others[i] = torch.inf
        j = int(torch.argmin(others))
    return torch.stack([triplets[i, 0], triplets[i, 1], triplets[j, 2]])[None]
