"""Comparing rankings computed under different batch shapes, threads or CPU kernels.

Float scores of a matrix product depend in their last bits on the batch shape and the
kernel (oneDNN / MKL choose blocking by shape; AVX2, AVX-512 and AMX accumulate in
different orders); torch promises no bitwise equality across them. Two rankings of the
same model are therefore equal *up to near-ties*: scores agree within a tolerance, and
the order of items is compared exactly except among items whose scores lie within that
tolerance of each other, which last-bit noise can legitimately swap. Rankings without
scores are compared exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..contract import Ranking

#: Default absolute tolerance on scores (cosines, log-probabilities): float32 kernels
#: differ by about 1e-7 relative, so 1e-5 is far above kernel noise and far below any
#: difference a model's behaviour makes.
SCORE_ATOL = 1e-5


def _tie_blocks(scores: np.ndarray, atol: float) -> list[slice]:
    """Maximal runs of consecutive positions whose neighbouring scores differ by <= 2 atol."""
    blocks, start = [], 0
    for n in range(1, len(scores) + 1):
        if n == len(scores) or abs(scores[n - 1] - scores[n]) > 2 * atol:
            blocks.append(slice(start, n))
            start = n
    return blocks


def ranking_difference(actual: Ranking, expected: Ranking, *,
                       atol: float = SCORE_ATOL) -> str | None:
    """Why ``actual`` and ``expected`` differ beyond float noise, or ``None`` if they agree.

    Agreement: same length; scores (when both have them) within ``atol`` position by
    position; within every block of near-tied scores (neighbours within ``2 * atol``) the
    same set of items, in any order; the last block, when it reaches the end of the list,
    may hold different items (the item cut off at k can be a near-tie of the last one kept).

    Examples
    --------
    >>> a = Ranking(("x", "y", "z"), (0.9, 0.5, 0.5 + 1e-7))
    >>> b = Ranking(("x", "z", "y"), (0.9, 0.5 + 1e-7, 0.5))
    >>> ranking_difference(a, b) is None
    True
    >>> ranking_difference(Ranking(("x", "y")), Ranking(("y", "x")))
    "items ['x', 'y'] != ['y', 'x'] (no scores to tell near-ties)"
    """
    if len(actual.items) != len(expected.items):
        return f"{len(actual.items)} items != {len(expected.items)} items"
    if actual.scores is None or expected.scores is None:
        if actual.items != expected.items:
            return (f"items {list(actual.items)} != {list(expected.items)} "
                    "(no scores to tell near-ties)")
        return None
    got, want = np.asarray(actual.scores), np.asarray(expected.scores)
    off = np.flatnonzero(~np.isclose(got, want, rtol=0.0, atol=atol, equal_nan=True))
    if off.size:
        n = int(off[0])
        return (f"score at position {n} is {got[n]!r}, expected {want[n]!r} "
                f"(atol {atol:g})")
    for block in _tie_blocks(want, atol):
        if block.stop == len(want):
            continue  # the item cut off at k may be a near-tie of the last one kept
        if set(actual.items[block]) != set(expected.items[block]):
            return (f"items at positions {block.start}-{block.stop - 1} are "
                    f"{list(actual.items[block])}, expected {list(expected.items[block])} "
                    f"(scores {want[block].tolist()}, more than {2 * atol:g} from their "
                    "neighbours, so no near-tie explains it)")
    return None


def assert_rankings_close(actual: Sequence[Ranking], expected: Sequence[Ranking], *,
                          atol: float = SCORE_ATOL) -> None:
    """Assert two lists of rankings agree up to float noise (see :func:`ranking_difference`).

    Use it wherever the two sides were computed under different batch shapes, thread
    counts or kernels; compare bitwise only what was served from one computation (a cache).

    Examples
    --------
    >>> assert_rankings_close([Ranking(("a", "b"), (2.0, 1.0))],
    ...                       [Ranking(("a", "b"), (2.0 + 1e-7, 1.0))])
    """
    if len(actual) != len(expected):
        raise AssertionError(f"{len(actual)} rankings != {len(expected)} rankings")
    for n, (a, b) in enumerate(zip(actual, expected)):
        why = ranking_difference(a, b, atol=atol)
        if why is not None:
            raise AssertionError(f"ranking {n}: {why}")
