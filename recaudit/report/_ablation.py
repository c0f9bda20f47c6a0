"""Render an :class:`~recaudit.ablation.AblationResult` to one self-contained HTML file,
through the same Jinja2 environment, head (stylesheet, Content-Security-Policy) and number
helpers as the audit and comparison reports. No script; every string is escaped."""

from __future__ import annotations

import math
from typing import Any

from ._html import _environment, _num, _page_parts
from .figures import figure_to_svg, new_figure


def ablation_figures(result: Any, max_plots: int = 12) -> dict[str, str]:
    """Utility against each thresholded trust metric (error bars: std over seeds), the
    Pareto set of arms marked with a star (inline SVG)."""
    agg = result.aggregate().set_index(["mitigation", "auditor", "metric", "scope"])
    figs = {}
    for auditor, metric, scope, hib in result.trust_metrics()[:max_plots]:
        front = result.pareto(auditor, metric, scope, hib)
        fig, ax = new_figure(4.6, 3.2)
        for label in result.labels:
            try:
                u = agg.loc[(label, "utility", result.utility_metric, "all")]
                v = agg.loc[(label, auditor, metric, scope)]
            except KeyError:
                continue
            marker = "*" if label in front else "o"
            ax.errorbar(v["mean"], u["mean"], xerr=v["std"], yerr=u["std"], fmt=marker,
                        markersize=11 if label in front else 6, capsize=2)
            ax.annotate(label, (v["mean"], u["mean"]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
        better = "higher is better" if hib else "lower is better"
        ax.set_xlabel(f"{auditor}.{metric} [{scope}] ({better})")
        ax.set_ylabel(result.utility_metric)
        ax.set_title("★ = non-dominated", fontsize=8)
        figs[f"{auditor}.{metric}[{scope}]"] = figure_to_svg(fig)
    return figs


def _cell(mean: float, std: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{_num(float(mean))} ± {_num(float(std))}"


def render_ablation(result: Any) -> str:
    """The HTML text of an ablation result."""
    agg = result.aggregate()
    cells = {(r.mitigation, r.auditor, r.metric, r.scope): (r.mean, r.std)
             for r in agg.itertuples(index=False)}
    fronts = {(a, m, s): result.pareto(a, m, s, hib)
              for a, m, s, hib in result.trust_metrics()}
    keys = list(dict.fromkeys(zip(agg["auditor"], agg["metric"], agg["scope"])))
    rows = []
    for key in keys:
        row_cells = []
        for label in result.labels:
            mean, std = cells.get((label, *key), (float("nan"), 0.0))
            row_cells.append({"text": _cell(mean, std),
                              "cls": "front" if label in fronts.get(key, ()) else ""})
        rows.append({"auditor": key[0], "metric": key[1], "scope": key[2], "cells": row_cells})
    tidy = result.table.to_dict("records")
    return _environment().get_template("ablation.html").render(
        result=result, title="recaudit ablation", rows=rows, figures=result.figures(),
        tidy=tidy, tidy_columns=list(result.table.columns), **_page_parts())
