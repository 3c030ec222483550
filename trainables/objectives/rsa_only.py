"""The RSA term alone (the paper's ablation), weighted by its own ramp (rsa_only_beta_start .. _end); under the
authors' cadence it updates on RSA steps only, as their code did."""
from __future__ import annotations

from trainables.objectives.base import Objective, Terms, rsa_weight


class RsaOnly(Objective):
    name = "rsa-only"
    help = "the RSA term alone, weighted from rsa_only_beta_start to rsa_only_beta_end"
    extra_videos = True

    def step(self, batch) -> Terms | None:
        from trainables.objectives.terms import batch_terms, paper_terms, rsa_step

        loss = batch.loss
        if loss.rsa_steps_per_epoch:
            if not rsa_step(batch):
                return None
            triplet, rsa = paper_terms(batch, triplet=False, rsa=True)
        else:
            triplet, rsa = batch_terms(batch)
        weight = rsa_weight(batch.epoch, start=loss.rsa_only_beta_start, end=loss.rsa_only_beta_end,
                            step=loss.beta_step)
        return Terms(weight * rsa, {"triplet": triplet, "rsa": rsa})


OBJECTIVE = RsaOnly()
