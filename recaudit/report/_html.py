"""Render an :class:`~recaudit.AuditReport` to one self-contained HTML file.

Jinja2 templates (small partials: scorecard, auditor section, metric table, table, evidence)
with autoescaping on: every model and data string is escaped. Figures are inline SVG
produced by matplotlib; they are the only markup inserted unescaped, after
:func:`sanitize_svg` removes anything executable. No script, font or stylesheet is loaded
from anywhere: a Content-Security-Policy meta tag allows inline styles, ``data:`` images and
exactly one inline script (by its sha256 hash), the table sorter ``templates/sort.js``. The
page is complete without it (tables come pre-sorted, worst first) and prints whole
(``@media print`` opens folded sections).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from functools import lru_cache
from numbers import Number
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..results import VERDICTS, AuditResult, Metric

TEMPLATES = Path(__file__).parent / "templates"
MAX_TABLE_ROWS = 50
MAX_EVIDENCE = 20

_SCRIPT = re.compile(r"<\s*(script|foreignObject|iframe|object|embed)\b.*?<\s*/\s*\1\s*>",
                     re.IGNORECASE | re.DOTALL)
_SELF_CLOSING = re.compile(r"<\s*(script|foreignObject|iframe|object|embed)\b[^>]*/?>",
                           re.IGNORECASE)
_ON_ATTR = re.compile(r"\s+on[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_JS_HREF = re.compile(r"(href\s*=\s*[\"'])\s*javascript:[^\"']*", re.IGNORECASE)


def sanitize_svg(svg: str) -> Markup:
    """Inline-safe SVG: only an ``<svg>`` element, with scripts and event handlers removed.

    Figures come from matplotlib (trusted), but a report read back from JSON may have been
    edited, so this is a second line of defence.
    """
    text = str(svg)
    start = text.find("<svg")
    if start < 0:
        return Markup('<p class="muted">(figure is not SVG; not shown)</p>')
    text = text[start:]
    text = _SCRIPT.sub("", text)
    text = _SELF_CLOSING.sub("", text)
    text = _ON_ATTR.sub("", text)
    text = _JS_HREF.sub(r"\1#", text)
    return Markup(text)


def drawn_figure(figure: Any) -> Markup:
    """A result's figure as safe inline SVG: figure data drawn here, SVG text sanitised.

    A figure that cannot be drawn (an unknown kind, data a drawer rejects) becomes a note
    in the report instead of losing the whole report.
    """
    from .figures import draw

    try:
        return sanitize_svg(draw(figure))
    except Exception as exc:  # noqa: BLE001 - one bad figure must not lose the report
        kind = getattr(figure, "kind", type(figure).__name__)
        message = f"(figure {kind!r} could not be drawn: {type(exc).__name__}: {exc})"
        return Markup('<p class="muted">{}</p>').format(message)


def _num(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return "–" if v is None else v
    if isinstance(v, Number):
        x = float(v)
        if math.isnan(x):
            return "–"
        if x == int(x) and abs(x) < 1e9 and not isinstance(v, float):
            return str(int(x))
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.3g}"
        return f"{x:.4g}" if abs(x) >= 1 else f"{x:.3f}".rstrip("0").rstrip(".") or "0"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(_num(x)) for x in v)
    return v


def _pval(p: Any) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    p = float(p)
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _threshold_text(m: Any) -> str:
    t = m.threshold if isinstance(m, Metric) else m.get("threshold")
    hib = m.higher_is_better if isinstance(m, Metric) else m.get("higher_is_better")
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "–"
    if hib is None:
        return f"{_num(t)}"
    return f"{'≥' if hib else '≤'} {_num(t)}"


def _worst(res: AuditResult) -> str:
    if res.status != "ok":
        return res.status
    verdicts = {m.verdict for m in res.metrics} or {"info"}
    return min(verdicts, key=lambda v: VERDICTS.index(v) if v in VERDICTS else 99)


def _anchor(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name))


def _costline(cost: Any) -> str:
    share = cost.model_seconds / cost.total_seconds if cost.total_seconds > 0 else 0.0
    return (f"{cost.requests} requests, {cost.unique} unique, {cost.cache_hits} from cache, "
            f"{cost.model_calls} model calls; {cost.total_seconds:.2f} s "
            f"({cost.model_seconds:.2f} s in the model, {share:.0%})")


def _evidence_columns(evidence: list) -> list[str]:
    cols: list[str] = []
    for ex in evidence[:MAX_EVIDENCE]:
        keys = ex.keys() if isinstance(ex, dict) else ["example"]
        for k in keys:
            if k not in cols:
                cols.append(k)
    return cols


def _sortkey(v: Any) -> str:
    """``data-key`` text for a numeric cell ("" sorts last)."""
    if v is None or isinstance(v, bool):
        return ""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(x) else repr(x)


def _scorecard(report: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for order, res in enumerate(report.results):
        if res.status != "ok" and not res.metrics:
            rows.append({"verdict": res.status, "auditor": res.auditor, "metric": None,
                         "reason": res.reason, "anchor": _anchor(res.auditor),
                         "order": order, "p": 1.0})
        for m in res.metrics:
            rows.append({"verdict": m.verdict, "auditor": res.auditor, "metric": m.name,
                         "scope": m.scope, "value": m.value, "ci_low": m.ci_low,
                         "ci_high": m.ci_high, "threshold_text": _threshold_text(m),
                         "p_adjusted": m.p_adjusted, "anchor": _anchor(res.auditor),
                         "order": order,
                         "p": m.p_adjusted if m.p_adjusted is not None else 1.0})
    rank = {v: n for n, v in enumerate(VERDICTS)}
    rows.sort(key=lambda r: (rank.get(r["verdict"], 99), r["p"], r["order"]))
    for n, r in enumerate(rows):
        r["severity"] = rank.get(r["verdict"], 99) * 100000 + n
    return rows


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pval=_pval, threshold_text=_threshold_text, worst=_worst,
                       anchor=_anchor, costline=_costline, svg=sanitize_svg,
                       figure=drawn_figure,
                       evidence_columns=_evidence_columns, sortkey=_sortkey,
                       head=lambda df, n: df.head(n))
    return env


@lru_cache(maxsize=1)
def _script() -> tuple[str, str]:
    """The one inline script (the table sorter) and its CSP source (``'sha256-...'``)."""
    text = (TEMPLATES / "sort.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"'sha256-{digest}'"


def content_security_policy() -> str:
    """The policy every page carries: nothing from the network, only the sorter script."""
    return ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src {_script()[1]}; base-uri 'none'; form-action 'none'")


def _page_parts() -> dict[str, Any]:
    return {"css": (TEMPLATES / "style.css").read_text(encoding="utf-8"),
            "script": Markup(_script()[0]), "csp": content_security_policy()}


class _Meta(dict):
    """Metadata dict whose missing keys read as None in templates (old or partial JSON)."""

    def __getattr__(self, name: str) -> Any:
        v = self.get(name)
        return _Meta(v) if isinstance(v, dict) else v


def render_html(report: Any) -> str:
    """The HTML text of ``report`` (an :class:`~recaudit.AuditReport`)."""
    meta = _Meta(report.metadata or {})
    ds = meta.get("dataset") or {}
    dataset_line = ", ".join(
        f"{k.replace('n_', '').replace('_', ' ')} {ds[k]}"
        for k in ("n_users", "n_items", "n_train", "n_test") if k in ds)
    dataset_line = f"{ds.get('name', '')} ({dataset_line})" if dataset_line else str(
        ds.get("name", ""))
    c = meta.get("cost") or {}
    cost_line = ""
    if c:
        cost_line = (f"{c.get('requests', 0)} requests, {c.get('unique', 0)} unique, "
                     f"{c.get('cache_hits', 0)} from cache, {c.get('model_calls', 0)} model "
                     f"calls; {meta.get('wall_seconds', 0.0):.1f} s wall, "
                     f"{c.get('model_seconds', 0.0):.1f} s in the model "
                     f"({c.get('model_share', 0.0):.0%})")
    wall = meta.get("wall_seconds")
    time_line = " – ".join(str(t) for t in (meta.get("started"), meta.get("ended")) if t)
    if wall is not None:
        time_line += f" ({float(wall):.1f} s)"
    spec_text = ""
    if meta.get("spec"):
        import yaml

        spec_text = yaml.safe_dump(dict(meta["spec"]), sort_keys=False, allow_unicode=True)
    template = _environment().get_template("report.html")
    return template.render(report=report, meta=meta, counts=report.counts(),
                           scorecard=_scorecard(report), dataset_line=dataset_line,
                           cost_line=cost_line, time_line=time_line, spec_text=spec_text,
                           max_rows=MAX_TABLE_ROWS, max_evidence=MAX_EVIDENCE, **_page_parts())


def render_diff_html(diff: Any) -> str:
    """The HTML text of a :class:`~recaudit.report.ReportDiff`."""
    counts = diff.counts()  # every change kind, in the diff's order (regressions first)
    rank = {c: n for n, c in enumerate(counts)}
    template = _environment().get_template("diff.html")
    return template.render(diff=diff, counts=counts, rank=rank, **_page_parts())
