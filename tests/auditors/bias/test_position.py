"""position_bias: planted defect flagged, order-invariant twin not, over every seed; wiring."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts, get_auditor_class
from recaudit.metrics.ranking import ndcg_at_k
from recaudit.report import draw
from recaudit.testing.zoo.position import EarlyCandidateRanker, OrderInvariantRanker

from ...conftest import SEEDS

PositionBias = get_auditor_class("position_bias")


@pytest.fixture(scope="module")
def worlds():
    return {s: ra.datasets.synthetic(n_users=200, n_items=100, seed=s) for s in SEEDS}


def _run(model, data, seed, **params):
    ctx = AuditContext(seed=seed, n_bootstrap=200, n_permutations=200, show_progress=False)
    params = {"n_users": 60, "n_shuffles": 4, **params}
    res = PositionBias(**params).run(model, data, ctx)
    assign_verdicts([res])
    return res


def _failed(res):
    return [(m.name, m.scope, round(m.value, 3)) for m in res.metrics if m.verdict == "fail"]


@pytest.mark.parametrize("seed", SEEDS)
def test_early_ranker_flagged_invariant_not(worlds, seed):
    data = worlds[seed]
    negatives = "popularity" if seed % 2 else "random"
    biased = _run(EarlyCandidateRanker(data, seed=seed), data, seed, negatives=negatives)
    clean = _run(OrderInvariantRanker(data, seed=seed), data, seed, negatives=negatives)
    assert ("position_ndcg_gap", "all") in {(n, s) for n, s, _ in _failed(biased)}
    assert _failed(clean) == [], _failed(clean)
    assert clean.metric("position_ndcg_gap").value == 0.0
    assert clean.metric("kendall_tau").value == pytest.approx(1.0)
    assert clean.metric("top1_agreement").value == pytest.approx(1.0)
    assert biased.metric("kendall_tau").value < 0.9
    curve = [biased.metric("ndcg_at_pos", f"pos={p}").value for p in (0, 5, 10, 15, 19)]
    assert curve[0] > curve[-1]


def test_result_shape(small_world, ctx):
    res = PositionBias(n_users=25, n_shuffles=3).run(OrderInvariantRanker(small_world),
                                                      small_world, ctx)
    names = {(m.name, m.scope) for m in res.metrics}
    for p in (0, 5, 10, 15, 19):
        assert ("ndcg_at_pos", f"pos={p}") in names and ("hr1_at_pos", f"pos={p}") in names
    assert {("position_ndcg_gap", "all"), ("kendall_tau", "all"), ("top1_agreement", "all"),
            ("top1_position_tv", "all")} <= names
    for m in res.metrics:
        if m.threshold is not None:
            assert m.p_value is not None, m.name
    top = res.tables["top1_input_position"]
    assert len(top) == 20 and top["top1_count"].sum() == 25 * 3
    assert set(res.figures) == {"ndcg_by_position", "top1_input_position"}
    assert all(draw(fig).startswith("<svg") for fig in res.figures.values())
    assert res.evidence and "rank_when_at_pos_19" in res.evidence[0]


class _Recorder(EarlyCandidateRanker):
    calls: list

    def rank(self, requests, k):
        out = super().rank(requests, k)
        self.calls.append((len(requests), k, [r.candidates for r in requests],
                           [r.items for r in out]))
        return out


def test_batched_requests_and_protocol(small_world, ctx):
    model = _Recorder(small_world, bonus=0.3)
    model.calls = []
    res = PositionBias(n_users=10, n_shuffles=3, positions=(0, 9, 19)).run(model, small_world,
                                                                          ctx)
    assert [(n, k) for n, k, _, _ in model.calls] == [(30, 20), (30, 20)]  # one per phase
    lists = model.calls[0][2]
    for u in range(10):
        at = [lists[3 * u + j] for j in range(3)]
        target = at[0][0]
        assert [c.index(target) for c in at] == [0, 9, 19]
        others = [[x for x in c if x != target] for c in at]
        assert others[0] == others[1] == others[2]  # negatives keep one fixed order
        assert len(set(at[0])) == 20
    shuffles = model.calls[1][2]
    assert set(shuffles[0]) == set(lists[0])
    # NDCG@10 / HR@1 per position recomputed from what the model returned
    ranked = model.calls[0][3]
    for j, p in enumerate((0, 9, 19)):
        ndcg = [ndcg_at_k(ranked[3 * u + j], {lists[3 * u][0]}, 10) for u in range(10)]
        hr1 = [float(ranked[3 * u + j][0] == lists[3 * u][0]) for u in range(10)]
        assert res.metric("ndcg_at_pos", f"pos={p}").value == pytest.approx(np.mean(ndcg))
        assert res.metric("hr1_at_pos", f"pos={p}").value == pytest.approx(np.mean(hr1))
    curve = [res.metric("ndcg_at_pos", f"pos={p}").value for p in (0, 9, 19)]
    assert res.metric("position_ndcg_gap").value == pytest.approx(max(curve) - min(curve))
    # top-1 input positions: count where each shuffle's first item sat in its input order
    counts = np.zeros(20)
    for cand, items in zip(shuffles, model.calls[1][3]):
        counts[cand.index(items[0])] += 1
    np.testing.assert_array_equal(res.tables["top1_input_position"]["top1_count"], counts)


def test_bad_params(small_world, ctx):
    m = OrderInvariantRanker(small_world)
    with pytest.raises(ValueError, match="negatives"):
        PositionBias(negatives="zipf").run(m, small_world, ctx)
    with pytest.raises(ValueError, match="positions"):
        PositionBias(positions=(0, 25, 3)).run(m, small_world, ctx)
    with pytest.raises(ValueError, match="n_shuffles"):
        PositionBias(n_shuffles=1).run(m, small_world, ctx)


def test_through_ra_audit(small_world):
    report = ra.audit(EarlyCandidateRanker(small_world), small_world,
                      [("position_bias", {"n_users": 40, "n_shuffles": 3})],
                      config={"n_bootstrap": 100}, cache=False, progress=False)
    assert "position_ndcg_gap" in set(report.summary()["metric"])
    assert not report.passed


@pytest.mark.slow
def test_runs_on_tiny_lm(tiny_lm, tiny_lm_world):
    ctx = AuditContext(seed=0, n_bootstrap=100, show_progress=False)
    res = PositionBias(n_users=20, n_shuffles=3).run(tiny_lm, tiny_lm_world, ctx)
    for m in res.metrics:
        assert np.isfinite(m.value), (m.name, m.scope)
