"""ra.study: the one loop under ablate and compare; skipped metrics kept, marked, with reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recaudit as ra
from recaudit.ablation import AblationResult
from recaudit.compare import ComparisonResult
from recaudit.study import TABLE_COLUMNS, measure_utility

FAST = {"n_bootstrap": 100, "n_permutations": 100}


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=60, n_items=40, seed=0)


@pytest.fixture(scope="module")
def built():
    return []


@pytest.fixture(scope="module")
def result(world, built):
    def build(arm, seed):
        built.append((arm, seed))
        return ra.models.RandomRecommender(world, seed=seed) if arm == "random" else arm

    return ra.study({"pop": ra.models.MostPopular(world), "random": "random"}, world,
                    ["popularity_bias", "explanation_faithfulness"], seeds=[0, 1], build=build,
                    config=FAST, cache=False, progress=False)


def test_every_arm_and_seed_is_built_and_audited_once(result, built):
    assert [seed for _arm, seed in built] == [0, 1, 0, 1]
    assert sorted(result.reports) == [("pop", 0), ("pop", 1), ("random", 0), ("random", 1)]
    assert result.labels == ["pop", "random"] and result.seeds == [0, 1]


def test_table_keeps_skipped_metrics_marked_with_the_reason(result):
    t = result.table
    assert list(t.columns) == TABLE_COLUMNS
    assert t.groupby(["auditor", "metric", "scope"]).size().eq(2 * 2).all()
    skipped = result.skipped()
    assert set(skipped["auditor"]) == {"explanation_faithfulness"} and len(skipped) == 4
    assert skipped["value"].isna().all() and (skipped["verdict"] == "skipped").all()
    assert skipped["reason"].str.contains("explain").all()
    measured = result.measured()
    assert measured["measured"].all() and (measured["reason"] == "").all()
    assert len(measured) + len(skipped) == len(t)
    assert not t["measured"].iloc[len(measured):].any()  # skipped rows come last


def test_utility_rows_and_per_user_values_agree(result, world):
    util = result.utility()
    assert len(util) == 2 * 2 * 2 and set(util["metric"]) == {"ndcg_at_10", "hr_at_10"}
    users, values = measure_utility(ra.models.MostPopular(world), world, k=10, seed=1)
    assert result.per_user[("pop", 1, "hr_at_10")] == dict(zip(users, values["hr_at_10"]))
    row = util.query("arm == 'pop' and seed == 1 and metric == 'hr_at_10'").iloc[0]
    assert row["value"] == pytest.approx(np.mean(values["hr_at_10"]))
    assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_costs_per_arm_seed_and_stage(result):
    costs = result.cost_table()
    assert len(costs) == 2 * 2 * 2 and set(costs["stage"]) == {"audit", "utility"}
    util = costs[costs["stage"] == "utility"]
    assert (util["requests"] > 0).all() and (costs["total_seconds"] > 0).all()


def test_ablation_and_comparison_are_views_of_one_study(result):
    abl = AblationResult.from_study(result)
    assert abl.study is result and abl.labels == result.labels
    assert len(abl.table) == len(result.measured())
    assert (abl.table["mitigation"] == result.measured()["arm"]).all()
    cmp = ComparisonResult.from_study(result)
    assert cmp.study is result and len(cmp.table) == len(result.table)
    assert (cmp.table.query("auditor == 'explanation_faithfulness'")["verdict"]
            == "skipped").all()
    keys = ["model", "seed", "auditor", "metric", "scope"]
    same = result.table.drop(columns="measured").rename(columns={"arm": "model"})
    pd.testing.assert_frame_equal(cmp.table.sort_values(keys).reset_index(drop=True),
                                  same.sort_values(keys).reset_index(drop=True))


def test_study_errors(world):
    with pytest.raises(ValueError, match="at least one arm"):
        ra.study({}, world, ["popularity_bias"])
    with pytest.raises(ValueError, match="distinct"):
        ra.study({1: ra.models.MostPopular(world), "1": ra.models.MostPopular(world)}, world,
                 ["popularity_bias"])


def test_study_is_exported():
    assert callable(ra.study) and ra.StudyResult.__name__ == "StudyResult"
