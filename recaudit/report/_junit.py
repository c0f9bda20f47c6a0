"""An :class:`~recaudit.AuditReport` as JUnit XML, for CI test reporters (GitHub, GitLab,
Jenkins).

Every *check* of the audit becomes one ``<testcase>``, exactly the checks the report counts
(:meth:`AuditReport.counts`, less ``info``):

- a metric whose verdict is ``fail``: a ``<failure>`` whose message gives the value, the 95%
  CI, the threshold and the Holm-adjusted p-value;
- ``error`` (the auditor raised, or the metric could not be computed): an ``<error>`` with
  the reason; ``skipped`` (a capability the model lacks): a ``<skipped>`` with the reason; an
  errored or skipped auditor without metrics is one such test case, named after it;
- ``pass``: a plain test case (its numbers in ``<system-out>``).

``info`` metrics (no threshold) are measurements, not checks: they are not test cases, so a
CI dashboard's pass count is the number of gated checks; their values are kept as the
auditor's ``<property name="info:METRIC@SCOPE">``.

One ``<testsuite>`` per auditor (named after it; ``tests``, ``failures``, ``errors``,
``skipped``, ``time`` from the auditor's cost) inside one ``<testsuites>`` (the report's
title, its totals and wall time). Test cases have ``classname="recaudit.AUDITOR"`` and
``name="METRIC@SCOPE"``. The file is valid against the Jenkins xunit plugin's JUnit schema
(``junit-10.xsd``), the strictest of those CI reporters read: ``<testsuites>`` carries no
``skipped`` attribute there, times are plain decimals, and characters XML 1.0 forbids
(control characters in a model's output) are replaced by U+FFFD.

Written with :mod:`xml.etree.ElementTree` (standard library), which escapes every string.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any

from ..results import AuditResult, Metric
from ._html import _num, _pval, _threshold_text

#: Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: The longest ``message`` attribute (one line); the whole text is the element's body.
MAX_MESSAGE = 500

_CHILD = {"fail": "failure", "error": "error", "skipped": "skipped"}


def _xml(text: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 1] + "…"


def _seconds(x: Any) -> str:
    """A time as the schema's plain decimal (no exponent, never negative or NaN)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "0.000"
    return f"{x:.3f}" if math.isfinite(x) and x > 0 else "0.000"


def _timestamp(started: Any) -> str | None:
    """The audit's start as ``YYYY-MM-DDTHH:MM:SS`` in UTC (the form Surefire writes)."""
    try:
        t = datetime.fromisoformat(str(started))
    except ValueError:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S")


def value_text(m: Metric) -> str:
    """``0.0467 [0.0232, 0.0699]``: the value and its 95% CI when there is one."""
    ci = f" [{_num(m.ci_low)}, {_num(m.ci_high)}]" if m.ci_low is not None else ""
    return f"{_num(m.value)}{ci}"


def check_line(m: Metric) -> str:
    """``aplt_ratio@all = 0.0467 [0.0232, 0.0699], threshold ≥ 0.25, p (Holm) <0.001``."""
    p = _pval(m.p_adjusted)
    p = p if p.startswith("<") else f"= {p}"
    return (f"{m.name}@{m.scope} = {value_text(m)}, threshold {_threshold_text(m)}, "
            f"p (Holm) {p}")


def _details(res: AuditResult, m: Metric | None, verdict: str, reason: str = "") -> str:
    family = f" ({res.family})" if res.family else ""
    lines = [f"auditor: {res.auditor}{family}"]
    if m is not None:
        lines += [f"check: {m.name}@{m.scope}", f"verdict: {verdict}",
                  f"value [95% CI]: {value_text(m)}",
                  f"threshold: {_threshold_text(m)} (fail when beyond it and p (Holm) is "
                  "below alpha)",
                  f"p: {_pval(m.p_value)}; p (Holm): {_pval(m.p_adjusted)}"]
        if m.description:
            lines.append(f"description: {m.description}")
    else:
        lines.append(f"verdict: {verdict}")
    if reason:
        lines.append(f"reason: {reason}")
    return "\n".join(lines)


def _cases(res: AuditResult) -> list[tuple[str, str, str, str]]:
    """``(name, verdict, message, details)`` for each check of one auditor's result."""
    if res.status in ("skipped", "error") and not res.metrics:
        reason = res.reason or ("skipped" if res.status == "skipped" else "the auditor failed")
        return [(res.auditor, res.status, reason, _details(res, None, res.status, reason))]
    out = []
    for m in res.metrics:
        verdict = m.verdict
        if verdict == "info":
            continue
        if verdict == "fail":
            message, reason = check_line(m), ""
        elif verdict in ("error", "skipped"):
            reason = res.reason or ("the metric could not be computed" if verdict == "error"
                                    else "the metric was not measured")
            message = f"{m.name}@{m.scope}: {reason}"
        elif verdict == "pass":
            message, reason = "", ""
        else:  # a verdict this recaudit does not know (a hand-edited or newer JSON)
            reason = f"unknown verdict {verdict!r}"
            message, verdict = f"{m.name}@{m.scope}: {reason}", "error"
        out.append((f"{m.name}@{m.scope}", verdict, message, _details(res, m, verdict, reason)))
    return out


def _suite(res: AuditResult, timestamp: str | None) -> tuple[ET.Element, dict[str, int]]:
    cases = _cases(res)
    n = {k: sum(c[1] == v for c in cases) for k, v in
         (("failures", "fail"), ("errors", "error"), ("skipped", "skipped"))}
    n["tests"] = len(cases)
    attrs = {"name": _xml(res.auditor), "tests": str(n["tests"]),
             "failures": str(n["failures"]), "errors": str(n["errors"]),
             "skipped": str(n["skipped"]), "time": _seconds(res.cost.total_seconds)}
    if timestamp:
        attrs["timestamp"] = timestamp
    suite = ET.Element("testsuite", attrs)
    props = ET.SubElement(suite, "properties")
    for name, value in (("family", res.family), ("status", res.status),
                        ("reason", _one_line(res.reason))):
        if value:
            ET.SubElement(props, "property", {"name": name, "value": _xml(value)})
    for m in res.metrics:
        if m.verdict == "info":
            ET.SubElement(props, "property", {"name": _xml(f"info:{m.name}@{m.scope}"),
                                              "value": _xml(value_text(m))})
    classname = _xml(f"recaudit.{res.auditor}")
    for name, verdict, message, details in cases:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": _xml(name)})
        if verdict in _CHILD:
            child = ET.SubElement(case, _CHILD[verdict], {"type": verdict,
                                                          "message": _xml(_one_line(message))})
            child.text = _xml(details)
        else:
            ET.SubElement(case, "system-out").text = _xml(details)
    return suite, n


def render_junit(report: Any) -> str:
    """The JUnit XML text of ``report`` (an :class:`~recaudit.AuditReport`)."""
    meta = report.metadata or {}
    timestamp = _timestamp(meta["started"]) if meta.get("started") else None
    root = ET.Element("testsuites", {"name": _xml(report.title)})
    totals = dict.fromkeys(("tests", "failures", "errors"), 0)
    seconds = 0.0
    for res in report.results:
        suite, n = _suite(res, timestamp)
        root.append(suite)
        for k in totals:
            totals[k] += n[k]
        seconds += float(res.cost.total_seconds or 0.0)
    for k, v in totals.items():
        root.set(k, str(v))
    wall = meta.get("wall_seconds")
    root.set("time", _seconds(wall if wall is not None else seconds))
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
