"""CallableRecommender: plain functions as a model under test."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.errors import CapabilityError, RequestError
from recaudit.models import CallableRecommender


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=20, n_items=30, seed=0)


def test_rank_function_restricted_to_candidates_deduplicated_and_cut_at_k(world):
    model = CallableRecommender(lambda r, k: ["i0003", "i0001", "i0003", "i0002", "i0005"],
                                world)
    assert model.capabilities == {"rank"}
    req = world.request("u0000")
    assert model.rank([req], 3)[0].items == ("i0003", "i0001", "i0002")
    cand = req.replace(candidates=("i0005", "i0002"))
    assert model.rank([cand], 5)[0].items == ("i0002", "i0005")  # the function's order


def test_unknown_ids_are_an_error(world):
    model = CallableRecommender(lambda r, k: ["nope"], world)
    with pytest.raises(RequestError, match="not in the catalog"):
        model.rank([world.request("u0000")], 1)


def test_score_only_model_ranks_by_score(world):
    weights = {i: float(n % 7) for n, i in enumerate(world.item_ids)}

    def score(req):
        return [weights[i] for i in req.candidates]

    model = CallableRecommender(None, world, score=score)
    assert model.capabilities == {"rank", "score"}
    req = world.request("u0001", candidates=("i0001", "i0006", "i0003"))
    np.testing.assert_array_equal(model.score([req])[0], [1.0, 6.0, 3.0])
    r = model.rank([req], 2)[0]
    assert r.items == ("i0006", "i0003") and r.scores == (6.0, 3.0)
    whole = model.rank([world.request("u0001")], 4)[0]
    assert whole.items == ("i0006", "i0013", "i0020", "i0027")  # score 6, catalog order


def test_score_shape_and_missing_candidates(world):
    model = CallableRecommender(None, world, score=lambda r: [1.0])
    with pytest.raises(RequestError, match="shape"):
        model.score([world.request("u0000", candidates=("i0001", "i0002"))])
    with pytest.raises(RequestError, match="candidates"):
        model.score([world.request("u0000")])


def test_nll_and_render(world):
    model = CallableRecommender(lambda r, k: world.item_ids[:k], world,
                                nll=lambda r, t: float(len(t)),
                                render=lambda r: f"user {r.user_id}")
    assert model.capabilities == {"rank", "nll", "prompt"}
    np.testing.assert_array_equal(model.nll([world.request("u0000")] * 2, ["a", "abc"]),
                                  [1.0, 3.0])
    assert model.render(world.request("u0002")) == "user u0002"
    with pytest.raises(CapabilityError, match="score"):
        model.score([])


def test_needs_a_function(world):
    with pytest.raises(ValueError, match="rank function"):
        CallableRecommender(None, world)


def _factory(offset, data):
    return CallableRecommender(lambda r, k: data.item_ids[offset:offset + k], data)


def test_fingerprint_stable_and_sensitive_to_code_closure_and_data(world):
    a = CallableRecommender(lambda r, k: world.item_ids[:k], world, name="first")
    assert a.fingerprint() == a.fingerprint() and a.fingerprint().startswith("callable-")
    b = CallableRecommender(lambda r, k: world.item_ids[-k:], world, name="first")
    assert a.fingerprint() != b.fingerprint()  # different source
    # one factory, different closed-over parameters: different answers, different keys
    assert _factory(0, world).fingerprint() != _factory(5, world).fingerprint()
    assert _factory(0, world).fingerprint() == _factory(0, world).fingerprint()
    other = ra.datasets.synthetic(n_users=20, n_items=30, seed=1)
    assert _factory(0, world).fingerprint() != _factory(0, other).fingerprint()


def test_fingerprint_of_a_function_closing_over_its_own_model(world):
    model = CallableRecommender(lambda r, k: model.data.item_ids[:k], world)
    assert model.fingerprint() == model.fingerprint()
