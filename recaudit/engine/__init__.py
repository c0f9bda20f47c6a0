"""The engine between auditors and the model under test.

:class:`CachedRecommender` de-duplicates identical requests, serves repeated ones from an
on-disk SQLite cache (:class:`RequestCache`), batches the misses to the model through an
executor (:class:`LocalExecutor` in this process, or :class:`RayExecutor`: model replicas in
Ray actors, or a third-party kind from the ``recaudit.executors`` entry points; see
:data:`EXECUTOR_KINDS`) and accounts the cost of every auditor.
"""

from ._cache import RequestCache, default_cache_path
from ._cached import CachedRecommender, open_cache, uncached
from ._chunks import chunked
from ._executor import (
                        EXECUTOR_KINDS,
                        Executor,
                        ExecutorKind,
                        LocalExecutor,
                        ModelCall,
                        executor_kind,
                        make_executor,
                        run_batches,
                        validate_executor_spec,
)
from ._factory import engine_for, owned_executor
from ._ray import MissingDependencyError, RayExecutor

__all__ = ["EXECUTOR_KINDS", "CachedRecommender", "Executor", "ExecutorKind", "LocalExecutor",
           "MissingDependencyError", "ModelCall", "RayExecutor", "RequestCache", "chunked",
           "default_cache_path", "engine_for", "executor_kind", "make_executor", "open_cache",
           "owned_executor",
           "run_batches", "uncached", "validate_executor_spec"]
