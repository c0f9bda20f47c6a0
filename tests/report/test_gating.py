"""``assert_audit_passes`` in a user's own test suite: reports or JSON paths, ``fail_on``."""

from __future__ import annotations

import pytest

from recaudit.audit import AuditReport
from recaudit.results import AuditResult, Metric
from recaudit.testing import assert_audit_passes


def _report() -> AuditReport:
    return AuditReport(results=[
        AuditResult("fair", metrics=[
            Metric("gap", 0.3, scope="gender", ci_low=0.2, ci_high=0.4, threshold=0.1,
                   higher_is_better=False, p_value=0.001, p_adjusted=0.002, verdict="fail"),
            Metric("ok", 0.01, threshold=0.1, higher_is_better=False, verdict="pass")]),
        AuditResult("grads", status="skipped", reason="needs gradients"),
    ])


def test_failed_check_is_named_with_value_ci_threshold_and_p(tmp_path):
    rep = _report()
    with pytest.raises(AssertionError) as info:
        assert_audit_passes(rep)
    assert str(info.value) == ("audit failed 1 check(s):\n  fair.gap@gender = 0.3 "
                               "[0.2, 0.4], threshold <= 0.1, p (Holm) = 0.002")
    rep.to_json(tmp_path / "r.json")
    with pytest.raises(AssertionError, match="fair.gap@gender"):
        assert_audit_passes(tmp_path / "r.json")  # a saved result works too
    assert_audit_passes(rep, ignore=["fair.gap@gender"])
    assert_audit_passes(rep, fail_on="error")  # failed checks tolerated, errors not


def test_errors_and_skips():
    rep = _report()
    rep.results.append(AuditResult("boom", status="error", reason="ValueError: x"))
    with pytest.raises(AssertionError, match="boom: error: ValueError: x"):
        assert_audit_passes(rep, fail_on="error")
    with pytest.raises(AssertionError, match="grads: skipped: needs gradients"):
        assert_audit_passes(rep, ignore=["fair", "boom"], allow_skipped=False)
    assert_audit_passes(rep, ignore=["fair", "boom"])
    with pytest.raises(ValueError, match="fail_on must be"):
        assert_audit_passes(rep, fail_on="never")
