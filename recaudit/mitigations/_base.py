"""``Mitigation`` and ``MitigatedRecommender``: a mitigated model is again a Recommender.

Wrappers stack (``b.wrap(a.wrap(model))``) and every auditor runs on them unchanged. The
fingerprint of a wrapped model is the inner fingerprint plus the mitigation and its
parameters, so the engine cache never mixes mitigated and unmitigated answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..contract import BaseRecommender, Ranking, Request, stable_hash
from ..errors import CapabilityError
from ..params import Params


class Mitigation(Params):
    """Base class: store keyword parameters in ``__init__``; build the wrapper in ``wrap``.

    ``name`` is the registry name (a class attribute), ``requires`` lists the capabilities
    the wrapped model must declare; ``get_params()`` and the repr come from
    :class:`~recaudit.params.Params`.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset({"rank"})

    def check(self, model: Any) -> None:
        missing = set(self.requires) - set(getattr(model, "capabilities", ()))
        if missing:
            raise CapabilityError(
                f"mitigation {self.name!r} needs capabilities {sorted(missing)} that "
                f"{type(model).__name__} does not declare "
                f"(it has {sorted(getattr(model, 'capabilities', ()))})")

    def wrap(self, model: Any, data: Any = None) -> Any:
        raise NotImplementedError

    def label(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{self.name}({params})"


def model_data(model: Any, data: Any) -> Any:
    data = data if data is not None else getattr(model, "data", None)
    if data is None:
        raise ValueError("this mitigation needs the dataset: pass wrap(model, data=...) or wrap "
                         "a model that has a .data attribute")
    return data


class MitigatedRecommender(BaseRecommender):
    """A Recommender that delegates to ``inner`` with a mitigation applied.

    Subclasses override :meth:`transform` (request rewriting) and/or :meth:`pool_scores`
    (scores over a request's pool: its candidates, or the catalog).
    """

    def __init__(self, inner: Any, mitigation: Mitigation, data: Any) -> None:
        self.inner = inner
        self.mitigation = mitigation
        self.data = data
        self.capabilities = self.supported_capabilities(frozenset(inner.capabilities))

    # ---------------------------------------------------------------- identity
    def supported_capabilities(self, inner_caps: frozenset[str]) -> frozenset[str]:
        return inner_caps & frozenset({"rank", "score", "prompt", "train"})

    def fingerprint(self) -> str:
        return (f"{self.inner.fingerprint()}+{self.mitigation.name}-"
                f"{stable_hash(self.mitigation.get_params())}")

    def __repr__(self) -> str:
        return f"{self.mitigation.label()} ∘ {self.inner!r}"

    # ---------------------------------------------------------------- hooks
    def transform(self, request: Request) -> Request:
        return request

    def pool_scores(self, requests: Sequence[Request]) -> list[np.ndarray]:
        """Mitigated scores for each request's pool; default: the inner model's."""
        return inner_pool_scores(self.inner, [self.transform(r) for r in requests], self.data)

    # ---------------------------------------------------------------- protocol
    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        scores = self.pool_scores(requests)
        out = []
        for req, s in zip(requests, scores):
            pool = np.asarray(pool_of(req, self.data))
            finite = np.isfinite(s)
            order = [i for i in np.argsort(-np.where(finite, s, -np.inf), kind="stable")
                     if finite[i]][:k]
            out.append(Ranking(tuple(pool[order]), tuple(float(s[i]) for i in order)))
        return out

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        if "score" not in self.capabilities:
            raise self._missing("score")
        return self.pool_scores(requests)

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        if "nll" not in self.capabilities:
            raise self._missing("nll")
        return self.inner.nll([self.transform(r) for r in requests], targets)

    def render(self, request: Request) -> str:
        if "prompt" not in self.capabilities:
            raise self._missing("prompt")
        return self.inner.render(self.transform(request))

    def fit(self, data: Any, sample_weight: Any = None, seed: int = 0) -> Any:
        if "train" not in self.capabilities:
            raise self._missing("train")
        return self.mitigation.wrap(self.inner.fit(data, sample_weight=sample_weight, seed=seed),
                                    data=data)


def pool_of(request: Request, data: Any) -> tuple[str, ...]:
    return request.candidates if request.candidates is not None else data.item_ids


def inner_pool_scores(model: Any, requests: Sequence[Request], data: Any) -> list[np.ndarray]:
    """Scores of ``model`` over each request's pool, in pool order (higher is better).

    Candidate requests use ``score`` when declared; whole-catalog requests use a full-length
    ``rank`` (its scores, or positions when it gives none). Items a ranking leaves out (the
    user's own history, say) get ``-inf``.
    """
    out: list[np.ndarray | None] = [None] * len(requests)
    cand = [n for n, r in enumerate(requests) if r.candidates is not None]
    if cand and "score" in model.capabilities:
        for n, s in zip(cand, model.score([requests[n] for n in cand])):
            out[n] = np.asarray(s, dtype=float)
    todo = [n for n in range(len(requests)) if out[n] is None]
    if todo:
        by_k: dict[int, list[int]] = {}
        for n in todo:
            by_k.setdefault(len(pool_of(requests[n], data)), []).append(n)
        for k, ns in by_k.items():
            for n, ranking in zip(ns, model.rank([requests[n] for n in ns], k)):
                pool = pool_of(requests[n], data)
                index = {item: i for i, item in enumerate(pool)}
                s = np.full(len(pool), -np.inf)
                vals = ranking.scores if ranking.scores is not None else \
                    tuple(float(len(ranking.items) - p) for p in range(len(ranking.items)))
                for item, v in zip(ranking.items, vals):
                    s[index[item]] = v
                out[n] = s
    return out  # type: ignore[return-value]


def log_softmax(s: np.ndarray) -> np.ndarray:
    finite = np.isfinite(s)
    out = np.full_like(s, -np.inf, dtype=float)
    if finite.any():
        x = s[finite] - s[finite].max()
        out[finite] = x - np.log(np.exp(x).sum())
    return out


class Identity(Mitigation):
    """Changes nothing: the control arm of an ablation and of ``check_mitigation``."""

    name = "identity"

    def wrap(self, model: Any, data: Any = None) -> Any:
        return _IdentityRecommender(model, self, model_data(model, data))


class _IdentityRecommender(MitigatedRecommender):
    def supported_capabilities(self, inner_caps: frozenset[str]) -> frozenset[str]:
        return inner_caps - {"gradients", "explain"}

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        return self.inner.rank(requests, k)

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        return self.inner.score(requests)
