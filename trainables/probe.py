"""The linear-probe variant's model: the frozen base backbone and an identity-initialised linear map of its
features (gLocal, Muttenthaler et al. 2023), pulled toward the identity while it trains."""
from __future__ import annotations

import torch
from torch import nn

from trainables.augment import eval_view_set
from trainables.config import TrainConfig
from trainables.model import VideoEmbedder, build_model
from trainables.variants import variant_of


class IdentityLinear(nn.Linear):
    """A square linear map initialised at the identity (no bias drift at the start)."""

    def __init__(self, size: int):
        super().__init__(size, size)
        with torch.no_grad():
            self.weight.copy_(torch.eye(size))
            self.bias.zero_()

    def distance_from_identity(self) -> torch.Tensor:
        return ((self.weight - torch.eye(len(self.weight), device=self.weight.device)) ** 2).sum()


def build_variant_model(config: TrainConfig) -> VideoEmbedder:
    """The model the variant trains: LoRA adapters and a projection head, or (probe) the frozen backbone with an
    identity-initialised linear map in place of the head. Checkpoints keep one format: adapter/ (untouched
    zero-effect LoRA for a probe) and head.safetensors. The model carries its eval_views (trainables.augment)."""
    model = build_model(config.model)
    model.eval_views = eval_view_set(config.augment.eval_views)  # what embed_clips averages over
    if variant_of(config).probe:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        model.head = IdentityLinear(model.head[0].in_features)
    return model


def regulariser(model: nn.Module, config: TrainConfig) -> torch.Tensor | None:
    """The probe's pull toward identity (probe_identity_weight * ||W - I||^2), else None."""
    head = getattr(model, "module", model).head
    if not isinstance(head, IdentityLinear):
        return None
    return config.loss.probe_identity_weight * head.distance_from_identity()
