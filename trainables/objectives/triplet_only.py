"""The triplet term alone (the paper's ablation); the RSA over the batch's videos is logged, not trained."""
from __future__ import annotations

from trainables.objectives.base import Objective, Terms


class TripletOnly(Objective):
    name = "triplet-only"
    help = "the triplet term alone"

    def step(self, batch) -> Terms:
        from trainables.objectives.terms import batch_terms

        triplet, rsa = batch_terms(batch)
        return Terms(triplet, {"triplet": triplet, "rsa": rsa})


OBJECTIVE = TripletOnly()
