"""The HTML report and the diff page in a real headless Chromium.

The hostile report is a real audit of zoo models on a synthetic world whose item titles are
HTML/script payloads (so they reach the report through evidence, tables and the explainer's
generated explanations, i.e. model output), plus an auditor that errors with a payload in its
message. The checks: no console error, no request but the page itself, the payloads shown as
text and never run (no dialog, no ``img``/``onerror`` element), both with the page's CSP and
with the CSP removed (escaping alone must hold), a screenshot that is not blank, the sorter
working, the page complete with JavaScript off, and folded sections printed.
"""

from __future__ import annotations

import io
import re

import matplotlib.image as mpimg
import pytest

import recaudit as ra
from recaudit.data import AuditDataset
from recaudit.report._html import TEMPLATES
from recaudit.testing.zoo.explanation import (
    DishonestExplainer,
    HonestExplainer,
    LastItemRecommender,
)

pytestmark = pytest.mark.slow

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOADS = (SCRIPT, IMG)


class HostileBoom(ra.Auditor):
    """An auditor whose error message carries a payload (it reaches the reason and notes)."""

    name = "hostile_boom"
    method = f"Raises an error that quotes {IMG}."

    def run(self, model, data, ctx):
        raise ValueError(f"cannot parse item {SCRIPT} / {IMG}")


def _hostile_world() -> AuditDataset:
    w = ra.datasets.synthetic(n_users=40, n_items=30, seed=0)
    items = w.items.copy()
    items["title"] = [f"{PAYLOADS[i % 2]} #{i}" for i in range(len(items))]
    return AuditDataset(items, w.users, w.interactions, sensitive=w.sensitive,
                        allowed_values=w.allowed_values, name=f"hostile {IMG}")


AUDITORS = [("explanation_faithfulness", {"n_users": 16}),
            ("position_bias", {"n_users": 20, "n_shuffles": 2, "n_candidates": 10,
                               "positions": (0, 4, 9)})]
