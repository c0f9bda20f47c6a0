"""The engine between auditors and the model under test.

:class:`CachedRecommender` de-duplicates identical requests, serves repeated ones from an
on-disk SQLite cache (:class:`RequestCache`), batches the misses to the model through an
executor (:class:`LocalExecutor`; a Ray executor is a later addition) and accounts the cost
of every auditor.
"""

from ._cache import RequestCache, default_cache_path
from ._cached import CachedRecommender, open_cache
from ._executor import Executor, LocalExecutor, run_batches

__all__ = ["CachedRecommender", "Executor", "LocalExecutor", "RequestCache",
           "default_cache_path", "open_cache", "run_batches"]
