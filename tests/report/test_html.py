"""The HTML report: self-contained, escaped, scorecard first (worst first), one section per
auditor with its reason when skipped or errored."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import recaudit as ra
from recaudit.audit import AuditReport
from recaudit.auditors import _registry
from recaudit.report import figure_to_svg, new_figure, sanitize_svg
from recaudit.report._html import TEMPLATES
from recaudit.testing.zoo import ScoringModel

XSS = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    monkeypatch.setattr(_registry, "_REGISTERED", dict(_registry._REGISTERED))


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=30, n_items=30, seed=2)


def _report(world) -> AuditReport:
    @ra.register_auditor("html_demo")
    class HtmlDemo(ra.Auditor):
        family = "bias"
        method = f"Tests whether {XSS} is escaped in method text."
        citation = "Doe et al. <i>2024</i>"
        default_thresholds = {"bad": 0.1, "good": 0.5}

        def run(self, model, data, ctx):
            fig, ax = new_figure()
            ax.bar(["a", XSS], [1, 2])
            ax.set_title(XSS)
            return self.result(
                metrics=[self.metric("bad", 0.9, ci=(0.8, 0.95), p_value=0.001,
                                     higher_is_better=False),
                         self.metric("good", 0.1, ci=(0.05, 0.2), p_value=0.4,
                                     higher_is_better=False),
                         self.metric("count", 3.0, scope=XSS)],
                figures={"bars": figure_to_svg(fig)},
                tables={"top": pd.DataFrame({"item": [XSS, "b"], "n": [1, 2]})},
                evidence=[{"user": "u1", "title": XSS, "score": 0.5}],
                notes=[f"note with {XSS}"])

    @ra.register_auditor("html_boom")
    class Boom(ra.Auditor):
        def run(self, model, data, ctx):
            raise ValueError(f"bad item {XSS}")

    @ra.register_auditor("html_skip")
    class Skip(ra.Auditor):
        requires = frozenset({"rank", "gradients"})

    return ra.audit(ScoringModel(world), world, ["html_demo", "html_boom", "html_skip"],
                    cache=False, progress=False, title=f"Audit {XSS}")


def _without_sorter(html: str) -> str:
    """The page minus its one inline script (the table sorter, allowed by its CSP hash)."""
    script = (TEMPLATES / "sort.js").read_text(encoding="utf-8")
    assert html.count(f"<script>{script}</script>") == 1
    return html.replace(f"<script>{script}</script>", "")


def test_everything_is_escaped(world):
    html = _without_sorter(_report(world).to_html())
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # title, method, evidence, ...
    assert "Doe et al. &lt;i&gt;2024&lt;/i&gt;" in html
    assert html.count("alert(1)") >= 8


def test_self_contained(world, tmp_path):
    path = tmp_path / "r.html"
    html = _report(world).to_html(path)
    assert path.read_text(encoding="utf-8") == html
    assert "<style>" in html and "<svg" in html
    html = _without_sorter(html)
    assert not re.search(r"<link|<script|@import|url\(\s*['\"]?https?:", html, re.I)
    assert not re.search(r"(src|href)\s*=\s*['\"]https?:", html, re.I)


def test_scorecard_first_worst_first_and_reasons(world):
    html = _report(world).to_html()
    card = html[html.index('id="scorecard"'):html.index('<section class="auditor"')]
    verdicts = re.findall(r'<span class="badge (\w+)">', card)
    # passed checks shown too; metrics without a threshold follow, folded
    assert verdicts == ["fail", "error", "pass", "skipped", "info"]
    assert card.index("informational metric") < card.index('<span class="badge info">')
    assert card.index(">bad<") < card.index(">good<")
    assert "needs gradients; model declares" in card
    sections = re.findall(r'<section class="auditor" id="auditor-([\w-]+)"', html)
    assert sections == ["html_demo", "html_boom", "html_skip"]
    boom = html[html.index('id="auditor-html_boom"'):html.index('id="auditor-html_skip"')]
    assert "ValueError: bad item &lt;script&gt;" in boom and "Traceback" in boom
    demo = html[html.index('id="auditor-html_demo"'):html.index('id="auditor-html_boom"')]
    for part in ("What it tests", "Metrics", "Figures", "Evidence", "Notes", "Cost:",
                 "[0.8, 0.95]", "≤ 0.1"):
        assert part in demo, part


def test_report_from_json_renders_the_same(world, tmp_path):
    rep = _report(world)
    rep.to_json(tmp_path / "r.json")
    back = AuditReport.from_json(tmp_path / "r.json")
    assert back.to_html() == rep.to_html()


def test_sanitize_svg_removes_active_content():
    evil = ('<?xml version="1.0"?><svg onload="alert(1)"><script>alert(2)</script>'
            '<a href="javascript:alert(3)"><rect onclick=\'x()\'/></a>'
            '<foreignObject><iframe src="x"></iframe></foreignObject></svg>')
    clean = str(sanitize_svg(evil))
    assert clean.startswith("<svg")
    for bad in ("onload", "onclick", "<script", "javascript:", "foreignObject", "iframe"):
        assert bad not in clean
    assert "not SVG" in str(sanitize_svg("<b>hello</b>"))


def test_partial_report_says_so(world):
    rep = _report(world)
    rep.complete = False
    assert "incomplete: the audit stopped before every auditor ran" in rep.to_html()
    assert "incomplete" not in _report(world).to_html()


def test_csp_allows_exactly_the_inline_sorter(world):
    import base64
    import hashlib
    from html import unescape

    html = _report(world).to_html()
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert csp is not None
    policy = dict(part.strip().split(" ", 1) for part in unescape(csp.group(1)).split(";"))
    assert policy["default-src"] == "'none'" and policy["img-src"] == "data:"
    assert policy["style-src"] == "'unsafe-inline'" and policy["base-uri"] == "'none'"
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"


def test_run_metadata_and_spec_are_shown(world):
    rep = _report(world)
    rep.metadata["spec"] = {"model": {"kind": "random", "note": XSS}, "seed": 0}
    html = rep.to_html()
    meta = html[html.index('<dl class="meta">'):html.index("</dl>")]
    for label in ("Model", "Description", "Fingerprint", "Dataset", "Dataset fingerprint",
                  "Seed", "Settings", "Time", "Requests", "Versions"):
        assert f"<dt>{label}</dt>" in meta, label
    assert "Base of the planted-defect zoo" in meta
    for pkg in ("recaudit", "torch", "transformers", "numpy", "pandas", "fairlearn",
                "captum"):
        assert f"{pkg} " in meta, pkg
    assert "note: &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<pre>model:\n  kind: random" in html
