"""Planted-defect zoo for the explanation auditors.

- :class:`LastItemRecommender`: recommends only from the user's most recent history item
  (the items most similar to it). Its ground-truth attribution is known: the last history
  item carries the whole recommendation, every other part none.
- :class:`HistoryBlindRecommender`: recommends by popularity alone, ignoring the request, so
  no attribution over the request's parts can beat a random one (the vacuous case).
- :class:`HonestExplainer` / :class:`DishonestExplainer`: wrap a ranker and add the
  ``explain`` capability. The honest one cites the history item whose removal lowers the
  recommended item's score the most (what the ranker used); the dishonest one cites the
  item whose removal matters least (what the ranker never used) and can also cite items the
  user never saw (hallucinated citations).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...contract import DelegatingRecommender, Explanation, Request, stable_hash
from ._base import ScoringModel


class LastItemRecommender(ScoringModel):
    """Scores items by their similarity (cosine) to the last history item only.

    Item vectors are the genre indicators plus a small random latent part (seeded), so no two
    items are exact copies and the last item always shapes the recommendation.

    Parameters
    ----------
    data : AuditDataset
    strength : float
        Scale of the similarity term (larger = sharper preference for similar items).
    latent : float
        Weight of the random latent part of the item vectors.
    popularity_weight : float
        Small log-popularity term.
    seed : int
    """

    def __init__(self, data: Any, *, strength: float = 4.0, latent: float = 0.5,
                 popularity_weight: float = 0.1, seed: int = 0) -> None:
        super().__init__(data, popularity_weight=popularity_weight, seed=seed,
                         strength=strength, latent=latent)
        self.strength = strength
        self.latent = latent
        z = np.random.default_rng([seed, 7]).normal(size=(len(self._ids), 8))
        vec = np.hstack([self._item_genre, latent * z])
        norms = np.linalg.norm(vec, axis=1, keepdims=True)
        self._unit = vec / np.where(norms > 0, norms, 1.0)

    def catalog_scores(self, request: Request) -> np.ndarray:
        hist = [self._index[i] for i in request.history if i in self._index]
        s = self.popularity_weight * self._log_pop + self._noise
        if hist:
            s = s + self.strength * (self._unit @ self._unit[hist[-1]])
            s[hist] -= 100.0
        return s

    def fit(self, data: Any, sample_weight: Any = None, seed: int = 0) -> LastItemRecommender:
        return type(self)(data, strength=self.strength, latent=self.latent,
                          popularity_weight=self.popularity_weight, seed=seed)


class HistoryBlindRecommender(ScoringModel):
    """Ignores the request entirely: log-popularity plus fixed per-item noise."""

    def catalog_scores(self, request: Request) -> np.ndarray:
        return self._log_pop + self._noise


class _ExplainerWrapper(DelegatingRecommender):
    """A ranker plus an ``explain`` capability; every other capability is delegated."""

    def __init__(self, model: Any, data: Any, *, cite_ids: bool = True) -> None:
        self.model = model
        self.data = data
        self.cite_ids = cite_ids
        self.capabilities = frozenset(model.capabilities) | {"explain"}

    def fingerprint(self) -> str:
        return f"{type(self).__name__}-" + stable_hash(self.model.fingerprint(), self.cite_ids)

    def leave_one_out(self, request: Request, item: str) -> np.ndarray:
        """Drop in the score of ``item`` when each history item is removed (one batch)."""
        reqs = [request.replace(candidates=(item,))]
        for n in range(len(request.history)):
            reqs.append(request.replace(history=request.history[:n] + request.history[n + 1:],
                                        candidates=(item,)))
        scores = np.array([float(s[0]) for s in self.model.score(reqs)])
        return scores[0] - scores[1:]

    def choose(self, request: Request, item: str) -> str | None:
        raise NotImplementedError

    def explain(self, requests: Sequence[Request], k: int = 1) -> list[Explanation]:
        titles = self.data.titles
        out = []
        for req, ranking in zip(requests, self.model.rank(requests, k)):
            item = ranking.items[0]
            cited = self.choose(req, item)
            if cited is None:
                out.append(Explanation(item, f"We recommend {titles.get(item, item)}."))
                continue
            text = (f"Because you watched {titles.get(cited, cited)}, we recommend "
                    f"{titles.get(item, item)}.")
            out.append(Explanation(item, text, (cited,) if self.cite_ids else ()))
        return out


class HonestExplainer(_ExplainerWrapper):
    """Cites the history item the ranker relied on most (largest leave-one-out drop).

    Parameters
    ----------
    model : Recommender with ``score``
    data : AuditDataset
    cite_ids : bool
        Fill ``Explanation.cited`` (else only the text names the item).
    """

    def choose(self, request: Request, item: str) -> str | None:
        if not request.history:
            return None
        drop = self.leave_one_out(request, item)
        return request.history[int(np.argmax(drop))]


class DishonestExplainer(_ExplainerWrapper):
    """Cites a history item the ranker did not use (smallest leave-one-out drop).

    Parameters
    ----------
    model : Recommender with ``score``
    data : AuditDataset
    hallucinate : float
        Share of explanations that cite a catalog item the user never interacted with.
    cite_ids : bool
    """

    def __init__(self, model: Any, data: Any, *, hallucinate: float = 0.0,
                 cite_ids: bool = True) -> None:
        super().__init__(model, data, cite_ids=cite_ids)
        self.hallucinate = float(hallucinate)

    def fingerprint(self) -> str:
        return super().fingerprint() + stable_hash(self.hallucinate)

    def choose(self, request: Request, item: str) -> str | None:
        if not request.history:
            return None
        h = zlib.crc32(request.key().encode("utf-8"))
        rng = np.random.default_rng(h)
        if rng.random() < self.hallucinate:
            seen = set(request.history) | {item}
            pool = [i for i in self.data.item_ids if i not in seen]
            return pool[int(rng.integers(len(pool)))]
        drop = self.leave_one_out(request, item)
        return request.history[int(np.argmin(np.abs(drop)))]
