"""Render a :class:`~recaudit.compare.ComparisonResult` to one self-contained HTML file.

Re-uses the audit report's head (stylesheet, Content-Security-Policy) and number/SVG helpers;
no script is included and nothing is loaded from the network. Every model and data string is
escaped by Jinja2.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._html import _environment, _Meta, _num, _page_parts
from .figures import figure_to_svg, new_figure


def _label(key: tuple[str, str, str]) -> str:
    auditor, metric, scope = key
    return f"{auditor}.{metric}" + ("" if scope == "all" else f" [{scope}]")


def _isnan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def comparison_figures(result: Any, max_plots: int = 12) -> dict[str, str]:
    """Utility vs each trust metric (scatter, error bars = std over seeds) and bars with CIs."""
    agg = result.aggregate().set_index(["model", "auditor", "metric", "scope"])
    util = ("utility", result.utility_metric, "all")
    figs: dict[str, str] = {}
    best = result.best()
    for key in result.trust_metrics()[:max_plots]:
        fig, ax = new_figure(4.6, 3.2)
        hib = result.directions()[key]
        drawn = 0
        for label in result.labels:
            try:
                u, v = agg.loc[(label, *util)], agg.loc[(label, *key)]
            except KeyError:
                continue
            if _isnan(u["mean"]) or _isnan(v["mean"]):
                continue
            star = label in best.get(key, set())
            ax.errorbar(v["mean"], u["mean"], xerr=v["std"], yerr=u["std"],
                        fmt="*" if star else "o", markersize=11 if star else 6, capsize=2)
            ax.annotate(label, (v["mean"], u["mean"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
            drawn += 1
        if not drawn:
            import matplotlib.pyplot as plt

            plt.close(fig)
            continue
        ax.set_xlabel(f"{_label(key)} ({'higher' if hib else 'lower'} is better)")
        ax.set_ylabel(result.utility_metric)
        ax.set_title("utility vs trust; ★ best on the trust metric", fontsize=8)
        figs[f"scatter: {_label(key)}"] = figure_to_svg(fig)
    for key in [util, *result.trust_metrics()][:max_plots + 1]:
        rows = [(label, agg.loc[(label, *key)]) for label in result.labels
                if (label, *key) in agg.index]
        rows = [(label, r) for label, r in rows if not _isnan(r["mean"])]
        if not rows:
            continue
        fig, ax = new_figure(4.6, 0.45 * len(rows) + 1.0)
        y = np.arange(len(rows))
        means = np.array([r["mean"] for _, r in rows], dtype=float)
        lo = np.array([r["ci_low"] if not _isnan(r["ci_low"]) else r["mean"] for _, r in rows],
                      dtype=float)
        hi = np.array([r["ci_high"] if not _isnan(r["ci_high"]) else r["mean"]
                       for _, r in rows], dtype=float)
        ax.barh(y, means, xerr=[np.maximum(0, means - lo), np.maximum(0, hi - means)],
                capsize=3, color="#8ab4f8")
        ax.set_yticks(y, [label for label, _ in rows])
        ax.invert_yaxis()
        thr = rows[0][1]["threshold"]
        if not _isnan(thr):
            ax.axvline(float(thr), color="#b3261e", linestyle="--", linewidth=1)
        ax.set_xlabel(f"{_label(key)}\nmean over seeds, 95% bootstrap CI"
                      + ("; dashed: threshold" if not _isnan(thr) else ""))
        figs[f"bars: {_label(key)}"] = figure_to_svg(fig)
    return figs


def _cell(result: Any, agg: Any, label: str, key: tuple[str, str, str],
          best: dict) -> dict[str, Any]:
    try:
        r = agg.loc[(label, *key)]
    except KeyError:
        return {"text": "not run", "cls": "skipped", "title": ""}
    if r["status"] in ("skipped", "error") or _isnan(r["mean"]):
        return {"text": r["status"] if r["status"] != "ok" else "skipped", "cls": "skipped",
                "title": "no value for this model (missing capability or not produced)"}
    text = str(_num(float(r["mean"])))
    if r["std"] > 1e-9 * max(1.0, abs(float(r["mean"]))) and len(result.seeds) > 1:
        text += f" ± {_num(float(r['std']))}"
    cls = "best" if label in best.get(key, set()) else ""
    if r["fails"]:
        cls += " fail"
    return {"text": text, "cls": cls.strip(),
            "title": f"CI {_num(r['ci_low'])} to {_num(r['ci_high'])}; "
                     f"{int(r['fails'])} failed seed(s)"}


def render_comparison(result: Any) -> str:
    """The HTML text of a comparison result."""
    agg = result.aggregate()
    agg_idx = agg.set_index(["model", "auditor", "metric", "scope"])
    best = result.best()
    util_keys = [k for k in result.metric_keys() if k[0] == "utility"]
    trust_keys = result.trust_metrics()
    columns = [*util_keys, *trust_keys]
    dirs = result.directions()
    grid = [{"label": label,
             "fails": int(((result.table["model"] == label)
                           & (result.table["verdict"] == "fail")).sum()),
             "skipped": int(((result.table["model"] == label)
                             & (result.table["verdict"] == "skipped")).sum()),
             "cells": [_cell(result, agg_idx, label, k, best) for k in columns]}
            for label in result.labels]
    pair = result.pairwise()
    shown = pd.Series([(a, m, sc) in set(columns) for a, m, sc in
                       zip(pair["auditor"], pair["metric"], pair["scope"])], index=pair.index,
                      dtype=bool)
    significant = pair[pair["significant"] & shown]
    others = [k for k in result.metric_keys() if k not in columns]
    info_rows = [{"key": _label(k),
                  "cells": [_cell(result, agg_idx, label, k, best) for label in result.labels]}
                 for k in others]
    meta = _Meta(result.metadata or {})
    ds = _Meta(meta.get("dataset") or {})
    template = _environment().get_template("comparison.html")
    return template.render(
        result=result, meta=meta, dataset=ds,
        title=meta.get("title") or "Paradigm comparison",
        columns=[{"name": _label(k), "dir": "higher" if dirs.get(k) else "lower"}
                 for k in columns],
        model_rows=[(k, _Meta(v)) for k, v in (meta.get("models") or {}).items()],
        grid=grid, info_rows=info_rows, figures=result.figures(),
        significant=significant.to_dict("records"), pairwise=pair.to_dict("records"),
        n_tests=int(pair["p_holm"].notna().sum()), n_models=len(result.labels),
        n_significant=int(pair["significant"].sum()), **_page_parts())
