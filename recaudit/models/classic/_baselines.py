"""Non-personalised baselines: ``MostPopular`` and ``RandomRecommender``.

They give the floor every language model must beat (HR@K, NDCG@K on held-out items) and are
cheap models for tests. Both exclude the user's history items from whole-catalog rankings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...contract import BaseRecommender, Ranking, Request, stable_hash
from ...errors import RequestError


class _PoolRecommender(BaseRecommender):
    capabilities = frozenset({"rank", "score"})

    def __init__(self, data: Any, *, exclude_history: bool = True) -> None:
        self.data = data
        self.exclude_history = exclude_history
        self._ids = tuple(data.item_ids)

    def _item_scores(self, request: Request, items: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def _pool(self, request: Request) -> list[str]:
        if request.candidates is not None:
            return list(request.candidates)
        if self.exclude_history:
            seen = set(request.history)
            return [i for i in self._ids if i not in seen]
        return list(self._ids)

    def _check(self, request: Request, pool: Sequence[str]) -> None:
        unknown = [i for i in pool if i not in self.data.item_index]
        if unknown:
            raise RequestError(f"unknown item id(s) {unknown[:5]} for user "
                               f"{request.user_id!r}: not in the catalog")

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        if k < 1:
            raise RequestError(f"k must be >= 1, got {k}")
        out = []
        for req in requests:
            pool = self._pool(req)
            self._check(req, pool)
            s = self._item_scores(req, pool)
            order = np.argsort(-s, kind="stable")[:k]
            out.append(Ranking(tuple(pool[i] for i in order), tuple(s[order])))
        return out

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        out = []
        for req in requests:
            if req.candidates is None:
                raise RequestError(f"score() needs request.candidates (user {req.user_id!r})")
            self._check(req, req.candidates)
            out.append(self._item_scores(req, req.candidates))
        return out


class MostPopular(_PoolRecommender):
    """Rank by training popularity (distinct train users); ties broken by catalog order.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=30, n_items=40, seed=0)
    >>> top = MostPopular(data).rank([data.request("u0000")], 3)[0]
    >>> len(top.items)
    3
    """

    def __init__(self, data: Any, *, exclude_history: bool = True) -> None:
        super().__init__(data, exclude_history=exclude_history)
        self._pop = data.popularity.astype(float).to_dict()

    def _item_scores(self, request: Request, items: Sequence[str]) -> np.ndarray:
        return np.array([self._pop[i] for i in items], dtype=float)

    def fingerprint(self) -> str:
        return "MostPopular-" + stable_hash(self.data.fingerprint(), self.exclude_history)


class RandomRecommender(_PoolRecommender):
    """Uniformly random scores, a deterministic function of (seed, user, item).

    The same request always gets the same ranking, whatever else is in the batch.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=30, n_items=40, seed=0)
    >>> m = RandomRecommender(data, seed=1)
    >>> m.rank([data.request("u0001")], 5) == m.rank([data.request("u0001")], 5)
    True
    """

    def __init__(self, data: Any, seed: int = 0, *, exclude_history: bool = True) -> None:
        super().__init__(data, exclude_history=exclude_history)
        self.seed = int(seed)

    def _item_scores(self, request: Request, items: Sequence[str]) -> np.ndarray:
        user_key = int(stable_hash(request.user_id, request.history)[:8], 16)
        table = np.random.default_rng([self.seed, user_key]).random(len(self._ids))
        index = self.data.item_index
        return np.array([table[index[i]] for i in items], dtype=float)

    def fingerprint(self) -> str:
        return "RandomRecommender-" + stable_hash(self.data.fingerprint(), self.seed,
                                                  self.exclude_history)
