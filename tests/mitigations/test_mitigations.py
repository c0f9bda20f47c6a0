"""Mitigations: definitions checked by hand, and the direction of each effect on models
with the matching planted defect, over several seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recaudit as ra
from recaudit.errors import CapabilityError, UnknownNameError
from recaudit.metrics.ranking import ndcg_at_k
from recaudit.mitigations import kamiran_calders_weights, popularity_group_weights
from recaudit.testing.zoo import ScoringModel

from ..conftest import SEEDS


class _ProfileSensitive(ScoringModel):
    """Boosts Romance/Drama when the prompt says the user is female."""

    def catalog_scores(self, request):
        s = self.base_scores(request)
        if request.profile_dict.get("gender") == "female":
            for g in ("Romance", "Drama"):
                s = s + 3.0 * self._item_genre[:, self._genre_index[g]]
        return s


class _PopularityPusher(ScoringModel):
    def catalog_scores(self, request):
        return self.base_scores(request) + 2.0 * self._log_pop


class _EarlyCandidate(ScoringModel):
    def candidate_scores(self, request):
        s = super().candidate_scores(request)
        return s + 5.0 * np.linspace(1.0, 0.0, len(s))


def _lists(model, requests, k=10):
    return [r.items for r in model.rank(requests, k)]


def _jaccard(a, b):
    return len(set(a) & set(b)) / len(set(a) | set(b))


def test_registry_and_did_you_mean():
    assert ra.mitigations.available() == ["counterfactual_prompting", "debiased_decoding",
                                          "identity", "reweighting"]
    assert isinstance(ra.mitigations.get("reweighting", mode="inverse_popularity"),
                      ra.mitigations.Reweighting)
    with pytest.raises(UnknownNameError, match="Did you mean 'reweighting'"):
        ra.mitigations.get("reweighing")
    with pytest.raises(ValueError, match="variant must be one of"):
        ra.mitigations.DebiasedDecoding(variant="greedy")
    with pytest.raises(UnknownNameError, match="bad parameter"):
        ra.mitigations.get("reweighting", nonsense=1)


def test_kamiran_calders_weights_hand_computed():
    # P(a)=3/4, P(b)=1/4, P(x)=1/2, P(y)=1/2; P(a,x)=1/2, P(a,y)=1/4, P(b,y)=1/4
    g = pd.Series(["a", "a", "a", "b"])
    label = pd.Series(["x", "x", "y", "y"])
    expected = [0.75 * 0.5 / 0.5, 0.75 * 0.5 / 0.5, 0.75 * 0.5 / 0.25, 0.25 * 0.5 / 0.25]
    assert kamiran_calders_weights(g, label).tolist() == pytest.approx(expected)


def test_kamiran_calders_makes_group_and_label_independent(small_world):
    w = ra.mitigations.Reweighting(mode="kamiran_calders", attribute="gender").sample_weight(
        small_world)
    train = small_world.train.reset_index(drop=True)
    assert len(w) == len(train)
    g = train["user_id"].map(small_world.users.set_index("user_id")["gender"])
    label = train["item_id"].map(lambda i: small_world.genres(i)[0])
    df = pd.DataFrame({"g": g, "l": label, "w": w})
    joint = df.groupby(["g", "l"])["w"].sum() / df["w"].sum()
    pg = df.groupby("g")["w"].sum() / df["w"].sum()
    pl = df.groupby("l")["w"].sum() / df["w"].sum()
    for (gv, lv), p in joint.items():
        assert p == pytest.approx(pg[gv] * pl[lv], rel=1e-9)


def test_popularity_group_weights_match_definition(small_world):
    w = popularity_group_weights(small_world)
    assert len(w) == len(small_world.train)
    assert np.all(w > 0) and len(np.unique(np.round(w, 12))) <= 2


@pytest.mark.parametrize("seed", SEEDS)
def test_counterfactual_prompting_removes_profile_dependence(small_world, seed):
    model = _ProfileSensitive(small_world, seed=seed)
    users = [u for u in small_world.user_ids[seed * 20:(seed + 1) * 20]]
    neutral = [small_world.request(u) for u in users]
    female = [r.replace(profile={"gender": "female"}) for r in neutral]
    before = np.mean([_jaccard(a, b) for a, b in zip(_lists(model, neutral),
                                                    _lists(model, female))])
    assert before < 0.7  # the defect is there
    for mode in ("neutralize", "ensemble"):
        fixed = ra.mitigations.CounterfactualPrompting(mode=mode).wrap(model)
        after = np.mean([_jaccard(a, b) for a, b in zip(_lists(fixed, neutral),
                                                       _lists(fixed, female))])
        assert after == pytest.approx(1.0), mode


@pytest.mark.parametrize("seed", SEEDS)
def test_inverse_popularity_lowers_recommended_popularity(small_world, seed):
    model = _PopularityPusher(small_world, seed=seed)
    pop = small_world.popularity
    reqs = [small_world.request(u) for u in small_world.user_ids[:40]]

    def mean_pop(m):
        return np.mean([pop[list(r)].mean() for r in _lists(m, reqs)])

    weak = ra.mitigations.Reweighting(mode="inverse_popularity", strength=1.0).wrap(model)
    strong = ra.mitigations.Reweighting(mode="inverse_popularity", strength=2.0).wrap(model)
    assert mean_pop(strong) < mean_pop(weak) < mean_pop(model)


@pytest.mark.parametrize("seed", SEEDS)
def test_permutation_averaging_flattens_position_effect(small_world, seed):
    rng = np.random.default_rng(seed)
    model = _EarlyCandidate(small_world, seed=seed)
    fixed = ra.mitigations.DebiasedDecoding(variant="permutation_averaging",
                                            n_permutations=8, seed=seed).wrap(model)
    hits = {"raw": {0: [], 19: []}, "fixed": {0: [], 19: []}}
    for u in [u for u in small_world.user_ids if u in small_world.test_items][:30]:
        target = small_world.test_items[u][0]
        others = [i for i in rng.permutation(small_world.item_ids)
                  if i != target and i not in small_world.train_histories[u]][:19]
        for pos in (0, 19):
            cands = others[:pos] + [target] + others[pos:]
            req = small_world.request(u, candidates=cands)
            for label, m in (("raw", model), ("fixed", fixed)):
                hits[label][pos].append(ndcg_at_k(m.rank([req], 10)[0].items, {target}, 10))
    gap_raw = np.mean(hits["raw"][0]) - np.mean(hits["raw"][19])
    gap_fixed = abs(np.mean(hits["fixed"][0]) - np.mean(hits["fixed"][19]))
    assert gap_raw > 0.3
    assert gap_fixed < gap_raw / 2


def test_text_free_assistant_moves_lists_towards_the_assistant(small_world):
    model = ScoringModel(small_world, popularity_weight=0.0)
    reqs = [small_world.request(u) for u in small_world.user_ids[:40]]
    pop = small_world.popularity

    def mean_pop(m):
        return np.mean([pop[list(r)].mean() for r in _lists(m, reqs)])

    popular = ra.mitigations.DebiasedDecoding(variant="text_free_assistant",
                                              assistant="popularity", g=0.3).wrap(model)
    assert mean_pop(popular) > mean_pop(model)
    g1 = ra.mitigations.DebiasedDecoding(variant="text_free_assistant", g=1.0).wrap(model)
    assert _lists(g1, reqs) == _lists(model, reqs)  # g = 1 is the language model alone


def test_contextual_calibration_removes_an_input_independent_prior(small_world):
    """A model = honest score + item prior: calibration divides the prior out."""
    honest = ScoringModel(small_world, popularity_weight=0.0)
    biased = ScoringModel(small_world, popularity_weight=3.0)
    reqs = [small_world.request(u) for u in small_world.user_ids[:30]]
    cal = ra.mitigations.DebiasedDecoding(variant="contextual_calibration").wrap(biased)
    agree_before = np.mean([_jaccard(a, b) for a, b in zip(_lists(biased, reqs),
                                                          _lists(honest, reqs))])
    agree_after = np.mean([_jaccard(a, b) for a, b in zip(_lists(cal, reqs),
                                                         _lists(honest, reqs))])
    assert agree_after > agree_before + 0.2


def test_wrappers_stack_and_fingerprints_differ(small_world):
    model = _ProfileSensitive(small_world)
    a = ra.mitigations.CounterfactualPrompting(mode="neutralize")
    b = ra.mitigations.Reweighting(mode="inverse_popularity")
    stacked = ra.mitigations.stack(model, [a, b])
    assert isinstance(stacked.inner, ra.mitigations.MitigatedRecommender)
    fps = {model.fingerprint(), a.wrap(model).fingerprint(), stacked.fingerprint()}
    assert len(fps) == 3
    assert ra.mitigations.stack(model, None) is model
    assert len(stacked.rank([small_world.request("u0003")], 7)[0].items) == 7
    # identity keeps the model's identity so cached answers are shared
    assert ra.mitigations.Identity().wrap(model).fingerprint() == model.fingerprint()


def test_capability_errors_are_clear(small_world):
    rank_only = ra.models.CallableRecommender(lambda r, k: small_world.item_ids[:k], small_world)
    with pytest.raises(CapabilityError, match="does not declare 'train'"):
        ra.mitigations.Reweighting(mode="kamiran_calders").wrap(rank_only)
    with pytest.raises(CapabilityError, match="length_normalize"):
        ra.mitigations.DebiasedDecoding(variant="no_length_norm").wrap(rank_only)


def test_permutation_averaging_uses_the_same_shuffles_for_counterfactual_prompts(small_world):
    """Requests differing only in the stated profile must see the same candidate orders."""
    model = _ProfileSensitive(small_world)
    fixed = ra.mitigations.DebiasedDecoding(variant="permutation_averaging").wrap(model)
    req = small_world.request("u0004", candidates=small_world.item_ids[:20])
    orders = [v.candidates for v in fixed.shuffles(req)]
    cf_orders = [v.candidates for v in fixed.shuffles(req.replace(profile={"gender": "male"}))]
    assert orders == cf_orders and len(set(orders)) > 1
