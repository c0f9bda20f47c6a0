"""What the engine would send: ``uncached`` and the audit layer's cost estimate built on it."""

from __future__ import annotations

import pytest

import recaudit as ra
from recaudit._paths import cache_dir
from recaudit.audit import estimate_audit
from recaudit.engine import CachedRecommender, RequestCache, default_cache_path, uncached
from recaudit.testing.zoo import ScoringModel


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=30, n_items=40, seed=3)


def test_uncached_names_what_the_engine_would_send(world, tmp_path):
    model = ScoringModel(world)
    reqs = [world.request(u) for u in world.user_ids[:3]]
    path = tmp_path / "c.sqlite"
    CachedRecommender(model, cache=path, progress=False).rank(reqs[1:2], 5)
    asked = [reqs[0], reqs[1], reqs[1], reqs[2], reqs[1]]
    assert uncached(model, "rank", asked, [5, 5, 4, 5, 5], cache=path) == [0, 2, 3]
    assert uncached(model, "nll", asked, [5] * 5, cache=path) == [0, 1, 2, 3, 4]
    assert uncached(model, "rank", asked, [5] * 5, cache=False) == [0, 1, 2, 3, 4]
    assert uncached(model, "rank", [], [], cache=path) == []
    store = RequestCache(path)  # a given cache stays open
    assert uncached(model, "rank", asked[:2], [5, 5], cache=store) == [0]
    assert store.count() == 1


def test_the_cache_folder_is_shared(monkeypatch, tmp_path):
    from recaudit.models.encoders._catalog_store import store_folder

    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    assert default_cache_path() == tmp_path / "requests.sqlite"
    assert store_folder() == tmp_path / "embeddings"


class _Priced(ScoringModel):
    capabilities = frozenset({"rank"})

    def estimate_cost(self, requests, ks):
        return f"{len(requests)} request(s), k={sorted(set(ks))}"


def test_estimate_audit_prices_the_uncached_requests(world, tmp_path, capsys):
    model = _Priced(world)
    auditors = [("popularity_bias", {"n_users": 6})]
    est = estimate_audit(model, world, auditors, cache=tmp_path / "c.sqlite")
    assert est == "6 request(s), k=[25]"  # k=10 + the longest history
    assert "recaudit: this audit will send 6 request(s)" in capsys.readouterr().err
    ra.audit(model, world, auditors, cache=tmp_path / "c.sqlite", progress=False,
             config={"n_bootstrap": 20})
    assert estimate_audit(model, world, auditors, cache=tmp_path / "c.sqlite",
                          verbose=False) == "0 request(s), k=[]"
    assert capsys.readouterr().err == ""
