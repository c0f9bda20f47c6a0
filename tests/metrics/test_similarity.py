"""List similarity (FaiRLLM): hand-computed values and the released notebook's loops."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from recaudit.metrics.similarity import (
    SIMILARITIES,
    jaccard,
    prag,
    serp_normalized,
    serp_released,
    snsr,
    snsv,
)


def released_serp(x, y):
    """FaiRLLM's calc_serp_ms, transcribed loop for loop (x = R^a, y = neutral R)."""
    temp = 0
    if len(y) == 0:
        return 0
    for i, item_x in enumerate(x):
        for item_y in y:
            if item_x == item_y:
                temp = temp + len(x) - i + 1
    return temp * 0.5 / ((len(y) + 1) * len(y))


def released_prag(x, y):
    """FaiRLLM's calc_prag, transcribed loop for loop."""
    temp, total = 0, 0
    if len(y) == 0 or len(x) == 0:
        return 0
    if len(x) == 1:
        return 1 if x == y else 0
    for i, x1 in enumerate(x):
        for j, x2 in enumerate(x):
            if i >= j:
                continue
            id1 = id2 = -1
            for k, item_y in enumerate(y):
                if item_y == x1:
                    id1 = k
                if item_y == x2:
                    id2 = k
            total += 1
            if id1 == -1:
                continue
            if id2 == -1:
                temp += 1
            if id1 < id2:
                temp += 1
    return temp / total


def test_jaccard_hand_computed():
    # {a,b,c} vs {b,c,d}: intersection {b,c} = 2, union {a,b,c,d} = 4
    assert jaccard(["a", "b", "c"], ["b", "c", "d"]) == 0.5
    # top-2 only: {a,b} vs {b,c}: 1 / 3
    assert jaccard(["a", "b", "c"], ["b", "c", "d"], k=2) == pytest.approx(1 / 3)
    assert jaccard([], []) == 1.0
    assert jaccard(["a"], ["b"]) == 0.0


def test_serp_released_hand_computed():
    # R^a = [a, c, x], R = [a, b, c], K = 3: a at i=0 earns 3-0+1 = 4, c at i=1 earns
    # 3-1+1 = 3, x earns nothing: 7 / (2 * 3 * 4) = 7 / 24
    assert serp_released(["a", "c", "x"], ["a", "b", "c"]) == pytest.approx(7 / 24)
    # identical lists, K = 20: sum_{i=0}^{19} (21 - i) = 230; 230 / (2 * 20 * 21) = 0.2738
    items = [f"i{n}" for n in range(20)]
    assert serp_released(items, items) == pytest.approx(230 / 840)
    assert serp_released(items, items) == pytest.approx(0.2738, abs=1e-4)
    assert serp_released(["a"], []) == 0.0


def test_serp_normalized_hand_computed():
    # same lists: rank 1 earns 3-1+1 = 3, rank 2 earns 2: 5 / (3 * 4 / 2) = 5 / 6
    assert serp_normalized(["a", "c", "x"], ["a", "b", "c"]) == pytest.approx(5 / 6)
    items = [f"i{n}" for n in range(20)]
    assert serp_normalized(items, items) == pytest.approx(1.0)
    assert serp_normalized(items, [f"j{n}" for n in range(20)]) == 0.0
    # order matters: the shared item at the bottom earns the least (1 of 6)
    assert serp_normalized(["x", "y", "a"], ["a", "b", "c"]) == pytest.approx(1 / 6)


def test_prag_hand_computed():
    # pairs of R^a=[a,b,c]: (a,b) kept, (a,c) kept, (b,c) swapped in R=[a,c,b]: 2 / 3
    assert prag(["a", "b", "c"], ["a", "c", "b"]) == pytest.approx(2 / 3)
    # (x,a): x not in R; (x,b): x not in R; (a,b): kept: 1 / 3
    assert prag(["x", "a", "b"], ["a", "b"]) == pytest.approx(1 / 3)
    # (a,x): a in R, x not in R -> counts; (a,b): b above a in R; (x,b): x not in R: 1 / 3
    assert prag(["a", "x", "b"], ["b", "a"]) == pytest.approx(1 / 3)
    assert prag(["a", "b"], ["a", "b"]) == 1.0
    assert prag(["a"], ["a"]) == 1.0 and prag(["a"], ["b"]) == 0.0
    assert prag([], ["a"]) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_serp_and_prag_match_released_loops(seed):
    rng = np.random.default_rng(seed)
    pool = [f"i{n}" for n in range(30)]
    for _ in range(20):
        k = int(rng.integers(1, 21))
        x = list(rng.choice(pool, size=k, replace=False))
        y = list(rng.choice(pool, size=k, replace=False))
        assert serp_released(x, y) == pytest.approx(released_serp(x, y))
        assert prag(x, y) == pytest.approx(released_prag(x, y))
        # the [0, 1] normalisation is the released sum over K(K+1)/2 with 1-based ranks
        expected = sum(k - r + 1 for r, item in enumerate(x, 1) if item in set(y))
        assert serp_normalized(x, y) == pytest.approx(expected / (k * (k + 1) / 2))


def test_k_cut_applies_to_both_lists():
    x, y = ["a", "b", "z"], ["a", "b", "y"]
    for fn in SIMILARITIES.values():
        assert fn(x, y, k=2) == pytest.approx(fn(x[:2], y[:2]))


def test_snsr_snsv_hand_computed():
    sims = [0.9, 0.7, 0.8]
    assert snsr(sims) == pytest.approx(0.2)
    # population std: mean 0.8, squared deviations 0.01, 0.01, 0 -> sqrt(0.02 / 3)
    assert snsv(sims) == pytest.approx(math.sqrt(0.02 / 3))
    assert snsv(sims) == pytest.approx(statistics.pstdev(sims))
    assert snsr([0.5]) == 0.0 and math.isnan(snsr([]))
