"""An irrelevant sentence added to the prompt (CheckList's INV "add irrelevant text")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import Perturbation, register_perturbation

IRRELEVANT_SENTENCES = (
    "The weather was mild this week.",
    "I had coffee with a friend yesterday.",
    "My phone battery is almost empty.",
    "The train was five minutes late this morning.",
    "I am writing this from the kitchen table.",
    "There is a new bakery on the corner of my street.",
    "I need to remember to water the plants.",
    "The meeting was moved to Thursday.",
)


@register_perturbation
class IrrelevantSentence(Perturbation):
    """Append sentences that say nothing about the user's taste to ``prompt_extra``.

    Parameters
    ----------
    strength : float, default 0.34
        Number of sentences = ``max(1, round(strength * max_sentences))``.
    sentences : sequence of str
        The pool drawn from (without replacement).
    max_sentences : int
        Sentences added at strength 1.
    """

    name = "irrelevant_sentence"
    kind = "prompt"
    default_strength = 0.34
    _repr_exclude = ("sentences",)  # eight sentences: too long for a repr or a report

    def __init__(self, strength: float | None = None, seed: int = 0, *,
                 sentences: Sequence[str] = IRRELEVANT_SENTENCES,
                 max_sentences: int = 3) -> None:
        super().__init__(strength, seed)
        if not sentences:
            raise ValueError("irrelevant_sentence: 'sentences' is empty")
        self.sentences = tuple(sentences)
        self.max_sentences = int(max_sentences)

    def _apply(self, request, data, rng: np.random.Generator):
        if self.strength == 0:
            return request
        n = min(len(self.sentences), max(1, round(self.strength * self.max_sentences)))
        picked = [self.sentences[i] for i in rng.choice(len(self.sentences), n, replace=False)]
        extra = " ".join(x for x in (request.prompt_extra, *picked) if x)
        return request.replace(prompt_extra=extra)
