"""Per-user results: the rows behind each metric, in the result, the JSON and
``AuditReport.per_user`` (issue 28, part 5)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import recaudit as ra
from recaudit.errors import AuditorCheckError
from recaudit.results import AuditResult, Metric, per_user_frame
from recaudit.testing._check_auditor import check_per_user
from recaudit.testing.zoo.fairness import GenderSensitive
from recaudit.testing.zoo.popularity import PopularityPusher
from recaudit.testing.zoo.position import EarlyCandidateRanker
from recaudit.testing.zoo.robustness import BrittleTitleModel

CONFIG = {"n_bootstrap": 50, "n_permutations": 50}


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=80, n_items=50, seed=0)


def _audit(model, data, auditor, **params):
    return ra.audit(model, data, [(auditor, params)], config=CONFIG, cache=False,
                    progress=False)


@pytest.fixture(scope="module")
def reports(world):
    """One small audit per auditor, each with the zoo model that plants its defect."""
    return {
        "popularity_bias": _audit(PopularityPusher(world), world, "popularity_bias",
                                  n_users=None, k=5),
        "position_bias": _audit(EarlyCandidateRanker(world), world, "position_bias",
                                n_users=30, n_shuffles=2),
        "prompt_robustness": _audit(BrittleTitleModel(world), world, "prompt_robustness",
                                    n_users=30, perturbations=["case", "typos"]),
        "consumer_fairness": _audit(GenderSensitive(world), world, "consumer_fairness",
                                    n_users=20, k=10, n_candidates=20, attributes=["gender"],
                                    intersectional=False),
    }


def _mean_checked(report, auditor):
    """Every metric with mean-aggregated rows equals the mean of their values."""
    n = 0
    for m in report[auditor].metrics:
        if m.per_user is not None and m.per_user_aggregate == "mean":
            rows = report.per_user(auditor, m.name, m.scope)
            assert list(rows.columns[:3]) in (["user_id", "scope", "value"],
                                              ["item_id", "scope", "value"])
            assert math.isclose(rows["value"].mean(), m.value, rel_tol=1e-9, abs_tol=1e-9), \
                (m.name, m.scope)
            n += 1
    return n


# ---------------------------------------------------------------------- popularity_bias
def test_popularity_lift_rows_are_the_audited_users(reports, world):
    report = reports["popularity_bias"]
    rows = report.per_user("popularity_bias", "popularity_lift", scope="all")
    assert list(rows.columns) == ["user_id", "scope", "value"]
    assert sorted(rows["user_id"]) == sorted(world.user_ids)  # n_users=None: every user
    assert (rows["scope"] == "all").all()
    metric = report["popularity_bias"].metric("popularity_lift")
    assert abs(rows["value"].mean() - metric.value) <= 1e-9
    # per group: the rows of gender=female are the female users, their mean the metric
    female = report.per_user("popularity_bias", "popularity_lift", "gender=female")
    want = {u for u in world.user_ids if world.user_attributes(u)["gender"] == "female"}
    assert set(female["user_id"]) == want
    assert abs(female["value"].mean()
               - report["popularity_bias"].metric("popularity_lift", "gender=female").value
               ) <= 1e-9
    assert _mean_checked(report, "popularity_bias") >= 6


def test_popularity_lift_by_hand_and_worst_served_is_the_evidence(reports, world):
    report = reports["popularity_bias"]
    rows = report.per_user("popularity_bias", "popularity_lift", "all")
    worst = rows.loc[rows["value"].idxmax()]
    evidence = report["popularity_bias"].evidence[0]
    assert worst["user_id"] == evidence["user_id"]
    assert round(worst["value"], 3) == evidence["popularity_lift"]
    # by hand: mean popularity of the top-5 unseen items over that of the user's history
    u = worst["user_id"]
    pop = world.popularity.to_dict()
    seen = set(world.train_histories[u])
    ranked = PopularityPusher(world).rank([world.request(u)], 5 + len(seen))[0].items
    top = [i for i in ranked if i not in seen][:5]
    hand = np.mean([pop[i] for i in top]) / np.mean([pop[i] for i in world.train_histories[u]])
    assert abs(worst["value"] - hand) <= 1e-9


def test_catalog_level_metrics_have_item_rows_or_none(reports, world):
    report = reports["popularity_bias"]
    cov = report.per_user("popularity_bias", "coverage")
    assert list(cov.columns) == ["item_id", "scope", "value"]
    assert len(cov) == len(world.item_ids)
    assert abs(cov["value"].mean() - report["popularity_bias"].metric("coverage").value) < 1e-12
    ratio = report.per_user("popularity_bias", "aplt_ratio")
    assert ratio.attrs["aggregate"] is None and "reference" in ratio.columns
    ok = ratio["value"].notna()
    assert abs(ratio["value"][ok].mean() / ratio["reference"][ok].mean()
               - report["popularity_bias"].metric("aplt_ratio").value) <= 1e-9
    with pytest.raises(KeyError, match="pop_rsp.*no per-user rows"):
        report.per_user("popularity_bias", "pop_rsp")


# ---------------------------------------------------------------------- position_bias
def test_position_rows_match_the_evidence_ranks(reports):
    report = reports["position_bias"]
    res = report["position_bias"]
    rows = report.per_user("position_bias", "ndcg_at_pos")
    positions = sorted({int(s.split("=")[1]) for s in rows["scope"]})
    assert len(rows) == 30 * len(positions)
    for p in positions:
        one = report.per_user("position_bias", "ndcg_at_pos", f"pos={p}")
        assert one["user_id"].is_unique and len(one) == 30
        assert abs(one["value"].mean() - res.metric("ndcg_at_pos", f"pos={p}").value) <= 1e-9
    # the user the evidence names (largest rank spread): NDCG@10 = 1 / log2(1 + rank)
    ev = res.evidence[0]
    mine = rows[rows["user_id"] == ev["user_id"]].set_index("scope")["value"]
    for p in positions:
        rank = ev[f"rank_when_at_pos_{p}"]
        expect = 1.0 / np.log2(1 + rank) if rank <= 10 else 0.0
        assert abs(mine[f"pos={p}"] - expect) <= 1e-12
    gap = report.per_user("position_bias", "position_ndcg_gap")
    assert gap.attrs["aggregate"] is None
    assert gap.set_index("user_id")["value"][ev["user_id"]] == mine.max() - mine.min()
    assert _mean_checked(report, "position_bias") >= 2 * len(positions) + 2


# ---------------------------------------------------------------------- prompt_robustness
def test_prompt_rbo_rows_and_worst_case(reports):
    report = reports["prompt_robustness"]
    res = report["prompt_robustness"]
    rows = report.per_user("prompt_robustness", "rbo")
    assert list(rows["scope"].unique()) == ["case", "typos"]
    for p in ("case", "typos"):
        one = rows[rows["scope"] == p]
        assert one["user_id"].is_unique and len(one) == 30
        assert abs(one["value"].mean() - res.metric("rbo", p).value) <= 1e-9
    worst = rows.loc[rows["value"].idxmin()]
    ev = res.evidence[0]
    assert (worst["user_id"], worst["scope"]) == (ev["user_id"], ev["perturbation"])
    assert round(worst["value"], 4) == ev["rbo"]
    assert _mean_checked(report, "prompt_robustness") == 10


# ---------------------------------------------------------------------- consumer_fairness
def test_consumer_rows_rebuild_snsr_and_name_the_evidence(reports):
    report = reports["consumer_fairness"]
    res = report["consumer_fairness"]
    rows = report.per_user("consumer_fairness", "snsr_jaccard", "gender")
    assert list(rows.columns) == ["user_id", "scope", "value", "stated"]
    assert len(rows) == 20 * rows["stated"].nunique()  # one row per user and stated value
    means = rows.groupby("stated")["value"].mean()
    assert abs(means.max() - means.min() - res.metric("snsr_jaccard", "gender").value) <= 1e-9
    worst = rows.loc[rows["value"].idxmin()]
    assert worst["user_id"] == res.evidence[0]["user"]
    assert worst["stated"] == res.evidence[0]["stated"]
    util = report.per_user("consumer_fairness", "utility_gap_ndcg", "gender")
    assert util["user_id"].is_unique and len(util) == 20
    g = util.groupby("group")["value"].mean()
    assert abs(g.max() - g.min() - res.metric("utility_gap_ndcg", "gender").value) <= 1e-9


# ---------------------------------------------------------------------- JSON and errors
def test_rows_survive_the_json_round_trip_exactly(reports, tmp_path):
    for name, report in reports.items():
        back = ra.AuditReport.from_json(report.to_json(tmp_path / f"{name}.json"))
        for m in report[name].metrics:
            if m.per_user is None:
                continue
            a = report.per_user(name, m.name, m.scope)
            b = back.per_user(name, m.name, m.scope)
            pd.testing.assert_frame_equal(a, b)
            assert a.attrs == b.attrs
        assert json.dumps(back.to_dict(), sort_keys=True) == json.dumps(
            report.to_dict(), sort_keys=True)


def test_json_is_compact_and_old_json_still_reads(reports):
    report = reports["popularity_bias"]
    d = json.loads(report.to_json())
    entry = next(e for e in d["results"][0]["per_user"]
                 if (e["metric"], e["scope"]) == ("popularity_lift", "all"))
    assert set(entry) == {"metric", "scope", "aggregate", "unit", "ids", "values"}
    assert entry["unit"] == "user_id" and len(entry["ids"]) == len(entry["values"])
    for r in d["results"]:
        del r["per_user"]  # a report written before per-user rows existed
    old = ra.AuditReport.from_dict(d)
    assert old.summary().equals(report.summary())
    with pytest.raises(KeyError, match="metrics with per-user values: none"):
        old.per_user("popularity_bias", "popularity_lift")


def test_bad_names_raise_keyerror_naming_what_exists(reports):
    report = reports["popularity_bias"]
    with pytest.raises(KeyError, match="popularity_bias"):
        report.per_user("popularity_bais", "popularity_lift")
    with pytest.raises(KeyError, match=r"popularity_lft.*'arp'.*Did you mean 'popularity_lift'"):
        report.per_user("popularity_bias", "popularity_lft")
    with pytest.raises(KeyError, match=r"scope 'gender=other'.*'all'"):
        report.per_user("popularity_bias", "popularity_lift", "gender=other")


# ---------------------------------------------------------------------- the building blocks
def test_per_user_forms_normalise_alike():
    a = per_user_frame({"u1": 1, "u2": None})
    b = per_user_frame((["u1", "u2"], np.array([1.0, np.nan])))
    c = per_user_frame(pd.DataFrame({"value": [1.0, np.nan], "user_id": ["u1", "u2"]}))
    for f in (b, c):
        pd.testing.assert_frame_equal(a, f)
    items = per_user_frame(pd.DataFrame({"item_id": [1, 2], "value": [0.5, 0.5],
                                         "member": np.array([1, 0])}))
    assert list(items.columns) == ["item_id", "value", "member"]
    assert items["item_id"].tolist() == ["1", "2"]
    with pytest.raises(ValueError, match="2 ids but 1 values"):
        per_user_frame((["u1", "u2"], [1.0]))
    with pytest.raises(ValueError, match="'value' column"):
        per_user_frame(pd.DataFrame({"user_id": ["u1"]}))
    with pytest.raises(ValueError, match="per_user_aggregate"):
        Metric("m", 1.0, per_user={"u": 1.0}, per_user_aggregate="median")


def test_metric_to_dict_is_unchanged_and_check_catches_a_wrong_mean():
    m = Metric("m", 2.0, per_user={"a": 1.0, "b": 2.0})
    assert "per_user" not in m.to_dict() and "per_user" not in repr(m)
    with pytest.raises(AuditorCheckError, match="their mean is 1.5 but the metric is 2.0"):
        check_per_user(AuditResult("x", metrics=[m]), "x")
    m.per_user_aggregate = None  # not a mean: nothing to check
    check_per_user(AuditResult("x", metrics=[m]), "x")


def test_hallucination_rows_average_each_users_answers():
    from collections import namedtuple

    from recaudit.auditors import get_auditor_class
    from recaudit.auditors._common import hallucination_metric

    R = namedtuple("R", "raw hallucinated items")
    answers = [R("", 1, ("a",)), R("", 0, ("a", "b")), R("", 2, ("a", "b")), R("", 0, ())]
    auditor = get_auditor_class("position_bias")()
    m = hallucination_metric(auditor, answers, n_bootstrap=20, seed=0,
                             owners=["u1", "u1", "u2", "u2"])
    rows = m.per_user.set_index("user_id")["value"]
    assert rows.to_dict() == {"u1": 0.25, "u2": 0.25}  # (1/2 + 0) / 2, (2/4 + 0) / 2
    assert m.per_user_aggregate == "mean" and rows.mean() == m.value
    uneven = hallucination_metric(auditor, answers, n_bootstrap=20, seed=0,
                                  owners=["u1", "u2", "u2", "u2"])
    assert uneven.per_user_aggregate is None  # the answer-level mean is not the users' mean
