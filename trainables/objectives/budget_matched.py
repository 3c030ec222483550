"""The triplet term plus extra constraints on the hybrid's budget of extra videos (the paper's ablation): ours
mines, per triplet, the extra video humans rank below its positive that the model puts closest; under the
authors' rule (budget_constraints > 0) up to that many extra triplets an epoch, the batch's worst anchor against
its hardest other negative."""
from __future__ import annotations

from trainables.objectives.base import Objective, Terms


class BudgetMatched(Objective):
    name = "budget-matched"
    help = "triplet-only plus mined hard negatives from as many extra clips as the hybrid's RSA subset"
    extra_videos = True

    def step(self, batch) -> Terms:
        from trainables.objectives.terms import batch_terms, extra_step, paper_terms

        if batch.loss.budget_constraints:
            triplet, rsa = paper_terms(batch, extra=extra_step(batch))
        else:
            triplet, rsa = batch_terms(batch, mined=True)
        return Terms(triplet, {"triplet": triplet, "rsa": rsa})


OBJECTIVE = BudgetMatched()
