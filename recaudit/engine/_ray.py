"""``RayExecutor``: model replicas in Ray actors answer the engine's batches of cache misses.

Each worker is a Ray actor that loads a model once (from one ``ray.put`` copy in the object
store, per model fingerprint) and then answers de-duplicated request batches. Answers come
back to the driver, which commits them to the same SQLite cache as the local executor, so a
run can switch executors and reuse every answer. Workers are restarted by Ray when they die
(``max_restarts``) and the batch they held is retried (``max_task_retries``); a worker that
is gone for good is replaced and its batch sent again, so no answer is lost.

Ray is an optional extra (``pip install 'recaudit[ray]'``) imported only when an executor
starts.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import MissingDependencyError, RecauditError, SpecError
from ._executor import ExecutorKind, ModelCall, call_model

#: How many models a worker keeps loaded (an audit uses one; ``fit`` makes shadow models).
_MODELS_PER_WORKER = 2
#: The keys of a spec's ``executor: {kind: ray, ...}``.
RAY_KEYS = ("kind", "address", "num_workers", "gpus_per_worker", "cpus_per_worker",
            "batches_in_flight", "init")


def import_ray() -> Any:
    """``import ray``, or a clear error naming the extra that installs it."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            "the Ray executor needs Ray, which is not installed; install the extra with "
            "`pip install 'recaudit[ray]'` (or use executor={'kind': 'local'})") from exc
    return ray


class _ModelWorker:
    """A Ray actor body: keeps up to two models loaded and answers batches."""

    def __init__(self) -> None:
        self._models: OrderedDict[str, Any] = OrderedDict()

    def pid(self) -> int:
        return os.getpid()

    def loaded(self) -> list[str]:
        return list(self._models)

    def call(self, key: str, model_box: list[Any], method: str, requests: list[Any],
             args: list[Any]) -> tuple[list[Any], float]:
        model = self._models.get(key)
        if model is None:
            import ray

            model = ray.get(model_box[0])  # boxed so Ray does not fetch it with every call
            self._models[key] = model
            while len(self._models) > _MODELS_PER_WORKER:
                self._models.popitem(last=False)
        else:
            self._models.move_to_end(key)
        start = time.perf_counter()
        out = call_model(model, method, requests, args)
        return list(out), time.perf_counter() - start

    def run_fn(self, fn: Callable[[Any], Any], batch: Any) -> Any:
        return fn(batch)


