"""Reports: the :class:`AuditReport` (versioned JSON), HTML (Jinja2 templates, inline SVG
figures) and :class:`ReportDiff` (two runs side by side).

Names are imported on first use, so ``import recaudit`` does not pull in matplotlib.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "AuditReport": "._report",
    "render_html": "._html",
    "sanitize_svg": "._html",
    "content_security_policy": "._html",
    "ReportDiff": "._diff",
    "CheckChange": "._diff",
    "migrate": "._report",
    "figure_to_svg": ".figures",
    "new_figure": ".figures",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'recaudit.report' has no attribute {name!r}")
