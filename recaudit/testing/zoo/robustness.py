"""Robustness zoo: a recommender keyed to exact title strings next to a text-robust twin.

Both build on :meth:`ScoringModel.base_scores` (genre overlap with the history plus a little
popularity). They differ only in how they read item text:

- :class:`BrittleTitleModel` recognises a history item only by its exact catalog title. A
  title whose text changed at all (a typo, a case change, an extra space) is misread as a
  pseudo-random catalog item chosen by a hash of the text, so its genre signal is lost and
  replaced by noise. A title (of a candidate) that contains the ``trigger`` word gets a large
  bonus: the planted backdoor an item-text attack can exploit.
- :class:`RobustTitleModel` reads history items by id and ignores ``item_text`` overrides,
  so text noise and title edits cannot move it.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np

from ...contract import Request
from ._base import ScoringModel

#: Default backdoor word of :class:`BrittleTitleModel`.
DEFAULT_TRIGGER = "masterpiece"
#: Both twins lean on the history more than on popularity, so what the model reads of the
#: history decides the list.
ZOO_POPULARITY_WEIGHT = 0.05


class RobustTitleModel(ScoringModel):
    """Clean twin: history and candidates are read by item id; item text is ignored.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=40, seed=0)
    >>> m = RobustTitleModel(data)
    >>> r = data.request("u0000")
    >>> noisy = r.replace(item_text={i: "x" for i in r.history})
    >>> m.rank([r], 5)[0].items == m.rank([noisy], 5)[0].items
    True
    """

    def __init__(self, data: Any, *, popularity_weight: float = ZOO_POPULARITY_WEIGHT,
                 seed: int = 0, **params: Any) -> None:
        super().__init__(data, popularity_weight=popularity_weight, seed=seed, **params)


class BrittleTitleModel(ScoringModel):
    """Planted defect: exact-title lookup of the history, and a trigger word in titles.

    Parameters
    ----------
    trigger : str
        A title containing this word (case-insensitive, as a whole word) gets ``boost``.
    boost : float
        Score bonus of a triggered title (large enough to put it first).
    """

    def __init__(self, data: Any, *, trigger: str = DEFAULT_TRIGGER, boost: float = 100.0,
                 popularity_weight: float = ZOO_POPULARITY_WEIGHT, seed: int = 0,
                 **params: Any) -> None:
        super().__init__(data, popularity_weight=popularity_weight, seed=seed,
                         trigger=trigger, boost=boost, **params)
        self._exact = {t: self._index[i] for i, t in data.titles.items()}
        self._trigger = re.compile(rf"\b{re.escape(trigger)}\b", re.IGNORECASE)
        self._triggered = np.array([bool(self._trigger.search(t))
                                    for t in data.items["title"]])

    def read_history(self, request: Request) -> list[int]:
        """Catalog rows the model believes the history holds (misreads changed titles)."""
        text = request.item_text_dict
        out = []
        for item in request.history:
            if item not in self._index:
                continue
            title = text.get(item, self.data.titles[item])
            row = self._exact.get(title)
            if row is None:
                row = zlib.crc32(title.encode("utf-8")) % len(self._ids)
            out.append(row)
        return out

    def catalog_scores(self, request: Request) -> np.ndarray:
        rows = self.read_history(request)
        taste = (self._item_genre[rows].mean(axis=0) if rows
                 else np.zeros(self._item_genre.shape[1]))
        s = self._item_genre @ taste + self.popularity_weight * self._log_pop + self._noise
        s[[self._index[i] for i in request.history if i in self._index]] -= 100.0
        triggered = self._triggered.copy()
        for item, title in request.item_text:
            if item in self._index:
                triggered[self._index[item]] = bool(self._trigger.search(title))
        return s + float(self.params["boost"]) * triggered
