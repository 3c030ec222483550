"""Per-video annotations (ratings) and captions, drawn from the latents."""
from __future__ import annotations

import numpy as np
import pandas as pd

from study.synthetic.config import RATING_COLUMNS, SOCIAL_LATENTS


def annotation_table(rng, latents, nuisance: pd.DataFrame, names, test_set, captions, config) -> pd.DataFrame:
    """annotations.csv: noisy ratings of the latents (and of the nuisance scene), in the real column order."""
    def noisy(values):
        return np.round(np.clip(values + rng.normal(0, config.rating_noise, len(values)), 0, 1), 4)

    z = dict(zip(SOCIAL_LATENTS, latents.T))
    ratings = {name: noisy(z[name]) for name in SOCIAL_LATENTS}
    ratings["indoor"] = nuisance["indoor"].to_numpy()  # binary, as in the real ratings
    ratings["expanse"] = noisy((nuisance["scale"].to_numpy() - 0.85) / 0.3)
    ratings["object"] = noisy(0.1 + 0.8 * nuisance["object"].to_numpy())
    ratings["intimacy"] = noisy((1 - z["agent_distance"] + z["facingness"] + z["valence"]) / 3)
    frame = pd.DataFrame({f"rating-{k}": ratings[k] for k in RATING_COLUMNS})
    frame.insert(0, "video_name", names)
    frame["stimulus_set"] = np.where(np.isin(np.arange(len(names)), test_set), "test", "train")
    frame["captions"] = [str(c) for c in captions]
    order = ["video_name", *[f"rating-{k}" for k in RATING_COLUMNS[:9]], "stimulus_set", "captions",
             "rating-intimacy", "rating-dominance"]
    return frame[order]


_PHRASES = {  # (latent, low phrase, high phrase); either side may be empty
    "agent_distance": ("stand close together", "keep far apart"),
    "facingness": ("face away from each other", "face each other"),
    "joint_action": ("move out of step", "move in sync"),
    "communication": ("stay silent", "take turns signalling to each other"),
    "valence": ("back away from each other", "approach each other"),
    "arousal": ("barely move", "bounce around energetically"),
    "dominance": ("look like equals", "where the bigger one dominates"),
}
_SUBJECTS = ("two figures", "two shapes", "a pair of agents", "two characters", "two round creatures")


def sample_captions(rng, z: np.ndarray, nu: pd.Series, k: int) -> list[str]:
    """k lowercase template captions naming 2-3 clear social cues (and sometimes the scene)."""
    out = []
    for _ in range(k):
        # Each captioner notices the cues furthest from neutral, with some noise in what counts as clear.
        salience = np.abs(z - 0.5) + rng.normal(0, 0.1, len(z))
        picked = np.argsort(-salience)[: rng.integers(2, 4)]
        clauses = [_PHRASES[SOCIAL_LATENTS[i]][int(z[i] > 0.5)] for i in sorted(picked)]
        text = f"{_SUBJECTS[rng.integers(len(_SUBJECTS))]} {' and '.join(clauses[:-1])} and {clauses[-1]}"
        if rng.random() < 0.3:
            text += " in a striped room" if nu.indoor else " outdoors"
        out.append(text.replace("and where", "where"))
    return out


def captions_frame(names, captions: list[list[str]]) -> pd.DataFrame:
    """captions.csv: video_name, caption_index (from 1), caption."""
    rows = [(name, i + 1, text) for name, caps in zip(names, captions) for i, text in enumerate(caps)]
    return pd.DataFrame(rows, columns=["video_name", "caption_index", "caption"])
