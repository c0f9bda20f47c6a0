"""HFRecommender on a small random GPT-2 (no training needed): scoring maths and batching."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.errors import RequestError
from recaudit.models import HFRecommender, PromptTemplate, Request
from recaudit.testing import assert_rankings_close

from .._lm_folder import random_gpt2_folder


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=30, n_items=40, seed=3)


@pytest.fixture(scope="module")
def folder(world, tmp_path_factory):
    return random_gpt2_folder(world, tmp_path_factory.mktemp("rand_gpt2"))


@pytest.fixture(scope="module")
def lm(folder, world):
    return HFRecommender(folder, world, batch_size=4)


def _reference_logprob(lm, request, item):
    """Score the joined text in one plain forward pass, without cache or padding."""
    import torch

    p = lm.tokenizer(lm.render(request), add_special_tokens=False)["input_ids"]
    c = lm.tokenizer(lm.template.continuation(lm.data.titles[item]),
                     add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + c])
    with torch.no_grad():
        lp = torch.log_softmax(lm.model(input_ids=ids).logits[0].float(), -1)
    return float(sum(lp[len(p) - 1 + j, t] for j, t in enumerate(c))), len(c)


def _requests(world, n=6, n_cand=7, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for u in world.user_ids[:n]:
        cand = tuple(rng.choice(world.item_ids, size=n_cand, replace=False))
        hist = world.train_histories[u][: int(rng.integers(1, 12))]
        out.append(Request(u, history=hist, candidates=cand))
    return out


def test_capabilities_and_render(lm, world):
    assert {"rank", "score", "nll", "prompt", "gradients"} <= lm.capabilities
    assert "train" not in lm.capabilities
    req = world.request("u0001", profile={"gender": "male"})
    assert lm.render(req) == PromptTemplate().render(req, world.titles)


def test_scores_match_plain_forward(lm, world):
    reqs = _requests(world, n=3, n_cand=4)
    scores = lm.score(reqs)
    for req, s in zip(reqs, scores):
        ref = [_reference_logprob(lm, req, c)[0] for c in req.candidates]
        np.testing.assert_allclose(s, ref, rtol=1e-4, atol=1e-4)


def test_batched_equals_one_by_one(lm, world):
    reqs = _requests(world, n=9, n_cand=6, seed=1)
    batched = lm.score(reqs)
    single = [lm.score([r])[0] for r in reqs]
    # summed float32 log-probabilities under different batch shapes: kernels may change the
    # last bits, so atol 1e-4 (the padded-vs-unpadded tolerance of test_hf_batching)
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    big = HFRecommender((lm.model, lm.tokenizer), world, batch_size=64)
    for a, b in zip(big.score(reqs), single):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    whole = [r.replace(candidates=None) for r in reqs]
    assert_rankings_close(big.rank(whole, 5), [lm.rank([r], 5)[0] for r in whole], atol=1e-4)


def test_requests_sharing_a_prompt_share_one_prompt_pass(lm, world, monkeypatch):
    # membership and memorization ask one prompt for several targets (nll), and auditors
    # re-ask the neutral request: one prompt pass per distinct prompt, each title once
    reqs = _requests(world, n=2, n_cand=5, seed=2)
    plain = reqs[0].replace(candidates=None)
    targets = list(world.item_ids[:4])
    passes: list[tuple[int, int]] = []
    real = lm._score_batch

    def spy(prompts, conts):
        passes.append((len(prompts), sum(len(c) for c in conts)))
        return real(prompts, conts)

    monkeypatch.setattr(lm, "_score_batch", spy)
    scores = lm.score([reqs[0], reqs[1], reqs[0]])
    assert [n for n, _ in passes] == [2] and [c for _, c in passes] == [10]
    passes.clear()
    nll = lm.nll([plain] * 4 + [plain], targets + targets[:1])
    assert [n for n, _ in passes] == [1] and [c for _, c in passes] == [4]
    monkeypatch.undo()
    # the same values as each request alone
    np.testing.assert_allclose(scores[0], lm.score([reqs[0]])[0], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(scores[0], scores[2])
    alone = [lm.nll([plain], [t])[0] for t in targets]
    np.testing.assert_allclose(nll, alone + alone[:1], rtol=1e-5, atol=1e-4)


def test_length_normalisation_divides_by_token_count(lm, folder, world):
    reqs = _requests(world, n=2, n_cand=5, seed=2)
    norm = HFRecommender(folder, world, length_normalize=True)
    for req, s_sum, s_norm in zip(reqs, lm.score(reqs), norm.score(reqs)):
        counts = [_reference_logprob(lm, req, c)[1] for c in req.candidates]
        np.testing.assert_allclose(s_norm, s_sum / np.array(counts), rtol=1e-4, atol=1e-5)
    assert norm.fingerprint() != lm.fingerprint()


def test_nll_is_minus_summed_score(lm, world):
    reqs = _requests(world, n=4, n_cand=3, seed=3)
    targets = [r.candidates[1] for r in reqs]
    nll = lm.nll(reqs, targets)
    expected = [-s[1] for s in lm.score(reqs)]
    np.testing.assert_allclose(nll, expected, rtol=1e-4, atol=1e-4)
    assert np.all(nll > 0)


def test_rank_order_is_sorted_scores(lm, world):
    reqs = _requests(world, n=4, n_cand=8, seed=4)
    scores = lm.score(reqs)
    for req, s, r in zip(reqs, scores, lm.rank(reqs, k=5)):
        expected = [req.candidates[i] for i in np.argsort(-s, kind="stable")[:5]]
        assert list(r.items) == expected
        np.testing.assert_allclose(r.scores, np.sort(s)[::-1][:5], rtol=1e-5)


def test_whole_catalog_ranking_excludes_history_by_default(lm, folder, world):
    req = world.request("u0002")
    r = lm.rank([req], k=len(world.item_ids))[0]
    assert set(r.items) == set(world.item_ids) - set(req.history)
    keep = HFRecommender(folder, world, exclude_history=False)
    assert set(keep.rank([req], k=len(world.item_ids))[0].items) == set(world.item_ids)


def test_item_text_override_changes_the_score(lm, world):
    req = _requests(world, n=1, n_cand=3)[0]
    target = req.candidates[0]
    changed = req.replace(item_text={target: "A Completely Different Title"})
    assert lm.score([changed])[0][0] != pytest.approx(lm.score([req])[0][0])


def test_errors(lm, world):
    with pytest.raises(RequestError, match="candidates"):
        lm.score([world.request("u0001")])
    with pytest.raises(RequestError, match="unknown item"):
        lm.score([Request("u0001", history=("i0001",), candidates=("nope",))])
    with pytest.raises(RequestError, match="targets"):
        lm.nll([world.request("u0001")], [])
    with pytest.raises(ValueError, match="mode"):
        HFRecommender((lm.model, lm.tokenizer), world, mode="beam")
    with pytest.raises(FileNotFoundError, match="config.json"):
        HFRecommender("/nonexistent/folder", world)


def test_fingerprint_stable_and_sensitive(lm, folder, world):
    again = HFRecommender(folder, world)
    assert again.fingerprint() == lm.fingerprint()
    other = HFRecommender(folder, world, template=PromptTemplate(max_history=3))
    assert other.fingerprint() != lm.fingerprint()
    pair = HFRecommender((lm.model, lm.tokenizer), world)
    assert pair.fingerprint().startswith("HFRecommender-")


def test_gradient_handle(lm):
    h = lm.gradient_handle()
    assert h.embedding_layer is lm.model.get_input_embeddings()
    assert h.tokenizer is lm.tokenizer


def test_generate_mode_maps_titles_and_counts_hallucinations(folder, world):
    gen = HFRecommender(folder, world, mode="generate")
    req = world.request("u0003")
    (r,) = gen.rank([req], k=3)
    assert set(r.items) <= set(world.item_ids)
    assert r.hallucinated + len(r.items) >= 1
    assert r.raw is not None


def test_match_title_exact_then_normalised(lm, world):
    item, title = next(iter(world.titles.items()))
    assert lm.match_title(title) == item
    assert lm.match_title("  " + title.upper() + " ") == item
    assert lm.match_title("Not A Title In This Catalog") is None


def test_fit_without_recipe_raises(lm, world):
    from recaudit.errors import CapabilityError

    with pytest.raises(CapabilityError, match="train"):
        lm.fit(world)


def test_a_folder_model_pickles_as_its_folder(folder, world, tmp_path):
    # executors ship models to workers (Ray actors): the folder, not the weights, travels
    import pickle
    import shutil

    lm = HFRecommender(folder, world, batch_size=4)
    blob = pickle.dumps(lm)
    clone = pickle.loads(blob)
    reqs = _requests(world, n=4, n_cand=5, seed=6)
    assert clone.fingerprint() == lm.fingerprint()
    for a, b in zip(clone.score(reqs), lm.score(reqs)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    pair = HFRecommender((lm.model, lm.tokenizer), world)  # no folder: pickles whole
    weights = (folder / "model.safetensors").stat().st_size
    assert len(pickle.dumps(pair)) - len(blob) > 0.9 * weights

    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)
    other = pickle.dumps(HFRecommender(moved, world))
    (moved / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="same model folder"):
        pickle.loads(other)
