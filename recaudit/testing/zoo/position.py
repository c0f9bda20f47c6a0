"""Position zoo: a ranker that prefers early candidates next to an order-invariant twin.

Both score candidates with :meth:`ScoringModel.base_scores`; the early-candidate ranker adds
a bonus that falls linearly from ``bonus`` (first candidate) to 0 (last), the planted
defect (the "primacy" effect LLMRank measured in ChatGPT).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...contract import Request
from ._base import ScoringModel


class OrderInvariantRanker(ScoringModel):
    """Clean twin: a candidate's score does not depend on where it appears in the list.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=40, seed=0)
    >>> m = OrderInvariantRanker(data)
    >>> r = data.request("u0000", candidates=data.item_ids[-5:])
    >>> r2 = r.replace(candidates=r.candidates[::-1])
    >>> m.rank([r], 5)[0].items == m.rank([r2], 5)[0].items
    True
    """


class EarlyCandidateRanker(ScoringModel):
    """Planted defect: candidate at 0-based position p of n gets ``bonus * (1 - p / (n - 1))``.

    Parameters
    ----------
    bonus : float
        Score bonus of the first candidate (the last one gets 0).
    """

    def __init__(self, data: Any, *, bonus: float = 0.4, popularity_weight: float = 0.3,
                 seed: int = 0, **params: Any) -> None:
        super().__init__(data, popularity_weight=popularity_weight, seed=seed, bonus=bonus,
                         **params)

    def candidate_scores(self, request: Request) -> np.ndarray:
        s = super().candidate_scores(request)
        n = len(s)
        if n > 1:
            s = s + float(self.params["bonus"]) * (1.0 - np.arange(n) / (n - 1))
        return s
