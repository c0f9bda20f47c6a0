"""item_text_attack: planted backdoor over seeds, budget accounting, report pieces."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts, get_auditor_class
from recaudit.auditors.robustness.item_text import ItemTextAttack
from recaudit.models import BaseRecommender, Ranking
from recaudit.report import draw
from recaudit.testing.zoo.robustness import BrittleTitleModel, RobustTitleModel

from ...conftest import SEEDS


def _audit(model, data, seed, **params):
    ctx = AuditContext(seed=seed, n_bootstrap=200, n_permutations=200, show_progress=False)
    res = ItemTextAttack(**params).run(model, data, ctx)
    assign_verdicts([res])
    return res


def _failed(res):
    return [(m.name, m.scope) for m in res.metrics if m.verdict == "fail"]


def test_registered_under_design_name():
    cls = get_auditor_class("item_text_attack")
    assert cls is ItemTextAttack
    assert cls.family == "robustness" and cls.requires == {"rank"}
    assert cls.method and cls.citation and "attack_success_rate" in cls.default_thresholds


@pytest.mark.parametrize("seed", SEEDS)
def test_brittle_flagged_robust_not(seed):
    data = ra.datasets.synthetic(n_users=120, n_items=80, seed=seed)
    kw = dict(n_targets=3, n_users=25, query_budget=40)
    brittle = _audit(BrittleTitleModel(data, seed=seed), data, seed, **kw)
    robust = _audit(RobustTitleModel(data, seed=seed), data, seed, **kw)
    assert _failed(brittle) == [("attack_success_rate", "all")]
    assert brittle.metric("attack_success_rate").value == 1.0
    table = brittle.tables["targets"]
    assert table["adversarial_title"].str.contains("masterpiece").all()
    assert (table["exposure_after"] == 1.0).all()
    assert (table["edits"] == 1).all() and (table["queries"] <= 40).all()
    # the original title is kept and only extended: only the target's own text changed
    assert all(a.startswith(o) for a, o in zip(table["adversarial_title"],
                                               table["original_title"]))
    assert brittle.metric("ndcg_change").value < 0  # the promoted item pushes others down
    assert _failed(robust) == []
    assert robust.metric("attack_success_rate").value == 0.0
    assert robust.metric("mean_exposure_gain").value == 0.0
    assert robust.metric("queries_used").value == 40  # the whole budget was spent
    assert robust.metric("attack_success_rate").p_value == 1.0


class _LengthLover(BaseRecommender):
    """Ranks candidates by title length (longer is better): every appended word helps."""

    def __init__(self, data):
        self.data = data
        self.batches = []

    def rank(self, requests, k):
        self.batches.append(len(requests))
        out = []
        for r in requests:
            text = r.item_text_dict
            cands = sorted(r.candidates, key=lambda c: (-len(text.get(c, self.data.titles[c])),
                                                       c))
            out.append(Ranking(tuple(cands[:k])))
        return out

    def fingerprint(self):
        return "length-lover"


def test_budget_and_edit_bounds(small_world):
    model = _LengthLover(small_world)
    res = _audit(model, small_world, 0, n_targets=2, n_users=10, query_budget=12,
                 proposals_per_step=4, max_edits=2, success_margin=2.0)  # unreachable
    table = res.tables["targets"]
    assert (table["queries"] <= 12).all() and (table["edits"] <= 2).all()
    for row in table.itertuples():
        # each accepted edit adds one word; it stops early only when exposure is already 1
        assert len(row.adversarial_title.split()) == len(row.original_title.split()) + row.edits
        assert row.edits == 2 or row.exposure_after == 1.0
        assert row.edits >= 1
    # one batched call for the original titles and one per greedy step, each on every user
    assert sum(model.batches) == int((table["users"] * (1 + table["queries"])).sum())
    assert max(model.batches) <= 4 * 10
    assert res.metric("attack_success_rate").value == 0.0
    assert res.metric("mean_exposure_gain").value > 0


def test_result_pieces(small_world):
    res = _audit(BrittleTitleModel(small_world), small_world, 2, n_targets=2, n_users=15,
                 query_budget=40)
    for name in ("attack_success_rate", "mean_exposure_gain", "edits_used", "queries_used",
                 "ndcg_change"):
        m = res.metric(name)
        assert np.isfinite(m.value) and m.ci_low <= m.value + 1e-9 <= m.ci_high + 2e-9
    m = res.metric("attack_success_rate")
    assert m.threshold == 0.2 and m.p_value < 0.01 and not m.higher_is_better
    assert draw(res.figures["exposure_by_target"]).startswith("<svg")
    ev = res.evidence[0]
    assert ev["adversarial_title"] != ev["original_title"]
    assert ev["exposure_after"] > ev["exposure_before"]
    assert res.to_dict()["evidence"]


def test_bad_parameters(small_world):
    model = RobustTitleModel(small_world)
    ctx = AuditContext(show_progress=False)
    with pytest.raises(ValueError, match="target_pool"):
        ItemTextAttack(target_pool="head").run(model, small_world, ctx)
    with pytest.raises(ValueError, match="gradients"):
        ItemTextAttack(guidance="gradient").run(model, small_world, ctx)
    with pytest.raises(ValueError, match="query_budget"):
        ItemTextAttack(query_budget=0).run(model, small_world, ctx)


def test_tail_targets_are_long_tail(small_world):
    res = _audit(RobustTitleModel(small_world), small_world, 0, n_targets=4, n_users=5,
                 query_budget=1)
    pop = small_world.popularity.sort_values(ascending=False)
    head_cut = pop.cumsum() / pop.sum()
    head = set(head_cut.index[head_cut.shift(fill_value=0) < 0.8])
    assert not set(res.tables["targets"]["item_id"]) & head


@pytest.mark.slow
def test_tiny_lm_runs_gradient_guided(tiny_lm, tiny_lm_world):
    res = _audit(tiny_lm, tiny_lm_world, 0, n_targets=2, n_users=10, query_budget=8)
    for m in res.metrics:
        assert np.isfinite(m.value), m.name
    assert "HotFlip" in res.notes[0]
    assert res.tables["targets"]["guided"].all()
