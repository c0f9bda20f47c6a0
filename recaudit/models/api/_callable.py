"""``CallableRecommender``: wrap plain Python functions as a model under test."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...contract import BaseRecommender, Ranking, Request
from ...errors import RequestError

_SIMPLE = (int, float, str, bool, bytes, type(None))
_IN_PROGRESS: set[int] = set()


def _bound_value(value: Any) -> str:
    """A stable text for a value a function closes over (or takes as a default)."""
    if isinstance(value, _SIMPLE):
        return repr(value)
    if isinstance(value, tuple | list | frozenset) and all(isinstance(v, _SIMPLE)
                                                          for v in value):
        return repr(sorted(value, key=repr) if isinstance(value, frozenset) else value)
    fingerprint = getattr(value, "fingerprint", None)
    if callable(fingerprint):
        try:
            return f"{type(value).__name__}:{fingerprint()}"
        except Exception:  # noqa: BLE001 - a failing fingerprint only weakens the key
            pass
    return type(value).__name__


def _code_hash(fn: Callable | None) -> str:
    """Source of ``fn`` plus the simple values it closes over or defaults to, so that two
    closures made by one factory with different parameters get different fingerprints."""
    if fn is None:
        return "-"
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        src = getattr(fn, "__qualname__", repr(fn))
    bound = list(getattr(fn, "__defaults__", None) or ())
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            bound.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    src += "|" + "|".join(_bound_value(v) for v in bound)
    return hashlib.sha256(src.encode()).hexdigest()[:12]


class CallableRecommender(BaseRecommender):
    """A recommender made of functions.

    Parameters
    ----------
    rank : callable
        ``rank(request, k) -> sequence of item ids``, best first. When the request has
        candidates the output is restricted to them (in the function's order).
    data : AuditDataset
        The catalog the ids come from.
    score : callable, optional
        ``score(request) -> array`` of one score per candidate; adds the ``score`` capability.
        When ``rank`` is None, ranking sorts by these scores (candidates, or the catalog).
    nll : callable, optional
        ``nll(request, target_item) -> float``; adds the ``nll`` capability.
    render : callable, optional
        ``render(request) -> str``; adds the ``prompt`` capability.
    name : str, optional
        Used in the fingerprint and reports; default derived from the functions' source.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    >>> first = ra.models.CallableRecommender(lambda r, k: data.item_ids[:k], data)
    >>> first.rank([data.request("u0000")], 3)[0].items
    ('i0000', 'i0001', 'i0002')
    """

    def __init__(self, rank: Callable[[Request, int], Sequence[str]] | None, data: Any, *,
                 score: Callable[[Request], Sequence[float]] | None = None,
                 nll: Callable[[Request, str], float] | None = None,
                 render: Callable[[Request], str] | None = None,
                 name: str | None = None) -> None:
        if rank is None and score is None:
            raise ValueError("CallableRecommender needs a rank function, a score function, "
                             "or both")
        self._rank_fn = rank
        self._score_fn = score
        self._nll_fn = nll
        self._render_fn = render
        self.data = data
        self.name = name or getattr(rank or score, "__qualname__", "callable")
        caps = {"rank"}
        if score is not None:
            caps.add("score")
        if nll is not None:
            caps.add("nll")
        if render is not None:
            caps.add("prompt")
        self.capabilities = frozenset(caps)
        self._catalog = set(data.item_ids)

    def fingerprint(self) -> str:
        if id(self) in _IN_PROGRESS:  # a function that closes over this very model
            return "callable-self"
        _IN_PROGRESS.add(id(self))
        try:
            parts = [self.name, _code_hash(self._rank_fn), _code_hash(self._score_fn),
                     _code_hash(self._nll_fn), self.data.fingerprint()]
        finally:
            _IN_PROGRESS.discard(id(self))
        return "callable-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def _scores_over(self, request: Request) -> tuple[tuple[str, ...], np.ndarray]:
        pool = request.candidates if request.candidates is not None else self.data.item_ids
        req = request if request.candidates is not None else request.replace(candidates=pool)
        s = np.asarray(self._score_fn(req), dtype=float)
        if s.shape != (len(pool),):
            raise RequestError(f"score function returned shape {s.shape}; expected "
                               f"({len(pool)},) for user {request.user_id!r}")
        return tuple(pool), s

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        out = []
        for req in requests:
            if self._rank_fn is None:
                pool, s = self._scores_over(req)
                order = np.argsort(-s, kind="stable")[:k]
                out.append(Ranking(tuple(pool[i] for i in order), tuple(s[order])))
                continue
            items = [str(i) for i in self._rank_fn(req, k)]
            if req.candidates is not None:
                allowed = set(req.candidates)
                items = [i for i in items if i in allowed]
            unknown = [i for i in items if i not in self._catalog]
            if unknown:
                raise RequestError(f"{self.name} returned item ids not in the catalog: "
                                   f"{unknown[:5]} (user {req.user_id!r})")
            seen: set[str] = set()
            items = [i for i in items if not (i in seen or seen.add(i))]
            out.append(Ranking(tuple(items[:k])))
        return out

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        if self._score_fn is None:
            raise self._missing("score")
        result = []
        for req in requests:
            if req.candidates is None:
                raise RequestError("score() needs request.candidates "
                                   f"(user {req.user_id!r} has none)")
            result.append(self._scores_over(req)[1])
        return result

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        if self._nll_fn is None:
            raise self._missing("nll")
        return np.array([float(self._nll_fn(r, t)) for r, t in zip(requests, targets)])

    def render(self, request: Request) -> str:
        if self._render_fn is None:
            raise self._missing("prompt")
        return self._render_fn(request)

    def __repr__(self) -> str:
        return f"CallableRecommender({self.name!r}, capabilities={sorted(self.capabilities)})"
