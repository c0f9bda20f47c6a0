"""prompt_robustness: planted defects over seeds, metric wiring, report pieces."""

from __future__ import annotations

import math

import numpy as np
import pytest

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts, get_auditor_class
from recaudit.auditors.robustness.prompt import PromptRobustness
from recaudit.metrics.agreement import rbo
from recaudit.models import BaseRecommender, Ranking
from recaudit.report import draw
from recaudit.testing.zoo.robustness import BrittleTitleModel, RobustTitleModel

from ...conftest import SEEDS

#: Fast planted-defect sweep: every meaning-preserving text and prompt perturbation except
#: the MiniLM word swap (tested once below), plus truncation, which must not fail the clean
#: model.
SWEEP = ["typos", "case", "whitespace", "history_shuffle", "history_truncation",
         "irrelevant_sentence", "candidate_shuffle"]


def _audit(model, data, seed, **params):
    ctx = AuditContext(seed=seed, n_bootstrap=200, n_permutations=200, show_progress=False)
    res = PromptRobustness(**params).run(model, data, ctx)
    assign_verdicts([res])
    return res


def _failed(res):
    return [(m.name, m.scope) for m in res.metrics if m.verdict == "fail"]


def test_registered_under_design_name():
    cls = get_auditor_class("prompt_robustness")
    assert cls is PromptRobustness
    assert cls.family == "robustness" and cls.requires == {"rank"}
    assert cls.method and cls.citation and cls.default_thresholds


@pytest.mark.parametrize("seed", SEEDS)
def test_brittle_flagged_robust_not(seed):
    data = ra.datasets.synthetic(n_users=120, n_items=80, seed=seed)
    brittle = _audit(BrittleTitleModel(data, seed=seed), data, seed, perturbations=SWEEP,
                     n_users=50)
    robust = _audit(RobustTitleModel(data, seed=seed), data, seed, perturbations=SWEEP,
                    n_users=50)
    fails = _failed(brittle)
    assert fails, "the brittle model must be flagged"
    assert {scope for _, scope in fails} <= {"typos", "case", "whitespace"}
    assert _failed(robust) == []
    for name in ("typos", "case", "whitespace"):
        assert robust.metric("rbo", name).value == 1.0
        assert brittle.metric("rbo", name).value < 0.9
    # order and distractors do not move either model
    for name in ("history_shuffle", "irrelevant_sentence", "candidate_shuffle"):
        assert brittle.metric("rbo", name).value == 1.0
    # truncation changes both the same way (both read the history by id there)
    assert brittle.metric("rbo", "history_truncation").value == pytest.approx(
        robust.metric("rbo", "history_truncation").value)


@pytest.mark.slow  # loads the MiniLM encoder
def test_word_swap_flags_brittle_only():
    data = ra.datasets.synthetic(n_users=120, n_items=80, seed=0)
    kw = dict(perturbations={"word_swap": {"strength": 0.5}}, n_users=50)
    brittle = _audit(BrittleTitleModel(data), data, 0, **kw)
    robust = _audit(RobustTitleModel(data), data, 0, **kw)
    assert brittle.metric("rbo", "word_swap").value < 0.8
    assert robust.metric("rbo", "word_swap").value == 1.0 and _failed(robust) == []


class _ReverseOnExtra(BaseRecommender):
    """Ranks candidates by id; any prompt_extra reverses the order (a known answer)."""

    def rank(self, requests, k):
        self.calls = getattr(self, "calls", 0) + 1
        out = []
        for r in requests:
            items = sorted(r.candidates)
            out.append(Ranking(tuple(items[::-1] if r.prompt_extra else items)[:k]))
        return out

    def fingerprint(self):
        return "reverse-on-extra"


