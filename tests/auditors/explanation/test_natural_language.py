"""explanation_faithfulness on planted defects: an explainer citing what the ranker used
(honest) passes; one citing items the ranker never used (dishonest) is flagged."""

from __future__ import annotations

import pytest

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts
from recaudit.auditors.explanation.natural_language import ExplanationFaithfulness, cited_items
from recaudit.explain import ExplainingLM
from recaudit.models import Explanation
from recaudit.report import draw
from recaudit.testing.zoo.explanation import (
    DishonestExplainer,
    HonestExplainer,
    LastItemRecommender,
)

from ...conftest import SEEDS


@pytest.fixture(scope="module")
def worlds():
    return {s: ra.datasets.synthetic(n_users=100, n_items=60, seed=s) for s in SEEDS}


def _run(model, data, seed, **params):
    ctx = AuditContext(seed=seed, n_bootstrap=200, n_permutations=200, show_progress=False)
    res = ExplanationFaithfulness(**{"n_users": 60, **params}).run(model, data, ctx)
    assign_verdicts([res])
    return res


@pytest.mark.parametrize("seed", SEEDS)
def test_honest_explainer_passes(worlds, seed):
    data = worlds[seed]
    res = _run(HonestExplainer(LastItemRecommender(data, seed=seed), data), data, seed)
    effect = res.metric("citation_effect")
    assert effect.verdict == "pass"
    assert effect.ci_low > 0.5
    assert (res.metric("counterfactual_change_rate").value
            > res.metric("random_change_rate").value + 0.5)
    assert res.metric("hallucinated_citation_rate").value == 0.0
    assert res.metric("hallucinated_citation_rate").verdict == "pass"


@pytest.mark.parametrize("seed", SEEDS)
def test_dishonest_explainer_is_flagged(worlds, seed):
    data = worlds[seed]
    res = _run(DishonestExplainer(LastItemRecommender(data, seed=seed), data), data, seed)
    effect = res.metric("citation_effect")
    assert effect.verdict == "fail"
    assert effect.ci_high < 0.15
    assert res.metric("hallucinated_citation_rate").verdict == "pass"


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_hallucinated_citations_found_from_text_alone(worlds, seed):
    data = worlds[seed]
    model = DishonestExplainer(LastItemRecommender(data, seed=seed), data, hallucinate=0.5,
                               cite_ids=False)
    res = _run(model, data, seed)
    rate = res.metric("hallucinated_citation_rate")
    assert 0.3 < rate.value < 0.7
    assert rate.verdict == "fail"
    assert res.metric("citation_rate").value == 1.0  # titles matched in the text
    assert any("cite no history item" in n for n in res.notes)


def test_leave_one_out_explaining_wrapper_is_faithful(worlds):
    data = worlds[0]
    model = ExplainingLM(LastItemRecommender(data), data)
    reqs = [data.request(u, max_history=10) for u in data.user_ids[:10]]
    exps = model.explain(reqs)
    assert [e.cited[0] for e in exps].count(None) == 0
    # the wrapped ranker only uses the last item; the explainer finds it for most users
    assert sum(e.cited[0] == r.history[-1] for e, r in zip(exps, reqs)) >= 8
    assert exps[0].text.startswith("Because you watched ")
    assert exps[0].item == model.rank(reqs[:1], 1)[0].items[0]
    res = _run(model, data, 0, n_users=40)
    assert res.metric("citation_effect").verdict == "pass"


def test_result_has_figure_table_evidence(worlds):
    data = worlds[1]
    res = _run(HonestExplainer(LastItemRecommender(data), data), data, 1, n_users=30)
    assert draw(res.figures["change_rates"]).startswith("<svg")
    assert len(res.tables["explanations"]) == 30
    ev = res.evidence[0]
    assert {"user", "explanation", "cited", "changed_when_cited_removed"} <= set(ev)


def test_cited_items_by_id_and_by_title():
    titles = {"i1": "Heat (1995)", "i2": "Up (2009)", "i3": "Heat (1995) II"}
    assert cited_items(Explanation("i2", "x", ("i1",)), titles) == ("i1",)
    e = Explanation("i2", "Because you watched heat (1995) II and Heat (1995): Up (2009)")
    # longest title first, the explained item's own title ignored, order of appearance
    assert cited_items(e, titles) == ("i3", "i1")
    assert cited_items(e, titles, match_titles=False) == ()


def test_requires_explain_capability_and_validates_params(worlds):
    data = worlds[0]
    assert ExplanationFaithfulness.requires == frozenset({"rank", "explain"})
    assert ExplanationFaithfulness().missing_requirements(LastItemRecommender(data)) == {
        "explain"}
    with pytest.raises(ValueError, match="k must be >= 1"):
        _run(HonestExplainer(LastItemRecommender(data), data), data, 0, k=0)


def test_explaining_wrapper_checks_capabilities(worlds):
    class RankOnly:
        capabilities = frozenset({"rank"})

    with pytest.raises(ValueError, match="needs a model with 'nll' or 'score'"):
        ExplainingLM(RankOnly(), worlds[0])
    with pytest.raises(ValueError, match="mode='generate' needs a language model"):
        ExplainingLM(LastItemRecommender(worlds[0]), worlds[0], mode="generate")
    with pytest.raises(ValueError, match="mode must be"):
        ExplainingLM(LastItemRecommender(worlds[0]), worlds[0], mode="chat")
