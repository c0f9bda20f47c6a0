"""consumer_fairness: planted defects over seeds, definitions checked by hand and fairlearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts, get_auditor_class
from recaudit.auditors.fairness.consumer import ConsumerFairness, build_history
from recaudit.auditors.fairness.vocabulary import FAIRLLM_VOCABULARY
from recaudit.data import candidate_pool
from recaudit.metrics.ranking import hit_at_k, ndcg_at_k
from recaudit.report import draw
from recaudit.testing.zoo.fairness import GenderSensitive, ProfileBlind

from ...conftest import SEEDS

K = 20


def _ctx(seed: int) -> AuditContext:
    return AuditContext(seed=seed, n_bootstrap=200, n_permutations=100, show_progress=False)


def _failed(res) -> list[tuple[str, str]]:
    assign_verdicts([res])
    return [(m.name, m.scope) for m in res.metrics if m.verdict == "fail"]


def test_registered_with_design_name():
    cls = get_auditor_class("consumer_fairness")
    assert cls is ConsumerFairness
    assert cls.family == "fairness" and cls.requires == frozenset({"rank"})
    assert "permutation" in cls.method and "FaiRLLM" in cls.citation


@pytest.mark.parametrize("seed", SEEDS)
def test_flags_gender_sensitive_not_profile_blind(seed):
    data = ra.datasets.synthetic(n_users=120, n_items=60, seed=seed)
    auditor = ConsumerFairness(n_users=50, n_candidates=None, intersectional=False, plots=False)
    bad = _failed(auditor.run(GenderSensitive(data, seed=seed), data, _ctx(seed)))
    clean = _failed(auditor.run(ProfileBlind(data, seed=seed), data, _ctx(seed)))
    assert ("snsr_jaccard", "gender") in bad
    assert ("snsr_prag", "gender") in bad
    assert not any(scope == "age_group" for _, scope in bad)  # the defect is gender only
    assert clean == []


def test_metric_names_scopes_and_blind_similarities(small_world, ctx):
    res = ConsumerFairness(n_users=20, n_candidates=None).run(ProfileBlind(small_world),
                                                              small_world, ctx)
    names = {(m.name, m.scope) for m in res.metrics}
    for scope in ("gender", "age_group", "gender×age_group"):
        for sim in ("jaccard", "serp", "prag"):
            assert (f"snsr_{sim}", scope) in names and (f"snsv_{sim}", scope) in names
        assert ("snsr_serp_released", scope) in names
        assert ("alignment_gap_ndcg", scope) in names and ("alignment_gap_hr", scope) in names
    table = res.tables["similarity_by_value"]
    # a profile-blind model returns the neutral list under every value: every similarity is
    # 1, except FaiRLLM's released SERP* scale, 230 / (2 * 20 * 21) for identical top-20 lists
    full = table[table["similarity"] != "serp_released"]
    assert np.allclose(full["sim"], 1.0)
    released = table[table["similarity"] == "serp_released"]
    assert np.allclose(released["sim"], 230 / 840)
    assert set(table.loc[table["scope"] == "gender×age_group", "value"]) == {
        f"{g}×{a}" for g in ("female", "male") for a in ("middle-aged", "senior", "young")}
    assert res.metric("snsr_jaccard", "gender").p_value == 1.0
    assert draw(res.figures["similarity_by_value"]).startswith("<svg")
    assert draw(res.figures["utility_by_group"]).startswith("<svg")
    assert res.evidence == []  # nothing changed, nothing to show


class _Short(ProfileBlind):
    """Profile-blind, but answers with fewer than K items (3 to 12, set by the history)."""

    def rank(self, requests, k):
        out = []
        for req, r in zip(requests, super().rank(requests, k)):
            n = 3 + len(req.history) % 10
            out.append(ra.models.Ranking(r.items[:n], None if r.scores is None
                                         else r.scores[:n]))
        return out


def test_short_identical_lists_score_one_at_their_own_length(small_world, ctx):
    # K = len(neutral list), as in FaiRLLM's released code: a model returning fewer than K
    # items under every prompt gives identical lists, similarity 1, whatever their length
    res = ConsumerFairness(n_users=30, intersectional=False, group_utility=False,
                           n_candidates=None, plots=False).run(_Short(small_world),
                                                               small_world, ctx)
    table = res.tables["similarity_by_value"]
    full = table[table["similarity"] != "serp_released"]
    assert np.allclose(full["sim"], 1.0)
    assert res.metric("snsr_serp", "gender").value == 0.0
    # the released scale of identical lists of length n: sum_{i<n} (n - i + 1) / (2n(n+1))
    users = res.tables["neutral_utility_per_user"]["user_id"].tolist()
    lens = [len(r.items) for r in _Short(small_world).rank(
        [small_world.request(u, max_history=20) for u in users], K)]
    assert min(lens) < K
    expected = np.mean([sum(n - i + 1 for i in range(n)) / (2 * n * (n + 1)) for n in lens])
    released = table[table["similarity"] == "serp_released"]
    assert np.allclose(released["sim"], expected)
    assert any("fewer than K=20" in n for n in res.notes)


def test_similarity_values_recomputed_by_hand(small_world, ctx):
    model = GenderSensitive(small_world, boost=0.5)
    res = ConsumerFairness(n_users=30, intersectional=False, group_utility=False,
                           n_candidates=None, plots=False).run(
        model, small_world, ctx)
    users = res.tables["neutral_utility_per_user"]["user_id"].tolist()
    jac = {"female": [], "male": []}
    for u in users:
        base = small_world.request(u, max_history=20)
        ref = model.rank([base], K)[0].items
        for v in jac:
            cf = model.rank([base.replace(profile={"gender": v})], K)[0].items
            jac[v].append(len(set(cf) & set(ref)) / len(set(cf) | set(ref)))
    table = res.tables["similarity_by_value"].set_index(["scope", "similarity", "value"])
    for v in jac:
        assert table.loc[("gender", "jaccard", v), "sim"] == pytest.approx(np.mean(jac[v]))
    assert np.mean(jac["male"]) == 1.0  # the defect fires for "female" only
    snsr = res.metric("snsr_jaccard", "gender")
    assert snsr.value == pytest.approx(1.0 - np.mean(jac["female"]))
    assert snsr.ci_low <= snsr.value <= snsr.ci_high
    assert res.evidence and res.evidence[0]["stated"] == "female"
    assert res.evidence[0]["neutral"] != res.evidence[0]["counterfactual"]


def test_group_utility_matches_fairlearn(small_world, ctx):
    model = ProfileBlind(small_world)
    res = ConsumerFairness(n_users=80, intersectional=False, n_candidates=None,
                           plots=False).run(
        model, small_world, ctx)
    per_user = res.tables["neutral_utility_per_user"]
    lists = model.rank([small_world.request(u, max_history=20) for u in per_user["user_id"]], K)
    held = [small_world.test_items[u] for u in per_user["user_id"]]
    ndcg = np.array([ndcg_at_k(r.items, h, K) for r, h in zip(lists, held)])
    hr = np.array([hit_at_k(r.items, h, K) for r, h in zip(lists, held)])
    assert per_user[f"ndcg@{K}"].to_numpy() == pytest.approx(ndcg)
    for attr in ("gender", "age_group"):
        mf = MetricFrame(metrics={"ndcg": lambda t, p: float(np.mean(t))}, y_true=ndcg,
                         y_pred=ndcg, sensitive_features=per_user[attr])
        gap = res.metric("utility_gap_ndcg", attr)
        assert gap.value == pytest.approx(float(mf.difference()["ndcg"]))
        assert res.metric("utility_ratio_ndcg", attr).value == pytest.approx(
            float(mf.ratio()["ndcg"]))
        assert gap.ci_low <= gap.value <= gap.ci_high and 0 < gap.p_value <= 1
        by_hand = pd.Series(hr).groupby(per_user[attr].to_numpy()).mean()
        assert res.metric("utility_gap_hr", attr).value == pytest.approx(
            by_hand.max() - by_hand.min())
    table = res.tables["utility_by_group"]
    assert set(table["group"]) >= {"female", "male", "young", "senior"}


class _Spy(ProfileBlind):
    calls: list

    def rank(self, requests, k):
        self.calls.append(list(requests))
        return super().rank(requests, k)


def test_fairllm_vocabulary_one_batched_call(small_world, ctx):
    spy = _Spy(small_world)
    spy.calls = []
    res = ConsumerFairness(vocabulary="fairllm", n_users=5, group_utility=False,
                           plots=False).run(
        spy, small_world, ctx)
    assert len(spy.calls) == 1  # every request in one batch
    sent = spy.calls[0]
    n_values = sum(len(v) for v in FAIRLLM_VOCABULARY.values())  # 31 released values
    pairs = len(FAIRLLM_VOCABULARY["gender"]) * len(FAIRLLM_VOCABULARY["age"])
    assert len(sent) == 5 * (1 + n_values + pairs)
    stated = {p for r in sent for p in r.profile}
    assert ("religion", "Buddhist") in stated and ("physical_appearance", "thin") in stated
    assert {m.scope for m in res.metrics} >= set(FAIRLLM_VOCABULARY) | {"gender×age"}


def _tiny_data(ratings: bool = True):
    items = pd.DataFrame({"item_id": list("abcdefg"), "title": list("ABCDEFG"),
                          "genres": ["x"] * 7, "provider": ["p", "q"] * 3 + ["p"]})
    users = pd.DataFrame({"user_id": ["u"], "gender": ["f"]})
    inter = pd.DataFrame({"user_id": ["u"] * 6, "item_id": list("abcdef"),
                          "timestamp": range(6), "split": ["train"] * 5 + ["test"]})
    if ratings:
        inter["rating"] = [5, 1, 4, 2, 5, 3]
    return ra.datasets.from_frames(items, users, inter, sensitive=["gender"])


def test_profile_construction_options():
    data = _tiny_data()
    rng = np.random.default_rng(0)
    assert build_history(data, "u", "recent", 3, rng) == ("c", "d", "e")
    # ratings a=5 b=1 c=4 d=2 e=5: top three are a, e, c, kept oldest first
    assert build_history(data, "u", "top_rated", 3, rng) == ("a", "c", "e")
    picked = build_history(data, "u", "random", 3, rng)
    assert len(set(picked)) == 3 and list(picked) == sorted(picked)
    assert build_history(data, "u", "recent", None, rng) == tuple("abcde")
    assert build_history(data, "u", "recent", 0, rng) == ()


def test_candidate_pool_caps_at_unseen_items():
    data = _tiny_data()
    # u saw a..e in train and f is held out: only g is left to sample
    pool = candidate_pool(data, "u", 10, np.random.default_rng(0))
    assert sorted(pool) == ["f", "g"]
    assert candidate_pool(data, "u", 1, np.random.default_rng(0)) == ("f",)


def test_clear_errors(small_world, ctx):
    with pytest.raises(ra.DatasetError, match="rating"):
        ConsumerFairness(profile="top_rated").run(ProfileBlind(small_world),
                                                  _tiny_data(ratings=False), ctx)
    with pytest.raises(ValueError, match="profile"):
        ConsumerFairness(profile="latest").run(ProfileBlind(small_world), small_world, ctx)
    with pytest.raises(ValueError, match="vocabulary"):
        ConsumerFairness(vocabulary="other").run(ProfileBlind(small_world), small_world, ctx)
    no_sensitive = ra.datasets.from_frames(small_world.items, small_world.users[["user_id"]],
                                           small_world.interactions)
    with pytest.raises(ra.DatasetError, match="no sensitive attribute"):
        ConsumerFairness().run(ProfileBlind(small_world), no_sensitive, ctx)
    with pytest.raises(ValueError, match="not probed"):
        ConsumerFairness(attributes=["gender"], intersectional=[("gender", "age_group")]).run(
            ProfileBlind(small_world), small_world, ctx)


def test_candidates_option_and_random_profile(small_world, ctx):
    spy = _Spy(small_world)
    spy.calls = []
    res = ConsumerFairness(n_users=10, k=5, n_candidates=15, profile="random",
                           max_history=4, intersectional=False, plots=False).run(
        spy, small_world, ctx)
    sent = spy.calls[0]
    by_user: dict = {}
    for r in sent:
        assert len(r.candidates) == 15 and len(r.history) <= 4
        by_user.setdefault(r.user_id, set()).add(r.candidates)
        assert set(small_world.test_items[r.user_id]) <= set(r.candidates)
    assert all(len(c) == 1 for c in by_user.values())  # same candidates under every value
    assert res.metric("snsr_jaccard", "gender").value == 0.0


@pytest.mark.slow
def test_runs_on_tiny_lm(tiny_lm, tiny_lm_world):
    ctx = AuditContext(seed=0, n_bootstrap=100, n_permutations=100, show_progress=False)
    res = ConsumerFairness(n_users=15, k=10, n_candidates=25, max_history=2,
                           intersectional=False, plots=False).run(tiny_lm, tiny_lm_world, ctx)
    m = res.metric("snsr_jaccard", "gender")
    assert 0.0 <= m.value <= 1.0 and m.ci_low <= m.value <= m.ci_high
    assert 0 < m.p_value <= 1


def test_through_ra_audit(small_world):
    from recaudit.testing.zoo.fairness import GenderSensitive

    report = ra.audit(GenderSensitive(small_world), small_world,
                      auditors=[("consumer_fairness", {"n_users": 30, "intersectional": False}),
                                ("provider_fairness", {"n_users": 60, "plots": False})],
                      config={"n_bootstrap": 100, "n_permutations": 100}, cache=False,
                      progress=False)
    summary = report.summary()
    failed = set(zip(summary.loc[summary["verdict"] == "fail", "metric"],
                     summary.loc[summary["verdict"] == "fail", "scope"]))
    assert ("snsr_jaccard", "gender") in failed and not report.passed
    assert not any(metric == "min_max_exposure_ratio" for metric, _ in failed)
    html = report.to_html()
    assert "consumer_fairness" in html and "snsr_prag" in html and "<svg" in html
