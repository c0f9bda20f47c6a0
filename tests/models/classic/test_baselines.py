"""MostPopular and RandomRecommender: the floor every language model must beat."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.errors import RequestError
from recaudit.models import MostPopular, RandomRecommender, Request


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=60, n_items=50, seed=1)


def test_most_popular_orders_by_train_popularity(world):
    req = world.request("u0003")
    (r,) = MostPopular(world).rank([req], k=10)
    pop = world.popularity
    unseen = [i for i in world.item_ids if i not in set(req.history)]
    expected = sorted(unseen, key=lambda i: (-pop[i], world.item_index[i]))[:10]
    assert list(r.items) == expected
    assert list(r.scores) == [float(pop[i]) for i in expected]


def test_history_is_excluded_unless_asked(world):
    req = world.request("u0004")
    for model in (MostPopular(world), RandomRecommender(world, seed=0)):
        items = model.rank([req], k=len(world.item_ids))[0].items
        assert not set(items) & set(req.history)
        assert len(items) == len(world.item_ids) - len(set(req.history))
    keep = MostPopular(world, exclude_history=False)
    assert len(keep.rank([req], k=len(world.item_ids))[0].items) == len(world.item_ids)


def test_candidates_respected_and_scores_match_rank(world):
    cand = world.item_ids[:7]
    req = Request("u0001", history=world.train_histories["u0001"], candidates=cand)
    for model in (MostPopular(world), RandomRecommender(world, seed=2)):
        (s,) = model.score([req])
        (r,) = model.rank([req], k=4)
        assert set(r.items) <= set(cand)
        assert list(r.items) == [cand[i] for i in np.argsort(-s, kind="stable")[:4]]


def test_random_is_deterministic_by_seed_and_batch_independent(world):
    reqs = [world.request(u) for u in world.user_ids[:5]]
    a = RandomRecommender(world, seed=7)
    batch = a.rank(reqs, 5)
    assert batch == [a.rank([r], 5)[0] for r in reqs]
    assert batch == RandomRecommender(world, seed=7).rank(reqs, 5)
    assert batch != RandomRecommender(world, seed=8).rank(reqs, 5)
    assert a.fingerprint() != RandomRecommender(world, seed=8).fingerprint()


def test_random_is_roughly_uniform(world):
    """Every item is about equally likely to be first across users (chi-square, scipy)."""
    from scipy.stats import chisquare

    model = RandomRecommender(world, seed=0, exclude_history=False)
    reqs = [Request(f"x{n}", history=()) for n in range(2000)]
    firsts = [r.items[0] for r in model.rank(reqs, 1)]
    counts = np.array([firsts.count(i) for i in world.item_ids])
    assert chisquare(counts).pvalue > 1e-4


def test_errors(world):
    with pytest.raises(RequestError, match="candidates"):
        MostPopular(world).score([world.request("u0001")])
    with pytest.raises(RequestError, match="unknown item"):
        MostPopular(world).rank([Request("u0001", candidates=("zzz",))], 1)
    with pytest.raises(RequestError, match="k must be"):
        RandomRecommender(world).rank([world.request("u0001")], 0)
