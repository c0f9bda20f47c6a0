"""``ra.audit`` and ``AuditReport``: running, skipping, error isolation, verdicts, JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import recaudit as ra
from recaudit.audit import SUMMARY_COLUMNS, AuditReport
from recaudit.auditors import _registry
from recaudit.engine import CachedRecommender
from recaudit.errors import SpecError, UnknownNameError
from recaudit.metrics.statistics import holm
from recaudit.testing import assert_audit_passes
from recaudit.testing.zoo import ScoringModel


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    monkeypatch.setattr(_registry, "_REGISTERED", dict(_registry._REGISTERED))


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=40, n_items=40, seed=1)


def _fixed(name, metrics, requires=frozenset({"rank"})):
    """Register an auditor that reports fixed (value, threshold, p) metrics."""

    @ra.register_auditor(name)
    class Fixed(ra.Auditor):
        family = "custom"
        method = "Reports fixed numbers."
        citation = "none"

        def run(self, model, data, ctx):
            model.rank([data.request(u) for u in data.user_ids[:5]], 5)
            return self.result(metrics=[
                self.metric(n, v, p_value=p, higher_is_better=False) for n, v, _, p in metrics])

    Fixed.requires = frozenset(requires)
    Fixed.default_thresholds = {n: t for n, _, t, _ in metrics if t is not None}
    return Fixed


def test_holm_verdicts_across_the_audit(world):
    # four effects beyond their threshold in two auditors, one effect within it
    _fixed("fixed_a", [("m1", 2.0, 1.0, 0.01), ("m2", 2.0, 1.0, 0.02)])
    _fixed("fixed_b", [("m3", 2.0, 1.0, 0.03), ("m4", 2.0, 1.0, 0.5),
                       ("small", 0.5, 1.0, 0.0001), ("info", 3.0, None, None)])
    rep = ra.audit(ScoringModel(world), world, ["fixed_a", "fixed_b"], cache=False,
                   progress=False)
    got = {m.name: (m.verdict, m.p_adjusted) for m in rep.metrics}
    # Holm over the 5 tested p-values: sorted 0.0001*5, 0.01*4, 0.02*3, 0.03*2, 0.5*1
    assert got["small"][0] == "pass" and got["small"][1] == pytest.approx(0.0005)
    assert got["m1"] == ("fail", pytest.approx(0.04))
    assert got["m2"] == ("pass", pytest.approx(0.06))
    assert got["m3"] == ("pass", pytest.approx(0.06))
    assert got["m4"] == ("pass", pytest.approx(0.5))
    assert got["info"] == ("info", None)
    np.testing.assert_allclose(holm([0.01, 0.02, 0.03, 0.5, 0.0001]),
                               [got[k][1] for k in ("m1", "m2", "m3", "m4", "small")])
    assert not rep.passed and [m.name for m in rep.failed] == ["m1"]
    # stricter alpha: nothing survives
    rep = ra.audit(ScoringModel(world), world, ["fixed_a", "fixed_b"], cache=False,
                   progress=False, config={"alpha": 0.01})
    assert rep.passed


def test_missing_capability_is_skipped_with_reason(world):
    _fixed("needs_nll", [("m", 0.0, None, None)], requires={"rank", "nll", "gradients"})
    model = ra.models.CallableRecommender(lambda r, k: world.item_ids[:k], world,
                                          score=lambda r: np.zeros(len(r.candidates)))
    rep = ra.audit(model, world, ["needs_nll"], cache=False, progress=False)
    res = rep["needs_nll"]
    assert res.status == "skipped"
    assert res.reason == "needs gradients, nll; model declares rank, score"
    assert rep.passed  # skipped is not a failure
    assert rep.summary().iloc[0]["verdict"] == "skipped"


def test_error_is_isolated_and_results_survive(world, tmp_path):
    out = tmp_path / "partial.json"
    _fixed("first", [("m", 0.0, 1.0, 0.5)])
    seen = {}

    @ra.register_auditor("boom")
    class Boom(ra.Auditor):
        def run(self, model, data, ctx):
            seen["partial"] = json.loads(out.read_text())  # written before this one ran
            raise RuntimeError("model exploded <here>")

    _fixed("last", [("m", 0.0, 1.0, 0.5)])
    rep = ra.audit(ScoringModel(world), world, ["first", "boom", "last"], cache=False,
                   progress=False, out_json=out)
    assert [r.status for r in rep] == ["ok", "error", "ok"]
    assert rep["boom"].reason == "RuntimeError: model exploded <here>"
    assert "Traceback" in rep["boom"].notes[-1] and "exploded" in rep["boom"].notes[-1]
    assert not rep.passed
    assert seen["partial"]["complete"] is False
    assert [r["auditor"] for r in seen["partial"]["results"]] == ["first"]
    final = AuditReport.from_json(out)
    assert final.complete and [r.auditor for r in final] == ["first", "boom", "last"]


def test_auditor_forms_config_overrides_and_unknown_names(world):
    _fixed("fixed_a", [("m1", 2.0, 1.0, 0.001)])
    _fixed("fixed_b", [("m1", 2.0, 1.0, 0.001)])

    @ra.register_auditor("with_param")
    class WithParam(ra.Auditor):
        family = "custom"

        def __init__(self, k=10, thresholds=None):
            super().__init__(thresholds=thresholds)
            self.k = k

        def run(self, model, data, ctx):
            return self.result(metrics=[self.metric("k", self.k, higher_is_better=False,
                                                    p_value=0.001)])

    inst = WithParam(k=3)
    rep = ra.audit(ScoringModel(world), world,
                   ["fixed_a", ("with_param", {"k": 7}),
                    {"name": "fixed_b", "thresholds": {"m1": 5.0}}],
                   config={"with_param": {"thresholds": {"k": 6}}}, cache=False,
                   progress=False)
    assert rep["with_param"].metric("k").value == 7
    assert rep["with_param"].metric("k").verdict == "fail"  # 7 > 6 (threshold from config)
    assert rep["fixed_b"].metric("m1").verdict == "pass"  # 2 <= 5 (threshold override)
    assert rep["fixed_a"].metric("m1").verdict == "fail"
    rep = ra.audit(ScoringModel(world), world, [inst], cache=False, progress=False)
    assert rep["with_param"].metric("k").value == 3
    with pytest.raises(UnknownNameError, match="Did you mean 'fixed_a'"):
        ra.audit(ScoringModel(world), world, ["fixed_aa"], cache=False, progress=False)
    with pytest.raises(UnknownNameError, match="unknown parameter.*'kk'.*Did you mean 'k'"):
        ra.audit(ScoringModel(world), world, [("with_param", {"kk": 1})], cache=False)
    with pytest.raises(SpecError, match="unknown key 'n_bootstraps'.*'n_bootstrap'"):
        ra.audit(ScoringModel(world), world, ["fixed_a"], config={"n_bootstraps": 5})
    with pytest.raises(SpecError, match="listed twice"):
        ra.audit(ScoringModel(world), world, ["fixed_a", "fixed_a"], cache=False)


def test_unavailable_builtin_is_skipped_not_fatal(world, monkeypatch):
    monkeypatch.setitem(_registry.BUILTIN_AUDITORS, "memorization",
                        "recaudit.auditors.no_such_module:Nothing")
    monkeypatch.delitem(_registry._REGISTERED, "memorization", raising=False)
    rep = ra.audit(ScoringModel(world), world, ["memorization"], cache=False, progress=False)
    assert rep["memorization"].status == "skipped"
    assert "not available" in rep["memorization"].reason


def test_costs_and_cross_auditor_cache(world, tmp_path):
    _fixed("fixed_a", [("m", 0.0, None, None)])
    _fixed("fixed_b", [("m", 0.0, None, None)])
    rep = ra.audit(ScoringModel(world), world, ["fixed_a", "fixed_b"], cache=tmp_path / "c.db",
                   progress=False)
    a, b = rep["fixed_a"].cost, rep["fixed_b"].cost
    assert (a.requests, a.cache_hits, a.model_calls) == (5, 0, 1)
    assert (b.requests, b.cache_hits, b.model_calls) == (5, 5, 0)  # same requests: shared
    assert a.total_seconds >= a.model_seconds > 0
    meta = rep.metadata
    assert meta["cost"]["requests"] == 10 and meta["cost"]["cache_hits"] == 5
    assert 0 < meta["cost"]["model_share"] <= 1
    rep2 = ra.audit(ScoringModel(world), world, ["fixed_a"], cache=tmp_path / "c.db",
                    progress=False)
    assert rep2["fixed_a"].cost.cache_hits == 5  # a re-run is served from disk
    engine = CachedRecommender(ScoringModel(world), cache=False, progress=False)
    for _ in range(2):  # one wrapper, two audits: each counts only its own requests
        rep3 = ra.audit(engine, world, ["fixed_a"], progress=False)
    assert (rep3["fixed_a"].cost.requests, rep3["fixed_a"].cost.cache_hits) == (5, 5)


def test_json_round_trip_and_metadata(world, tmp_path):
    _fixed("fixed_a", [("m1", 2.0, 1.0, 0.01), ("m2", 0.5, 1.0, 0.2)])
    rep = ra.audit(ScoringModel(world), world, ["fixed_a"], seed=7, cache=False,
                   progress=False, title="t <b>")
    rep["fixed_a"].tables["t"] = pd.DataFrame({"a": [1, 2], "b": [0.5, 2.0], "c": ["x", "y"]})
    rep["fixed_a"].evidence.append({"user": "u1", "items": ["i1", "i2"], "score": 0.25})
    path = tmp_path / "r.json"
    rep.to_json(path)
    back = AuditReport.from_json(path)
    assert back.to_dict() == json.loads(path.read_text())
    pd.testing.assert_frame_equal(back.summary(), rep.summary())
    pd.testing.assert_frame_equal(back["fixed_a"].tables["t"], rep["fixed_a"].tables["t"],
                                  check_dtype=False)
    assert back.title == "t <b>" and back.passed == rep.passed
    meta = back.metadata
    assert meta["seed"] == 7
    assert meta["model"]["fingerprint"] == ScoringModel(world).fingerprint()
    assert meta["dataset"]["n_users"] == 40
    assert set(meta["versions"]) >= {"recaudit", "torch", "transformers", "numpy", "pandas"}
    assert meta["started"] <= meta["ended"]
    assert list(back.summary().columns) == SUMMARY_COLUMNS
    assert json.loads(path.read_text())["schema_version"] == 3


def test_from_json_rejects_bad_input(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        AuditReport.from_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        AuditReport.from_json(tmp_path / "bad.json")
    with pytest.raises(SpecError, match="not a recaudit audit report"):
        AuditReport.from_json('{"results": []}')
    with pytest.raises(SpecError, match="schema_version 99"):
        AuditReport.from_json('{"schema": "recaudit.audit_report", "schema_version": 99}')


def test_assert_audit_passes(world):
    _fixed("fixed_a", [("m1", 2.0, 1.0, 0.001), ("m2", 0.5, 1.0, 0.001)])
    rep = ra.audit(ScoringModel(world), world, ["fixed_a"], cache=False, progress=False)
    with pytest.raises(AssertionError, match=r"fixed_a.m1@all = 2, threshold <= 1"):
        assert_audit_passes(rep)
    assert_audit_passes(rep, ignore=["fixed_a.m1"])
    assert_audit_passes(rep, ignore=["fixed_a"])
