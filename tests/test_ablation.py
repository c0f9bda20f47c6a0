"""ra.ablate: every arm x seed x auditor in one tidy table, Pareto sets, reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recaudit as ra
from recaudit.ablation import TABLE_COLUMNS, AblationResult
from recaudit.testing.zoo import ScoringModel

FAST = {"n_bootstrap": 50, "n_permutations": 50}


class _Pusher(ScoringModel):
    def catalog_scores(self, request):
        return self.base_scores(request) + 2.0 * self._log_pop


@pytest.fixture(scope="module")
def ablation(small_world, tmp_path_factory):
    cache = tmp_path_factory.mktemp("abl") / "cache.sqlite"
    return ra.ablate(
        _Pusher(small_world), small_world,
        mitigations={"none": None, "identity": "identity",
                     "inverse_popularity": ra.mitigations.Reweighting(strength=2.0),
                     "stacked": [{"name": "counterfactual_prompting"},
                                 {"name": "reweighting", "strength": 2.0}]},
        auditors=["popularity_bias"], seeds=[0, 1], config=FAST, cache=cache,
        progress=False)


def test_table_is_tidy_and_complete(ablation):
    t = ablation.table
    assert list(t.columns) == TABLE_COLUMNS
    assert set(t["mitigation"]) == {"none", "identity", "inverse_popularity", "stacked"}
    assert set(t["seed"]) == {0, 1}
    # every arm x seed has utility and the auditor's metrics
    per_run = t.groupby(["mitigation", "seed"])["auditor"].agg(set)
    assert all(s == {"utility", "popularity_bias"} for s in per_run)
    assert t.groupby(["mitigation", "seed"]).size().nunique() == 1


def test_identity_arm_changes_no_finding(ablation):
    t = ablation.table.set_index(["seed", "auditor", "metric", "scope"])
    none = t[t["mitigation"] == "none"]["value"].sort_index()
    ident = t[t["mitigation"] == "identity"]["value"].sort_index()
    pd.testing.assert_series_equal(none, ident, check_names=False)


def test_inverse_popularity_lowers_arp(ablation):
    agg = ablation.aggregate().set_index(["mitigation", "metric", "scope"])["mean"]
    assert agg[("inverse_popularity", "arp", "all")] < agg[("none", "arp", "all")]
    assert agg[("stacked", "arp", "all")] < agg[("none", "arp", "all")]


def test_aggregate_mean_and_std_across_seeds(ablation):
    agg = ablation.aggregate()
    row = agg[(agg["mitigation"] == "none") & (agg["metric"] == "ndcg_at_10")].iloc[0]
    vals = ablation.table[(ablation.table["mitigation"] == "none")
                          & (ablation.table["metric"] == "ndcg_at_10")]["value"]
    assert row["mean"] == pytest.approx(vals.mean())
    assert row["std"] == pytest.approx(vals.std() if len(vals) > 1 else 0.0)
    assert row["n_seeds"] == 2
    wide = ablation.pivot()
    assert list(wide.index) == ablation.labels


def test_pareto_front_by_hand():
    rows = []
    # (utility, trust metric, lower is better): a dominates c; b trades off against a
    for label, u, v in (("a", 0.5, 1.0), ("b", 0.3, 0.5), ("c", 0.4, 1.2)):
        rows.append({"mitigation": label, "seed": 0, "auditor": "utility",
                     "metric": "ndcg_at_10", "scope": "all", "value": u})
        rows.append({"mitigation": label, "seed": 0, "auditor": "x", "metric": "lift",
                     "scope": "all", "value": v, "higher_is_better": False, "threshold": 1.0})
    res = AblationResult(pd.DataFrame(rows, columns=TABLE_COLUMNS), ["a", "b", "c"], [0])
    assert res.pareto("x", "lift", "all", False) == {"a", "b"}
    assert res.pareto("x", "lift", "all", True) == {"a", "c"}


def test_reports_are_written(ablation, tmp_path):
    text = ablation.to_html(tmp_path / "ablation.html")
    assert "<svg" in text and "<script" not in text
    assert 'src="http' not in text and "href='http" not in text and 'href="http' not in text
    assert "Mitigation ablation" in text
    back = pd.read_csv(ablation.to_csv(tmp_path / "ablation.csv"))
    assert len(back) == len(ablation.table)
    assert ablation.figures()  # at least one trade-off plot


def test_bad_arms_are_clear_errors(small_world):
    model = ScoringModel(small_world)
    with pytest.raises(ValueError, match="at least one arm"):
        ra.ablate(model, small_world, {}, auditors=["popularity_bias"])
    with pytest.raises(ValueError, match="needs a 'name' key"):
        ra.ablate(model, small_world, {"x": {"strength": 1}}, auditors=["popularity_bias"])
    with pytest.raises(ra.UnknownNameError, match="Did you mean"):
        ra.ablate(model, small_world, {"x": "reweighing"}, auditors=["popularity_bias"])


def test_utility_matches_direct_computation(small_world):
    from recaudit.ablation import utility
    from recaudit.metrics.ranking import ndcg_at_k

    model = ScoringModel(small_world)
    u = utility(model, small_world, k=10, n_users=None, seed=0)
    users = [x for x in small_world.user_ids if x in small_world.test_items]
    direct = np.mean([ndcg_at_k(r.items, small_world.test_items[x], 10) for x, r in
                      zip(users, model.rank([small_world.request(x) for x in users], 10))])
    assert u["ndcg_at_10"][0] == pytest.approx(direct)
