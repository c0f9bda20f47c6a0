"""Drawers for the privacy auditors' figures."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import drawer, figure_to_svg, new_figure


def _floats(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


@drawer("auc_by_attribute")
def auc_by_attribute(data: dict[str, Any]) -> str:
    """Attribute-inference ROC-AUC per attribute (95% CI) against the own-history baseline,
    beside the ROC curves of the binary attributes."""
    t = data["by_attribute"]
    auc, lo, hi = _floats(t["auc"]), _floats(t["ci_low"]), _floats(t["ci_high"])
    curves = data["curves"]
    fig, axes = new_figure(7.0, 3.0)
    fig.clf()
    ax1, ax2 = fig.subplots(1, 2)
    x = np.arange(len(auc))
    err = np.vstack([auc - lo, hi - auc])
    ax1.bar(x, auc, yerr=err, capsize=3, label="model outputs")
    ax1.scatter(x, _floats(t["history_auc"]), color="black", marker="x", zorder=3,
                label="own history")
    ax1.axhline(0.5, ls="--", color="grey", lw=0.8)
    ax1.set_xticks(x, t["attribute"])
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("ROC-AUC (out-of-fold)")
    ax1.set_title("Attribute inference")
    ax1.legend(fontsize=7)
    for attr, c in curves.items():
        ax2.plot(_floats(c["fpr"]), _floats(c["tpr"]), label=attr)
    ax2.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax2.set_xlabel("false positive rate")
    ax2.set_ylabel("true positive rate")
    ax2.set_title("ROC (binary attributes)")
    if curves:
        ax2.legend(fontsize=7)
    return figure_to_svg(fig)


@drawer("roc_loglog")
def roc_loglog(data: dict[str, Any]) -> str:
    """Membership-inference ROC curve of each attack on log-log axes (zeros drawn at half the
    smallest non-zero FPR)."""
    curves = data["curves"]
    fig, ax = new_figure(5.0, 4.0)
    floor = min(1.0 / max(c["n_non_members"], 1) / 2 for c in curves.values())
    for scope, c in curves.items():
        value = math.nan if c["auc"] is None else c["auc"]
        ax.plot(np.maximum(_floats(c["fpr"]), floor), np.maximum(_floats(c["tpr"]), floor),
                label=f"{scope} (AUC {value:.2f})")
    grid = np.logspace(np.log10(floor), 0, 50)
    ax.plot(grid, grid, ls="--", color="grey", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(floor, 1.05)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Membership inference ROC (log-log)")
    ax.legend(fontsize=7)
    return figure_to_svg(fig)


@drawer("memorization_continuation")
def continuation(data: dict[str, Any]) -> str:
    """Top-1 and top-K exact next-item continuation rates of members and non-members."""
    k = data["k"]
    fig, ax = new_figure(4.5, 3.0)
    x = np.arange(len(data["group"]))
    w = 0.38
    ax.bar(x - w / 2, _floats(data["top1_rate"]), w, label="top-1")
    ax.bar(x + w / 2, _floats(data["topk_rate"]), w, label=f"top-{k}")
    ax.set_xticks(x, [g.replace("_", "-") for g in data["group"]])
    ax.set_ylabel("exact next-item continuation rate")
    ax.set_title("Prefix completion: members vs non-members")
    ax.legend(fontsize=7)
    return figure_to_svg(fig)


@drawer("canary_exposure")
def canary_exposure(data: dict[str, Any]) -> str:
    """Histograms of the exposure (bits) of inserted and control canaries."""
    fig, ax = new_figure(4.5, 3.0)
    bins = np.linspace(0, data["max_bits"], 16)
    ax.hist(_floats(data["control"]), bins=bins, alpha=0.6, label="control (never inserted)")
    ax.hist(_floats(data["inserted"]), bins=bins, alpha=0.6, label="inserted")
    ax.set_xlabel("exposure (bits)")
    ax.set_ylabel("canaries")
    ax.set_title("Canary exposure")
    ax.legend(fontsize=7)
    return figure_to_svg(fig)
