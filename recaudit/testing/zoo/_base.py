"""``ScoringModel``: a cheap, fully capable recommender that zoo models build on.

A subclass implements :meth:`catalog_scores` (one score per catalog item for a request);
ranking, candidate scoring, NLL (softmax over the catalog), prompt rendering and ``fit``
come for free. Zoo models plant exactly one defect on top of a shared, honest base score
(genre overlap with the history plus a little popularity), so a "clean" and a "defective"
model differ only in the defect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...contract import BaseRecommender, Ranking, Request, stable_hash


class ScoringModel(BaseRecommender):
    """Base of the planted-defect zoo. Deterministic: same request, same answer.

    Parameters
    ----------
    data : AuditDataset
        Catalog and training data.
    popularity_weight : float
        Weight of log-popularity in the honest base score.
    seed : int
        Seeds the per-item noise that breaks ties.
    """

    capabilities = frozenset({"rank", "score", "nll", "prompt", "train"})

    def __init__(self, data: Any, *, popularity_weight: float = 0.3, seed: int = 0,
                 **params: Any) -> None:
        self.data = data
        self.popularity_weight = popularity_weight
        self.seed = seed
        self.params = params
        self._ids = np.array(data.item_ids)
        self._index = data.item_index
        genres = sorted({g for s in data.items["genres"] for g in s.split("|") if g})
        gidx = {g: n for n, g in enumerate(genres)}
        self._item_genre = np.zeros((len(self._ids), len(genres)))
        for n, s in enumerate(data.items["genres"]):
            for g in s.split("|"):
                if g:
                    self._item_genre[n, gidx[g]] = 1.0
        self._genre_index = gidx
        self._log_pop = np.log1p(data.popularity.reindex(list(data.item_ids)).to_numpy(float))
        self._noise = np.random.default_rng(seed).normal(0, 1e-3, len(self._ids))

    # ---------------------------------------------------------------- to override
    def base_scores(self, request: Request) -> np.ndarray:
        """Honest score: genre overlap with the history, plus log-popularity, plus noise."""
        hist = [self._index[i] for i in request.history if i in self._index]
        taste = self._item_genre[hist].mean(axis=0) if hist else np.zeros(
            self._item_genre.shape[1])
        s = self._item_genre @ taste + self.popularity_weight * self._log_pop + self._noise
        s[hist] -= 100.0  # never recommend what the user already has
        return s

    def catalog_scores(self, request: Request) -> np.ndarray:
        """Scores for every catalog item (override to plant a defect)."""
        return self.base_scores(request)

    def candidate_scores(self, request: Request) -> np.ndarray:
        """Scores for ``request.candidates`` in order (override for order effects)."""
        s = self.catalog_scores(request)
        return np.array([s[self._index[c]] for c in request.candidates])

    # ---------------------------------------------------------------- protocol
    def fingerprint(self) -> str:
        return f"{type(self).__name__}-" + stable_hash(
            self.data.fingerprint(), self.popularity_weight, self.seed,
            {k: repr(v) for k, v in self.params.items()})

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        out = []
        for req in requests:
            if req.candidates is not None:
                pool = np.array(req.candidates)
                s = self.candidate_scores(req)
            else:
                pool, s = self._ids, self.catalog_scores(req)
            order = np.argsort(-s, kind="stable")[:k]
            out.append(Ranking(tuple(pool[order]), tuple(s[order])))
        return out

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        from ...errors import RequestError

        out = []
        for req in requests:
            if req.candidates is None:
                raise RequestError(f"score() needs candidates (user {req.user_id!r})")
            out.append(self.candidate_scores(req))
        return out

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        out = []
        for req, t in zip(requests, targets):
            s = self.catalog_scores(req)
            s = s - s.max()
            logz = np.log(np.exp(s).sum())
            out.append(float(logz - s[self._index[t]]))
        return np.array(out)

    def render(self, request: Request) -> str:
        text = request.item_text_dict
        titles = [text.get(i, self.data.titles.get(i, i)) for i in request.history]
        prof = "; ".join(f"{k}: {v}" for k, v in request.profile)
        lines = [f"User profile: {prof}." if prof else "",
                 "Watched: " + ", ".join(titles) + ".",
                 request.prompt_extra]
        if request.candidates is not None:
            lines.append("Candidates: " + ", ".join(
                text.get(c, self.data.titles.get(c, c)) for c in request.candidates) + ".")
        return "\n".join(x for x in lines if x)

    def fit(self, data: Any, sample_weight: Any = None, seed: int = 0) -> ScoringModel:
        return type(self)(data, popularity_weight=self.popularity_weight, seed=seed,
                          **self.params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params or ''})"
