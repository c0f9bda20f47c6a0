"""Both explanation auditors through ``ra.audit`` (engine, verdicts, skip reasons), and the
slow end-to-end check on the tiny GPT-2 recommender (LayerIntegratedGradients included)."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.explain import ExplainingLM
from recaudit.testing.zoo.explanation import (
    DishonestExplainer,
    HonestExplainer,
    LastItemRecommender,
)

AUDITORS = [("attribution_faithfulness",
             {"n_users": 10, "methods": ["feature_ablation"], "n_random": 1}),
            ("explanation_faithfulness", {"n_users": 40})]


def test_through_ra_audit(small_world):
    honest = HonestExplainer(LastItemRecommender(small_world), small_world)
    report = ra.audit(honest, small_world, auditors=AUDITORS, cache=False,
                      progress=False, config={"n_bootstrap": 200})
    att, nl = report["attribution_faithfulness"], report["explanation_faithfulness"]
    assert att.status == "ok" and nl.status == "ok"
    assert att.metric("faithfulness_margin", "feature_ablation").verdict == "pass"
    assert nl.metric("citation_effect").verdict == "pass"
    dishonest = DishonestExplainer(LastItemRecommender(small_world), small_world)
    report = ra.audit(dishonest, small_world, auditors=AUDITORS[1:], progress=False,
                      cache=False, config={"n_bootstrap": 200})
    assert report["explanation_faithfulness"].metric("citation_effect").verdict == "fail"


def test_model_without_explain_is_skipped_with_reason(small_world):
    report = ra.audit(LastItemRecommender(small_world), small_world, auditors=AUDITORS[1:],
                      cache=False, progress=False)
    res = report["explanation_faithfulness"]
    assert res.status == "skipped" and "explain" in res.reason


@pytest.mark.slow
def test_tiny_lm_end_to_end(tiny_lm, tiny_lm_world):
    from recaudit.auditors import AuditContext
    from recaudit.auditors.explanation.attribution import AttributionFaithfulness
    from recaudit.auditors.explanation.natural_language import ExplanationFaithfulness

    ctx = AuditContext(seed=0, n_bootstrap=100, show_progress=False)
    res = AttributionFaithfulness(n_users=6, shapley_samples=2, n_random=1, ig_steps=8).run(
        tiny_lm, tiny_lm_world, ctx)
    scopes = {m.scope for m in res.metrics if m.name == "faithfulness_margin"}
    assert scopes == {"feature_ablation", "shapley_sampling", "integrated_gradients"}
    for m in res.metrics:
        if m.name in ("comprehensiveness", "aopc", "deletion_auc", "insertion_auc",
                      "faithfulness_margin"):
            assert np.isfinite(m.value), m
    ig = res.tables["attributions"].query("method == 'integrated_gradients'")
    # every shown history title and the stated profile get a token span, so IG is non-zero
    assert (ig["attribution"].abs() > 0).mean() > 0.8
    assert res.notes[0].startswith("attributed output (nll)")
    for mode in ("leave_one_out", "generate"):
        explainer = ExplainingLM(tiny_lm, tiny_lm_world, mode=mode)
        nl = ExplanationFaithfulness(n_users=8).run(explainer, tiny_lm_world, ctx)
        assert 0.0 <= nl.metric("hallucinated_citation_rate").value <= 1.0
        assert len(nl.tables["explanations"]) == 8
    # leave-one-out citations are history items by construction
    assert nl is not None
