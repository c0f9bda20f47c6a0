"""Streaming users in chunks, so an auditor holds one chunk's answers at a time.

An auditor that reduces each answer to a few numbers (a top-k list, an exposure vector)
sends its requests chunk by chunk: peak memory then follows the chunk, not the number of
users. The engine caches every answer as it comes, so chunking changes neither the answers
nor what a re-run reuses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Users per chunk. Large enough that model batches stay full, small enough that a chunk's
#: requests and answers take a few MiB.
CHUNK_USERS = 2048


def chunked(items: Sequence[T], size: int | None = None) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items``, ``size`` (default :data:`CHUNK_USERS`) at a time.

    Examples
    --------
    >>> [list(c) for c in chunked(["a", "b", "c", "d", "e"], 2)]
    [['a', 'b'], ['c', 'd'], ['e']]
    """
    size = int(size or CHUNK_USERS)
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start:start + size]
