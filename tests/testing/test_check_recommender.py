"""check_recommender: every adapter passes; deliberately broken models fail."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.models import BaseRecommender, CallableRecommender, Ranking
from recaudit.testing import check_recommender
from recaudit.testing.zoo import ScoringModel


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=30, n_items=40, seed=0)


def callable_model(data):
    pop = data.popularity

    def score(req):
        return [float(pop[i]) + 1e-3 * n for n, i in enumerate(req.candidates)]

    def render(req):
        return f"{dict(req.profile)} watched {list(req.history)}"

    return CallableRecommender(None, data, score=score, render=render, name="pop+index")


def callable_rank_only(data):
    return CallableRecommender(lambda r, k: list(data.item_ids)[::-1][: 3 * k], data,
                               name="reversed")


def baseline(name):
    def make(data):
        return getattr(ra.models, name)(data)
    return make


ADAPTERS = {
    "CallableRecommender(score)": callable_model,
    "CallableRecommender(rank)": callable_rank_only,
    "ScoringModel": lambda data: ScoringModel(data, seed=1),
    "EmbeddingRecommender": lambda data: ra.models.EmbeddingRecommender(data, max_history=5),
    "MostPopular": baseline("MostPopular"),
    "RandomRecommender": baseline("RandomRecommender"),
}


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_adapter_conforms(name, world):
    model = ADAPTERS[name](world)
    report = check_recommender(model, world, seed=3)
    declared = set(model.capabilities)
    assert {"declares_rank", "deterministic", "batch_equals_single", "candidates_respected",
            "k_respected", "catalog_ids", "fingerprint"} <= set(report["passed"])
    assert ("score" in report["passed"]) == ("score" in declared)
    assert ("nll" in report["passed"]) == ("nll" in declared)
    assert ("prompt" in report["passed"]) == ("prompt" in declared)
    assert report["fingerprint"] == model.fingerprint() and report["n_requests"] > 0


@pytest.mark.slow
def test_tiny_lm_conforms(request):
    model = request.getfixturevalue("tiny_lm")
    data = request.getfixturevalue("tiny_lm_world")
    report = check_recommender(model, data, seed=0, n_users=4)
    assert {"score", "nll", "prompt", "batch_equals_single"} <= set(report["passed"])


def test_uses_model_data_by_default(world):
    assert check_recommender(ScoringModel(world))["passed"]
    with pytest.raises(TypeError, match="data="):
        check_recommender(object())


# ----------------------------------------------------------------------------- broken models
class Honest(BaseRecommender):
    """Popularity ranking that respects every rule; broken variants override one thing."""

    capabilities = frozenset({"rank", "score", "nll", "prompt"})

    def __init__(self, data):
        self.data = data
        self.pop = data.popularity.astype(float) + np.linspace(0, 0.5, len(data.item_ids))

    def fingerprint(self):
        return f"{type(self).__name__}-v1"

    def pool(self, req):
        if req.candidates is not None:
            return list(req.candidates)
        return [i for i in self.data.item_ids if i not in set(req.history)]

    def one(self, req, k, batch_size):
        pool = self.pool(req)
        s = self.pop[pool].to_numpy()
        order = np.argsort(-s, kind="stable")[:k]
        return Ranking([pool[i] for i in order], s[order])

    def rank(self, requests, k):
        return [self.one(r, k, len(requests)) for r in requests]

    def score(self, requests):
        return [self.pop[list(r.candidates)].to_numpy() for r in requests]

    def nll(self, requests, targets):
        p = self.pop / self.pop.sum()
        return np.array([-np.log(p[t]) for t in targets])

    def render(self, request):
        return f"Profile {dict(request.profile)}. History: {', '.join(request.history)}."


class IgnoresK(Honest):
    def one(self, req, k, batch_size):
        return super().one(req, k + 2, batch_size)


class NonCandidates(Honest):
    def one(self, req, k, batch_size):
        return super().one(req.replace(candidates=None), k, batch_size)


class NotInCatalog(Honest):
    def one(self, req, k, batch_size):
        r = super().one(req, k - 1, batch_size)
        return Ranking(("ghost-item",) + r.items)


class Duplicates(Honest):
    def one(self, req, k, batch_size):
        r = super().one(req, k - 1, batch_size)
        return Ranking(r.items[:1] + r.items)


class NonDeterministic(Honest):
    rng = np.random.default_rng(0)

    def one(self, req, k, batch_size):
        pool = self.pool(req)
        return Ranking(tuple(self.rng.permutation(pool)[:k]))


class BatchDependent(Honest):
    def one(self, req, k, batch_size):
        r = super().one(req, k + 1, batch_size)
        return Ranking(r.items[1:] if batch_size > 1 else r.items[:k])


class UnstableFingerprint(Honest):
    n = 0

    def fingerprint(self):
        UnstableFingerprint.n += 1
        return f"v{UnstableFingerprint.n}"


class ScoreDisagrees(Honest):
    def score(self, requests):
        return [-s for s in super().score(requests)]


class WrongScoreShape(Honest):
    def score(self, requests):
        return [s[:-1] for s in super().score(requests)]


class NaNScore(Honest):
    def score(self, requests):
        return [np.where(np.arange(len(s)) == 0, np.nan, s) for s in super().score(requests)]


class NegativeNll(Honest):
    def nll(self, requests, targets):
        return -super().nll(requests, targets)


class BlindPrompt(Honest):
    def render(self, request):
        return f"History: {', '.join(request.history)}."


class EmptyPrompt(Honest):
    def render(self, request):
        return ""


class NoRank(Honest):
    capabilities = frozenset({"score"})


class UnknownCapability(Honest):
    capabilities = frozenset({"rank", "telepathy"})


class WrongLength(Honest):
    def rank(self, requests, k):
        return super().rank(requests, k)[:-1]


BROKEN = [
    (IgnoresK, "k_respected"),
    (NonCandidates, "candidates_respected"),
    (NotInCatalog, "catalog_ids"),
    (NonDeterministic, "deterministic"),
    (BatchDependent, "batch_equals_single"),
    (UnstableFingerprint, "fingerprint"),
    (ScoreDisagrees, "score_consistent_with_rank"),
    (WrongScoreShape, "score"),
    (NaNScore, "score"),
    (NegativeNll, "nll"),
    (BlindPrompt, "prompt"),
    (EmptyPrompt, "prompt"),
    (NoRank, "declares_rank"),
    (UnknownCapability, "capabilities_known"),
    (WrongLength, "rank_output"),
]


def test_honest_reference_passes(world):
    report = check_recommender(Honest(world), world)
    assert report["skipped"] == {}
    assert len(report["passed"]) == 13


def test_a_model_repeating_an_item_cannot_build_its_ranking(world):
    # Ranking rejects a repeated item at construction, before catalog_ids could see it
    with pytest.raises(ValueError, match=r"Ranking repeats item\(s\)"):
        check_recommender(Duplicates(world), world)


@pytest.mark.parametrize("cls,check", BROKEN, ids=[c.__name__ for c, _ in BROKEN])
def test_broken_model_fails(cls, check, world):
    with pytest.raises(AssertionError, match=rf"check_recommender\[{check}\] failed"):
        check_recommender(cls(world), world)


@pytest.mark.parametrize("make", [lambda d: ScoringModel(d),
                                  lambda d: ra.models.EmbeddingRecommender(d)],
                         ids=["ScoringModel", "EmbeddingRecommender"])
def test_adapters_conform_on_movielens_files(make, tmp_path):
    from ..data import movielens_files

    movielens_files.write_1m(tmp_path)
    data = ra.datasets.movielens_1m(tmp_path)
    report = check_recommender(make(data), data, n_users=3, k=3, n_candidates=4)
    assert "prompt" in report["passed"]
