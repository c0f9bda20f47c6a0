"""``CachedRecommender``: the engine between auditors and the model under test.

It is itself a :class:`~recaudit.Recommender` (same capabilities and fingerprint) and routes
``rank``, ``score``, ``nll`` and ``explain`` through de-duplication of identical requests,
an on-disk cache, batching of the misses (longest requests first, so padded batches stay
tight) and cost accounting attributed to the auditor currently running.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import numpy as np

from ..contract import Explanation, Ranking, Request
from ..errors import CapabilityError, RecauditError, RequestError
from ..results import Cost
from ._cache import RequestCache, default_cache_path
from ._executor import Executor, ModelCall, make_executor, run_batches

CacheLike = bool | str | os.PathLike | RequestCache | None


# ------------------------------------------------------------------ codecs (answer <-> JSON)
def _enc_ranking(r: Ranking) -> Any:
    if not isinstance(r, Ranking):
        raise RecauditError(f"rank() must return Ranking objects, got {type(r).__name__}")
    return r.to_dict()


def _enc_array(a: Any) -> Any:
    a = np.asarray(a)
    return {"dtype": str(a.dtype), "data": a.tolist()}


def _dec_array(d: Any) -> np.ndarray:
    return np.asarray(d["data"], dtype=d["dtype"])


def _enc_explanation(e: Any) -> Any:
    if isinstance(e, Explanation):
        return {"item": e.item, "text": e.text, "cited": list(e.cited)}
    if isinstance(e, (list, tuple)):
        return {"list": [_enc_explanation(x) for x in e]}
    return {"other": asdict(e) if hasattr(e, "__dataclass_fields__") else e}


def _dec_explanation(d: Any) -> Any:
    if "list" in d:
        return [_dec_explanation(x) for x in d["list"]]
    if "other" in d:
        return d["other"]
    return Explanation(item=d["item"], text=d["text"], cited=tuple(d["cited"]))


_CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "rank": (_enc_ranking, Ranking.from_dict),
    "score": (_enc_array, _dec_array),
    "nll": (float, float),
    "explain": (_enc_explanation, _dec_explanation),
}

#: method -> the capability it needs.
_CAPABILITY = {"rank": "rank", "score": "score", "nll": "nll", "explain": "explain"}


def _request_size(r: Request) -> int:
    """A rough prompt length, used to batch similar lengths together."""
    return (len(r.history) + len(r.candidates or ()) + len(r.profile)
            + (len(r.prompt_extra) + sum(len(v) for _, v in r.item_text)) // 16)


def request_id(request: Request, arg: Any) -> str:
    """The cache id of one request and its argument (``k``, a target item, ``""``), stored
    under the model's fingerprint and the method."""
    return f"{request.key()}:{arg}"


def uncached(model: Any, method: str, requests: Sequence[Request], args: Sequence[Any],
             cache: CacheLike = True) -> list[int]:
    """Positions of the ``(request, arg)`` pairs that ``cache`` holds no answer for under
    ``model``'s fingerprint: what the engine would send the model (in order, repeats kept).

    ``cache`` is what :class:`CachedRecommender` takes; ``False``/``None`` (nothing on disk)
    holds nothing, so every position is returned. A cost estimate asks this instead of
    rebuilding the cache's ids.

    Examples
    --------
    >>> from recaudit.testing.zoo import ScoringModel
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=30, n_items=40, seed=0)
    >>> model, store = ScoringModel(data), RequestCache(":memory:")
    >>> reqs = [data.request("u0001"), data.request("u0002")]
    >>> _ = CachedRecommender(model, cache=store, progress=False).rank(reqs[:1], 5)
    >>> uncached(model, "rank", reqs, [5, 5], cache=store)
    [1]
    """
    requests = list(requests)
    if cache is False or cache is None or not requests:
        return list(range(len(requests)))
    store = open_cache(cache)
    try:
        ids = [request_id(r, a) for r, a in zip(requests, args)]
        hit = store.get_many(str(model.fingerprint()), method, ids)
    finally:
        if store is not cache:
            store.close()
    return [n for n, i in enumerate(ids) if i not in hit]


def open_cache(cache: CacheLike) -> RequestCache:
    """``True`` -> the default file; ``False``/``None`` -> in memory; a path; or a cache."""
    if isinstance(cache, RequestCache):
        return cache
    if cache is True:
        return RequestCache(default_cache_path())
    if cache is False or cache is None:
        return RequestCache(":memory:")
    return RequestCache(cache)


