"""``assert_audit_passes``: use an audit as a test in your own suite.

    def test_my_model_is_fair():
        report = ra.audit(my_model, data, ["consumer_fairness"])
        assert_audit_passes(report)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def assert_audit_passes(report: Any, *, ignore: Iterable[str] = (),
                        allow_skipped: bool = True) -> None:
    """Raise ``AssertionError`` listing every failed check and errored auditor.

    Parameters
    ----------
    report : AuditReport
    ignore : iterable of str
        Auditor names (``"popularity_bias"``), metrics (``"popularity_bias.arp"``) or
        scoped metrics (``"popularity_bias.arp@gender=female"``) not to hold against the
        model.
    allow_skipped : bool
        When False, a skipped auditor (missing capability) also fails the assertion.
    """
    __tracebackhide__ = True
    ignore = set(ignore)
    problems = []
    for res in report.results:
        if res.auditor in ignore:
            continue
        if res.status == "error":
            problems.append(f"{res.auditor}: error: {res.reason}")
        elif res.status == "skipped" and not allow_skipped:
            problems.append(f"{res.auditor}: skipped: {res.reason}")
        for m in res.metrics:
            keys = {f"{res.auditor}.{m.name}", f"{res.auditor}.{m.name}@{m.scope}"}
            if m.verdict != "fail" or keys & ignore:
                continue
            ci = f" [{_fmt(m.ci_low)}, {_fmt(m.ci_high)}]" if m.ci_low is not None else ""
            side = ">=" if m.higher_is_better else "<="
            problems.append(f"{res.auditor}.{m.name}@{m.scope} = {_fmt(m.value)}{ci}, "
                            f"threshold {side} {_fmt(m.threshold)}, "
                            f"p (Holm) = {_fmt(m.p_adjusted)}")
    if problems:
        raise AssertionError(f"audit failed {len(problems)} check(s):\n  "
                             + "\n  ".join(problems))
