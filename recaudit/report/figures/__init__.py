"""Drawing: figure data (:class:`~recaudit.results.Figure`) to inline SVG text.

Auditors return figure *data*; this package draws it, for a live report and for one read
back from JSON alike. Each figure ``kind`` names a drawer, a function ``data -> SVG text``
registered with :func:`drawer`; the built-in drawers live beside this module, one module per
auditor family, imported on the first :func:`draw`. A plug-in auditor can register its own
kind, or hand the report finished SVG text, which :func:`draw` passes through.

>>> from recaudit.results import Figure
>>> draw(Figure("bars", {"labels": ["a", "b"], "values": [1, 2]})).startswith("<svg")
True
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ...registry import Registry  # noqa: E402
from ...results import Figure  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "figure.dpi": 100, "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False,
                     "svg.hashsalt": "recaudit"})

#: Figure kinds -> drawers (``data -> SVG text``).
DRAWERS: Registry[Callable[[dict[str, Any]], str]] = Registry("figure kind")

#: The modules holding the built-in drawers, imported on the first draw.
_BUILT_IN = ("bias", "fairness", "privacy", "robustness", "explanation")


def drawer(kind: str) -> Callable:
    """Register ``fn(data) -> SVG text`` as the drawer of figure ``kind``."""
    return DRAWERS.register(kind)


def draw(figure: Figure | str) -> str:
    """SVG text for ``figure``: drawn from its data, or passed through when already SVG."""
    if isinstance(figure, str):
        return figure
    if not isinstance(figure, Figure):
        raise TypeError(f"a figure is a recaudit Figure or SVG text, got "
                        f"{type(figure).__name__}")
    _load_built_in()
    return DRAWERS.get(figure.kind)(figure.data)


def _load_built_in() -> None:
    for module in _BUILT_IN:
        importlib.import_module(f"{__name__}.{module}")


def new_figure(width: float = 5.0, height: float = 3.2):
    """A (fig, ax) pair in the house style."""
    return plt.subplots(figsize=(width, height), layout="constrained")


def figure_to_svg(fig) -> str:
    """Render ``fig`` to an SVG string (XML header stripped) and close it."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


# ------------------------------------------------------------------ generic drawers
@drawer("bars")
def bars(data: dict[str, Any]) -> str:
    """``labels``, ``values``; optional ``ci_low``/``ci_high``, ``threshold``, ``ylabel``,
    ``title``: bars with their confidence intervals and the threshold line."""
    import numpy as np

    labels = [str(x) for x in data["labels"]]
    v = np.asarray(data["values"], dtype=float)
    fig, ax = new_figure(max(3.5, 1.1 * len(labels) + 1.5), 3.0)
    yerr = None
    if data.get("ci_low") is not None and data.get("ci_high") is not None:
        lo = v - np.asarray(data["ci_low"], dtype=float)
        hi = np.asarray(data["ci_high"], dtype=float) - v
        yerr = np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])
    ax.bar(range(len(labels)), v, yerr=yerr, capsize=4, color="#4c72b0")
    if data.get("threshold") is not None:
        ax.axhline(data["threshold"], color="crimson", linestyle="--", label="threshold")
        ax.legend(fontsize=7)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.set_ylabel(data.get("ylabel", ""))
    if data.get("title"):
        ax.set_title(data["title"])
    return figure_to_svg(fig)
