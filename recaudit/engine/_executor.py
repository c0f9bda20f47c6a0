"""Executors: how batches of cache misses reach the model.

An executor is anything with ``run(fn, batches) -> iterator of (batch index, answers)``,
yielding each batch as soon as it is done (in any order), so the engine can commit it to the
cache at once. :class:`LocalExecutor` runs them in this process, in order;
:class:`~recaudit.engine.RayExecutor` ships them to model replicas in Ray actors.

The engine hands executors a :class:`ModelCall` as ``fn``: a picklable task that names the
model, its fingerprint and the method, so a distributed executor can ship the model to its
workers once and then send only request batches. Any other callable works with the local
executor (and, more slowly, with Ray: it is shipped with every batch).

A spec's ``executor: {kind: ...}`` names an :class:`ExecutorKind` in :data:`EXECUTOR_KINDS`:
``local``, ``ray``, or a third-party kind from the ``recaudit.executors`` entry-point group
(an :class:`ExecutorKind`, or an executor class whose keyword parameters are its spec keys).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..errors import SpecError, did_you_mean
from ..registry import Kind, KindRegistry, accepted_parameters

B = TypeVar("B")


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


# ====================================================================== executor kinds
@dataclass(frozen=True)
class ExecutorKind(Kind):
    """One ``executor: {kind: ...}`` of a spec: its builder and the keys it accepts.

    ``build(**options) -> executor``; ``options`` is the validated spec without ``kind``.
    What it returns is owned by the audit that built it: it needs ``run(fn, batches)`` (see
    :class:`Executor`), ``close()`` and ``with`` support, as :class:`LocalExecutor` has.
    """

    #: The keys a spec of this kind accepts, ``kind`` included.
    keys: tuple[str, ...] = ("kind",)
    #: ``check(spec, path)``: checks of the values, raising SpecError naming ``path.key``.
    check: Callable[[dict[str, Any], str], None] | None = None


def _adopt_executor_class(name: str, obj: Any) -> ExecutorKind | None:
    """An executor class registered directly (a plug-in) as a kind whose keys are its
    keyword parameters."""
    if not (isinstance(obj, type) and callable(getattr(obj, "run", None))):
        return None
    doc = (obj.__doc__ or "").strip()
    return ExecutorKind(name, doc.splitlines()[0] if doc else "", obj,
                        ("kind", *accepted_parameters(obj)))


#: ``executor`` kinds accepted by :func:`make_executor` (and in specs).
EXECUTOR_KINDS: KindRegistry[ExecutorKind] = KindRegistry(
    "executor", ExecutorKind, entry_point_group="recaudit.executors",
    adopt=_adopt_executor_class, adopts="an executor class (one with a run method)",
    label="executor kind")
EXECUTOR_KINDS.register("local", ExecutorKind(
    "local", "batches one after another in this process", LocalExecutor))
EXECUTOR_KINDS.lazy("ray", "recaudit.engine._ray:RAY")

#: The :class:`ExecutorKind` registered as a name; an executor class registered directly (a
#: plug-in) becomes one whose keys are its keyword parameters.
executor_kind = EXECUTOR_KINDS.record


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
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping):
        raise SpecError(f"{path}: expected a mapping like {{kind: local}} or {{kind: ray, "
                        f"num_workers: 2}}, got {type(spec).__name__} ({spec!r})")
    spec = dict(spec)
    name = spec.get("kind", "local")
    if name not in EXECUTOR_KINDS:
        names = EXECUTOR_KINDS.names()
        raise SpecError(f"{path}.kind: unknown executor {name!r}."
                        f"{did_you_mean(name, names, n=1)} Allowed: {', '.join(names)}")
    kind = executor_kind(name)
    for key in spec:
        if key not in kind.keys:
            raise SpecError(f"{path}: unknown key '{path}.{key}'."
                            f"{did_you_mean(key, kind.keys, n=1)} Allowed keys for "
                            f"kind {name!r}: {', '.join(kind.keys)}")
    spec["kind"] = name
    if kind.check is not None:
        kind.check(spec, path)
    return spec


def make_executor(spec: Any) -> Any:
    """An executor from ``None``, an executor, a kind name (``"local"``, ``"ray"``, a
    plug-in's) or a spec mapping.

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
    kind = executor_kind(spec["kind"])
    return kind.build(**{k: v for k, v in spec.items() if k != "kind"})
