"""One study, three views: the ablation's and the comparison's aggregate, trust metrics and
Pareto sets are the study's own (recaudit.study.aggregate, trust_metric_keys, pareto_front),
and an ablation reads back from its JSON as a comparison does."""

from __future__ import annotations

import pandas as pd
import pytest

import recaudit as ra
from recaudit.ablation import AblationResult
from recaudit.compare import ComparisonResult
from recaudit.testing.zoo import ScoringModel

FAST = {"n_bootstrap": 50, "n_permutations": 50}


class _Pusher(ScoringModel):
    def catalog_scores(self, request):
        return self.base_scores(request) + 3.0 * self._log_pop


@pytest.fixture(scope="module")
def study(small_world):
    return ra.study({"plain": ScoringModel(small_world), "pusher": _Pusher(small_world),
                     "popular": ra.models.MostPopular(small_world)}, small_world,
                    ["popularity_bias"], seeds=[0, 1], config=FAST, utility_users=40,
                    cache=False, progress=False)


def test_the_views_agree_with_the_study(study):
    ablation = AblationResult.from_study(study)
    comparison = ComparisonResult.from_study(study)
    keys = study.trust_metrics()
    assert keys and keys == ablation.trust_metrics()
    assert [k[:3] for k in keys] == comparison.trust_metrics()
    for key in keys:
        front = study.pareto(*key)
        assert front and front <= set(study.labels)
        assert ablation.pareto(*key) == front == comparison.pareto(*key)
    mine = study.aggregate().set_index(["arm", "auditor", "metric", "scope"])["mean"]
    theirs = comparison.aggregate().set_index(["model", "auditor", "metric", "scope"])["mean"]
    pd.testing.assert_series_equal(mine.sort_index(), theirs.sort_index(), check_names=False)


def test_pareto_front_by_hand_on_the_study_function():
    from recaudit.study import pareto_front

    agg = pd.DataFrame([("a", "utility", "u", "all", 0.9), ("a", "x", "lift", "all", 2.0),
                        ("b", "utility", "u", "all", 0.5), ("b", "x", "lift", "all", 1.0),
                        ("c", "utility", "u", "all", 0.4), ("c", "x", "lift", "all", 3.0)],
                       columns=["arm", "auditor", "metric", "scope", "mean"])
    assert pareto_front(agg, ["a", "b", "c"], "arm", "u", ("x", "lift", "all"), False) \
        == {"a", "b"}
    assert pareto_front(agg, ["a", "b", "c"], "arm", "u", ("x", "lift", "all"), True) \
        == {"a", "c"}


def test_ablation_json_round_trip_and_report(study, tmp_path):
    ablation = AblationResult.from_study(study)
    path = tmp_path / "ablation.json"
    ablation.to_json(path)
    back = AblationResult.from_json(path)
    assert back.labels == ablation.labels and back.seeds == ablation.seeds
    pd.testing.assert_frame_equal(back.aggregate(), ablation.aggregate(), check_dtype=False)
    html = back.to_html(tmp_path / "a.html")  # redrawn from the JSON alone
    assert "Mitigation ablation" in html and "<svg" in html and "<script" not in html
    assert "Content-Security-Policy" in html
    with pytest.raises(ValueError, match="not an ablation"):
        AblationResult.from_json('{"kind": "recaudit.comparison"}')
