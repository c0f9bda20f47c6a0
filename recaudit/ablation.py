"""``ra.ablate``: every mitigation (and listed combination) x seeds x auditors, one table.

Each arm is the model wrapped by its mitigations, audited through the same engine cache, so
repeated work (the unmitigated baseline, identical requests across arms that share a
fingerprint) is free. Utility (NDCG@K and HR@K of held-out items over the whole catalog) is
measured next to every trust metric so the trade-off can be read off one table and plotted.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .mitigations import Mitigation, get, stack
from .study import StudyResult, TableOutputs, study, utility  # noqa: F401  (utility: public)
from .study import measure_utility as utility_per_user  # noqa: F401  (public name)

TABLE_COLUMNS = ["mitigation", "seed", "auditor", "metric", "scope", "value", "ci_low",
                 "ci_high", "higher_is_better", "threshold", "verdict"]


def _as_mitigations(value: Any) -> list[Mitigation] | None:
    """None, a Mitigation, a name, a {name:, **params} dict, or a list of those."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for m in items:
        if isinstance(m, Mitigation):
            out.append(m)
        elif isinstance(m, str):
            out.append(get(m))
        elif isinstance(m, Mapping):
            params = dict(m)
            name = params.pop("name", None)
            if name is None:
                raise ValueError(f"a mitigation given as a dict needs a 'name' key: {m!r}")
            out.append(get(name, **params))
        else:
            raise TypeError(f"not a mitigation: {m!r}")
    return out


def _reseeded(mitigations: list[Mitigation] | None, seed: int) -> list[Mitigation] | None:
    """Copies whose training / shuffling seed follows the ablation seed."""
    if mitigations is None:
        return None
    out = []
    for m in mitigations:
        params = m.get_params()
        out.append(type(m)(**{**params, "seed": seed}) if "seed" in params else m)
    return out


