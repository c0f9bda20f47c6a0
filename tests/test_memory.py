"""Bounded memory: streamed (chunked) auditors and blocked bootstraps give exactly the
results of the all-at-once path, and a bootstrap's memory no longer grows with users."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import recaudit as ra
from recaudit.engine import CachedRecommender, _chunks
from recaudit.engine._chunks import chunked
from recaudit.metrics import fairness as fm
from recaudit.metrics import statistics as st
from recaudit.testing.zoo import ScoringModel


def _metrics(result):
    return [(m.name, m.scope, m.value, m.ci_low, m.ci_high, m.p_value) for m in result.metrics]


def test_chunked_splits_in_order():
    assert [list(c) for c in chunked(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []
    with pytest.raises(ValueError, match="chunk size must be >= 1"):
        list(chunked([1], -1))


@pytest.mark.parametrize("name, params", [
    ("popularity_bias", {"n_users": None}),
    ("provider_fairness", {"n_users": None, "plots": False}),
])
def test_streamed_auditor_equals_all_at_once(name, params, small_world, ctx, monkeypatch):
    from recaudit.auditors._registry import get_auditor_class

    model = ScoringModel(small_world, seed=1)
    auditor = get_auditor_class(name)(**params)
    whole = auditor.run(CachedRecommender(model, cache=False, progress=False), small_world,
                        ctx)
    calls = []
    engine = CachedRecommender(model, cache=False, progress=False)
    rank = engine.rank

    def counting(requests, k):
        calls.append(len(requests))
        return rank(requests, k)

    engine.rank = counting
    monkeypatch.setattr(_chunks, "CHUNK_USERS", 16)
    streamed = auditor.run(engine, small_world, ctx)
    assert max(calls) <= 16 and len(calls) > 3  # really streamed, in chunks
    assert _metrics(streamed) == _metrics(whole) and len(_metrics(whole)) > 3
    assert streamed.evidence == whole.evidence


def test_blocked_bootstraps_draw_the_same_resamples(monkeypatch):
    rng = np.random.default_rng(0)
    m = rng.random((301, 4))
    m[5, 1] = np.nan
    x = rng.normal(size=301)

    def stat(cols):
        return np.column_stack([cols, cols[:, 0] / cols[:, 2]])

    whole_rows = fm.bootstrap_rows(m, stat, n_resamples=400, seed=3)
    whole_ci = st.bootstrap_ci(x, n_resamples=400, seed=3)
    monkeypatch.setattr(st, "MAX_RESAMPLE_VALUES", 1000)  # blocks of 1 or 3 resamples
    blocked_rows = fm.bootstrap_rows(m, stat, n_resamples=400, seed=3)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(whole_rows, blocked_rows))
    assert st.bootstrap_ci(x, n_resamples=400, seed=3) == whole_ci


def test_bootstrap_memory_does_not_grow_with_users(monkeypatch):
    """All resamples at once would take 200 x 20 000 x 4 floats (122 MiB) plus indices;
    blocks hold a few 2 MiB blocks whatever the number of users."""
    monkeypatch.setattr(st, "MAX_RESAMPLE_VALUES", 1 << 18)
    m = np.random.default_rng(1).random((20_000, 4))
    tracemalloc.start()
    try:
        fm.bootstrap_rows(m, lambda c: c, n_resamples=200, seed=0)
        _, peak_rows = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        st.bootstrap_ci(m[:, 0], n_resamples=200, seed=0)
        _, peak_ci = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    budget = 8 * st.MAX_RESAMPLE_VALUES  # bytes of one block of float64 values
    assert peak_rows < 4 * budget, peak_rows / 2**20
    assert peak_ci < 4 * budget, peak_ci / 2**20


def test_audit_over_every_user_is_streamed(monkeypatch):
    """An audit over all users of a world 20x the chunk never sends more than a chunk."""
    data = ra.datasets.synthetic(n_users=320, n_items=60, seed=2)
    monkeypatch.setattr(_chunks, "CHUNK_USERS", 16)
    sizes = []

    class Recording(ScoringModel):
        def rank(self, requests, k):
            sizes.append(len(requests))
            return super().rank(requests, k)

    report = ra.audit(Recording(data), data, ["popularity_bias", "provider_fairness"],
                      {a: {"n_users": None} for a in ("popularity_bias", "provider_fairness")}
                      | {"n_bootstrap": 50, "n_permutations": 50}, cache=False,
                      progress=False)
    assert [r.status for r in report.results] == ["ok", "ok"]
    assert max(sizes) <= 16 and sum(sizes) >= 300
