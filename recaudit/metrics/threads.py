"""``single_threaded_blas``: small scikit-learn and scipy fits without BLAS thread pools.

numpy and scipy ship OpenBLAS, which splits even a 400 x 1682 matrix product over every
core. On a 2-core machine that is also running torch's OpenMP threads, the two pools spin
against each other: measured on MovieLens-100K, the L-BFGS fits of ``attribute_inference``
(multinomial logistic regression, 400 users x 1,682 multi-hot items, 21 occupations) took
3.17 s per fit with OpenBLAS on 2 threads and 0.27 s on 1. The fits are far too small to gain
from threads, so the statistics that run them do so under this limit (threadpoolctl, the
library scikit-learn itself uses for this), restored on exit.
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
