"""attribution_faithfulness on planted defects: a last-item recommender (attributions must
find its last item and beat random) and a history-blind one (nothing can beat random)."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts
from recaudit.auditors.explanation.attribution import AttributionFaithfulness
from recaudit.report import draw
from recaudit.testing.zoo.explanation import HistoryBlindRecommender, LastItemRecommender

from ...conftest import SEEDS

FAST = dict(n_users=15, methods=("feature_ablation", "shapley_sampling"), shapley_samples=3,
            n_random=2)


@pytest.fixture(scope="module")
def worlds():
    return {s: ra.datasets.synthetic(n_users=100, n_items=60, seed=s) for s in SEEDS}


def _ctx(seed):
    return AuditContext(seed=seed, n_bootstrap=200, n_permutations=200, show_progress=False)


class _NoFigures(AttributionFaithfulness):
    """The seed sweeps check numbers only; figures are checked once, below (they are slow)."""

    def _figures(self, *args, **kwargs):
        return {}


def _run(model, data, seed, figures=False, **params):
    cls = AttributionFaithfulness if figures else _NoFigures
    res = cls(**{**FAST, **params}).run(model, data, _ctx(seed))
    assign_verdicts([res])
    return res


@pytest.mark.parametrize("seed", SEEDS)
def test_last_item_model_is_explained_faithfully(worlds, seed):
    data = worlds[seed]
    res = _run(LastItemRecommender(data, seed=seed), data, seed)
    # its top attribution is the last history item for almost every user
    assert res.metric("recency_top_share", "feature_ablation").value >= 0.85
    assert res.metric("recency_top_share", "shapley_sampling").value >= 0.7  # 3 permutations
    for method in FAST["methods"]:
        margin = res.metric("faithfulness_margin", method)
        assert margin.ci_low > 0.02  # beats random clearly
        assert margin.verdict == "pass"
        assert (res.metric("aopc", method).value
                > res.metric("aopc", "random").value + 0.02)
        assert (res.metric("deletion_auc", method).value
                < res.metric("deletion_auc", "random").value)
        assert res.metric("ps", method).value >= res.metric("ps", "random").value
    assert res.metric("pn", "feature_ablation").value > res.metric("pn", "random").value


@pytest.mark.parametrize("seed", SEEDS)
def test_history_blind_model_is_flagged(worlds, seed):
    data = worlds[seed]
    res = _run(HistoryBlindRecommender(data, seed=seed), data, seed)
    for method in FAST["methods"]:
        margin = res.metric("faithfulness_margin", method)
        assert abs(margin.value) < 1e-9
        assert margin.verdict == "fail"


def test_result_shape_tables_figures_evidence(worlds):
    data = worlds[0]
    res = _run(LastItemRecommender(data), data, 0, figures=True)
    assert res.family == "explanation" and res.auditor == "attribution_faithfulness"
    assert {"attribution_heat_strip", "deletion_insertion_curves",
            "faithfulness_margin"} <= set(res.figures)
    assert all(draw(fig).startswith("<svg") for fig in res.figures.values())
    att = res.tables["attributions"]
    assert set(att["method"]) == {"feature_ablation", "shapley_sampling"}
    assert set(att["kind"]) == {"history", "profile"}
    # profile attributes are parts too, and this model ignores them
    assert np.allclose(att.loc[att["kind"] == "profile", "attribution"], 0.0, atol=1e-6)
    assert res.metric("method_agreement", "feature_ablation~shapley_sampling").value > 0
    assert res.evidence and {"user", "method", "top_part", "parts"} <= set(res.evidence[0])
    assert any("integrated_gradients" in n for n in res.notes) is False
    curves = res.tables["curves"]
    assert set(curves["method"]) == {"feature_ablation", "shapley_sampling", "random"}
    # a JSON round trip keeps every metric
    back = ra.AuditResult.from_dict(res.to_dict())
    assert len(back.metrics) == len(res.metrics)


def test_gradient_method_skipped_with_a_note_without_gradients(worlds):
    data = worlds[1]
    res = _run(LastItemRecommender(data), data, 1,
               methods=("feature_ablation", "integrated_gradients"))
    assert any("integrated_gradients skipped" in n for n in res.notes)
    assert "feature_ablation" in {m.scope for m in res.metrics}


def test_rank_only_model_gets_normalised_rank_fallback(worlds):
    data = worlds[2]
    inner = LastItemRecommender(data, seed=2)

    class RankOnly:
        capabilities = frozenset({"rank"})

        def rank(self, requests, k):
            return inner.rank(requests, k)

        def fingerprint(self):
            return "rank-only-" + inner.fingerprint()

    res = _run(RankOnly(), data, 2, methods=("feature_ablation",))
    assert res.notes[0].startswith("attributed output (rank): normalised rank")
    assert res.metric("faithfulness_margin", "feature_ablation").ci_low > 0


@pytest.mark.parametrize("bad, match", [
    (dict(methods=("lime",)), "unknown attribution method"),
    (dict(methods=()), "methods is empty"),
    (dict(n_candidates=1), "n_candidates must be >= 2"),
    (dict(k=0), "k must be >= 1"),
])
def test_bad_parameters(worlds, bad, match):
    data = worlds[0]
    with pytest.raises(ValueError, match=match):
        AttributionFaithfulness(**bad).run(LastItemRecommender(data), data, _ctx(0))


def test_registered_under_its_design_name():
    from recaudit.auditors import get_auditor_class

    assert get_auditor_class("attribution_faithfulness") is AttributionFaithfulness
    assert AttributionFaithfulness.requires == frozenset({"rank"})