class _Ledger:
    """Costs per auditor name, shared by a wrapper and the wrappers ``fit`` returns."""

    def __init__(self) -> None:
        self.costs: dict[str, Cost] = {}
        self.current = ""

    def cost(self, name: str | None = None) -> Cost:
        return self.costs.setdefault(self.current if name is None else name, Cost())


class CachedRecommender:
    """Wrap a model so its answers are de-duplicated, cached, batched and accounted for.

    Parameters
    ----------
    model : Recommender
        The model under test.
    cache : bool, path or RequestCache
        ``True`` (default): ``$RECAUDIT_CACHE_DIR/requests.sqlite`` or
        ``~/.cache/recaudit/requests.sqlite``; a path: that SQLite file; ``False``: nothing
        on disk (answers are still shared in memory for the life of this wrapper).
    batch_size : int
        Most requests per call to the model.
    progress : bool
        Show a progress bar over batches when a call has several batches of misses.
    executor : Executor, str or mapping, optional
        Runs the batches (default: in this process, in order); ``"ray"`` or
        ``{"kind": "ray", "num_workers": 2}`` builds a
        :class:`~recaudit.engine.RayExecutor` (see :func:`~recaudit.engine.make_executor`).

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo import ScoringModel
    >>> data = ra.datasets.synthetic(n_users=30, n_items=40, seed=0)
    >>> m = CachedRecommender(ScoringModel(data), cache=False, progress=False)
    >>> reqs = [data.request("u0001")] * 3
    >>> _ = m.rank(reqs, 5)
    >>> (m.cost().requests, m.cost().unique, m.cost().model_calls)
    (3, 1, 1)
    """

    def __init__(self, model: Any, *, cache: CacheLike = True, batch_size: int = 64,
                 progress: bool = True, executor: Executor | str | dict | None = None,
                 _ledger: _Ledger | None = None) -> None:
        if isinstance(model, CachedRecommender):
            model = model.model
        if not callable(getattr(model, "rank", None)) or not callable(
                getattr(model, "fingerprint", None)):
            raise TypeError(f"{type(model).__name__} is not a Recommender: it needs "
                            "rank(requests, k), fingerprint() and capabilities")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.cache = open_cache(cache)
        # a remote model asks for small batches (``max_batch_size``): each batch is cached as
        # it returns, so a crash loses at most one
        cap = getattr(model, "max_batch_size", None)
        self.batch_size = min(int(batch_size), int(cap)) if cap else int(batch_size)
        self.progress = progress
        self.executor = None if executor is None else make_executor(executor)
        self._ledger = _ledger or _Ledger()
        self._fingerprint: str | None = None

    # ---------------------------------------------------------------- identity
    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(getattr(self.model, "capabilities", ()) or ())

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = str(self.model.fingerprint())
        return self._fingerprint

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found on the wrapper: forward to the model.
        if name.startswith("__") or name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    def __repr__(self) -> str:
        return repr(self.model)

    # ---------------------------------------------------------------- cost accounting
    @contextmanager
    def attribute_to(self, name: str) -> Iterator[Cost]:
        """Count every request made inside the block against ``name`` (an auditor)."""
        previous = self._ledger.current
        self._ledger.current = name
        try:
            yield self._ledger.cost(name)
        finally:
            self._ledger.current = previous

    def cost(self, name: str | None = None) -> Cost:
        """Cost of one auditor (default: the current one, ``""`` outside any auditor)."""
        return self._ledger.cost(name)

    def reset_cost(self, name: str) -> None:
        """Start ``name``'s account from zero (an audit re-using this wrapper does this)."""
        self._ledger.costs[name] = Cost()

    @property
    def costs(self) -> dict[str, Cost]:
        return dict(self._ledger.costs)

    def total_cost(self) -> Cost:
        total = Cost()
        for c in self._ledger.costs.values():
            total += c
        return total

    # ---------------------------------------------------------------- routed methods
    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        k = int(k)
        return self._call("rank", requests, [k] * len(requests))

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        return self._call("score", requests, [""] * len(requests))

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        requests, targets = list(requests), [str(t) for t in targets]
        if len(requests) != len(targets):
            raise RequestError(f"nll() got {len(requests)} requests but {len(targets)} "
                               "targets; pass one target per request")
        out = self._call("nll", requests, targets)
        return np.asarray(out, dtype=float)

    def explain(self, requests: Sequence[Request], k: int = 1) -> list[Any]:
        k = int(k)
        return self._call("explain", requests, [k] * len(requests))

    # ---------------------------------------------------------------- forwarded as-is
    def render(self, request: Request) -> str:
        return self.model.render(request)

    def gradient_handle(self) -> Any:
        return self.model.gradient_handle()

    def fit(self, data: Any, sample_weight: Any = None, seed: int = 0) -> CachedRecommender:
        """Train a new model through the wrapped one; it shares this cache and cost ledger.

        Training time counts as time inside the model (one model call).
        """
        start = time.perf_counter()
        new = self.model.fit(data, sample_weight=sample_weight, seed=seed)
        cost = self._ledger.cost()
        cost.model_calls += 1
        cost.model_seconds += time.perf_counter() - start
        return CachedRecommender(new, cache=self.cache, batch_size=self.batch_size,
                                 progress=self.progress, executor=self.executor,
                                 _ledger=self._ledger)

    # ---------------------------------------------------------------- the engine
    def _call(self, method: str, requests: Sequence[Request], args: Sequence[Any]
              ) -> list[Any]:
        if _CAPABILITY[method] not in self.capabilities:
            raise CapabilityError(
                f"{type(self.model).__name__} does not declare the '{_CAPABILITY[method]}' "
                f"capability (it has: {', '.join(sorted(self.capabilities))})")
        requests = list(requests)
        for r in requests:
            if not isinstance(r, Request):
                raise RequestError(f"{method}() expects Request objects, got "
                                   f"{type(r).__name__}; build them with data.request(...)")
        encode, decode = _CODECS[method]
        cost = self._ledger.cost()
        cost.requests += len(requests)
        if not requests:
            return []
        ids = [request_id(r, a) for r, a in zip(requests, args)]
        first: dict[str, int] = {}
        for pos, i in enumerate(ids):
            first.setdefault(i, pos)
        cost.unique += len(first)

        fp = self.fingerprint()
        answers: dict[str, Any] = {}
        for i, text in self.cache.get_many(fp, method, list(first)).items():
            try:
                answers[i] = decode(json.loads(text))
            except ValueError:
                # an answer no longer valid (e.g. a Ranking with a repeated item, which
                # older versions stored): a miss, so the model is asked again and the entry
                # overwritten
                continue
        cost.cache_hits += len(answers)
        # similar lengths together; one user's requests of a length next to each other, so
        # a batch holds the variants of a prompt that share a prefix (a model may encode it
        # once: HFRecommender does)
        misses = sorted((i for i in first if i not in answers),
                        key=lambda i: (-_request_size(requests[first[i]]),
                                       str(requests[first[i]].user_id)))
        batches = [misses[s:s + self.batch_size] for s in range(0, len(misses),
                                                                  self.batch_size)]
        announce = getattr(self.model, "announce_work", None)  # e.g. a paid API's estimate
        if misses and callable(announce):
            announce(method, [requests[first[i]] for i in misses],
                     [args[first[i]] for i in misses])

        # the executor gets the model once and (requests, args) batches
        task = ModelCall(self.model, method, fp)
        payloads = [([requests[first[i]] for i in b], [args[first[i]] for i in b])
                    for b in batches]

        bar = self._bar(len(batches), method)
        try:
            for n, (out, seconds) in run_batches(task, payloads, executor=self.executor):
                batch = batches[n]
                out = list(out)
                if len(out) != len(batch):
                    raise RecauditError(
                        f"{type(self.model).__name__}.{method}() returned {len(out)} answers "
                        f"for {len(batch)} requests; it must return one per request")
                texts = {i: json.dumps(encode(a), separators=(",", ":"))
                         for i, a in zip(batch, out)}
                self.cache.put_many(fp, method, texts)
                for i, text in texts.items():
                    answers[i] = decode(json.loads(text))
                cost.model_calls += 1
                cost.model_seconds += seconds
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return [answers[i] for i in ids]

    def _bar(self, n_batches: int, method: str) -> Any:
        if not self.progress or n_batches < 2:
            return None
        from tqdm.auto import tqdm

        who = self._ledger.current or "model"
        return tqdm(total=n_batches, desc=f"{who}: {method}", unit="batch", leave=False,
                    dynamic_ncols=True)
