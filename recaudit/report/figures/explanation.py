"""Drawers for the explanation auditors' figures."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import drawer, figure_to_svg, new_figure


def _short(label: str, n: int = 22) -> str:
    return label if len(label) <= n else label[:n - 1] + "…"


@drawer("attribution_heat_strip")
def attribution_heat_strip(data: dict[str, Any]) -> str:
    """``labels`` (the prompt parts), ``attributions`` (``{method: one value per part}``),
    optional ``title``: one row per method, one cell per part, coloured by its attribution.

    Each row is scaled by its largest absolute value so methods on different scales share
    one colour map (red pushes the recommendation up, blue pushes it down).
    """
    labels = [str(x) for x in data["labels"]]
    attributions = data["attributions"]
    methods = list(attributions)
    mat = np.array([np.asarray(attributions[m], dtype=float) for m in methods])
    scale = np.abs(mat).max(axis=1, keepdims=True)
    norm = mat / np.where(scale > 0, scale, 1.0)
    fig, ax = new_figure(max(4.0, 0.55 * len(labels) + 2.0), 0.5 * len(methods) + 1.9)
    im = ax.imshow(norm, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(labels)), [_short(x) for x in labels], rotation=60, ha="right")
    ax.set_yticks(range(len(methods)), methods)
    for r in range(mat.shape[0]):
        for c in range(mat.shape[1]):
            ax.text(c, r, f"{mat[r, c]:.2g}", ha="center", va="center", fontsize=6,
                    color="white" if abs(norm[r, c]) > 0.6 else "black")
    ax.set_title(data.get("title") or "attribution per prompt part (oldest history item first)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="scaled attribution")
    return figure_to_svg(fig)


@drawer("deletion_insertion_curves")
def deletion_insertion_curves(data: dict[str, Any]) -> str:
    """``curves`` (``{method: {"deletion": [...], "insertion": [...]}}``, each sampled
    evenly on the fraction of parts removed / kept, x in [0, 1]), optional ``ylabel``: mean
    deletion (left) and insertion (right) curves per method, ``random`` dashed grey."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.2), layout="constrained", sharey=True)
    for method, curve in data["curves"].items():
        style = {"linestyle": "--", "color": "grey"} if method == "random" else {}
        for ax, c in zip(axes, (curve["deletion"], curve["insertion"])):
            c = np.asarray(c, dtype=float)
            ax.plot(np.linspace(0, 1, len(c)), c, marker=".", label=method, **style)
    axes[0].set_title("deletion (lower area = more faithful)")
    axes[0].set_xlabel("fraction of parts removed, most important first")
    axes[1].set_title("insertion (higher area = more faithful)")
    axes[1].set_xlabel("fraction of parts kept, most important first")
    axes[0].set_ylabel(data.get("ylabel", "p(recommended item)"))
    axes[1].legend(fontsize=7)
    return figure_to_svg(fig)
