"""What each loss variant computes, in one place: the loop asks its Variant, never compares variant names.

Adding a variant is one Variant(...) entry in VARIANTS (trainables.config takes its choices from there).
Imports nothing of the project, so the config can read the names.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """triplet / rsa: which terms enter the total (weights: trainables.losses.hybrid_loss); rsa_weight: 'hybrid'
    (beta rising per epoch) or 'rsa-only' (its own start and ceiling); extra_videos: whether a step embeds
    training videos outside its batch (the RSA subset, or the negative pool); mined_negatives: triplets mined
    from that pool; probe: a linear map on the frozen base features instead of LoRA and the head (trainables.probe);
    target: whose similarity the objective follows, the humans' ('human') or the caption-language model's
    ('language': the triplets answered and the RSA target taken from it, the v2 paper's control)."""
    name: str
    triplet: bool = True
    rsa: bool = False
    rsa_weight: str = "hybrid"
    mined_negatives: bool = False
    probe: bool = False
    target: str = "human"

    @property
    def extra_videos(self) -> bool:
        return self.rsa or self.mined_negatives

    def paper_cadence(self, loss) -> bool:
        """Whether the authors' step rules apply: periodic RSA steps, or periodic extra constraints."""
        if self.rsa:
            return loss.rsa_steps_per_epoch > 0
        return self.mined_negatives and loss.budget_constraints > 0


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("hybrid", rsa=True),
    Variant("triplet-only"),
    Variant("rsa-only", triplet=False, rsa=True, rsa_weight="rsa-only"),
    Variant("budget-matched", mined_negatives=True),
    # gLocal (Muttenthaler et al. 2023): a linear map of the frozen base features, initialised at identity and
    # pulled toward it, trained on the same triplets (plus the RSA term, as the hybrid) and selected the same way.
    Variant("linear-probe", rsa=True, probe=True),
    # Garcia & Isik v2's language-distillation control: the hybrid's objective with the caption-language
    # similarity in place of the human one (every training triad answered by it, RSA toward it), selected on the
    # same human validation triplets: what fine-tuning gains from the captions alone.
    Variant("language-distill", rsa=True, target="language"),
)}


def variant_of(config) -> Variant:
    """The Variant of a TrainConfig or a LossConfig."""
    return VARIANTS[getattr(config, "loss", config).variant]
