"""Drawers for the fairness auditors' figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import drawer, figure_to_svg, new_figure


def _frame(rows: dict[str, list], numeric: tuple[str, ...]) -> pd.DataFrame:
    """A table from figure data, its ``numeric`` columns as floats (``None`` back to NaN)."""
    return pd.DataFrame(rows).astype({c: float for c in numeric})


@drawer("similarity_by_value")
def similarity_by_value(data: dict[str, Any]) -> str:
    """Mean similarity of counterfactual to neutral lists per stated value (95% CI), one
    panel per attribute."""
    table = _frame(data["by_value"], ("sim", "ci_low", "ci_high"))
    scopes = list(dict.fromkeys(table["scope"]))
    names = list(data["similarities"])
    n_rows = max(t["value"].nunique() for _, t in table.groupby("scope"))
    fig, axes = new_figure(width=2.6 * len(scopes) + 1, height=0.28 * n_rows + 1.6)
    fig.clf()
    axes = fig.subplots(1, len(scopes), squeeze=False)[0]
    for ax, s in zip(axes, scopes):
        sub = table[table["scope"] == s]
        values = list(dict.fromkeys(sub["value"]))
        y = np.arange(len(values))
        for n, name in enumerate(names):
            t = sub[sub["similarity"] == name].set_index("value").loc[values]
            off = (n - (len(names) - 1) / 2) * 0.22
            err = np.clip([t["sim"] - t["ci_low"], t["ci_high"] - t["sim"]], 0, None)
            ax.errorbar(t["sim"], y + off, xerr=err, fmt="o", ms=3, capsize=2, label=name)
        ax.set_yticks(y, values)
        ax.set_title(s)
        ax.set_xlabel("Sim(a) vs neutral")
        ax.set_xlim(-0.02, 1.02)
    axes[0].legend(loc="lower left", fontsize=7)
    fig.suptitle("Similarity of counterfactual to neutral lists (95% CI)")
    return figure_to_svg(fig)


@drawer("utility_by_group")
def utility_by_group(data: dict[str, Any]) -> str:
    """NDCG@K / HR@K of the neutral lists per real user group (95% CI), one panel per
    attribute."""
    table = _frame(data["by_group"], ("mean", "ci_low", "ci_high"))
    attrs = list(dict.fromkeys(table["attribute"]))
    fig, _ = new_figure(width=2.8 * len(attrs) + 1, height=3.0)
    fig.clf()
    axes = fig.subplots(1, len(attrs), squeeze=False)[0]
    for ax, attr in zip(axes, attrs):
        sub = table[table["attribute"] == attr]
        metrics = list(dict.fromkeys(sub["metric"]))
        groups = list(dict.fromkeys(sub["group"]))
        x = np.arange(len(metrics))
        w = 0.8 / max(1, len(groups))
        for n, g in enumerate(groups):
            t = sub[sub["group"] == g].set_index("metric").loc[metrics]
            ax.bar(x + (n - (len(groups) - 1) / 2) * w, t["mean"], w,
                   yerr=np.clip([t["mean"] - t["ci_low"], t["ci_high"] - t["mean"]], 0, None),
                   capsize=2,
                   label=f"{g} (n={int(t['n_users'].iloc[0])})")
        ax.set_xticks(x, metrics)
        ax.set_title(f"by real {attr}")
        ax.legend(fontsize=7)
    fig.suptitle("Utility of neutral lists by user group (95% CI)")
    return figure_to_svg(fig)


@drawer("exposure_vs_share")
def exposure_vs_share(data: dict[str, Any]) -> str:
    """Each provider group's top-K exposure share (95% CI) beside its catalog and relevant
    shares."""
    table = _frame(data["by_group"], ("catalog_share", "relevant_share", "exposure_share",
                                      "exposure_ci_low", "exposure_ci_high"))
    k = data["k"]
    fig, ax = new_figure(width=max(4.5, 1.3 * len(table) + 2), height=3.0)
    x = np.arange(len(table))
    w = 0.27
    ax.bar(x - w, table["catalog_share"], w, label="catalog share", color="#bbbbbb")
    ax.bar(x, table["relevant_share"], w, label="relevant share", color="#8fb3d9")
    ax.bar(x + w, table["exposure_share"], w, label=f"exposure share (top-{k})",
           color="#d9822b",
           yerr=np.clip([table["exposure_share"] - table["exposure_ci_low"],
                         table["exposure_ci_high"] - table["exposure_share"]], 0, None),
           capsize=2)
    ax.set_xticks(x, table["group"])
    ax.set_ylabel("share")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("Exposure share vs catalog and relevant share (95% CI)", fontsize=8)
    return figure_to_svg(fig)
