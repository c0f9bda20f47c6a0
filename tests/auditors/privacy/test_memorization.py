"""memorization: the Memorizer is flagged (prefix completion and canaries), the Generalizer
is not, over every seed and for both non-member designs; canary data; result shape."""

from __future__ import annotations

import numpy as np
import pytest

from recaudit.auditors import get_auditor_class
from recaudit.report import draw
from recaudit.testing.zoo.privacy import Generalizer, Memorizer

from ...conftest import SEEDS
from ._helpers import RankOnly, context, failed, world

Memorization = get_auditor_class("memorization")
GAPS = {("exact_continuation_gap", "top1"), ("exact_continuation_gap", "top10")}


@pytest.mark.parametrize("seed", SEEDS)
def test_memorizer_flagged_generalizer_not(seed):
    data = world(seed)
    auditor = Memorization(n_users=80, n_canaries=8, n_references=100)
    bad = auditor.run(Memorizer(data, seed=seed), data, context(seed, 100))
    assert failed(bad) == GAPS | {("canary_exposure", "inserted")}
    assert bad.metric("exact_continuation_gap", "top1").value > 0.5
    assert bad.metric("canary_exposure", "inserted").value > 5.0
    good = auditor.run(Generalizer(data, seed=seed), data, context(seed, 100))
    assert failed(good) == set()
    assert good.metric("canary_exposure", "inserted").value < 3.0


@pytest.mark.parametrize("seed", SEEDS)
def test_rank_only_model_uses_paired_held_out_design(seed):
    data = world(seed)
    auditor = Memorization(n_users=80)
    bad = auditor.run(RankOnly(Memorizer(data, seed=seed)), data, context(seed, 100))
    assert failed(bad) == GAPS
    assert any("Paired design" in n for n in bad.notes)
    assert any("Canaries skipped" in n for n in bad.notes)
    good = auditor.run(RankOnly(Generalizer(data, seed=seed)), data, context(seed, 100))
    assert failed(good) == set()


def test_split_design_rates_by_hand():
    data = world(3)
    ctx = context(3, 50)
    res = Memorization(n_users=60, canaries=False).run(Memorizer(data), data, ctx)
    summary = res.tables["continuation"].set_index("group")
    # the Memorizer always completes a remembered prefix: members ~1, non-members low
    assert summary.loc["members", "top1_rate"] > 0.95
    assert summary.loc["non_members", "top1_rate"] < 0.3
    gap = res.metric("exact_continuation_gap", "top1")
    assert gap.value == pytest.approx(summary.loc["members", "top1_rate"]
                                      - summary.loc["non_members", "top1_rate"])
    assert gap.ci_low <= gap.value <= gap.ci_high
    assert summary["n_users"].tolist() == [30, 30]


def test_canary_data_inserts_users_and_keeps_the_rest():
    data = world(0, n_users=40, n_items=40)
    auditor = Memorization()
    rng = np.random.default_rng(0)
    seqs = [("i0001", "i0002", "i0003"), ("i0004", "i0005", "i0006")]
    with_c = auditor._canary_data(data, seqs, rng)
    assert len(with_c.users) == len(data.users) + 2
    assert with_c.train_histories["canary-000"] == seqs[0]
    assert with_c.train_histories["canary-001"] == seqs[1]
    assert set(with_c.users.columns) == set(data.users.columns)
    assert len(with_c.interactions) == len(data.interactions) + 6


def test_result_shape_figures_and_evidence():
    data = world(1)
    res = Memorization(n_users=50, n_canaries=5, n_references=50).run(Memorizer(data), data,
                                                                       context(1, 50))
    assert draw(res.figures["continuation"]).startswith("<svg")
    assert draw(res.figures["canary_exposure"]).startswith("<svg")
    assert set(res.tables["canaries"]["kind"]) == {"inserted", "control"}
    assert {"user", "next_training_item", "model_top1"} <= set(res.evidence[0])
    ctl = res.metric("canary_exposure", "control")
    assert ctl.threshold is None and ctl.p_value is None
    assert res.metric("exact_continuation_rate", "members").threshold is None


def test_bad_parameters():
    data = world(0, n_users=30, n_items=40)
    with pytest.raises(ValueError, match="n_positions"):
        Memorization(n_positions=0).run(Generalizer(data), data, context(0))
    with pytest.raises(ValueError, match="canary_length"):
        Memorization(canary_length=1, n_users=20).run(Generalizer(data), data, context(0))
