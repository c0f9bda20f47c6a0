"""``AuditReport.diff``: matching, regression rules, warnings, JSON and HTML forms."""

from __future__ import annotations

import json
import re

import pytest

import recaudit as ra
from recaudit.audit import AuditReport
from recaudit.report import ReportDiff
from recaudit.results import AuditResult, Metric
from recaudit.testing import assert_no_regressions
from recaudit.testing.zoo import PopularityNeutral, PopularityPusher

XSS = '"><img src=x onerror=alert(1)>'


def _m(name, value, verdict, *, scope="all", threshold=1.0, hib=False, ci=None):
    lo, hi = ci or (None, None)
    return Metric(name, value, scope=scope, threshold=threshold, higher_is_better=hib,
                  verdict=verdict, ci_low=lo, ci_high=hi, p_value=0.01, p_adjusted=0.02)


def _report(results, *, seed=0, dataset="d1", title="run", params=None, alpha=0.05):
    for r in results:
        r.params = dict(params or {"k": 10})
    meta = {"seed": seed, "model": {"repr": "M()", "fingerprint": f"fp-{title}"},
            "dataset": {"name": "synthetic", "n_users": 10, "n_items": 10,
                        "fingerprint": dataset},
            "settings": {"n_bootstrap": 100, "n_permutations": 100, "alpha": alpha}}
    return AuditReport(results=results, metadata=meta, title=title)


def _pair(**b_kwargs):
    a = _report([
        AuditResult("bias", metrics=[
            _m("became_fail", 0.5, "pass"),
            _m("drifted", 0.8, "pass"),        # B: beyond, not significant -> still pass
            _m("fixed", 2.0, "fail"),
            _m("steady", 0.2, "pass", ci=(0.1, 0.3)),
            _m("gone", 0.3, "pass"),
            _m("info", 5.0, "info", threshold=None, hib=None),
            _m("moved", 5.0, "info", threshold=None, hib=None, ci=(4.0, 6.0))]),
        AuditResult("crashy", metrics=[_m("x", 0.1, "pass")]),
        AuditResult("was_broken", status="error", reason="ValueError: boom"),
        AuditResult("skippy", status="skipped", reason="needs gradients"),
    ], title="A")
    b = _report([
        AuditResult("bias", metrics=[
            _m("became_fail", 1.5, "fail"),
            _m("drifted", 1.2, "pass"),
            _m("fixed", 0.5, "pass"),
            _m("steady", 0.25, "pass", ci=(0.15, 0.35)),
            _m("info", 6.0, "info", threshold=None, hib=None),
            _m("moved", 8.0, "info", threshold=None, hib=None, ci=(6.5, 9.0)),
            _m("new_fail", 3.0, "fail"),
            _m("new_ok", 0.1, "pass")]),
        AuditResult("crashy", status="error", reason=f"RuntimeError: {XSS}"),
        AuditResult("was_broken", metrics=[_m("y", 0.1, "pass")]),
        AuditResult("skippy", status="skipped", reason="needs gradients"),
    ], title="B", **b_kwargs)
    return a, b


def test_each_check_is_classified():
    a, b = _pair()
    d = a.diff(b)
    assert isinstance(d, ReportDiff)
    got = {c.key: c.change for c in d.changes}
    assert got == {
        "bias.became_fail@all": "regression", "bias.drifted@all": "regression",
        "bias.new_fail@all": "regression", "crashy": "regression",
        "bias.fixed@all": "improvement", "was_broken": "improvement",
        "bias.new_ok@all": "added", "was_broken.y@all": "added",
        "bias.gone@all": "removed", "crashy.x@all": "removed", "bias.moved@all": "changed",
        "bias.steady@all": "unchanged", "bias.info@all": "unchanged", "skippy": "unchanged",
    }
    by = {c.key: c for c in d.changes}
    assert by["bias.became_fail@all"].reasons == [
        "verdict pass -> fail", "moved beyond its threshold (<= 1)"]
    assert by["bias.drifted@all"].reasons == ["moved beyond its threshold (<= 1)"]
    assert by["crashy"].reasons[0].startswith("auditor newly errored: RuntimeError")
    assert by["bias.fixed@all"].reasons == ["verdict fail -> pass",
                                            "back within its threshold (<= 1)"]
    assert by["bias.steady@all"].delta == pytest.approx(0.05)
    assert by["bias.steady@all"].worse is True  # lower is better, and it went up
    assert by["bias.fixed@all"].worse is False
    assert by["bias.steady@all"].ci_b == (0.15, 0.35)
    assert by["bias.gone@all"].value_b is None and by["bias.gone@all"].delta is None
    assert d.has_regressions and len(d.regressions) == 4
    assert by["bias.moved@all"].reasons == [
        "value moved beyond sampling noise (the 95% CIs do not overlap)"]
    assert d.counts() == {"regression": 4, "improvement": 2, "changed": 1, "added": 2,
                          "removed": 2, "unchanged": 3}


def test_regressions_come_first_then_improvements():
    d = _pair()[0].diff(_pair()[1])
    order = [c.change for c in d.changes]
    assert order == sorted(order, key=["regression", "improvement", "changed", "added",
                                       "removed", "unchanged"].index)
    # within a class, the run's own order (auditor, then metric) is kept
    assert [c.key for c in d.regressions] == ["bias.became_fail@all", "bias.drifted@all",
                                              "bias.new_fail@all", "crashy"]


