"""gLocal (Muttenthaler et al. 2023): the hybrid's objective on an identity-initialised linear map of the frozen
base features, no LoRA, pulled toward the identity (probe_identity_weight * ||W - I||^2); selected the same way,
it is the floor a fine-tuned trial must beat."""
from __future__ import annotations

from trainables.objectives.base import Terms
from trainables.objectives.hybrid import Hybrid


class LinearProbe(Hybrid):
    name = "linear-probe"
    help = ("the hybrid's objective on an identity-initialised linear map of the frozen base features, no LoRA: "
            "the floor a fine-tuned trial must beat")
    probe = True
    terms = ("triplet", "rsa", "identity")

    def step(self, batch) -> Terms:
        hybrid = super().step(batch)
        identity = batch.loss.probe_identity_weight * batch.module.head.distance_from_identity()
        return Terms(hybrid.total + identity, {**hybrid.parts, "identity": identity})

    def prepare_model(self, model):
        """Freeze everything and put the identity map where the head was (checkpoints keep one format:
        adapter/, untouched zero-effect LoRA, and head.safetensors)."""
        from trainables.model import IdentityLinear

        for parameter in model.parameters():
            parameter.requires_grad_(False)
        model.head = IdentityLinear(model.head[0].in_features)
        return model


OBJECTIVE = LinearProbe()
