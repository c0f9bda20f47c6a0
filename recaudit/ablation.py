"""``ra.ablate``: every mitigation (and listed combination) x seeds x auditors, one table.

Each arm is the model wrapped by its mitigations, audited through the same engine cache, so
repeated work (the unmitigated baseline, identical requests across arms that share a
fingerprint) is free. Utility (NDCG@K and HR@K of held-out items over the whole catalog) is
measured next to every trust metric so the trade-off can be read off one table and plotted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .mitigations import Mitigation, get, stack
from .study import (  # noqa: F401  (utility: public)
    StudyResult,
    TableOutputs,
    aggregate,
    pareto_front,
    study,
    table_records,
    trust_metric_keys,
    utility,
)
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
        """Mean, std (and CI bounds, verdict counts) across seeds per (mitigation, metric,
        scope): :func:`recaudit.study.aggregate` over this view."""
        return aggregate(self.table, "mitigation")

    def pivot(self) -> pd.DataFrame:
        """Mitigations as rows, "auditor.metric[scope]" as columns, mean across seeds."""
        agg = self.aggregate()
        agg["column"] = agg["auditor"] + "." + agg["metric"] + "[" + agg["scope"] + "]"
        wide = agg.pivot(index="mitigation", columns="column", values="mean")
        return wide.reindex(self.labels)

    def trust_metrics(self) -> list[tuple[str, str, str, bool]]:
        """(auditor, metric, scope, higher_is_better) of every thresholded trust metric."""
        return trust_metric_keys(self.table)

    def pareto(self, auditor: str, metric: str, scope: str, higher_is_better: bool) -> set[str]:
        """Labels not dominated in (utility up, trust metric in its good direction)."""
        return pareto_front(self.aggregate(), self.labels, "mitigation", self.utility_metric,
                            (auditor, metric, scope), higher_is_better)

    def figures(self, max_plots: int = 12) -> dict[str, str]:
        """Trade-off plots: utility against each trust metric, Pareto set marked (SVG)."""
        from .report import ablation_figures

        return ablation_figures(self, max_plots=max_plots)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "recaudit.ablation", "version": 1, "labels": self.labels,
                "seeds": self.seeds, "utility_metric": self.utility_metric,
                "table": table_records(self.table)}

    def to_json(self, path: str | Path | None = None) -> str:
        """The ablation as JSON (written to ``path`` when given); :meth:`from_json` reads it."""
        return self._write(json.dumps(self.to_dict(), indent=1, default=str), path)

    @classmethod
    def from_json(cls, source: str | Path) -> AblationResult:
        """Read what :meth:`to_json` wrote (a path or the JSON text)."""
        d = cls._read(source)
        if d.get("kind") != "recaudit.ablation":
            raise ValueError(f"not an ablation result (kind {d.get('kind')!r}): {str(source)[:80]}")
        return cls(table=pd.DataFrame(d["table"], columns=TABLE_COLUMNS), labels=d["labels"],
                   seeds=[int(x) for x in d["seeds"]], utility_metric=d["utility_metric"])

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML ablation report (tables, inline SVG trade-off plots), from
        the same templates as the audit and comparison reports."""
        from .report import render_ablation

        return self._write(render_ablation(self), path)


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
