"""The one place a run wraps its model in the engine.

:func:`recaudit.audit` and :func:`recaudit.study` (and through it ``ablate`` and ``compare``)
build their engines here, so the run settings that shape model calls (``batch_size``), the
executor and the answer cache reach every run alike. Before this module, the study loop built
its own engine and silently dropped a spec's ``executor`` and ``run.batch_size``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ._cached import CachedRecommender
from ._executor import make_executor

#: The batch size when a run does not set ``batch_size``.
DEFAULT_BATCH_SIZE = 64


def batch_size_of(run: Mapping[str, Any] | None) -> int:
    """The run's ``batch_size`` (default :data:`DEFAULT_BATCH_SIZE`)."""
    return int((run or {}).get("batch_size", DEFAULT_BATCH_SIZE))


def engine_for(model: Any, *, run: Mapping[str, Any] | None = None, cache: Any = True,
               progress: bool = True, executor: Any = None) -> CachedRecommender:
    """``model`` wrapped in the engine with the run's batch size, cache and executor.

    A model already wrapped is returned as it is (its owner chose its settings).

    Parameters
    ----------
    model : Recommender or CachedRecommender
    run : mapping, optional
        Run settings; ``batch_size`` is read from it.
    cache : bool, path or RequestCache
        As for :class:`CachedRecommender`.
    progress : bool
        Progress bars for long batches of model calls.
    executor : Executor, optional
        An executor already built (see :func:`owned_executor` for one built from a spec).

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    >>> engine_for(ra.models.MostPopular(data), run={"batch_size": 8}, cache=False).batch_size
    8
    """
    if isinstance(model, CachedRecommender):
        return model
    return CachedRecommender(model, cache=cache, batch_size=batch_size_of(run),
                             progress=progress, executor=executor)


@contextmanager
def owned_executor(spec: Any) -> Iterator[Any]:
    """The executor a run uses: ``spec`` itself when it is one (or ``None``: local), else
    the one built from the spec (a kind name or mapping), closed when the run ends."""
    if spec is None or callable(getattr(spec, "run", None)):
        yield spec  # the caller's: not ours to close
        return
    with make_executor(spec) as built:
        yield built
