"""``single_threaded_blas``: small scikit-learn and scipy fits without BLAS thread pools.

numpy and scipy ship OpenBLAS, which splits even a 400 x 1682 matrix product over every
core; next to torch's OpenMP threads the two pools spin against each other, and the fits the
statistics run are far too small to gain from threads (docs/measurements.md has the
numbers). So those fits run under this limit (threadpoolctl, the library scikit-learn itself
uses for this), restored on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS (OpenBLAS, MKL) limited to one thread inside the block; torch is unaffected."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
