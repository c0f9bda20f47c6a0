"""Popularity zoo: a model that pushes popular items next to a popularity-neutral twin.

Both share :meth:`ScoringModel.base_scores` (genre overlap with the history plus a light
popularity prior, weight 0.1); the pusher adds ``strength * log(1 + popularity)`` on top, the
planted defect. In the synthetic worlds popularity is genuinely predictive, so the light prior
keeps the neutral model about as accurate as the pusher (HR@10 within a few points) while its
recommendations stay less popular than the users' own histories (popularity lift < 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...contract import Request
from ._base import ScoringModel


class PopularityNeutral(ScoringModel):
    """Clean twin: genre overlap with the history plus a light popularity prior (0.1).

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=40, seed=0)
    >>> len(PopularityNeutral(data).rank([data.request("u0000")], 5)[0].items)
    5
    """

    def __init__(self, data: Any, *, popularity_weight: float = 0.1, seed: int = 0,
                 **params: Any) -> None:
        super().__init__(data, popularity_weight=popularity_weight, seed=seed, **params)


class PopularityPusher(ScoringModel):
    """Planted defect: adds a strong log-popularity term to the neutral score.

    Parameters
    ----------
    strength : float
        Weight of ``log(1 + popularity)`` added to every item's score.
    """

    def __init__(self, data: Any, *, strength: float = 1.5, popularity_weight: float = 0.1,
                 seed: int = 0, **params: Any) -> None:
        super().__init__(data, popularity_weight=popularity_weight, seed=seed,
                         strength=strength, **params)

    def catalog_scores(self, request: Request) -> np.ndarray:
        return self.base_scores(request) + float(self.params["strength"]) * self._log_pop
