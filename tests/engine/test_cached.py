"""The engine: de-duplication, the SQLite cache, batching, cost accounting, forwarding."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

import recaudit as ra
from recaudit.engine import CachedRecommender, LocalExecutor, RequestCache, default_cache_path
from recaudit.errors import CapabilityError, RecauditError, RequestError
from recaudit.testing.zoo import ScoringModel

from ._models import Counting


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=40, n_items=40, seed=3)


def _requests(data, n):
    return [data.request(u) for u in data.user_ids[:n]]


def test_dedup_within_a_call(world):
    model = Counting(world)
    eng = CachedRecommender(model, cache=False, progress=False)
    reqs = _requests(world, 3) * 4  # 12 requests, 3 unique
    out = eng.rank(reqs, 5)
    assert model.batches == [("rank", 3)]
    cost = eng.cost()
    assert (cost.requests, cost.unique, cost.cache_hits, cost.model_calls) == (12, 3, 0, 1)
    direct = ScoringModel(world).rank(reqs, 5)
    assert out == direct


def test_cache_hits_and_misses(world, tmp_path):
    path = tmp_path / "c.sqlite"
    model = Counting(world)
    eng = CachedRecommender(model, cache=path, progress=False)
    eng.rank(_requests(world, 5), 10)
    eng.rank(_requests(world, 8), 10)  # 5 cached, 3 new
    assert model.batches == [("rank", 5), ("rank", 3)]
    c = eng.cost()
    assert (c.requests, c.unique, c.cache_hits, c.model_calls) == (13, 13, 5, 2)
    # a different k is a different question
    eng.rank(_requests(world, 2), 3)
    assert model.batches[-1] == ("rank", 2)
    # a new process (new wrapper, same file) is served entirely from disk
    model2 = Counting(world)
    eng2 = CachedRecommender(model2, cache=path, progress=False)
    assert eng2.rank(_requests(world, 8), 10) == ScoringModel(world).rank(_requests(world, 8), 10)
    assert model2.batches == [] and eng2.cost().cache_hits == 8


def test_a_stored_ranking_with_a_repeated_item_is_a_miss(world, tmp_path):
    # older versions let a Ranking repeat an item; such a cached answer is asked again
    cache = RequestCache(tmp_path / "c.sqlite")
    model = Counting(world)
    eng = CachedRecommender(model, cache=cache, progress=False)
    req = _requests(world, 1)[0]
    stale = {"items": ["i0001", "i0001"], "scores": None, "hallucinated": 0, "raw": None}
    cache.put_many(eng.fingerprint(), "rank", {f"{req.key()}:5": json.dumps(stale)})
    out = eng.rank([req], 5)
    assert model.batches == [("rank", 1)] and eng.cost().cache_hits == 0
    assert out == ScoringModel(world).rank([req], 5)
    # the entry was overwritten: a second wrapper is served from disk
    eng2 = CachedRecommender(Counting(world), cache=cache, progress=False)
    assert eng2.rank([req], 5) == out and eng2.cost().cache_hits == 1


def test_fingerprint_separates_models(world, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    a, b = Counting(world, seed=0), Counting(world, seed=1)
    assert a.fingerprint() != b.fingerprint()
    CachedRecommender(a, cache=cache, progress=False).rank(_requests(world, 4), 5)
    CachedRecommender(b, cache=cache, progress=False).rank(_requests(world, 4), 5)
    assert a.seen == 4 and b.seen == 4
    assert cache.count(a.fingerprint()) == 4 and cache.count(b.fingerprint()) == 4


def test_batching_longest_first(world):
    model = Counting(world)
    eng = CachedRecommender(model, cache=False, batch_size=4, progress=False)
    reqs = _requests(world, 10)
    out = eng.rank(reqs, 5)
    assert [n for _, n in model.batches] == [4, 4, 2]
    assert eng.cost().model_calls == 3
    assert out == ScoringModel(world).rank(reqs, 5)  # answers back in request order


def test_a_model_caps_the_batch_size(world):
    # a remote model (ChatRecommender) asks for small batches; every engine honours it,
    # ra.audit's and the ablation's alike
    model = Counting(world)
    model.max_batch_size = 3
    eng = CachedRecommender(model, cache=False, batch_size=64, progress=False)
    assert eng.batch_size == 3
    eng.rank(_requests(world, 7), 5)
    assert [n for _, n in model.batches] == [3, 3, 1]


def test_score_and_nll_are_cached_with_targets_in_the_key(world):
    model = Counting(world)
    eng = CachedRecommender(model, cache=False, progress=False)
    cands = tuple(world.item_ids[:6])
    reqs = [r.replace(candidates=cands) for r in _requests(world, 3)]
    s1 = eng.score(reqs)
    s2 = eng.score(reqs)
    ref = ScoringModel(world).score(reqs)
    for a, b, c in zip(s1, s2, ref):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)
    r = _requests(world, 1)[0]
    targets = [world.item_ids[0], world.item_ids[1], world.item_ids[0]]
    nll = eng.nll([r, r, r], targets)
    assert isinstance(nll, np.ndarray) and nll.shape == (3,)
    np.testing.assert_allclose(nll, ScoringModel(world).nll([r, r, r], targets))
    assert model.batches == [("score", 3), ("nll", 2)]  # same request, 2 distinct targets
    with pytest.raises(RequestError, match="3 requests but 2 targets"):
        eng.nll([r, r, r], targets[:2])


def test_wrapper_is_a_recommender_and_forwards(world, tmp_path):
    model = ScoringModel(world, seed=2)
    eng = CachedRecommender(model, cache=tmp_path / "c.sqlite", progress=False)
    assert isinstance(eng, ra.Recommender)
    assert eng.capabilities == model.capabilities
    assert eng.fingerprint() == model.fingerprint()
    req = _requests(world, 1)[0]
    assert eng.render(req) == model.render(req)
    assert eng.data is world and eng.popularity_weight == model.popularity_weight
    assert CachedRecommender(eng, cache=False).model is model  # no double wrapping
    refit = eng.fit(world, seed=5)
    assert isinstance(refit, CachedRecommender) and refit.cache is eng.cache
    assert refit.fingerprint() != eng.fingerprint()
    with eng.attribute_to("trainer"):
        refit.rank([req], 3)
    assert eng.cost("trainer").requests == 1  # the refit model shares the ledger


def test_missing_capability_and_bad_requests(world):
    fn = ra.models.CallableRecommender(lambda r, k: world.item_ids[:k], world)
    eng = CachedRecommender(fn, cache=False, progress=False)
    with pytest.raises(CapabilityError, match="'nll' capability"):
        eng.nll(_requests(world, 1), [world.item_ids[0]])
    with pytest.raises(RequestError, match="expects Request objects"):
        eng.rank(["u0000"], 3)
    assert eng.rank([], 3) == []


def test_wrong_number_of_answers_is_an_error(world):
    class Short(ScoringModel):
        def rank(self, requests, k):
            return super().rank(requests, k)[:-1]

    eng = CachedRecommender(Short(world), cache=False, progress=False)
    with pytest.raises(RecauditError, match="returned 2 answers for 3 requests"):
        eng.rank(_requests(world, 3), 3)


def test_costs_are_attributed_to_the_running_auditor(world):
    eng = CachedRecommender(Counting(world), cache=False, progress=False)
    with eng.attribute_to("a"):
        eng.rank(_requests(world, 4), 5)
        with eng.attribute_to("b"):
            eng.rank(_requests(world, 6), 5)  # 4 from the shared store, 2 new
        eng.rank(_requests(world, 1), 5)
    a, b = eng.cost("a"), eng.cost("b")
    assert (a.requests, a.unique, a.cache_hits) == (5, 5, 1)
    assert (b.requests, b.unique, b.cache_hits, b.model_calls) == (6, 6, 4, 1)
    assert b.model_seconds > 0
    assert eng.total_cost().requests == 11


def test_executor_seam(world):
    class Reversed(LocalExecutor):
        def __init__(self):
            self.calls = 0

        def run(self, fn, batches):
            for n in reversed(range(len(batches))):
                self.calls += 1
                yield n, fn(batches[n])

    ex = Reversed()
    eng = CachedRecommender(ScoringModel(world), cache=False, batch_size=3, progress=False,
                            executor=ex)
    reqs = _requests(world, 7)
    assert eng.rank(reqs, 4) == ScoringModel(world).rank(reqs, 4)
    assert ex.calls == 3


def test_sqlite_file_uses_wal_and_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path / "cachedir"))
    assert default_cache_path() == tmp_path / "cachedir" / "requests.sqlite"
    cache = RequestCache(default_cache_path())
    cache.put_many("fp", "rank", {"a:1": "1", "b:1": "2"})
    with sqlite3.connect(default_cache_path()) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 2
    assert cache.get_many("fp", "rank", ["a:1", "zz"]) == {"a:1": "1"}
    assert cache.get_many("other", "rank", ["a:1"]) == {}
    cache.clear(["fp"])
    assert cache.count() == 0


def test_progress_bar_over_many_batches(world, capsys):
    eng = CachedRecommender(ScoringModel(world), cache=False, batch_size=2, progress=True)
    with eng.attribute_to("demo_auditor"):
        eng.rank(_requests(world, 6), 3)
    err = capsys.readouterr().err
    assert "demo_auditor: rank" in err


def test_explain_is_routed_and_cached(world):
    from recaudit.models import Explanation

    class Explaining(ScoringModel):
        capabilities = ScoringModel.capabilities | {"explain"}
        calls = 0

        def explain(self, requests, k=1):
            type(self).calls += len(requests)
            out = []
            for r, rk in zip(requests, self.rank(requests, k)):
                out.append(Explanation(item=rk.items[0], text=f"because of {r.history[-1]}",
                                       cited=(r.history[-1],)))
            return out

    eng = CachedRecommender(Explaining(world), cache=False, progress=False)
    reqs = _requests(world, 3)
    first = eng.explain(reqs + reqs[:1], k=1)
    again = eng.explain(reqs, k=1)
    assert Explaining.calls == 3
    assert first[:3] == again and first[3] == first[0]
    assert isinstance(first[0], Explanation) and first[0].cited == (reqs[0].history[-1],)
