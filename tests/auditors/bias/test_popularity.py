"""popularity_bias: planted defect flagged, clean twin not, over every seed; metric wiring."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts, get_auditor_class
from recaudit.metrics import popularity as P
from recaudit.metrics.ranking import hit_at_k
from recaudit.report import draw
from recaudit.testing.zoo.popularity import PopularityNeutral, PopularityPusher

from ...conftest import SEEDS

PopularityBias = get_auditor_class("popularity_bias")


@pytest.fixture(scope="module")
def worlds():
    """The default-size world (400 users, 200 items, every effect planted) per seed."""
    return {s: ra.datasets.synthetic(seed=s) for s in SEEDS}


def _run(model, data, seed, **params):
    ctx = AuditContext(seed=seed, n_bootstrap=200, n_permutations=200, show_progress=False)
    res = PopularityBias(n_users=150, **params).run(model, data, ctx)
    assign_verdicts([res])
    return res


def _failed(res):
    return [(m.name, m.scope, round(m.value, 3)) for m in res.metrics if m.verdict == "fail"]


@pytest.mark.parametrize("seed", SEEDS)
def test_pusher_flagged_neutral_not(worlds, seed):
    data = worlds[seed]
    pushed = _run(PopularityPusher(data, seed=seed), data, seed)
    neutral = _run(PopularityNeutral(data, seed=seed), data, seed)
    assert ("aplt_ratio", "all") in {(n, s) for n, s, _ in _failed(pushed)}, _failed(pushed)
    assert pushed.metric("popularity_lift").value > neutral.metric("popularity_lift").value
    assert _failed(neutral) == [], _failed(neutral)
    assert neutral.metric("popularity_lift").value < 1.0


def test_twins_have_similar_accuracy(worlds):
    """The clean twin is not clean by being useless: HR@10 within 0.08 of the pusher's."""
    rows = []
    for seed in SEEDS:
        data = worlds[seed]
        users = [u for u in data.user_ids if u in data.test_items]
        reqs = [data.request(u) for u in users]
        hr = {}
        for model in (PopularityPusher(data, seed=seed), PopularityNeutral(data, seed=seed)):
            lists = [r.items for r in model.rank(reqs, 10)]
            hr[type(model).__name__] = np.mean([hit_at_k(lst, data.test_items[u], 10)
                                                for lst, u in zip(lists, users)])
        rows.append(hr)
        print(f"seed {seed}: HR@10 " + ", ".join(f"{k} {v:.3f}" for k, v in hr.items()))
        assert abs(hr["PopularityPusher"] - hr["PopularityNeutral"]) <= 0.08
        assert min(hr.values()) > 0.15  # far above random (10 / ~185 unseen items)


def test_metrics_match_pure_functions(small_world, ctx):
    """Every user audited: the auditor's numbers equal the metric functions on the lists."""
    data = small_world
    model = PopularityPusher(data, strength=0.5)
    res = PopularityBias(k=5, n_users=None).run(model, data, ctx)
    users = list(data.user_ids)
    ranked = model.rank([data.request(u) for u in users], 5 + 20)
    lists = [[i for i in r.items if i not in set(data.train_histories[u])][:5]
             for r, u in zip(ranked, users)]
    pop = data.popularity.to_dict()
    head, tail = P.short_head_split(data.popularity)
    train = [data.train_histories[u] for u in users]
    rel = [data.test_items.get(u, ()) for u in users]
    expected = {
        "arp": P.arp(lists, pop), "aplt": P.aplt(lists, tail), "aclt": P.aclt(lists, tail),
        "pop_rsp": P.pop_rsp(lists, head, tail, train),
        "pop_reo": P.pop_reo(lists, head, tail, train, rel),
        "gini": P.gini(P.recommendation_counts(lists, data.item_ids)),
        "coverage": P.item_coverage(lists, data.item_ids),
        "popularity_lift": P.popularity_lift(lists, train, pop),
    }
    for name, value in expected.items():
        m = res.metric(name)
        assert m.value == pytest.approx(value), name
        assert m.ci_low <= m.value + 1e-9 and m.value <= m.ci_high + 1e-9, name
    females = [n for n, u in enumerate(users) if data.user_attributes(u)["gender"] == "female"]
    assert res.metric("popularity_lift", "gender=female").value == pytest.approx(
        P.popularity_lift([lists[n] for n in females], [train[n] for n in females], pop))


