"""Drawers for the robustness auditors' figures."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import drawer, figure_to_svg, new_figure, plt


@drawer("stability_by_perturbation")
def stability_by_perturbation(data: dict[str, Any]) -> str:
    """RBO and NDCG@k drop per prompt perturbation (95% CI) with each one's threshold."""
    t, k = data["by_perturbation"], data["k"]
    names = t["perturbation"]
    fig, (ax1, ax2) = plt.subplots(1, 2, sharey=True, layout="constrained",
                                   figsize=(7.0, 0.32 * len(names) + 1.4))
    y = np.arange(len(names))
    for ax, col, label in ((ax1, "rbo", "RBO (1 = unchanged)"),
                           (ax2, "ndcg_drop", f"NDCG@{k} drop (0 = none)")):
        v = np.asarray(t[col], dtype=float)
        lo = np.clip(v - np.asarray(t[f"{col}_ci_low"], dtype=float), 0, None)
        hi = np.clip(np.asarray(t[f"{col}_ci_high"], dtype=float) - v, 0, None)
        ax.barh(y, v, xerr=[lo, hi], color="#4c72b0", alpha=0.85, capsize=2)
        for n, thr in enumerate(data["thresholds"][col]):
            if thr is not None:
                ax.plot([thr, thr], [n - 0.4, n + 0.4], color="#c44e52", lw=1.5)
        ax.set_xlabel(label)
        ax.axvline(1.0 if col == "rbo" else 0.0, color="grey", lw=0.5)
    ax1.set_yticks(y, names)
    ax1.invert_yaxis()
    ax1.set_xlim(0, 1.05)
    fig.suptitle("Stability under prompt perturbations (95% CI; red: threshold)")
    return figure_to_svg(fig)


@drawer("exposure_by_target")
def exposure_by_target(data: dict[str, Any]) -> str:
    """Top-k exposure of each attacked item under its original and adversarial title."""
    t = data["by_target"]
    fig, ax = new_figure(5.5, 0.35 * len(t["item_id"]) + 1.4)
    y = np.arange(len(t["item_id"]))
    ax.barh(y - 0.2, np.asarray(t["exposure_before"], dtype=float), height=0.4,
            color="#8c8c8c", label="original title")
    ax.barh(y + 0.2, np.asarray(t["exposure_after"], dtype=float), height=0.4,
            color="#c44e52", label="adversarial title")
    ax.set_yticks(y, [f"{i} ({e} edits)" for i, e in zip(t["item_id"], t["edits"])])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(f"exposure: share of users with the item in their top-{data['k']}")
    ax.set_title(f"Title attack (success = gain > {data['success_margin']})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)
    return figure_to_svg(fig)
