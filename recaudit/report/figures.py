"""Matplotlib figures rendered to inline SVG text (no files, no network)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "figure.dpi": 100, "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False})


def new_figure(width: float = 5.0, height: float = 3.2):
    """A (fig, ax) pair in the house style."""
    return plt.subplots(figsize=(width, height), layout="constrained")


def figure_to_svg(fig) -> str:
    """Render ``fig`` to an SVG string (XML header stripped) and close it."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
