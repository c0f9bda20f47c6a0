"""Character typos in titles: swap, drop or insert adjacent characters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ._base import TitlePerturbation, map_words, register_perturbation

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
#: QWERTY neighbours of each letter (same row, left and right), used by ``insert``.
KEYBOARD = {c: "".join(row[j] for j in (i - 1, i + 1) if 0 <= j < len(row))
            for row in _ROWS for i, c in enumerate(row)}

TYPO_OPS = ("swap", "drop", "insert")


def typo(word: str, op: str, rng: np.random.Generator) -> str:
    """One typo in ``word`` (at least 3 characters; the first letter is kept).

    ``swap`` exchanges two adjacent characters, ``drop`` deletes one, ``insert`` adds a
    keyboard neighbour of a character next to it.

    Examples
    --------
    >>> typo("River", "drop", np.random.default_rng(0)) in {"Rver", "Rier", "Rivr", "Rive"}
    True
    """
    if len(word) < 3:
        return word
    if op == "swap":
        i = int(rng.integers(1, len(word) - 1))
        if word[i] == word[i + 1]:
            return word[:i] + word[i + 1:]  # swapping equal letters is no typo: drop one
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "drop":
        i = int(rng.integers(1, len(word)))
        return word[:i] + word[i + 1:]
    if op == "insert":
        i = int(rng.integers(1, len(word)))
        near = KEYBOARD.get(word[i - 1].lower(), "") or "e"
        c = near[int(rng.integers(len(near)))]
        return word[:i] + c + word[i:]
    raise ValueError(f"unknown typo op {op!r}; use one of {TYPO_OPS}")


@register_perturbation
class CharTypos(TitlePerturbation):
    """Keyboard typos in item titles (CheckList's ``add_typos``; FaiRLLM-style misspelt
    prompt words): each word of 3+ letters gets one typo with probability ``strength``.

    Parameters
    ----------
    strength : float, default 0.25
        Probability that an eligible word gets a typo.
    target : {"history", "all"}
        Perturb history titles only, or candidate titles too.
    ops : sequence of {"swap", "drop", "insert"}
        The typo kinds, one drawn uniformly per typo.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    >>> req = data.request(data.user_ids[0])
    >>> out = CharTypos(strength=1.0).apply(req, data)
    >>> out.history == req.history and len(out.item_text) > 0
    True
    """

    name = "typos"
    default_strength = 0.25

    def __init__(self, strength: float | None = None, seed: int = 0, *,
                 target: Literal["history", "all"] = "history",
                 ops: Sequence[Literal["swap", "drop", "insert"]] = TYPO_OPS) -> None:
        super().__init__(strength, seed, target=target)
        bad = [o for o in ops if o not in TYPO_OPS]
        if bad or not ops:
            raise ValueError(f"typos: unknown op(s) {bad}; use a non-empty subset of "
                             f"{TYPO_OPS}")
        self.ops = tuple(ops)

    def perturb_text(self, text: str, rng: np.random.Generator) -> str:
        def one(word: str) -> str | None:
            if rng.random() >= self.strength:
                return None
            return typo(word, self.ops[int(rng.integers(len(self.ops)))], rng)

        return map_words(text, one)
