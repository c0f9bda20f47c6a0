"""Reports: the :class:`AuditReport` (versioned JSON), HTML (Jinja2 templates, inline SVG
figures), JUnit XML and a Markdown scorecard for CI, and :class:`ReportDiff` (two runs side
by side).

Names are imported on first use, so ``import recaudit`` does not pull in matplotlib.
"""

from .._lazy import lazy_attributes

_LAZY = {
    "AuditReport": "._report",
    "render_html": "._html",
    "sanitize_svg": "._html",
    "content_security_policy": "._html",
    "render_junit": "._junit",
    "render_markdown": "._markdown",
    "ReportDiff": "._diff",
    "CheckChange": "._diff",
    "migrate": "._report",
    "SCHEMA_VERSION": "._report",
    "SUMMARY_COLUMNS": "._report",
    "render_comparison": "._comparison",
    "comparison_figures": "._comparison",
    "render_ablation": "._ablation",
    "ablation_figures": "._ablation",
    "DRAWERS": ".figures",
    "draw": ".figures",
    "drawer": ".figures",
    "figure_to_svg": ".figures",
    "new_figure": ".figures",
}

__all__ = list(_LAZY)

__getattr__ = lazy_attributes(__name__, _LAZY)
