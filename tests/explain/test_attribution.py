"""Prompt parts, the attributed output, and Captum attributions on zoo models."""

from __future__ import annotations

import numpy as np
import pytest

from recaudit import Request
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


def test_probability_from_nll_equals_softmax_of_scores(small_world):
    m = ScoringModel(small_world, seed=1)
    req = small_world.request(small_world.user_ids[3])
    cands = tuple(m.rank([req], 5)[0].items)
    by_nll = TargetFunction(m, output="nll").logits([req], [cands])[0]
    by_score = TargetFunction(m, output="score", temperature=1.0).logits([req], [cands])[0]
    p_nll = np.exp(by_nll - by_nll.max()) / np.exp(by_nll - by_nll.max()).sum()
    p_score = np.exp(by_score - by_score.max()) / np.exp(by_score - by_score.max()).sum()
    np.testing.assert_allclose(p_nll, p_score, atol=1e-9)
    fn = TargetFunction(m, output="nll")
    assert fn.value(by_nll, 0, 1.0) == pytest.approx(p_nll[0])
    assert fn.target_rank(by_nll, 0) == 0


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

    fn = TargetFunction(RankOnly())
    logits = -np.array([2.0, 0.0, 1.0])  # target (index 0) ranked third of three
    assert fn.value(logits, 0, 1.0) == 0.0
    assert fn.value(logits, 1, 1.0) == 1.0
    assert fn.value(logits, 2, 1.0) == 0.5


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
        # only the last history item moves this model's output
        others = np.delete(a, p.features.n_history - 1)
        np.testing.assert_allclose(others, 0.0, atol=1e-12)


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