CONFIG = {"n_bootstrap": 100, "n_permutations": 100}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Run A (honest explainer) and B (dishonest one, plus an erroring auditor), the HTML of
    each, and the diff A -> B."""
    out = tmp_path_factory.mktemp("browser")
    data = _hostile_world()
    ranker = LastItemRecommender(data)
    a = ra.audit(HonestExplainer(ranker, data), data, AUDITORS, config=CONFIG,
                 progress=False, cache=False, title=f"run A {SCRIPT}")
    b = ra.audit(DishonestExplainer(ranker, data, hallucinate=0.5), data,
                 [*AUDITORS, HostileBoom()], config=CONFIG, progress=False, cache=False,
                 title=f"run B {IMG}")
    # the payloads really are in model output (the explanations) and in the evidence
    texts = [e["explanation"] for e in a["explanation_faithfulness"].evidence]
    assert any(SCRIPT in t for t in texts) and any(IMG in t for t in texts)
    a.to_html(out / "a.html")
    b.to_html(out / "b.html")
    diff = a.diff(b)
    assert diff.has_regressions
    diff.to_html(out / "diff.html")
    return out


def _no_csp_copy(path, tmp_path):
    """The page with its Content-Security-Policy meta removed: escaping must hold alone."""
    html = path.read_text(encoding="utf-8")
    stripped, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    assert n == 1
    copy = tmp_path / f"nocsp-{path.name}"
    copy.write_text(stripped, encoding="utf-8")
    return copy


def _assert_inert(loaded):
    page = loaded.page
    text = page.inner_text("body")
    for payload in PAYLOADS:
        assert payload in text, f"{payload!r} not shown as text"
    assert loaded.dialogs == [], loaded.dialogs
    assert page.eval_on_selector_all("img", "els => els.length") == 0
    assert page.eval_on_selector_all("[onerror], [onload], [onclick]", "e => e.length") == 0
    scripts = page.eval_on_selector_all("script", "els => els.map(e => e.textContent)")
    assert scripts == [(TEMPLATES / "sort.js").read_text(encoding="utf-8")]


def _assert_quiet(loaded):
    assert loaded.console_errors == [], loaded.console_errors
    assert loaded.requests == [loaded.url], loaded.requests


def _assert_not_blank(page, path):
    png = page.screenshot(full_page=True, path=str(path))
    img = mpimg.imread(io.BytesIO(png), format="png")
    gray = img[..., :3].mean(axis=-1)
    assert gray.shape[0] > 900  # a long page, not an empty viewport
    assert gray.std() > 0.05, f"screenshot looks blank (std {gray.std():.3f})"
    inked = (gray < 0.85).mean()
    assert 0.01 < inked < 0.6, f"share of dark pixels {inked:.3f}"
    rows = (gray < 0.85).mean(axis=1)
    assert (rows > 0).mean() > 0.3  # ink spread down the page, not one band


@pytest.mark.parametrize("name", ["a.html", "b.html", "diff.html"])
def test_loads_quietly_and_payloads_stay_text(pages, open_page, name, tmp_path):
    loaded = open_page(pages / name)
    _assert_quiet(loaded)
    _assert_inert(loaded)
    _assert_not_blank(loaded.page, tmp_path / f"{name}.png")


@pytest.mark.parametrize("name", ["b.html", "diff.html"])
def test_escaping_holds_without_the_csp(pages, open_page, name, tmp_path):
    loaded = open_page(_no_csp_copy(pages / name, tmp_path))
    _assert_inert(loaded)
    assert loaded.page_errors == []


def test_report_content(pages, open_page):
    page = open_page(pages / "b.html").page
    text = page.inner_text("body")
    assert "FAILED" in text and "Scorecard" in text
    assert "hostile_boom" in text and "ValueError: cannot parse item" in text
    assert "HonestExplainer" not in text and "DishonestExplainer" in text
    for label in ("Fingerprint", "Description", "Dataset", "Seed", "Time", "Requests",
                  "Versions"):
        assert page.locator(f"dl.meta dt:text-is('{label}')").count() == 1, label
    versions = page.inner_text("dl.meta")
    for pkg in ("recaudit", "torch", "transformers", "numpy", "pandas", "fairlearn",
                "captum"):
        assert pkg in versions
    section = page.locator("#auditor-explanation_faithfulness")
    for part in ("What it tests", "Reference:", "Metrics", "Evidence", "Cost:"):
        assert part in section.inner_text()
    assert page.locator("#auditor-position_bias figure svg").count() >= 1


def _column(page, table, col):
    return page.eval_on_selector(
        table, f"t => Array.from(t.tBodies[0].rows).map(r => r.cells[{col}].textContent.trim())")


def test_scorecard_sorts_and_reads_without_javascript(pages, open_page):
    page = open_page(pages / "b.html").page
    card = "table.scorecard"
    first = _column(page, card, 0)
    assert first[0] == "fail" and first[-1] in ("pass", "skipped")  # worst first, pre-sorted
    assert first.index("fail") < first.index("error") < first.index("pass")

    def values():
        keys = page.eval_on_selector(card, "t => Array.from(t.tBodies[0].rows).map("
                                     "r => r.cells[4].getAttribute('data-key'))")
        return [float(k) for k in keys if k]

    page.click(f"{card} th:nth-child(5) button.sort")
    assert values() == sorted(values()) and len(values()) >= 3
    assert page.get_attribute(f"{card} th:nth-child(5)", "aria-sort") == "ascending"
    page.click(f"{card} th:nth-child(5) button.sort")
    assert values() == sorted(values(), reverse=True)
    page.click(f"{card} th:nth-child(1) button.sort")
    assert _column(page, card, 0) == first  # by severity again

    off = open_page(pages / "b.html", javascript=False)
    assert off.page.locator("button.sort").count() == 0
    assert _column(off.page, card, 0) == first
    assert "Click a column header" not in off.page.inner_text("body")
    assert off.console_errors == [] and off.requests == [off.url]


def test_print_shows_folded_sections(pages, open_page):
    page = open_page(pages / "a.html").page
    folded = page.locator("details table").first
    assert not folded.is_visible()
    page.emulate_media(media="print")
    assert folded.is_visible()
    assert page.locator("button.sort").first.is_visible()  # header text stays
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000


def test_diff_page_content(pages, open_page):
    page = open_page(pages / "diff.html").page
    regs = page.inner_text("ol.regressions")
    assert "explanation_faithfulness.hallucinated_citation_rate" in regs
    assert "hostile_boom" in regs and "auditor newly errored" in regs
    changes = _column(page, "table.diff", 0)
    n = changes.count("regression")
    assert n >= 3 and changes[:n] == ["regression"] * n
    page.click("table.diff th:nth-child(7) button.sort")  # by delta
    assert _column(page, "table.diff", 0) != changes