def test_same_report_has_no_change_and_no_warning():
    a, _ = _pair()
    d = a.diff(a)
    assert {c.change for c in d.changes} == {"unchanged"}
    assert d.warnings == [] and not d.has_regressions
    assert_no_regressions(a, a)


def test_reverse_direction_swaps_regressions_and_improvements():
    a, b = _pair()
    back = {c.key: c.change for c in b.diff(a).changes}
    assert back["bias.fixed@all"] == "regression" and back["was_broken"] == "regression"
    assert back["bias.became_fail@all"] == "improvement" and back["crashy"] == "improvement"


def test_warnings_for_different_data_spec_and_seed():
    a, b = _pair(seed=5, dataset="d2", params={"k": 20}, alpha=0.01)
    b["bias"].metrics[0].threshold = 2.0
    w = "\n".join(a.diff(b).warnings)
    assert "the two runs audited different datasets" in w and "d2" in w
    assert "different audit setting alpha: A 0.05, B 0.01" in w
    assert "different auditor parameters: bias (k)" in w
    assert "different thresholds: bias.became_fail@all (<= 1 vs <= 2)" in w
    assert "different seeds: A 0, B 5" in w
    b.complete = False
    assert "run B is incomplete" in "\n".join(a.diff(b).warnings)


def test_auditors_in_one_run_only_are_warned_about():
    a, b = _pair()
    b.results = [r for r in b.results if r.auditor != "skippy"]
    d = a.diff(b)
    assert "auditors only in A: skippy" in d.warnings
    assert {c.key: c.change for c in d.changes}["skippy"] == "removed"


def test_json_form_for_machines():
    a, b = _pair()
    d = json.loads(a.diff(b).to_json())
    assert d["schema"] == "recaudit.audit_diff" and d["has_regressions"] is True
    assert d["counts"]["regression"] == 4
    first = d["changes"][0]
    assert first["key"] == "bias.became_fail@all" and first["change"] == "regression"
    assert first["value_a"] == 0.5 and first["value_b"] == 1.5 and first["delta"] == 1.0
    assert d["a"]["title"] == "A" and d["b"]["model_fingerprint"] == "fp-B"


def test_summary_frame():
    a, b = _pair()
    df = a.diff(b).summary()
    assert list(df.columns[:4]) == ["change", "auditor", "metric", "scope"]
    assert df.iloc[0]["delta"] == pytest.approx(1.0)
    assert (df["change"] == "regression").sum() == 4


def test_html_lists_regressions_first_and_escapes(tmp_path):
    a, b = _pair(dataset="d2")
    html = a.diff(b).to_html(tmp_path / "d.html")
    assert (tmp_path / "d.html").read_text(encoding="utf-8") == html
    assert "Content-Security-Policy" in html and "<img" not in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    reg = html[html.index('id="regressions"'):html.index('id="checks"')]
    assert re.findall(r"<strong>([\w.]+)", reg) == ["bias.became_fail", "bias.drifted",
                                                    "bias.new_fail", "crashy"]
    table = html[html.index('id="checks"'):]
    badges = re.findall(r'<td data-key="\d+"><span class="badge (\w+)">', table)
    assert badges[:4] == ["regression"] * 4 and badges[-1] == "unchanged"
    assert "audited different datasets" in html[:html.index('id="regressions"')]
    assert "+1 &#9660;" in table  # became_fail: 0.5 -> 1.5, lower is better


def test_assert_no_regressions_names_them(tmp_path):
    a, b = _pair()
    a.to_json(tmp_path / "a.json")
    with pytest.raises(AssertionError) as info:
        assert_no_regressions(tmp_path / "a.json", b)
    msg = str(info.value)
    assert "regressed in 4 check(s)" in msg
    assert "bias.became_fail@all 0.5 -> 1.5: verdict pass -> fail" in msg
    assert_no_regressions(a, b, ignore=["bias", "crashy"])
    with pytest.raises(AssertionError, match="warning: the two runs audited different"):
        assert_no_regressions(a, _pair(dataset="other")[1], ignore=["bias", "crashy"],
                              allow_warnings=False)


def test_real_runs_before_and_after_a_popularity_defect():
    """A clean zoo model (A) against its popularity-pushing twin (B): the popularity
    auditor's long-tail check regresses; the reverse is an improvement."""
    world = ra.datasets.synthetic(n_users=40, n_items=40, seed=1)
    cfg = {"n_bootstrap": 100, "n_permutations": 100}
    a = ra.audit(PopularityNeutral(world), world, ["popularity_bias"], config=cfg,
                 progress=False, cache=False)
    b = ra.audit(PopularityPusher(world), world, ["popularity_bias"], config=cfg,
                 progress=False, cache=False)
    assert a.passed and not b.passed
    d = a.diff(b)
    assert d.has_regressions and not d.warnings
    failed = {(m.name, m.scope) for m in b.failed}
    assert {(c.metric, c.scope) for c in d.regressions} >= failed
    assert all(c.change == "improvement" for c in b.diff(a).changes
               if (c.metric, c.scope) in failed)
