"""The benchmark's settings (SyntheticConfig) and the names its files use."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from common.errors import ConfigError


GENERATOR_VERSION = 3  # bump whenever the same config would produce different files
# How the clips are encoded; part of the benchmark's cache key but not of GENERATOR_VERSION, which the shipped
# pretrained backbone's key holds (its corpus keeps data.clips' lossy default: study/pretrain.py).
CLIP_ENCODING = "x264-yuv444-qp0"  # lossless in YUV: every generation decodes to the same pixels
SOCIAL_LATENTS = ("agent_distance", "facingness", "joint_action", "communication", "valence", "arousal", "dominance")
RATING_COLUMNS = ("indoor", "expanse", "object", "agent_distance", "facingness", "joint_action", "communication",
                  "valence", "arousal", "intimacy", "dominance")
DOMAINS = ("default", "shapes")  # visual domains (study.synthetic.domain; docs/synthetic.md)
TRIPLET_COLUMNS = ("participation", "task", "trial", "stim1_name", "stim2_name", "stim3_name", "choice",
                   "response_time", "catch_trial_flag", "token", "survey_code")


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes, noise and seed of a synthetic benchmark. Same config and seed -> byte-identical tables and ground
    truth, and clips that decode to the same pixels every time (lossless H.264: docs/synthetic.md)."""

    seed: int = _help("seed of every random draw (latents, rendering, judgments, annotations, noise ceiling)", 0)
    n_videos: int = _help("number of videos", 400)
    test_fraction: float = _help("share of videos listed in test.csv (the paper holds out 50 of 250)", 0.5)
    num_frames: int = _help("frames per written clip", 16)
    frame_size: int = _help("side of the square frames in pixels (even)", 64)
    duration_s: float = _help("clip length in seconds (real clips are 3 s); sets the frame rate", 3.0)
    latent_spread: float = _help("std of the latents around their interaction archetype", 0.15)
    nuisance_strength: float = _help("variety of the nuisance factors: 1 = full (the default), 0 = every video "
                                     "on the same plain background with the same colours, unrotated and centred",
                                     1.0)
    n_participants: int = _help("simulated participants, inattentive ones included (the real study: 215)", 215)
    n_random_participants: int = _help("inattentive participants who answer every trial at random", 3)
    n_sets: int = _help("task sets per participant; each set holds one catch trial", 11)
    trials_per_set: int = _help("regular (non-catch) trials per set", 20)
    temperature: float = _help("softmax temperature of the odd-one-out choice (lower = more consistent)", 0.05)
    weight_noise: float = _help("std of the log-normal noise on each participant's latent weights", 0.3)
    lapse_rate: float = _help("chance an attentive participant answers a trial (catch or not) at random", 0.05)
    social_weights: tuple = _help("population weight of each social latent (order of SOCIAL_LATENTS)",
                                  (1.0, 0.8, 1.0, 1.0, 1.2, 0.7, 0.7))
    rating_noise: float = _help("std of the noise on annotations.csv ratings", 0.08)
    n_captions: int = _help("template captions per video", 5)
    n_replications: int = _help("Monte Carlo replications of the study for the split-half reliability", 200)
    n_eval_participants: int = _help("participants of the dedicated evaluation collection per held-out part: "
                                     "each judges n_sets sets drawn only within the test videos (or only within "
                                     "the validation videos); 0 = no such collection", 24)
    val_fraction: float = _help("share of the non-test videos that data.prepared's paper split (seed "
                                "split_seed) holds out for validation: where the validation collection is drawn",
                                0.2)
    split_seed: int = _help("the sweep's split seed the validation collection is drawn for", 0)
    domain: str = _help("visual domain the world is rendered in: 'default' (discs with noses) or 'shapes' (the "
                        "out-of-distribution world: squares with heading bars, other palettes, camera zoom and pan)",
                        "default")
    main_includes_test: bool = _help("whether the main collection's triplets are drawn over every video, the test "
                                     "videos too (as in the real study), or only over the non-test videos, the "
                                     "test videos then being judged by the evaluation collection alone (a "
                                     "held-out generalisation set)", False)

    def __post_init__(self):
        object.__setattr__(self, "social_weights", tuple(float(w) for w in self.social_weights))
        for name, low in (("n_videos", 9), ("num_frames", 2), ("frame_size", 16), ("n_participants", 2),
                          ("n_sets", 1), ("trials_per_set", 1), ("n_captions", 1), ("n_replications", 2),
                          ("n_random_participants", 0), ("seed", 0), ("n_eval_participants", 0),
                          ("split_seed", 0)):
            _check_int(name, getattr(self, name), low)
        for name, low, high in (("test_fraction", 0.0, 1.0), ("lapse_rate", 0.0, 1.0), ("duration_s", 0.1, 60),
                                ("temperature", 1e-4, 100), ("weight_noise", 0, 5), ("rating_noise", 0, 1),
                                ("latent_spread", 0, 1), ("nuisance_strength", 0, 1),
                                ("val_fraction", 0.0, 1.0)):
            _check_range(name, getattr(self, name), low, high)
        self._check_relations()

    def _check_relations(self):
        if self.domain not in DOMAINS:
            raise ConfigError(f"SyntheticConfig.domain must be one of {DOMAINS}, got {self.domain!r}")
        if not isinstance(self.main_includes_test, bool):
            raise ConfigError(f"SyntheticConfig.main_includes_test must be true or false, got "
                              f"{self.main_includes_test!r}")
        if not self.main_includes_test and not self.n_eval_participants:
            raise ConfigError("SyntheticConfig.main_includes_test=False needs n_eval_participants >= 1: nobody "
                              "would judge the test videos")
        if self.frame_size % 2:
            raise ConfigError(f"SyntheticConfig.frame_size must be even (H.264 frames), got {self.frame_size}")
        if self.n_random_participants >= self.n_participants:
            raise ConfigError(f"SyntheticConfig.n_random_participants must be < n_participants "
                              f"({self.n_participants}), got {self.n_random_participants}")
        if len(self.social_weights) != len(SOCIAL_LATENTS) or min(self.social_weights) < 0 \
                or sum(self.social_weights) <= 0:
            raise ConfigError(f"SyntheticConfig.social_weights must be {len(SOCIAL_LATENTS)} non-negative "
                              f"weights, not all 0, got {self.social_weights}")
        n_test = self.n_test
        if n_test < 3 or self.n_videos - n_test < 3:
            raise ConfigError(f"SyntheticConfig.test_fraction={self.test_fraction} leaves {n_test} test and "
                              f"{self.n_videos - n_test} train videos; each needs at least 3")

    @property
    def n_test(self) -> int:
        return int(round(self.test_fraction * self.n_videos))

    @classmethod
    def tiny(cls, **overrides) -> SyntheticConfig:
        """For tests: 42 videos, 14 participants, 2,940 judgments over every video, 8 frames; about a second."""
        base = dict(n_videos=42, test_fraction=0.2, n_participants=14, n_random_participants=1, n_sets=10,
                    num_frames=8, n_replications=40, n_captions=3, n_eval_participants=0, main_includes_test=True)
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict:
        """Every setting; the default domain is left out, so benchmarks named before domains existed keep their
        keys (their pixels are the same)."""
        doc = {**asdict(self), "social_weights": list(self.social_weights)}
        if doc["domain"] == "default":
            del doc["domain"]
        return doc

    def key(self) -> str:
        """Stable hash of the config, generator version and clip encoding: names the cached benchmark folder."""
        doc = json.dumps({"generator_version": GENERATOR_VERSION, "clip_encoding": CLIP_ENCODING, **self.to_dict()},
                         sort_keys=True)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"SyntheticConfig.{name} must be an integer >= {low}, got {value!r}")


def _check_range(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"SyntheticConfig.{name} must be a number in [{low}, {high}], got {value!r}")