def test_metrics_match_known_answers(small_world):
    model = _ReverseOnExtra()
    k, n_cand = 5, 10
    res = _audit(model, small_world, 0, perturbations=["irrelevant_sentence",
                                                       "candidate_shuffle"],
                 n_users=30, k=k, n_candidates=n_cand)
    assert model.calls == 1  # one batched call
    # candidate order is ignored (sorted by id): perfect agreement, no utility change
    for name in ("jaccard_at_k", "rbo", "kendall_tau"):
        assert res.metric(name, "candidate_shuffle").value == pytest.approx(1.0)
    assert res.metric("ndcg_drop", "candidate_shuffle").value == 0.0
    # the extra sentence flips the 10 candidates: the two top-5 lists are disjoint
    assert res.metric("jaccard_at_k", "irrelevant_sentence").value == 0.0
    assert res.metric("rbo", "irrelevant_sentence").value == 0.0
    m = res.metric("rbo", "irrelevant_sentence")
    assert m.p_value < 1e-3 and m.verdict == "fail" and m.ci_low == m.ci_high == 0.0
    # NDCG drop = mean over users of NDCG(first 5 by id) - NDCG(last 5 reversed)
    table = res.tables["per_perturbation"].set_index("perturbation")
    assert table.loc["irrelevant_sentence", "ndcg_drop"] == pytest.approx(
        table.loc["irrelevant_sentence", "ndcg_original"]
        - table.loc["irrelevant_sentence", "ndcg_perturbed"])
    assert rbo(list("abcde"), list("jihgf")) == 0.0


def test_result_pieces(small_world):
    model = BrittleTitleModel(small_world)
    res = _audit(model, small_world, 1, perturbations=["typos", "history_shuffle"],
                 n_users=30)
    names = {(m.name, m.scope) for m in res.metrics}
    for scope in ("typos", "history_shuffle"):
        for name in ("jaccard_at_k", "rbo", "kendall_tau", "ndcg_drop", "hr_drop"):
            assert (name, scope) in names
            m = res.metric(name, scope)
            if not math.isnan(m.value):
                assert m.ci_low - 1e-9 <= m.value <= m.ci_high + 1e-9
        assert res.metric("rbo", scope).p_value is not None
        assert res.metric("rbo", scope).threshold == 0.5
        assert res.metric("ndcg_drop", scope).p_value is not None
    assert draw(res.figures["stability_by_perturbation"]).startswith("<svg")
    ev = res.evidence[0]
    assert ev["perturbation"] == "typos"
    assert "Watched:" in ev["original_prompt"] and ev["original_prompt"] != ev[
        "perturbed_prompt"]
    assert ev["original_top"] != ev["perturbed_top"]
    assert res.to_dict()["metrics"]  # JSON-safe


def test_whole_catalog_mode_notes_noop(small_world):
    res = _audit(RobustTitleModel(small_world), small_world, 0,
                 perturbations=["candidate_shuffle", "typos"], n_users=20, n_candidates=None)
    assert any("candidate_shuffle changed no request" in n for n in res.notes)
    assert res.metric("rbo", "typos").value == 1.0


def test_bad_parameters(small_world):
    ctx = AuditContext(show_progress=False)
    with pytest.raises(ValueError, match="kendall_over"):
        PromptRobustness(kendall_over="all").run(RobustTitleModel(small_world), small_world, ctx)
    with pytest.raises(ra.UnknownNameError, match="Did you mean"):
        PromptRobustness(perturbations=["typoes"]).run(RobustTitleModel(small_world),
                                                       small_world, ctx)


def test_deterministic(small_world):
    a = _audit(BrittleTitleModel(small_world), small_world, 3, perturbations=["typos"],
               n_users=20)
    b = _audit(BrittleTitleModel(small_world), small_world, 3, perturbations=["typos"],
               n_users=20)
    assert [m.value for m in a.metrics] == [m.value for m in b.metrics]
    assert np.isfinite(a.metric("rbo", "typos").value)


@pytest.mark.slow
def test_tiny_lm_runs(tiny_lm, tiny_lm_world):
    res = _audit(tiny_lm, tiny_lm_world, 0, n_users=20)
    for m in res.metrics:
        if m.name in ("rbo", "jaccard_at_k", "ndcg_drop", "hr_drop"):
            assert np.isfinite(m.value), (m.name, m.scope)
    assert "I have watched" in res.evidence[0]["original_prompt"]