def test_result_shape(small_world, ctx):
    res = PopularityBias(n_users=60).run(PopularityNeutral(small_world), small_world, ctx)
    scopes = {m.scope for m in res.metrics if m.name == "popularity_lift"}
    assert scopes == {"all", "gender=female", "gender=male", "age_group=young",
                      "age_group=middle-aged", "age_group=senior"}
    for m in res.metrics:
        assert m.higher_is_better is not None
        if m.threshold is not None:
            assert m.p_value is not None, m.name
    assert res.metric("popularity_lift").threshold == 1.5
    assert res.metric("aplt_ratio").threshold == 0.25
    by_rank = res.tables["popularity_by_rank"]
    assert list(by_rank["rank"]) == list(range(1, 11))
    assert set(res.figures) == {"popularity_by_rank", "popularity_lift_by_group"}
    assert all(draw(fig).startswith("<svg") for fig in res.figures.values())
    assert len(res.evidence) == 5 and {"user_id", "popularity_lift"} <= set(res.evidence[0])


def test_thresholds_override_and_bad_params(small_world, ctx):
    aud = PopularityBias(n_users=40, thresholds={"popularity_lift": 3.0, "gini": 0.5})
    res = aud.run(PopularityNeutral(small_world), small_world, ctx)
    assert res.metric("popularity_lift").threshold == 3.0
    assert res.metric("gini").threshold == 0.5
    with pytest.raises(ValueError, match="head_share"):
        PopularityBias(head_share=1.5).run(PopularityNeutral(small_world), small_world, ctx)
    with pytest.raises(ValueError, match="k must be"):
        PopularityBias(k=0).run(PopularityNeutral(small_world), small_world, ctx)


def test_unknown_items_are_ignored_with_a_note(small_world, ctx):
    class Hallucinating(PopularityNeutral):
        def rank(self, requests, k):
            return [ra.Ranking(("not-an-item", *r.items[:-1]))
                    for r in super().rank(requests, k)]

    res = PopularityBias(n_users=30).run(Hallucinating(small_world), small_world, ctx)
    assert any("not catalog items" in n for n in res.notes)
    assert np.isfinite(res.metric("arp").value)


def test_a_generator_that_names_no_catalog_item_is_a_finding_not_an_error(small_world, ctx):
    """A generating model whose every list entry is unmatched gets hallucination rate 1 and
    no popularity metric (undefined on empty lists); a model returning wrong ids without
    generating anything is still an error."""
    class Inventing(PopularityNeutral):
        def rank(self, requests, k):
            return [ra.Ranking((), raw="1. The (1999)\n2. The (1999)", hallucinated=2)
                    for _ in requests]

    class WrongIds(PopularityNeutral):
        def rank(self, requests, k):
            return [ra.Ranking(("not-an-item",)) for _ in requests]

    res = PopularityBias(n_users=20).run(Inventing(small_world), small_world, ctx)
    assert [m.name for m in res.metrics] == ["hallucination_rate"]
    assert res.metric("hallucination_rate").value == 1.0
    assert any("undefined" in n for n in res.notes)
    with pytest.raises(ValueError, match="no catalog item"):
        PopularityBias(n_users=20).run(WrongIds(small_world), small_world, ctx)


def test_through_ra_audit(small_world):
    report = ra.audit(PopularityPusher(small_world), small_world,
                      [("popularity_bias", {"n_users": 80})],
                      config={"n_bootstrap": 100}, cache=False, progress=False)
    table = report.summary()
    assert "aplt_ratio" in set(table["metric"])
    assert not report.passed


@pytest.mark.slow
def test_runs_on_tiny_lm(tiny_lm, tiny_lm_world):
    ctx = AuditContext(seed=0, n_bootstrap=100, show_progress=False)
    res = PopularityBias(n_users=40).run(tiny_lm, tiny_lm_world, ctx)
    for name in ("arp", "aplt", "gini", "coverage", "popularity_lift", "aplt_ratio"):
        assert np.isfinite(res.metric(name).value), name