class RayExecutor:
    """Answer batches on model replicas in Ray actors (one replica per worker).

    Parameters
    ----------
    address : str, optional
        ``"auto"`` joins the running cluster (``ray start --head``), ``"ray://host:port"``
        a remote one through Ray Client; ``None`` or ``"local"`` starts a local Ray (or uses
        the one this process already started).
    num_workers : int, optional
        Model replicas; default: the cluster's GPUs / ``gpus_per_worker`` when GPUs are
        asked for, else its CPUs / ``cpus_per_worker``.
    gpus_per_worker : float
        GPUs each replica reserves (0: CPU only). The model is moved to its device by the
        model itself (e.g. ``HFRecommender(device="cuda")``).
    cpus_per_worker : float
        CPUs each replica reserves.
    batches_in_flight : int
        Batches queued per worker at once (2 keeps a worker busy while answers travel).
    init : mapping, optional
        Extra ``ray.init`` keywords when this executor starts Ray itself.
    max_restarts, max_task_retries : int
        Passed to the actors: how often Ray restarts a dead worker and retries its batch.

    Examples
    --------
    >>> import recaudit as ra                                           # doctest: +SKIP
    >>> with RayExecutor(num_workers=2) as ex:                          # doctest: +SKIP
    ...     report = ra.audit(model, data, executor=ex)
    """

    def __init__(self, address: str | None = None, num_workers: int | None = None,
                 gpus_per_worker: float = 0, cpus_per_worker: float = 1,
                 batches_in_flight: int = 2, init: Mapping[str, Any] | None = None,
                 max_restarts: int = 4, max_task_retries: int = 4) -> None:
        self.address = address
        self.num_workers = num_workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.batches_in_flight = batches_in_flight
        self.init = dict(init or {})
        self.max_restarts = max_restarts
        self.max_task_retries = max_task_retries
        self._ray: Any = None
        self._owns_ray = False
        self._actors: list[Any] = []
        self._refs: OrderedDict[str, Any] = OrderedDict()
        self.replaced = 0  # workers replaced after Ray gave up restarting them

    # ---------------------------------------------------------------- life cycle
    def start(self) -> RayExecutor:
        """Start (or join) Ray and the workers; ``run`` does this on first use."""
        if self._actors:
            return self
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "logging_level": "warning",
                      "log_to_driver": False, **self.init}
            if self.address not in (None, "local"):
                kwargs["address"] = self.address
            elif self.num_workers and "num_cpus" not in kwargs:
                # never leave asked-for workers waiting for CPUs a local Ray does not have
                kwargs["num_cpus"] = max(os.cpu_count() or 1,
                                         math.ceil(self.num_workers * self.cpus_per_worker))
            ray.init(**kwargs)
            self._owns_ray = True
        resources = ray.cluster_resources()
        gpus = float(self.gpus_per_worker or 0)
        if gpus > 0 and resources.get("GPU", 0) < gpus:
            raise RecauditError(
                f"gpus_per_worker={gpus} but the Ray cluster has "
                f"{resources.get('GPU', 0):g} GPU(s); use gpus_per_worker: 0 or a GPU cluster")
        n = self.num_workers
        if n is None:
            n = (int(resources.get("GPU", 0) // gpus) if gpus > 0 else
                 int(resources.get("CPU", 1) // max(self.cpus_per_worker, 1e-9)))
        n = max(1, int(n))
        if n * self.cpus_per_worker > resources.get("CPU", 0):
            warnings.warn(f"{n} Ray workers x {self.cpus_per_worker} CPU exceed the cluster's "
                          f"{resources.get('CPU', 0):g} CPUs; some wait until others finish "
                          "or the cluster grows", RuntimeWarning, stacklevel=2)
        self._actors = [self._new_actor() for _ in range(n)]
        return self

    def _new_actor(self) -> Any:
        ray = self._ray
        return ray.remote(_ModelWorker).options(
            num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker or 0,
            max_restarts=self.max_restarts, max_task_retries=self.max_task_retries).remote()

    def close(self) -> None:
        """Stop the workers, and Ray itself when this executor started it."""
        ray, actors = self._ray, self._actors
        self._actors, self._refs = [], OrderedDict()
        if ray is None:
            return
        for actor in actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def workers(self) -> list[Any]:
        """The actor handles (started on first use)."""
        return list(self._actors)

    def __repr__(self) -> str:
        n = len(self._actors) or self.num_workers
        return (f"RayExecutor(address={self.address!r}, num_workers={n}, "
                f"gpus_per_worker={self.gpus_per_worker})")

    # ---------------------------------------------------------------- running
    def _model_ref(self, task: ModelCall) -> Any:
        ref = self._refs.get(task.key)
        if ref is None:
            ref = self._refs[task.key] = self._ray.put(task.model)
            while len(self._refs) > 2 * _MODELS_PER_WORKER:
                self._refs.popitem(last=False)
        return ref

    def run(self, fn: Callable[[Any], Any], batches: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(batch))`` as workers finish, in completion order."""
        if not batches:
            return
        self.start()
        ray = self._ray
        from ray.exceptions import RayActorError

        if isinstance(fn, ModelCall):
            box = [self._model_ref(fn)]

            def submit(actor: Any, batch: Any) -> Any:
                requests, args = batch
                return actor.call.remote(fn.key, box, fn.method, list(requests), list(args))
        else:
            fn_ref = ray.put(fn)

            def submit(actor: Any, batch: Any) -> Any:
                return actor.run_fn.remote(fn_ref, batch)

        queue = deque(range(len(batches)))
        load = [0] * len(self._actors)
        tries = [0] * len(batches)
        pending: dict[Any, tuple[int, int, Any]] = {}
        try:
            while queue or pending:
                for a in range(len(self._actors)):
                    while queue and load[a] < self.batches_in_flight:
                        n = queue.popleft()
                        actor = self._actors[a]
                        pending[submit(actor, batches[n])] = (n, a, actor)
                        load[a] += 1
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    n, a, actor = pending.pop(ref)
                    load[a] -= 1
                    try:
                        out = ray.get(ref)
                    except RayActorError:
                        tries[n] += 1
                        if tries[n] > self.max_task_retries:
                            raise
                        if self._actors[a] is actor:  # gone for good: replace it once
                            try:
                                ray.kill(actor, no_restart=True)
                            except Exception:  # already gone
                                pass
                            self._actors[a] = self._new_actor()
                            self.replaced += 1
                        queue.appendleft(n)
                        continue
                    yield n, out
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # finished meanwhile, or not cancellable
                    pass


def check_ray_spec(spec: dict[str, Any], path: str) -> None:
    """The values of an ``executor: {kind: ray, ...}`` spec (its keys are checked already)."""
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


#: The ``ray`` executor kind (``EXECUTOR_KINDS`` loads it from here on first use).
RAY = ExecutorKind("ray", "model replicas in Ray actors", RayExecutor, RAY_KEYS,
                   check_ray_spec)
