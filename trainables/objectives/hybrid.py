"""The paper's objective: alpha * triplet + beta(epoch) * RSA toward the human similarity."""
from __future__ import annotations

from trainables.objectives.base import Objective, Terms, ramp


class Hybrid(Objective):
    name = "hybrid"
    help = "alpha*triplet + beta(epoch)*RSA"
    extra_videos = True

    def step(self, batch) -> Terms:
        from trainables.objectives.terms import batch_terms, paper_terms, rsa_step

        if batch.loss.rsa_steps_per_epoch:  # the authors' cadence: RSA on every max(1, steps // N)-th step
            # no budget-matched extra triplets, whatever budget_constraints says: the authors' hybrid is
            # alpha * triplet + beta * RSA (their run_hybrid), and the paper space sets budget_constraints for
            # the budget-matched variant it runs beside it
            triplet, rsa = paper_terms(batch, rsa=rsa_step(batch))
        else:
            triplet, rsa = batch_terms(batch)
        return Terms(batch.loss.alpha * triplet + ramp(batch.epoch, batch.loss) * rsa,
                     {"triplet": triplet, "rsa": rsa})


OBJECTIVE = Hybrid()
