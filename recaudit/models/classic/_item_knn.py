"""``ItemKNN``: the classic item-to-item co-occurrence recommender (no language model).

Items are vectors over the training users who interacted with them; two items are similar
when the same users chose both (cosine of the binary user-item columns, Sarwar et al., WWW
2001; Deshpande & Karypis, TOIS 2004). A candidate's score is the summed similarity to the
user's history items, each history item contributing only its ``n_neighbors`` most similar
items. The stated profile, item text overrides and free prompt text are ignored: it is a
reference point for what collaborative filtering alone achieves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...contract import Request, stable_hash
from ...errors import RequestError
from ._baselines import _PoolRecommender


class ItemKNN(_PoolRecommender):
    """Item-to-item co-occurrence kNN trained on ``data.train``.

    Parameters
    ----------
    data : AuditDataset
        Catalog and training interactions.
    n_neighbors : int
        Neighbours kept per item (the rest of its similarity row is set to 0).
    shrink : float
        Shrinkage of the cosine towards 0 for items with few co-occurrences:
        ``sim * co / (co + shrink)``.
    exclude_history : bool
        Drop history items from whole-catalog rankings.
    sample_weight : array-like, optional
        One weight per row of ``data.train`` (the user-item matrix holds the weights).

    Ties (a cold-start user with no history, items that never co-occur) are broken by
    training popularity, then catalog order.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=40, n_items=30, seed=0)
    >>> knn = ItemKNN(data)
    >>> len(knn.rank([data.request("u0001")], 5)[0].items)
    5
    """

    capabilities = frozenset({"rank", "score", "train"})

    def __init__(self, data: Any, *, n_neighbors: int = 50, shrink: float = 10.0,
                 exclude_history: bool = True, sample_weight: Any = None) -> None:
        from scipy import sparse
        from sklearn.metrics.pairwise import cosine_similarity

        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}")
        if shrink < 0:
            raise ValueError(f"shrink must be >= 0, got {shrink}")
        super().__init__(data, exclude_history=bool(exclude_history))
        self.n_neighbors = int(n_neighbors)
        self.shrink = float(shrink)
        train = data.train
        w = np.ascontiguousarray(np.ones(len(train)) if sample_weight is None
                                 else np.asarray(sample_weight, dtype=float).reshape(-1))
        if len(w) != len(train):
            raise ValueError(f"sample_weight has {len(w)} entries but data.train has "
                             f"{len(train)} rows; give one weight per train interaction")
        self._weighted = sample_weight is not None
        users = {u: n for n, u in enumerate(data.user_ids)}
        index = data.item_index
        rows = np.array([index[i] for i in train["item_id"]], dtype=int)
        cols = np.array([users[u] for u in train["user_id"]], dtype=int)
        x = sparse.csr_matrix((w, (rows, cols)), shape=(len(index), len(users)))
        x.sum_duplicates()
        sim = cosine_similarity(x, dense_output=True)
        binary = (x > 0).astype(float)
        co = (binary @ binary.T).toarray()
        if self.shrink > 0:
            sim = sim * co / (co + self.shrink)
        np.fill_diagonal(sim, 0.0)
        if self.n_neighbors < sim.shape[1]:
            cut = np.argpartition(-sim, self.n_neighbors - 1, axis=1)[:, self.n_neighbors:]
            np.put_along_axis(sim, cut, 0.0, axis=1)
        self._sim = sim
        pop = data.popularity.to_numpy(dtype=float)
        self._tie = 1e-9 * pop / max(1.0, pop.max())
        self._fp = "ItemKNN-" + stable_hash(data.fingerprint(), self.n_neighbors, self.shrink,
                                            self.exclude_history,
                                            hashlib.sha256(w.tobytes()).hexdigest()[:16])

    def fingerprint(self) -> str:
        return self._fp

    def fit(self, data: Any, sample_weight: Any = None, seed: int = 0) -> ItemKNN:
        """A new ItemKNN on ``data`` (deterministic: ``seed`` is accepted and unused)."""
        return ItemKNN(data, n_neighbors=self.n_neighbors, shrink=self.shrink,
                       exclude_history=self.exclude_history, sample_weight=sample_weight)

    def _item_scores(self, request: Request, items: Sequence[str]) -> np.ndarray:
        index = self.data.item_index  # candidates are checked by _check, history here
        unknown = [i for i in request.history if i not in index]
        if unknown:
            raise RequestError(f"unknown item id(s) {unknown[:5]} for user "
                               f"{request.user_id!r}: not in the catalog")
        cols = np.array([index[i] for i in items], dtype=int)
        hist = np.array([index[i] for i in request.history], dtype=int)
        total = self._sim[hist].sum(axis=0) if len(hist) else np.zeros(len(index))
        return total[cols] + self._tie[cols]

    def __repr__(self) -> str:
        return f"ItemKNN(n_neighbors={self.n_neighbors}, shrink={self.shrink})"
