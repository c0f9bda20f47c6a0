"""An :class:`~recaudit.AuditReport` as a Markdown scorecard, for a CI job summary
(GitHub's ``$GITHUB_STEP_SUMMARY``, a merge-request comment).

The verdict and counts, a table with one row per auditor (its worst verdict, its checks per
verdict, its time), then every check worst first as in the HTML scorecard (verdict, auditor,
metric, scope, value [95% CI], threshold, Holm-adjusted p), and the informational metrics
(no threshold) folded in a ``<details>`` block. Strings from the audit (auditor and metric
names, scopes, reasons) are escaped so they cannot break a table or add markup.
"""

from __future__ import annotations

from typing import Any

from ..results import VERDICTS
from ._html import _num, _pval, _scorecard, _worst

_COUNTED = ("fail", "error", "pass", "skipped", "info")
_SHOWN = {"fail": "**FAIL**", "error": "**ERROR**"}


def _md(text: Any) -> str:
    """A table cell: one line, with Markdown and HTML syntax characters escaped."""
    s = " ".join(str(text).split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\|`*[]":
        s = s.replace(ch, "\\" + ch)
    return s


def _verdict(v: str) -> str:
    return _SHOWN.get(v, _md(v))


def _value(row: dict[str, Any]) -> str:
    ci = f" [{_num(row['ci_low'])}, {_num(row['ci_high'])}]" if row.get("ci_low") is not None \
        else ""
    return f"{_num(row['value'])}{ci}"


def _table(header: list[str], rows: list[list[str]], right: int = 0) -> list[str]:
    """A GitHub table; the last ``right`` columns are right-aligned (numbers)."""
    align = ["---"] * (len(header) - right) + ["---:"] * right
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |",
            *("| " + " | ".join(r) + " |" for r in rows)]


def _auditor_rows(report: Any) -> list[list[str]]:
    rows = []
    for res in report.results:
        n = dict.fromkeys(_COUNTED, 0)
        if res.status in ("skipped", "error") and not res.metrics:
            n[res.status] += 1
        for m in res.metrics:
            n[m.verdict] = n.get(m.verdict, 0) + 1
        rows.append([_md(res.auditor), _verdict(_worst(res)), *(str(n[v]) for v in _COUNTED),
                     f"{float(res.cost.total_seconds or 0.0):.2f}"])
    return rows


def render_markdown(report: Any) -> str:
    """The Markdown text of ``report`` (an :class:`~recaudit.AuditReport`)."""
    counts = report.counts()
    checks = sum(n for v, n in counts.items() if v != "info")
    parts = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if v != "info" and counts.get(v))
    state = "PASSED" if report.passed else "FAILED"
    lines = [f"## {_md(report.title)}: {state}", "",
             f"**{state}**: {checks} check(s){': ' + parts if parts else ''}; "
             f"{counts.get('info', 0)} informational metric(s) without a threshold."]
    meta = report.metadata or {}
    cost, wall = meta.get("cost") or {}, meta.get("wall_seconds")
    if cost or wall is not None:
        lines[-1] += (f" {cost.get('requests', 0)} requests "
                      f"({cost.get('cache_hits', 0)} from cache), "
                      f"{float(wall or 0.0):.1f} s.")
    lines += ["", *_table(["auditor", "verdict", *_COUNTED, "time (s)"],
                          _auditor_rows(report), right=len(_COUNTED) + 1)]

    scorecard = _scorecard(report)  # worst first, as in the HTML report
    gated = [r for r in scorecard if r["verdict"] != "info"]
    infos = [r for r in scorecard if r["verdict"] == "info"]
    rows = []
    for r in gated:
        if r["metric"] is None:  # a skipped or errored auditor: its reason
            rows.append([_verdict(r["verdict"]), _md(r["auditor"]), _md(r["reason"] or "–"),
                         "–", "–", "–", "–"])
        else:
            rows.append([_verdict(r["verdict"]), _md(r["auditor"]), _md(r["metric"]),
                         _md(r["scope"]), _value(r), r["threshold_text"],
                         _pval(r["p_adjusted"])])
    lines += ["", "### Checks, worst first", ""]
    if rows:
        lines += _table(["verdict", "auditor", "metric", "scope", "value [95% CI]",
                         "threshold", "p (Holm)"], rows, right=3)
    else:
        lines.append("No thresholded check in this audit.")
    if infos:
        lines += ["", f"<details><summary>{len(infos)} informational metric(s) without a "
                  "threshold</summary>", "",
                  *_table(["auditor", "metric", "scope", "value [95% CI]"],
                          [[_md(r["auditor"]), _md(r["metric"]), _md(r["scope"]), _value(r)]
                           for r in infos], right=1),
                  "", "</details>"]
    return "\n".join(lines) + "\n"
