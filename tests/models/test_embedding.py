"""EmbeddingRecommender: zero-shot MiniLM retrieval over item titles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax

import recaudit as ra
from recaudit.errors import RequestError
from recaudit.models import EmbeddingRecommender
from recaudit.models._minilm import encode
from recaudit.testing import assert_rankings_close


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=20, n_items=40, seed=0)


@pytest.fixture(scope="module")
def model(world):
    return EmbeddingRecommender(world)


@pytest.fixture(scope="module")
def films():
    titles = ["Star Wars: Episode IV - A New Hope (1977)", "Star Trek: The Wrath of Khan (1982)",
              "Star Wars: Episode V - The Empire Strikes Back (1980)",
              "Sense and Sensibility (1995)", "Pride and Prejudice (2005)", "Emma (1996)",
              "Toy Story (1995)", "Toy Story 2 (1999)", "Finding Nemo (2003)"]
    items = pd.DataFrame({"item_id": [f"m{n}" for n in range(len(titles))], "title": titles,
                          "genres": ["Sci-Fi"] * 3 + ["Romance"] * 3 + ["Animation"] * 3,
                          "provider": ["a", "b", "c"] * 3})
    users = pd.DataFrame({"user_id": ["fan", "kid"], "gender": ["male", "female"]})
    inter = pd.DataFrame({"user_id": ["fan", "fan", "fan", "kid", "kid", "kid"],
                          "item_id": ["m0", "m1", "m2", "m6", "m8", "m7"],
                          "timestamp": [1, 2, 3, 1, 2, 3],
                          "split": ["train", "train", "test"] * 2})
    return ra.datasets.from_frames(items, users, inter, sensitive=["gender"])


def test_zero_shot_recommends_by_meaning(films):
    model = EmbeddingRecommender(films)
    fan, kid = model.rank([films.request("fan"), films.request("kid")], k=7)
    assert fan.items[0] == "m2"        # the other Star Wars film
    assert kid.items[0] == "m7"        # Toy Story 2 after Toy Story and Finding Nemo
    assert not {"m0", "m1"} & set(fan.items)  # history never recommended


def test_scores_are_cosines_of_prompt_and_titles(world, model):
    req = world.request("u0003", candidates=world.item_ids[:6])
    got = model.score([req])[0]
    prompt = encode([model.render(req)])[0]
    docs = encode([world.titles[i] for i in req.candidates])
    np.testing.assert_allclose(got, docs @ prompt, atol=1e-5)
    ranking = model.rank([req], k=6)[0]
    assert list(ranking.items) == [req.candidates[i] for i in np.argsort(-got, kind="stable")]
    np.testing.assert_allclose(ranking.scores, np.sort(got)[::-1], atol=1e-6)


def test_rank_catalog_excludes_history_and_respects_k(world, model):
    reqs = [world.request(u) for u in world.user_ids[:5]]
    for req, r in zip(reqs, model.rank(reqs, k=7)):
        assert len(r.items) == 7 and len(set(r.items)) == 7
        assert not set(req.history) & set(r.items)
        assert set(r.items) <= set(world.item_ids)


def test_batch_equals_one_by_one_and_fresh_model(world, model):
    reqs = [world.request(u, max_history=4) for u in world.user_ids[:6]]
    batched = model.rank(reqs, k=10)
    fresh = EmbeddingRecommender(world, batch_size=2)
    single = [fresh.rank([r], k=10)[0] for r in reqs]
    # Batches of 6 and of 2 give the encoder different shapes; kernels that block by shape
    # (oneDNN, MKL with AVX-512 or AMX) change the last bits of a cosine, so scores agree to
    # atol 1e-5 and rankings exactly except among near-ties.
    assert_rankings_close(batched, single, atol=1e-5)


def test_cache_keys_do_not_depend_on_the_batch_shape(world, tmp_path):
    """Answers computed in batches of 2 are found again by an engine batching 64."""
    from recaudit.engine import CachedRecommender

    reqs = [world.request(u, max_history=4) for u in world.user_ids[:7]]
    path = tmp_path / "c.sqlite"
    small = CachedRecommender(EmbeddingRecommender(world, batch_size=2), cache=path,
                              batch_size=2, progress=False)
    first = small.rank(reqs, 10)
    big = CachedRecommender(EmbeddingRecommender(world, batch_size=64), cache=path,
                            batch_size=64, progress=False)
    again = big.rank(list(reversed(reqs)), 10)[::-1]
    assert big.cost().model_calls == 0 and big.cost().cache_hits == len(reqs)
    assert again == first  # served from the cache: bitwise


def test_profile_changes_prompt_and_scores(world, model):
    req = world.request("u0001", candidates=world.item_ids[:10])
    fem = req.replace(profile={"gender": "female"})
    assert "About me: gender female." in model.render(fem)
    assert "About me" not in model.render(req)
    assert model.render(fem) != model.render(req.replace(profile={"gender": "male"}))
    a, b = model.score([req, fem])
    assert not np.allclose(a, b)


def test_item_text_override(world, model):
    req = world.request("u0002")
    target = next(i for i in world.item_ids if i not in req.history)
    last = world.titles[req.history[-1]]
    req = req.replace(candidates=(target,) + tuple(
        i for i in world.item_ids[:12] if i not in req.history and i != target))
    before = model.score([req])[0][0]
    hacked = req.replace(item_text={target: last})  # the candidate now reads like history
    after = model.score([hacked])[0][0]
    assert after > before
    assert model.item_text(hacked, target) == last


def test_nll_is_log_softmax_of_scaled_cosine(world, model):
    req = world.request("u0004")
    targets = list(world.item_ids[:5])
    got = model.nll([req] * 5, targets)
    full = model.score([req.replace(candidates=world.item_ids)])[0]
    ref = -log_softmax(full / model.temperature)
    np.testing.assert_allclose(got, ref[:5], rtol=1e-6)
    all_nll = model.nll([req] * len(world.item_ids), list(world.item_ids))
    assert np.all(all_nll >= 0) and np.exp(-all_nll).sum() == pytest.approx(1.0)


def test_fingerprint_tracks_options_not_batch_size(world, model):
    fp = model.fingerprint()
    assert isinstance(fp, str) and fp == EmbeddingRecommender(world).fingerprint()
    assert fp == EmbeddingRecommender(world, batch_size=8).fingerprint()
    assert fp != EmbeddingRecommender(world, max_history=3).fingerprint()
    assert fp != EmbeddingRecommender(world, text_columns=("title", "genres")).fingerprint()
    other = ra.datasets.synthetic(n_users=20, n_items=40, seed=1)
    assert fp != EmbeddingRecommender(other).fingerprint()


def test_max_history_and_text_columns(world):
    req = world.request("u0000")
    m = EmbeddingRecommender(world, max_history=2, text_columns=("title", "genres"))
    prompt = m.render(req)
    for item in req.history[-2:]:
        assert world.titles[item] in prompt
    assert world.titles[req.history[0]] not in prompt
    assert "genres: " in prompt


def test_unnormalised_dot_product(world):
    req = world.request("u0005", candidates=world.item_ids[:5])
    raw = EmbeddingRecommender(world, normalize=False).score([req])[0]
    assert np.abs(raw).max() > 1.0  # not cosines


def test_errors(world, model):
    with pytest.raises(RequestError, match="candidates"):
        model.score([world.request("u0000")])
    with pytest.raises(RequestError, match="not in the catalog"):
        model.rank([world.request("u0000", candidates=["nope"])], k=1)
    with pytest.raises(RequestError, match="k must be"):
        model.rank([world.request("u0000")], k=0)
    with pytest.raises(ValueError, match="text_columns"):
        EmbeddingRecommender(world, text_columns=("plot",))
    assert model.capabilities == {"rank", "score", "nll", "prompt"}
