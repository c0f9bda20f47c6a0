"""``AuditReport.to_markdown``: the CI job summary (verdict per auditor, checks worst first,
informational metrics folded), with strings from the audit escaped."""

from __future__ import annotations

import pytest

import recaudit as ra
from recaudit.report import AuditReport, render_markdown
from recaudit.results import AuditResult, Metric
from recaudit.testing.zoo import PopularityPusher


@pytest.fixture(scope="module")
def report() -> AuditReport:
    """A popularity-pushing zoo model (a failed check) and an auditor it cannot serve."""
    world = ra.datasets.synthetic(n_users=40, n_items=40, seed=1)
    return ra.audit(PopularityPusher(world), world,
                    ["popularity_bias", "explanation_faithfulness"],
                    config={"n_bootstrap": 100, "n_permutations": 100}, progress=False,
                    cache=False)


def _table(lines: list[str], header_start: str) -> list[list[str]]:
    """The rows (cells) of the table whose header line starts with ``header_start``."""
    start = next(n for n, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


def test_scorecard_worst_first_with_counts_per_auditor(report, tmp_path):
    path = tmp_path / "summary.md"
    text = report.to_markdown(path)
    assert path.read_text(encoding="utf-8") == text
    lines = text.splitlines()
    assert lines[0] == f"## {report.title}: FAILED"
    c = report.counts()
    assert f"{c['fail'] + c['pass'] + c['skipped']} check(s): {c['fail']} fail" in text
    auditors = _table(lines, "| auditor | verdict |")
    assert [(r[0], r[1]) for r in auditors] == [("popularity_bias", "**FAIL**"),
                                                 ("explanation_faithfulness", "skipped")]
    pop = report["popularity_bias"].metrics
    assert auditors[0][2:7] == [str(sum(m.verdict == v for m in pop))
                                for v in ("fail", "error", "pass", "skipped", "info")]
    checks = _table(lines, "| verdict | auditor | metric |")
    assert len(checks) == c["fail"] + c["pass"] + c["skipped"]
    failed = report.failed[0]
    assert checks[0][:4] == ["**FAIL**", "popularity_bias", failed.name, failed.scope]
    assert checks[0][5] == "≥ 0.25" and checks[0][6] == "<0.001"
    assert checks[-1][:3] == ["skipped", "explanation_faithfulness",
                              report["explanation_faithfulness"].reason]
    assert [r[0] for r in checks[1:-1]] == ["pass"] * c["pass"]
    infos = _table(lines, "| auditor | metric | scope | value")
    assert len(infos) == c["info"] and "<details>" in text and text.endswith("</details>\n")


def test_strings_are_escaped_and_an_empty_audit_says_so():
    rep = AuditReport(title="x", results=[
        AuditResult("a|b", status="error", reason="boom <script>alert(1)</script>\n| x |"),
        AuditResult("plain", metrics=[Metric("m*", 0.5, scope="[s](http://e)",
                                             threshold=1.0, higher_is_better=False,
                                             verdict="pass")])])
    text = render_markdown(rep)
    lines = text.splitlines()
    assert "<script>" not in text and "&lt;script&gt;" in text
    checks = _table(lines, "| verdict | auditor | metric |")
    assert [len(r) for r in checks] == [7, 7]  # a | in a string adds no column
    assert checks[0][:2] == ["**ERROR**", "a\\|b"]
    assert checks[1][2:4] == ["m\\*", "\\[s\\](http://e)"]
    assert "informational" not in text.split("###")[-1]  # no info metric: no details block
    assert "No thresholded check in this audit." in render_markdown(AuditReport())
