"""Garcia & Isik v2's language-distillation control: the hybrid's objective with the caption-language similarity
in place of the human one (every training triad answered by it, RSA toward it), selected on the same human
validation triplets: what fine-tuning gains from the captions alone."""
from __future__ import annotations

from trainables.objectives.hybrid import Hybrid


class LanguageDistill(Hybrid):
    name = "language-distill"
    help = "the hybrid's objective toward the caption-language similarity instead of the human one"
    target = "language"


OBJECTIVE = LanguageDistill()