@dataclass
class AblationResult(TableOutputs):
    """The tidy table of an ablation and what can be derived from it.

    A view of the :class:`~recaudit.study.StudyResult` it came from (``study``): the measured
    rows only; the skipped ones are in ``study.skipped()``.
    """

    table: pd.DataFrame
    labels: list[str]
    seeds: list[int]
    utility_metric: str = "ndcg_at_10"
    reports: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)
    study: StudyResult | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_study(cls, result: StudyResult) -> AblationResult:
        """The measured rows, ``arm`` as ``mitigation``, in run order."""
        rows = result.measured().rename(columns={"arm": "mitigation"})[TABLE_COLUMNS]
        table = pd.DataFrame(rows.to_dict("records"), columns=TABLE_COLUMNS)
        return cls(table=table, labels=list(result.labels), seeds=list(result.seeds),
                   utility_metric=result.utility_metric, reports=result.reports, study=result)

    def aggregate(self) -> pd.DataFrame:
        """Mean, standard deviation and count across seeds per (mitigation, metric, scope)."""
        keys = ["mitigation", "auditor", "metric", "scope"]
        agg = (self.table.groupby(keys, sort=False, dropna=False)["value"]
               .agg(mean="mean", std="std", n_seeds="count").reset_index())
        agg["std"] = agg["std"].fillna(0.0)
        return agg

    def pivot(self) -> pd.DataFrame:
        """Mitigations as rows, "auditor.metric[scope]" as columns, mean across seeds."""
        agg = self.aggregate()
        agg["column"] = agg["auditor"] + "." + agg["metric"] + "[" + agg["scope"] + "]"
        wide = agg.pivot(index="mitigation", columns="column", values="mean")
        return wide.reindex(self.labels)

    def trust_metrics(self) -> list[tuple[str, str, str, bool]]:
        """(auditor, metric, scope, higher_is_better) of every thresholded trust metric."""
        t = self.table[(self.table["auditor"] != "utility")
                       & self.table["higher_is_better"].notna()
                       & self.table["threshold"].notna()]
        seen = t[["auditor", "metric", "scope", "higher_is_better"]].drop_duplicates()
        return [tuple(r) for r in seen.itertuples(index=False)]  # type: ignore[misc]

    def pareto(self, auditor: str, metric: str, scope: str, higher_is_better: bool) -> set[str]:
        """Labels not dominated in (utility up, trust metric in its good direction)."""
        agg = self.aggregate().set_index(["mitigation", "auditor", "metric", "scope"])["mean"]
        pts = {}
        for label in self.labels:
            try:
                u = agg[(label, "utility", self.utility_metric, "all")]
                v = agg[(label, auditor, metric, scope)]
            except KeyError:
                continue
            if not (math.isnan(u) or math.isnan(v)):
                pts[label] = (u, v if higher_is_better else -v)
        front = set()
        for a, (ua, va) in pts.items():
            dominated = any(ub >= ua and vb >= va and (ub > ua or vb > va)
                            for b, (ub, vb) in pts.items() if b != a)
            if not dominated:
                front.add(a)
        return front

    def figures(self, max_plots: int = 12) -> dict[str, str]:
        """Trade-off plots: utility against each trust metric, Pareto set marked (SVG)."""
        from .report.figures import figure_to_svg, new_figure

        agg = self.aggregate().set_index(["mitigation", "auditor", "metric", "scope"])
        figs = {}
        for auditor, metric, scope, hib in self.trust_metrics()[:max_plots]:
            front = self.pareto(auditor, metric, scope, hib)
            fig, ax = new_figure(4.6, 3.2)
            for label in self.labels:
                try:
                    u = agg.loc[(label, "utility", self.utility_metric, "all")]
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
            ax.set_ylabel(self.utility_metric)
            ax.set_title("★ = non-dominated", fontsize=8)
            figs[f"{auditor}.{metric}[{scope}]"] = figure_to_svg(fig)
        return figs

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML ablation report (tables, inline SVG trade-off plots)."""
        agg = self.aggregate()
        agg["mean ± std"] = [f"{m:.4g} ± {s:.2g}" for m, s in zip(agg["mean"], agg["std"])]
        wide = agg.pivot_table(index=["auditor", "metric", "scope"], columns="mitigation",
                               values="mean ± std", aggfunc="first")
        wide = wide[[c for c in self.labels if c in wide.columns]]
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            "<title>recaudit ablation</title><style>",
            "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}",
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;",
            "padding:3px 6px;text-align:right}th{background:#f3f3f3}",
            ".figs{display:flex;flex-wrap:wrap;gap:12px}.figs div{border:1px solid #eee}",
            "</style></head><body>",
            "<h1>Mitigation ablation</h1>",
            f"<p>Arms: {html.escape(', '.join(self.labels))}. Seeds: "
            f"{html.escape(', '.join(map(str, self.seeds)))}. Utility: "
            f"{html.escape(self.utility_metric)} of held-out items over the whole catalog. "
            "Each cell is the mean ± standard deviation across seeds.</p>",
            "<h2>Trade-offs</h2><div class='figs'>",
            *[f"<div><p>{html.escape(name)}</p>{svg}</div>"
              for name, svg in self.figures().items()],
            "</div><h2>All metrics</h2>",
            wide.to_html(escape=True),
            "<h2>Tidy table</h2>",
            self.table.to_html(index=False, escape=True, float_format=lambda x: f"{x:.4g}"),
            "</body></html>",
        ]
        return self._write("\n".join(parts), path)


def ablate(model: Any, data: Any, mitigations: Mapping[str, Any], auditors: Sequence[Any], *,
           seeds: Sequence[int] = (0, 1, 2), config: Mapping[str, Any] | None = None,
           utility_k: int = 10, utility_users: int | None = 200, cache: Any = True,
           progress: bool = True, executor: Any = None) -> AblationResult:
    """Run every arm of ``mitigations`` for every seed through the same audit.

    Parameters
    ----------
    model : Recommender
        The model under test.
    data : AuditDataset
    mitigations : mapping of label to None, a Mitigation, a registry name, a
        ``{"name": ..., **params}`` dict, or a list of those (stacked, first innermost).
        Include ``{"none": None}`` for the unmitigated baseline.
    auditors : list
        As for :func:`recaudit.audit`.
    seeds : sequence of int
        Audit seeds (and the training / shuffling seed of mitigations that take one).
    config : dict, optional
        Run settings (``n_bootstrap`` also sets the utility resamples, ``batch_size``) and
        per-auditor overrides, as for :func:`recaudit.audit`.
    executor : Executor, str or mapping, optional
        Where cache misses are answered, as for :func:`recaudit.audit`.

    Examples
    --------
    >>> import recaudit as ra                                               # doctest: +SKIP
    >>> res = ra.ablate(model, data, {"none": None,
    ...                               "cf": ra.mitigations.CounterfactualPrompting()},
    ...                 auditors=["consumer_fairness"], seeds=[0, 1])        # doctest: +SKIP
    >>> res.aggregate()                                                     # doctest: +SKIP
    """
    if not mitigations:
        raise ValueError("ablate needs at least one arm in mitigations={label: ...}")
    arms = {str(label): _as_mitigations(m) for label, m in mitigations.items()}
    result = study(arms, data, auditors, seeds,
                   build=lambda arm, seed: stack(model, _reseeded(arm, seed), data),
                   config=config, utility_k=utility_k, utility_users=utility_users,
                   cache=cache, progress=progress, executor=executor)
    return AblationResult.from_study(result)
