"""Planted privacy defects next to their clean twins.

- :class:`GenderLeaky` looks up the user's real value of a sensitive attribute (default
  ``gender``) in the data and boosts a fixed, value-specific set of items: its
  recommendations reveal the attribute even from a neutral prompt. :class:`GenderBlind` is
  the same model without the lookup.
- :class:`Memorizer` remembers every training (history prefix -> next item) transition and
  boosts exactly the remembered next item when it sees the prefix again; its ``fit``
  memorises the new data. :class:`Generalizer` is the same model without the memory.

Examples
--------
>>> import recaudit as ra
>>> data = ra.datasets.synthetic(n_users=30, n_items=40, seed=0)
>>> m = Memorizer(data)
>>> h = data.train_histories[data.user_ids[0]]
>>> m.rank([ra.Request(data.user_ids[0], history=h[:-1])], 1)[0].items[0] == h[-1]
True
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ...contract import Request
from ._base import ScoringModel

__all__ = ["GenderBlind", "GenderLeaky", "Generalizer", "Memorizer"]


class GenderLeaky(ScoringModel):
    """Boosts a value-specific item set for the user's *real* attribute (planted leakage).

    Parameters
    ----------
    data : AuditDataset
    attribute : str
        The user column that leaks (default ``gender``).
    strength : float
        Score added to the boosted items.
    share : float
        Share of the catalog boosted for each attribute value.
    """

    def __init__(self, data: Any, *, attribute: str = "gender", strength: float = 0.6,
                 share: float = 0.2, **kw: Any) -> None:
        super().__init__(data, attribute=attribute, strength=strength, share=share, **kw)
        rng = np.random.default_rng([self.seed, 7])
        n = len(self._ids)
        self._boost = {}
        if attribute in data.users.columns:
            for value in data.attribute_values(attribute):
                v = np.zeros(n)
                v[rng.choice(n, size=max(1, int(share * n)), replace=False)] = strength
                self._boost[value] = v
        self._attr = dict(zip(data.users["user_id"], data.users[attribute].astype(str))) \
            if attribute in data.users.columns else {}

    def catalog_scores(self, request: Request) -> np.ndarray:
        s = self.base_scores(request)
        value = self._attr.get(request.user_id)
        if value in self._boost:
            s = s + self._boost[value]
        return s


class GenderBlind(ScoringModel):
    """The clean twin of :class:`GenderLeaky`: scores depend on the request only."""


class Memorizer(ScoringModel):
    """Boosts the exact next training item after a history suffix it has seen in training.

    The memory maps the last ``window`` items of every training prefix to the item that
    followed it. ``fit(data)`` builds a new memory from ``data`` (it memorises new data,
    canaries included).

    ``popularity_weight`` defaults to 0 here and in :class:`Generalizer`: training-set
    popularity counts include each member's own interactions, a small but real membership
    signal that calibrated attacks (LiRA) detect, so the clean twin must not use it.

    Parameters
    ----------
    data : AuditDataset
    window : int
        How many trailing history items form the memory key.
    strength : float
        Score added to remembered continuations.
    """

    def __init__(self, data: Any, *, window: int = 3, strength: float = 5.0,
                 popularity_weight: float = 0.0, **kw: Any) -> None:
        super().__init__(data, window=window, strength=strength,
                         popularity_weight=popularity_weight, **kw)
        self.window = window
        self.strength = strength
        memory: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for hist in data.train_histories.values():
            for t in range(1, len(hist)):
                memory[tuple(hist[max(0, t - window):t])].add(hist[t])
        self._memory = dict(memory)

    def catalog_scores(self, request: Request) -> np.ndarray:
        s = self.base_scores(request)
        key = tuple(request.history[-self.window:]) if request.history else ()
        for item in self._memory.get(key, ()):
            j = self._index.get(item)
            if j is not None:
                s[j] += self.strength
        return s


class Generalizer(ScoringModel):
    """The clean twin of :class:`Memorizer`: no memory of training transitions.

    Scores depend on the request and the catalog only (``popularity_weight`` defaults to 0;
    see :class:`Memorizer`).
    """

    def __init__(self, data: Any, *, popularity_weight: float = 0.0, **kw: Any) -> None:
        super().__init__(data, popularity_weight=popularity_weight, **kw)
