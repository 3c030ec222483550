"""Ground truth: the true similarity's expected odd-one-out accuracy, the simulated study's split-half
reliability, and the pixel-similarity check (noise_ceiling.json)."""
from __future__ import annotations

import numpy as np

from metrics.triplet_pairs import pair_counts
from study.synthetic.config import SyntheticConfig
from study.synthetic.participants import choose, odd_probabilities, participant_weights, random_triplets


def expected_ooo_accuracy(similarity: np.ndarray, stims: np.ndarray, probs: np.ndarray) -> dict:
    """Expected odd-one-out accuracy of `similarity` given each trial's choice probabilities (m, 3).

    three_way: P(choice = the item outside the most similar pair). paper: if position k is chosen, the score is
    half the number of other pairs the kept pair beats (= analysis.odd_one_out's "paper" rule), weighted by P.
    """
    a, b, c = stims.T
    left = np.stack([similarity[b, c], similarity[a, c], similarity[a, b]], axis=1)  # pair kept if k is odd
    best = left.argmax(axis=1)
    beats = (left[:, :, None] > left[:, None, :]).sum(axis=2)
    return {"three_way": float(probs[np.arange(len(probs)), best].mean()),
            "paper": float((probs * 0.5 * beats).sum(axis=1).mean()),
            "best_possible_three_way": float(probs.max(axis=1).mean())}


def _pair_proportions(stims: np.ndarray, odd_pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of co-occurrence and of being left together over the pairs i < j (row-major), from the one
    pair count (metrics.triplet_pairs.pair_counts) of the trials as [kept_a, kept_b, odd] triplets."""
    kept = np.array([(1, 2), (0, 2), (0, 1)])[odd_pos]  # positions of the pair left together
    rows = np.arange(len(stims))
    triplets = np.stack([stims[rows, kept[:, 0]], stims[rows, kept[:, 1]], stims[rows, odd_pos]], axis=1)
    together, shown = pair_counts(triplets, n)
    upper = np.triu_indices(n, k=1)
    return shown[upper], together[upper]


def _one_split_half(rng, latents: np.ndarray, config: SyntheticConfig, n_people: int) -> tuple[float, float]:
    """Simulate the study once with fresh people; correlate the P matrices of two halves of them."""
    from scipy.stats import rankdata  # scipy only when a benchmark is generated, not when a command starts

    per_person = config.n_sets * config.trials_per_set
    weights = participant_weights(rng, n_people, config)
    person = np.repeat(np.arange(n_people), per_person)
    stims = random_triplets(rng, len(person), len(latents))
    odd = choose(rng, odd_probabilities(latents, stims, weights[person], config))
    half = (rng.permutation(n_people) < n_people // 2)[person]
    (c1, t1), (c2, t2) = (_pair_proportions(stims[h], odd[h], len(latents)) for h in (half, ~half))
    both = (c1 > 0) & (c2 > 0)
    p1, p2 = t1[both] / c1[both], t2[both] / c2[both]
    return float(np.corrcoef(rankdata(p1), rankdata(p2))[0, 1]), float(np.corrcoef(p1, p2)[0, 1])


def simulated_split_half(rng, latents: np.ndarray, config: SyntheticConfig, n_people: int) -> dict:
    """Monte Carlo over `config.n_replications` fresh studies: mean Spearman-Brown corrected split-half r."""
    raw = np.array([_one_split_half(rng, latents, config, n_people) for _ in range(config.n_replications)])
    corrected = 2 * raw / (1 + raw)
    return {"split_half_reliability": float(corrected[:, 0].mean()),
            "split_half_reliability_sd": float(corrected[:, 0].std(ddof=1)),
            "split_half_reliability_pearson": float(corrected[:, 1].mean()),
            "split_half_raw_spearman": float(raw[:, 0].mean())}


def pixel_similarity_spearman(videos: np.ndarray, similarity: np.ndarray) -> float:
    """Spearman r between raw-pixel similarity (Pearson r of flattened clips) and `similarity`, upper pairs."""
    from scipy.stats import spearmanr

    flat = videos.reshape(len(videos), -1).astype(np.float64)
    pixel = np.corrcoef(flat)
    upper = np.triu_indices(len(videos), k=1)
    return float(spearmanr(pixel[upper], similarity[upper]).statistic)


def evaluation_figures(similarity: np.ndarray, evaluation: dict) -> dict:
    """Size of the evaluation collection and the true similarity's expected 3-way accuracy on it."""
    out = {}
    for part, videos in evaluation.get("parts", {}).items():
        trials = evaluation["trials"][part]
        out |= {f"eval_{part}_videos": [int(v) for v in videos],
                f"eval_{part}_n_regular_triplets": int(len(trials["stims"])),
                f"eval_{part}_ooo_accuracy_three_way": expected_ooo_accuracy(similarity, trials["stims"],
                                                                             trials["probs"])["three_way"]}
    return out


def noise_ceiling_figures(rng, latents, judged, similarity, trials: dict, videos, config: SyntheticConfig) -> dict:
    """The ground-truth figures of noise_ceiling.json (see docs/synthetic.md for each key). judged: the videos
    the main collection draws its triplets among (the split-half study is simulated over them)."""
    expected = expected_ooo_accuracy(similarity, trials["stims"], trials["probs"])
    return {
        "ooo_accuracy_three_way": expected["three_way"], "ooo_accuracy_paper": expected["paper"],
        "ooo_accuracy_three_way_best_possible": expected["best_possible_three_way"],
        "chance_three_way": 1 / 3, "chance_paper": 0.5,
        "n_attentive_regular_triplets": int(len(trials["stims"])), "n_attentive_participants": trials["n_attentive"],
        **simulated_split_half(rng, latents[judged], config, trials["n_attentive"]),
        "split_half_n_replications": config.n_replications,
        "pixel_similarity_spearman": pixel_similarity_spearman(videos, similarity),
    }
