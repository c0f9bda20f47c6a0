"""Executors: how batches of cache misses reach the model.

An executor is anything with ``run(fn, batches) -> iterator of (batch index, answers)``,
yielding each batch as soon as it is done (in any order), so the engine can commit it to the
cache at once. :class:`LocalExecutor` runs them in this process, in order;
:class:`~recaudit.engine.RayExecutor` ships them to model replicas in Ray actors.

The engine hands executors a :class:`ModelCall` as ``fn``: a picklable task that names the
model, its fingerprint and the method, so a distributed executor can ship the model to its
workers once and then send only request batches. Any other callable works with the local
executor (and, more slowly, with Ray: it is shipped with every batch).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ..errors import SpecError

B = TypeVar("B")

#: ``executor`` kinds accepted by :func:`make_executor` (and in specs).
EXECUTOR_KINDS = ("local", "ray")
RAY_KEYS = ("kind", "address", "num_workers", "gpus_per_worker", "cpus_per_worker",
            "batches_in_flight", "init")


class Executor(Protocol):
    """Runs ``fn`` over batches and yields ``(index, fn(batch))`` as each one completes."""

    def run(self, fn: Callable[[B], Any], batches: Sequence[B]) -> Iterator[tuple[int, Any]]:
        ...


def call_model(model: Any, method: str, requests: list[Any], args: list[Any]) -> Any:
    """Ask ``model`` one batch: ``args`` holds ``k`` (rank, explain) or targets (nll)."""
    if method == "rank":
        return model.rank(requests, args[0])
    if method == "score":
        return model.score(requests)
    if method == "nll":
        return model.nll(requests, args)
    if method == "explain":
        return model.explain(requests, args[0])
    raise ValueError(f"unknown model method {method!r}; use rank, score, nll or explain")


class ModelCall:
    """The engine's task for an executor: ``(requests, args) -> (answers, model seconds)``.

    Parameters
    ----------
    model : Recommender
    method : str
        ``rank``, ``score``, ``nll`` or ``explain``.
    key : str
        The model's fingerprint: distributed executors load each model once per worker
        under this key.

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo import ScoringModel
    >>> data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    >>> task = ModelCall(ScoringModel(data), "rank", "fp")
    >>> answers, seconds = task(([data.request("u0001")], [3]))
    >>> len(answers[0].items)
    3
    """

    def __init__(self, model: Any, method: str, key: str) -> None:
        self.model = model
        self.method = method
        self.key = key

    def __call__(self, batch: tuple[list[Any], list[Any]]) -> tuple[Any, float]:
        requests, args = batch
        start = time.perf_counter()
        out = call_model(self.model, self.method, list(requests), list(args))
        return out, time.perf_counter() - start

    def __repr__(self) -> str:
        return f"ModelCall({type(self.model).__name__}, {self.method!r})"


class LocalExecutor:
    """Runs batches one after another in the calling process (the default)."""

    def run(self, fn: Callable[[B], Any], batches: Sequence[B]) -> Iterator[tuple[int, Any]]:
        for n, batch in enumerate(batches):
            yield n, fn(batch)

    def close(self) -> None:
        """Nothing to release (present so every executor can be closed alike)."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "LocalExecutor()"


def run_batches(fn: Callable[[B], Any], batches: Sequence[B], *,
                executor: Executor | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, fn(batch))`` for every batch, through ``executor`` (local by default)."""
    yield from (executor or LocalExecutor()).run(fn, batches)


def validate_executor_spec(spec: Any, path: str = "executor") -> dict[str, Any]:
    """Check an executor spec key by key; returns it as a dict with its ``kind``.

    ``"local"`` / ``"ray"`` are short for ``{kind: local}`` / ``{kind: ray}``.

    Examples
    --------
    >>> validate_executor_spec({"kind": "ray", "num_workers": 2})
    {'kind': 'ray', 'num_workers': 2}
    >>> validate_executor_spec({"kind": "ray", "workers": 2})
    Traceback (most recent call last):
    ...
    recaudit.errors.SpecError: executor: unknown key 'executor.workers'. Did you mean ...
    """
    import difflib

    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping):
        raise SpecError(f"{path}: expected a mapping like {{kind: local}} or {{kind: ray, "
                        f"num_workers: 2}}, got {type(spec).__name__} ({spec!r})")
    spec = dict(spec)
    kind = spec.get("kind", "local")
    if kind not in EXECUTOR_KINDS:
        close = difflib.get_close_matches(str(kind), EXECUTOR_KINDS, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SpecError(f"{path}.kind: unknown executor {kind!r}.{hint} Allowed: "
                        f"{', '.join(EXECUTOR_KINDS)}")
    allowed = ("kind",) if kind == "local" else RAY_KEYS
    for key in spec:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"{path}: unknown key '{path}.{key}'.{hint} Allowed keys for "
                            f"kind {kind!r}: {', '.join(allowed)}")
    spec["kind"] = kind
    if kind == "ray":
        address = spec.get("address")
        if address is not None and (not isinstance(address, str) or not (
                address == "auto" or address == "local" or "://" in address
                or ":" in address)):
            raise SpecError(f"{path}.address: expected 'auto', 'local', 'host:port' or "
                            f"'ray://host:port', got {address!r}")
        for key, low in (("num_workers", 1), ("batches_in_flight", 1)):
            value = spec.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < low):
                raise SpecError(f"{path}.{key}: expected an integer >= {low}, got {value!r}")
        for key in ("gpus_per_worker", "cpus_per_worker"):
            value = spec.get(key)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float)) or value < 0):
                raise SpecError(f"{path}.{key}: expected a number >= 0, got {value!r}")
        init = spec.get("init")
        if init is not None and not isinstance(init, Mapping):
            raise SpecError(f"{path}.init: expected a mapping of ray.init() keywords, got "
                            f"{init!r}")
    return spec


def make_executor(spec: Any) -> Any:
    """An executor from ``None``, an executor, ``"local"``/``"ray"`` or a spec mapping.

    ``{kind: ray, address: auto | "ray://host:port", num_workers: N, gpus_per_worker: g}``
    builds a :class:`~recaudit.engine.RayExecutor` (Ray is imported only then).

    Examples
    --------
    >>> make_executor({"kind": "local"})
    LocalExecutor()
    """
    if spec is None:
        return LocalExecutor()
    if callable(getattr(spec, "run", None)):
        return spec
    spec = validate_executor_spec(spec)
    if spec["kind"] == "local":
        return LocalExecutor()
    from ._ray import RayExecutor

    kwargs = {k: v for k, v in spec.items() if k != "kind"}
    return RayExecutor(**kwargs)
