"""Drawers for the bias auditors' figures."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import drawer, figure_to_svg, new_figure


@drawer("popularity_by_rank")
def popularity_by_rank(data: dict[str, Any]) -> str:
    """Mean popularity of the item at each output rank (95% CI) against the users' history
    and the catalog means."""
    t = data["by_rank"]
    fig, ax = new_figure()
    ax.plot(t["rank"], t["mean_popularity"], marker="o", label="recommended item")
    ax.fill_between(t["rank"], np.asarray(t["ci_low"], dtype=float),
                    np.asarray(t["ci_high"], dtype=float), alpha=0.25)
    ax.axhline(data["history_mean"], color="tab:orange", ls="--", label="users' history (mean)")
    ax.axhline(data["catalog_mean"], color="grey", ls=":", label="catalog (mean)")
    ax.set_xlabel("output rank")
    ax.set_ylabel("item popularity (distinct train users)")
    ax.set_title("Popularity of recommended items by rank (95% CI)")
    ax.legend(frameon=False)
    return figure_to_svg(fig)


@drawer("popularity_lift_by_group")
def popularity_lift_by_group(data: dict[str, Any]) -> str:
    """Popularity lift per user group with its CI, the calibrated line and the threshold."""
    t = data["by_group"]
    lift = np.asarray(t["popularity_lift"], dtype=float)
    fig, ax = new_figure(5.0, 0.45 * max(3, len(lift)) + 1.0)
    y = np.arange(len(lift))
    if len(lift):
        err = np.vstack([lift - np.asarray(t["ci_low"], dtype=float),
                         np.asarray(t["ci_high"], dtype=float) - lift])
        ax.barh(y, lift, xerr=np.nan_to_num(err), capsize=3, color="tab:blue", alpha=0.8)
        ax.set_yticks(y, t["scope"])
        ax.invert_yaxis()
    ax.axvline(1.0, color="grey", ls=":", label="calibrated (1)")
    thr = data.get("threshold")
    if thr is not None:
        ax.axvline(thr, color="tab:red", ls="--", label=f"threshold ({thr:g})")
    ax.set_xlabel("popularity lift (recommended / history mean popularity)")
    ax.set_title("Popularity lift by user group (95% CI)")
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    return figure_to_svg(fig)


@drawer("ndcg_by_position")
def ndcg_by_position(data: dict[str, Any]) -> str:
    """NDCG@k and HR@1 (95% CI) by the input position of the held-out item."""
    t, k = data["by_position"], data["k"]
    fig, ax = new_figure()
    x = np.asarray(t["position"])
    for col, lo, hi, label, mk in ((f"ndcg@{k}", "ndcg_ci_low", "ndcg_ci_high", f"NDCG@{k}",
                                    "o"),
                                   ("hr@1", "hr_ci_low", "hr_ci_high", "HR@1", "s")):
        y = np.asarray(t[col], dtype=float)
        err = np.vstack([y - np.asarray(t[lo], dtype=float),
                         np.asarray(t[hi], dtype=float) - y])
        ax.errorbar(x, y, yerr=np.clip(np.nan_to_num(err), 0, None), marker=mk,
                    capsize=3, label=label)
    ax.set_xticks(x)
    ax.set_xlabel("position of the held-out item among the candidates (0 = first)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(bottom=0)
    ax.set_title("Accuracy by candidate position (95% CI)")
    ax.legend(frameon=False)
    return figure_to_svg(fig)


@drawer("top1_input_position")
def top1_input_position(data: dict[str, Any]) -> str:
    """Counts of the top-1 item's input position against the uniform expectation."""
    t = data["by_position"]
    fig, ax = new_figure()
    ax.bar(t["input_position"], t["top1_count"], color="tab:blue", alpha=0.8)
    ax.axhline(data["expected_if_uniform"], color="tab:red", ls="--", label="uniform")
    n = len(t["input_position"])
    ax.set_xticks(range(0, n, 2 if n > 12 else 1))
    ax.set_xlabel("input position of the item ranked first (0 = first)")
    ax.set_ylabel("count (users x shuffles)")
    ax.set_title("Where the top-1 item sat in the candidate list")
    ax.legend(frameon=False)
    return figure_to_svg(fig)
