"""Use an audit as a test in your own suite: ``assert_audit_passes``, ``assert_no_regressions``.

    from recaudit.testing import assert_audit_passes, assert_no_regressions

    def test_my_model_is_fair():
        report = ra.audit(my_model, data, ["consumer_fairness"])
        assert_audit_passes(report)

    def test_no_regression_since_last_release():
        report = ra.audit(my_model, data, ["consumer_fairness"])
        assert_no_regressions("audits/baseline.json", report)

Both raise ``AssertionError`` with one line per problem (pytest shows it as the failure
message; the helpers hide their own frames from the traceback).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _load(report: Any) -> Any:
    """An AuditReport from a report, a JSON path or JSON text."""
    if isinstance(report, (str, Path)):
        from ..report import AuditReport

        return AuditReport.from_json(report)
    return report


def _ignored(ignore: set[str], auditor: str, metric: str | None = None,
             scope: str | None = None) -> bool:
    if auditor in ignore:
        return True
    if metric is None:
        return False
    return bool({f"{auditor}.{metric}", f"{auditor}.{metric}@{scope}"} & ignore)


def assert_audit_passes(report: Any, *, ignore: Iterable[str] = (),
                        allow_skipped: bool = True,
                        fail_on: Literal["fail", "error"] = "fail") -> None:
    """Raise ``AssertionError`` listing every failed check and errored auditor.

    Parameters
    ----------
    report : AuditReport, or path to its JSON
    ignore : iterable of str
        Auditor names (``"popularity_bias"``), metrics (``"popularity_bias.arp"``) or
        scoped metrics (``"popularity_bias.arp@gender=female"``) not to hold against the
        model.
    allow_skipped : bool
        When False, a skipped auditor (missing capability) also fails the assertion.
    fail_on : {"fail", "error"}
        ``"fail"`` (default): failed checks and errors fail the assertion, like
        ``recaudit audit --fail-on fail``; ``"error"``: only errors do.

    Examples
    --------
    >>> assert_audit_passes(report, ignore=["popularity_bias.gini"])    # doctest: +SKIP
    """
    __tracebackhide__ = True
    if fail_on not in ("fail", "error"):
        raise ValueError(f"fail_on must be 'fail' or 'error', got {fail_on!r}")
    report = _load(report)
    ignore = set(ignore)
    problems = []
    for res in report.results:
        if _ignored(ignore, res.auditor):
            continue
        if res.status == "error":
            problems.append(f"{res.auditor}: error: {res.reason}")
        elif res.status == "skipped" and not allow_skipped:
            problems.append(f"{res.auditor}: skipped: {res.reason}")
        for m in res.metrics:
            bad = ("fail", "error") if fail_on == "fail" else ("error",)
            if m.verdict not in bad or _ignored(ignore, res.auditor, m.name, m.scope):
                continue
            ci = f" [{_fmt(m.ci_low)}, {_fmt(m.ci_high)}]" if m.ci_low is not None else ""
            side = ">=" if m.higher_is_better else "<="
            problems.append(f"{res.auditor}.{m.name}@{m.scope} = {_fmt(m.value)}{ci}, "
                            f"threshold {side} {_fmt(m.threshold)}, "
                            f"p (Holm) = {_fmt(m.p_adjusted)}"
                            + (" (error)" if m.verdict == "error" else ""))
    if problems:
        raise AssertionError(f"audit failed {len(problems)} check(s):\n  "
                             + "\n  ".join(problems))


def assert_no_regressions(baseline: Any, report: Any, *, ignore: Iterable[str] = (),
                          allow_warnings: bool = True) -> None:
    """Raise ``AssertionError`` when ``report`` regressed against ``baseline``.

    A regression (see :meth:`recaudit.AuditReport.diff`) is a check that fails or errors now
    but did not in the baseline, or whose value moved beyond its threshold.

    Parameters
    ----------
    baseline, report : AuditReport, or path to its JSON
    ignore : iterable of str
        Auditors, ``auditor.metric`` or ``auditor.metric@scope`` keys to leave out.
    allow_warnings : bool
        When False, a comparability warning (different datasets, parameters, thresholds,
        seeds) also fails the assertion.
    """
    __tracebackhide__ = True
    diff = _load(baseline).diff(_load(report))
    ignore = set(ignore)
    problems = []
    for c in diff.regressions:
        if _ignored(ignore, c.auditor, c.metric, c.scope):
            continue
        values = "" if c.metric is None else f" {_fmt(c.value_a)} -> {_fmt(c.value_b)}"
        problems.append(f"{c.key}{values}: {'; '.join(c.reasons)}")
    if not allow_warnings:
        problems += [f"warning: {w}" for w in diff.warnings]
    if problems:
        raise AssertionError(f"audit regressed in {len(problems)} check(s) against the "
                             "baseline:\n  " + "\n  ".join(problems))
