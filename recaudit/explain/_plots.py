"""Figures for the explanation auditors (matplotlib, returned as inline SVG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..report.figures import figure_to_svg, new_figure


def _short(label: str, n: int = 22) -> str:
    return label if len(label) <= n else label[:n - 1] + "…"


def heat_strip(labels: Sequence[str], attributions: Mapping[str, np.ndarray], *,
               title: str = "") -> str:
    """One row per method, one cell per prompt part, coloured by its attribution.

    Each row is scaled by its largest absolute value so methods on different scales share
    one colour map (red pushes the recommendation up, blue pushes it down).
    """
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
    ax.set_title(title or "attribution per prompt part (oldest history item first)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="scaled attribution")
    return figure_to_svg(fig)


def perturbation_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                        ylabel: str = "p(recommended item)") -> str:
    """Mean deletion (left) and insertion (right) curves per method, random dashed.

    ``curves[method] = (deletion, insertion)``, each sampled on the fraction of parts
    removed / inserted, x in [0, 1].
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.2), layout="constrained", sharey=True)
    for method, (dele, ins) in curves.items():
        style = {"linestyle": "--", "color": "grey"} if method == "random" else {}
        for ax, c in zip(axes, (dele, ins)):
            ax.plot(np.linspace(0, 1, len(c)), c, marker=".", label=method, **style)
    axes[0].set_title("deletion (lower area = more faithful)")
    axes[0].set_xlabel("fraction of parts removed, most important first")
    axes[1].set_title("insertion (higher area = more faithful)")
    axes[1].set_xlabel("fraction of parts kept, most important first")
    axes[0].set_ylabel(ylabel)
    axes[1].legend(fontsize=7)
    return figure_to_svg(fig)


def margin_bars(names: Sequence[str], values: Sequence[float],
                cis: Sequence[tuple[float, float]], *, threshold: float | None,
                ylabel: str) -> str:
    """Bars with bootstrap CIs and the threshold line."""
    fig, ax = new_figure(max(3.5, 1.1 * len(names) + 1.5), 3.0)
    v = np.asarray(values, dtype=float)
    lo = v - np.array([c[0] for c in cis], dtype=float)
    hi = np.array([c[1] for c in cis], dtype=float) - v
    ax.bar(range(len(names)), v, yerr=np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)]),
           capsize=4, color="#4c72b0")
    if threshold is not None:
        ax.axhline(threshold, color="crimson", linestyle="--", label="threshold")
        ax.legend(fontsize=7)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    return figure_to_svg(fig)
