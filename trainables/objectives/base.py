"""What an objective is: a name, its help text, what it needs from the trial, and one training step as named
loss terms plus their total.

Objective modules import their torch code inside `step` (trainables.objectives.terms), so the config reads the
registry's names and help without loading torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

if TYPE_CHECKING:
    import torch

    from trainables.config import LossConfig
    from trainables.step import Batch


class Terms(NamedTuple):
    """One step's loss: the total the loop backpropagates and every named term (each logged as
    `train_<name>_loss`, the total as `train_loss`)."""
    total: torch.Tensor
    parts: dict[str, torch.Tensor]


class Objective:
    """One training objective. A subclass sets the class attributes and implements `step`; a module holds one
    subclass and its instance, and trainables.objectives.OBJECTIVES lists the instances.

    probe: trains an identity-initialised linear map on the frozen base features instead of LoRA and the head;
    target: whose similarity the step follows, the humans' ('human') or the caption-language model's ('language':
    the training triads answered by it and the RSA target taken from it); extra_videos: a step embeds
    `rsa_subset` training videos outside its batch (the RSA subset, or the negative pool); terms: the names of
    the terms `step` returns, in the order they are logged."""
    name: ClassVar[str]
    help: ClassVar[str]
    probe: ClassVar[bool] = False
    target: ClassVar[str] = "human"
    extra_videos: ClassVar[bool] = False
    terms: ClassVar[tuple[str, ...]] = ("triplet", "rsa")

    def step(self, batch: Batch) -> Terms | None:
        """The step's terms and total; None when the step updates nothing (the loop skips it)."""
        raise NotImplementedError

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model this objective trains, made from the LoRA model (trainables.model.build_variant_model)."""
        return model

    def metric_names(self) -> tuple[str, ...]:
        """The loss columns the loop reports each epoch: the total, then each term."""
        return ("train_loss", *(f"train_{term}_loss" for term in self.terms))


def rsa_weight(epoch: int, *, start: float, end: float, step: float) -> float:
    """The RSA weight in an epoch: `start`, rising by `step` per epoch, capped at `end`."""
    return min(end, start + step * epoch)


def ramp(epoch: int, loss: LossConfig) -> float:
    """The hybrid's RSA weight beta(epoch): beta_start rising by beta_step, capped at beta_end (paper 0.3..0.7)."""
    return rsa_weight(epoch, start=loss.beta_start, end=loss.beta_end, step=loss.beta_step)


def every(steps: int, per_epoch: int) -> int:
    """The authors' spacing: an event every max(1, steps // per_epoch) steps (never when per_epoch is 0)."""
    return max(1, steps // per_epoch) if per_epoch else steps + 1
