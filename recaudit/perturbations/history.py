"""History perturbations: order shuffle and truncation."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._base import Perturbation, register_perturbation, shuffle_share


@register_perturbation
class HistoryShuffle(Perturbation):
    """Shuffle the order of the history (a set-based recommender is invariant to it).

    Parameters
    ----------
    strength : float, default 1.0
        Share of history positions that are shuffled among themselves (1 = a full random
        permutation).
    """

    name = "history_shuffle"
    kind = "history"
    default_strength = 1.0

    def _apply(self, request, data, rng: np.random.Generator):
        out = shuffle_share(request.history, self.strength, rng)
        return request if out is None else request.replace(history=out)


@register_perturbation
class HistoryTruncation(Perturbation):
    """Drop part of the history. This removes information, so some change in the output is
    legitimate (``preserves_meaning = False``).

    Parameters
    ----------
    strength : float, default 0.25
        Share of history items dropped (at least one item is kept).
    keep : {"recent", "random"}
        Keep the most recent items, or a random subset in their original order.
    """

    name = "history_truncation"
    kind = "history"
    preserves_meaning = False
    default_strength = 0.25

    def __init__(self, strength: float | None = None, seed: int = 0, *,
                 keep: Literal["recent", "random"] = "recent") -> None:
        super().__init__(strength, seed)
        if keep not in ("recent", "random"):
            raise ValueError(f"history_truncation: keep must be 'recent' or 'random', "
                             f"got {keep!r}")
        self.keep = keep

    def _apply(self, request, data, rng: np.random.Generator):
        hist = request.history
        n_keep = max(1, len(hist) - int(round(self.strength * len(hist))))
        if n_keep >= len(hist):
            return request
        if self.keep == "recent":
            return request.replace(history=hist[-n_keep:])
        idx = np.sort(rng.choice(len(hist), size=n_keep, replace=False))
        return request.replace(history=tuple(hist[i] for i in idx))
