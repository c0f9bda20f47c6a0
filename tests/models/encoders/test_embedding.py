"""EmbeddingRecommender: zero-shot MiniLM retrieval over item titles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax

import recaudit as ra
from recaudit.errors import RequestError
from recaudit.models import EmbeddingRecommender
from recaudit.models.encoders._minilm import encode
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


# ------------------------------------------------------------ padded batches, catalog store
WORDS = ("night day man woman city love war star story river house dark light last first "
         "return king queen game dead life time world heart road blood secret").split()


def _alone(text: str, normalize: bool) -> np.ndarray:
    """One text through the encoder by itself: no padding, plain mean over its tokens."""
    import torch

    from recaudit.models.encoders._embedding import MAX_TOKENS
    from recaudit.models.encoders._minilm import load_minilm

    tokenizer, enc = load_minilm()
    ids = torch.tensor([tokenizer(text, truncation=True, max_length=MAX_TOKENS)["input_ids"]])
    with torch.inference_mode():
        pooled = enc(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        pooled = pooled.mean(dim=1)
        if normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return pooled[0].numpy()


@pytest.mark.parametrize("normalize", [True, False])
def test_padded_batches_equal_each_text_encoded_alone(normalize):
    from recaudit.models.encoders._embedding import encode_padded

    texts = [" ".join((WORDS * 4)[n % 7:n % 7 + n]) for n in range(1, 90, 4)]
    texts += ["I enjoyed: " + "; ".join(WORDS * 12), "x", "Toy Story (1995)"]  # 256 (cut), 3, 7
    ref = np.stack([_alone(t, normalize) for t in texts])
    for batch_size in (64, 5, 1):
        got = encode_padded(texts, batch_size=batch_size, normalize=normalize)
        assert got.dtype == np.float32 and got.shape == (len(texts), 384)
        # masked positions get zero attention weight, so only float rounding differs
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    assert encode_padded([]).shape == (0, 384)


def test_length_batches_cover_every_text_once_with_little_padding():
    from recaudit.models.encoders._embedding import MAX_PAD, length_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 120, size=500).tolist() + [77] * 100
    for batch_size in (1, 7, 64):
        batches = length_batches(lengths, batch_size)
        flat = [n for b in batches for n in b]
        assert sorted(flat) == list(range(len(lengths)))
        assert [lengths[n] for n in flat] == sorted(lengths)
        for b in batches:
            width, real = max(lengths[n] for n in b), sum(lengths[n] for n in b)
            assert len(b) <= batch_size and width * len(b) <= MAX_PAD * real
    assert length_batches([], 8) == []
    assert length_batches([10] * 130, 64) == [list(range(64)), list(range(64, 128)), [128, 129]]


def test_top_k_is_a_stable_argsort():
    from recaudit.models.encoders._embedding import top_k

    rng = np.random.default_rng(0)
    for _ in range(50):
        s = rng.integers(0, 6, size=rng.integers(1, 40)).astype(np.float32)  # many ties
        s[rng.random(s.size) < 0.2] = -np.inf
        for k in (1, 3, s.size, s.size + 2):
            expected = np.argsort(-s, kind="stable")[:k]
            np.testing.assert_array_equal(top_k(s, k), expected)
    assert top_k(np.array([1.0]), 0).size == 0


def _old_rank(model, requests, k):
    """The pre-batching computation: one prompt encoded at a time, one gemv per request."""
    out = []
    catalog = np.stack([_alone(model._documents()[i], model.normalize)
                        for i in model.data.item_ids])
    for req in requests:
        q = _alone(model.render(req), model.normalize)
        full = catalog @ q
        for item, _ in req.item_text:
            full[model.data.item_index[item]] = _alone(model.item_text(req, item),
                                                       model.normalize) @ q
        if req.candidates is not None:
            pool = list(dict.fromkeys(req.candidates))
        else:
            pool = [i for i in model.data.item_ids if i not in set(req.history)]
        s = full[[model.data.item_index[i] for i in pool]]
        order = np.argsort(-s, kind="stable")[:k]
        out.append(ra.models.Ranking(tuple(pool[i] for i in order), tuple(s[order].tolist())))
    return out


def test_batched_ranking_equals_the_per_request_computation(world):
    model = EmbeddingRecommender(world, batch_size=4)  # 11 requests: three score batches
    users = world.user_ids[:6]
    reqs = [world.request(u) for u in users]
    reqs += [world.request(u, candidates=world.item_ids[3:25]) for u in users[:3]]
    target = next(i for i in world.item_ids if i not in reqs[0].history)
    reqs.append(reqs[0].replace(item_text={target: world.titles[reqs[0].history[-1]]}))
    reqs.append(reqs[6].replace(item_text={world.item_ids[5]: "Star Wars"}))
    for k in (1, 10, len(world.item_ids)):
        got = model.rank(reqs, k)
        assert_rankings_close(got, _old_rank(model, reqs, k), atol=1e-5)
        assert all(len(r.items) == len(set(r.items)) for r in got)
    # an override changes its own request only, not its neighbours in the batch
    hacked, plain = model.score([reqs[-1], reqs[6]])
    col = reqs[6].candidates.index(world.item_ids[5])
    assert abs(hacked[col] - plain[col]) > 1e-3
    np.testing.assert_allclose(np.delete(hacked, col), np.delete(plain, col), atol=1e-5)
    assert target in got[-2].items[:3]  # the override pulled it to the top


def test_rank_returns_every_unseen_item_when_k_exceeds_the_catalog(world, model):
    req = world.request("u0006")
    r = model.rank([req], k=10_000)[0]
    assert set(r.items) == set(world.item_ids) - set(req.history)
    assert list(r.scores) == sorted(r.scores, reverse=True)


def test_catalog_is_stored_once_and_loaded_by_a_fresh_model(world, tmp_path, monkeypatch):
    from recaudit.models.encoders import _embedding as _embedding
    from recaudit.models.encoders._catalog_store import store_folder

    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path))
    first = EmbeddingRecommender(world)
    computed = first._catalog_matrix()
    files = list(store_folder().iterdir())
    assert [f.suffix for f in files] == [".npy"] and store_folder().parent == tmp_path
    reqs = [world.request(u) for u in world.user_ids[:4]]
    expected = first.rank(reqs, 10)

    docs = set(first._documents().values())
    real = _embedding.encode_padded

    def prompts_only(texts, **kw):
        assert not docs & set(texts), "a catalog document was encoded again"
        return real(texts, **kw)

    monkeypatch.setattr(_embedding, "encode_padded", prompts_only)
    fresh = EmbeddingRecommender(world)
    assert_rankings_close(fresh.rank(reqs, 10), expected, atol=1e-5)
    np.testing.assert_array_equal(fresh._catalog_matrix(), computed)

    def broken(texts, **kw):
        raise RuntimeError("encoder called")

    monkeypatch.setattr(_embedding, "encode_padded", broken)
    np.testing.assert_array_equal(EmbeddingRecommender(world)._catalog_matrix(), computed)
    assert list(store_folder().iterdir()) == files  # nothing written twice, no temp files


def test_catalog_store_key_tracks_texts_and_normalisation(world, tmp_path, monkeypatch):
    from recaudit.models.encoders._catalog_store import store_folder

    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path))
    plain = EmbeddingRecommender(world)._catalog_matrix()
    raw = EmbeddingRecommender(world, normalize=False)._catalog_matrix()
    assert np.abs(np.linalg.norm(raw, axis=1) - 1).max() > 0.1  # not the cosine matrix
    EmbeddingRecommender(world, text_columns=("title", "genres"))._catalog_matrix()
    assert len(list(store_folder().glob("*.npy"))) == 3
    renamed = world.items.assign(title=world.items["title"] + " (remastered)")
    other = ra.datasets.from_frames(renamed, world.users, world.interactions)
    new = EmbeddingRecommender(other)._catalog_matrix()
    assert len(list(store_folder().glob("*.npy"))) == 4
    assert not np.allclose(new, plain, atol=1e-3)


def test_a_damaged_store_file_is_encoded_again(world, tmp_path, monkeypatch):
    from recaudit.models.encoders._catalog_store import store_folder

    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path))
    good = EmbeddingRecommender(world)._catalog_matrix()
    (path,) = store_folder().glob("*.npy")
    path.write_bytes(path.read_bytes()[:200])  # truncated
    again = EmbeddingRecommender(world)._catalog_matrix()
    np.testing.assert_allclose(again, good, atol=1e-6)
    np.testing.assert_array_equal(np.load(path), again)  # rewritten whole
