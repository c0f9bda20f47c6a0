"""Executors: how batches of cache misses reach the model.

An executor is anything with ``run(fn, batches) -> iterator of (batch index, answers)``,
yielding each batch as soon as it is done (in any order), so the engine can commit it to the
cache at once. :class:`LocalExecutor` runs them in this process, in order; a distributed
executor (Ray, a later issue) slots in by implementing the same method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

B = TypeVar("B")


class Executor(Protocol):
    """Runs ``fn`` over batches and yields ``(index, fn(batch))`` as each one completes."""

    def run(self, fn: Callable[[B], Any], batches: Sequence[B]) -> Iterator[tuple[int, Any]]:
        ...


class LocalExecutor:
    """Runs batches one after another in the calling process (the default)."""

    def run(self, fn: Callable[[B], Any], batches: Sequence[B]) -> Iterator[tuple[int, Any]]:
        for n, batch in enumerate(batches):
            yield n, fn(batch)

    def __repr__(self) -> str:
        return "LocalExecutor()"


def run_batches(fn: Callable[[B], Any], batches: Sequence[B], *,
                executor: Executor | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, fn(batch))`` for every batch, through ``executor`` (local by default)."""
    yield from (executor or LocalExecutor()).run(fn, batches)
