"""Prompt parts, the attributed output, and Captum attributions on zoo models."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from recaudit import Ranking, Request
from recaudit.errors import CapabilityError
from recaudit.explain import (
    AttributionProblem,
    MaskEvaluator,
    PromptFeatures,
    TargetFunction,
    perturbation_attributions,
)
from recaudit.testing.zoo import ScoringModel
from recaudit.testing.zoo.explanation import LastItemRecommender


def test_prompt_features_mask_round_trip():
    req = Request("u", history=("a", "b", "c"), profile={"gender": "female", "age": "young"})
    f = PromptFeatures(req)
    assert f.n_features == 5
    assert f.kinds == ["history"] * 3 + ["profile"] * 2
    assert f.labels({"a": "Heat"})[:2] == ["Heat", "b"]
    out = f.masked([1, 0, 1, 0, 1])
    assert out.history == ("a", "c")
    assert out.profile_dict == {"gender": "female"}
    assert f.masked(np.ones(5)) == req
    with pytest.raises(ValueError, match="has 5 features"):
        f.masked([1, 0])


class CountingModel(ScoringModel):
    """Counts batched calls, to check attributions go to the model in one batch."""

    calls = 0

    def nll(self, requests, targets):
        type(self).calls += 1
        return super().nll(requests, targets)


def _problems(model, data, n=8, ncand=6):
    reqs = [data.request(u, profile=data.user_attributes(u), max_history=6)
            for u in data.user_ids[:n]]
    return [AttributionProblem(PromptFeatures(r), tuple(rk.items), rk.items[0])
            for r, rk in zip(reqs, model.rank(reqs, ncand))]


def test_outputs_by_capability_hand_computed(small_world):
    m = ScoringModel(small_world, seed=1)
    req = small_world.request(small_world.user_ids[3])
    cands = tuple(m.rank([req], 5)[0].items)
    t = cands[2]
    cat = m.catalog_scores(req)
    # nll: the model's log-likelihood of the item, log softmax over the catalog
    ll = TargetFunction(m).values([req], [t], [cands], [1.0])[0]
    assert ll == pytest.approx(cat[small_world.item_index[t]] - logsumexp(cat))
    # score: the item's score in SDs of the unperturbed candidate scores
    fn = TargetFunction(m, output="score")
    (sd,) = fn.scales([req], [cands])
    raw = np.array([cat[small_world.item_index[c]] for c in cands])
    assert sd == pytest.approx(np.std(raw))
    assert fn.values([req], [t], [cands], [sd])[0] == pytest.approx(raw[2] / np.std(raw))
    assert TargetFunction(m, output="score", temperature=2.0).scales([req], [cands]) == [2.0]
    inside = fn.in_top_k([req, req], [cands[0], cands[4]], [cands, cands], 3)
    assert inside.tolist() == [True, False]


def test_target_function_errors(small_world):
    m = ScoringModel(small_world)
    with pytest.raises(ValueError, match="output must be"):
        TargetFunction(m, output="logits")
    with pytest.raises(ValueError, match="temperature"):
        TargetFunction(m, temperature=0)

    class RankOnly:
        capabilities = frozenset({"rank"})

    with pytest.raises(CapabilityError, match="needs the 'score' capability"):
        TargetFunction(RankOnly(), output="score")
    assert TargetFunction(RankOnly()).output == "rank"


def test_rank_only_output_is_normalised_rank():
    class RankOnly:
        capabilities = frozenset({"rank"})

        def rank(self, requests, k):
            return [Ranking(("b", "c", "a")[:k]) for _ in requests]

    fn = TargetFunction(RankOnly())
    req = Request("u", history=("x",))
    vals = fn.values([req] * 3, ["a", "b", "c"], [("a", "b", "c")] * 3, [1.0] * 3)
    np.testing.assert_allclose(vals, [0.0, 1.0, 0.5])


def test_feature_ablation_matches_hand_computed_occlusion(small_world):
    m = LastItemRecommender(small_world, seed=2)
    problems = _problems(m, small_world)
    ev = MaskEvaluator(TargetFunction(m), problems)
    fa = perturbation_attributions("feature_ablation", ev)
    for i, (p, a) in enumerate(zip(problems, fa)):
        d = p.features.n_features
        full = ev.value(i, np.ones(d))
        for j in range(d):
            mask = np.ones(d)
            mask[j] = 0
            assert a[j] == pytest.approx(full - ev.value(i, mask), abs=1e-9)
        # the last history item carries the recommendation; the others matter only
        # because a removed item re-enters the catalog as a competitor
        last = p.features.n_history - 1
        assert int(np.argmax(a)) == last
        assert np.all(np.delete(a, last) < 0.5 * a[last])


def test_shapley_sampling_is_efficient_and_batched(small_world):
    CountingModel.calls = 0
    m = CountingModel(small_world, seed=0)
    problems = _problems(m, small_world, n=6)
    ev = MaskEvaluator(TargetFunction(m), problems)
    sv = perturbation_attributions("shapley_sampling", ev, n_samples=3, seed=5)
    # one batched model call for every mask of every user (record, then replay)
    assert CountingModel.calls == 1
    for i, (p, a) in enumerate(zip(problems, sv)):
        d = p.features.n_features
        # efficiency: attributions sum to f(all parts) - f(no part)
        assert a.sum() == pytest.approx(ev.value(i, np.ones(d)) - ev.value(i, np.zeros(d)),
                                        rel=1e-6, abs=1e-8)
    again = perturbation_attributions("shapley_sampling", MaskEvaluator(TargetFunction(m),
                                                                        problems),
                                      n_samples=3, seed=5)
    for a, b in zip(sv, again):
        np.testing.assert_allclose(a, b)  # deterministic by seed


def test_unknown_perturbation_method(small_world):
    m = ScoringModel(small_world)
    with pytest.raises(ValueError, match="unknown perturbation method"):
        perturbation_attributions("lime", MaskEvaluator(TargetFunction(m), []))
