"""``ra.compare``: several models (paradigms) through the same audit, one tidy table.

Every model x seed goes through :func:`recaudit.audit` with the same auditors and settings,
and its utility (NDCG@K and HR@K of held-out items over the whole catalog, from
:func:`recaudit.study.measure_utility`) is measured on the same users. Each pair of models
is then tested on each metric: a paired bootstrap over users where per-user values exist
(utility), else the more conservative of Welch's t-test over seeds and a z-test from the
users' bootstrap CIs; p-values are Holm-corrected over the pairs of each metric (the tests:
:mod:`recaudit.metrics.pairwise`). The loop is :func:`recaudit.study.study`'s.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .metrics.pairwise import holm_ignoring_nan, paired_bootstrap, seed_test
from .study import (
    StudyResult,
    TableOutputs,
    aggregate,
    pareto_front,
    study,
    table_records,
    trust_metric_keys,
)

TABLE_COLUMNS = ["model", "seed", "auditor", "metric", "scope", "value", "ci_low", "ci_high",
                 "higher_is_better", "threshold", "p_value", "verdict", "reason"]
PAIRWISE_COLUMNS = ["auditor", "metric", "scope", "model_a", "model_b", "mean_a", "mean_b",
                    "difference", "ci_low", "ci_high", "test", "n", "p_value", "p_holm",
                    "significant", "better"]
_KEY = ["auditor", "metric", "scope"]


@dataclass
class ComparisonResult(TableOutputs):
    """The tidy table of a comparison and what is derived from it.

    ``table`` has one row per (model, seed, auditor, metric, scope); an auditor a model cannot
    run (a missing capability) or a metric it did not produce has ``verdict="skipped"`` and a
    NaN value, never 0. ``per_user`` holds utility values per (model, seed, metric) by user.
    A view of the :class:`~recaudit.study.StudyResult` it came from (``study``; None when
    read back by :meth:`from_json`).
    """

    table: pd.DataFrame
    labels: list[str]
    seeds: list[int]
    per_user: dict[tuple[str, int, str], dict[str, float]] = field(default_factory=dict,
                                                                   repr=False)
    alpha: float = 0.05
    utility_metric: str = "ndcg_at_10"
    n_resamples: int = 2000
    metadata: dict[str, Any] = field(default_factory=dict)
    reports: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)
    _pairwise: pd.DataFrame | None = field(default=None, repr=False)
    study: StudyResult | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_study(cls, result: StudyResult, *, alpha: float = 0.05,
                   metadata: Mapping[str, Any] | None = None) -> ComparisonResult:
        """Every row, ``arm`` as ``model``, ordered by metric (first seen), model, seed."""
        labels = list(result.labels)
        table = result.table.drop(columns="measured").rename(columns={"arm": "model"})
        order = {k: n for n, k in enumerate(dict.fromkeys(
            zip(table["auditor"], table["metric"], table["scope"])))}
        table["_o"] = [order[k] for k in zip(table["auditor"], table["metric"], table["scope"])]
        table["_m"] = table["model"].map({lab: n for n, lab in enumerate(labels)})
        table = (table.sort_values(["_o", "_m", "seed"], kind="stable")
                 .drop(columns=["_o", "_m"]).reset_index(drop=True))
        return cls(table=table, labels=labels, seeds=list(result.seeds),
                   per_user=result.per_user, alpha=alpha,
                   utility_metric=result.utility_metric, metadata=dict(metadata or {}),
                   reports=result.reports, study=result)

    # -------------------------------------------------------------- views
    @property
    def passed(self) -> bool:
        """No verdict is ``fail`` or ``error`` for any model and seed."""
        return not self.table["verdict"].isin(["fail", "error"]).any()

    def aggregate(self) -> pd.DataFrame:
        """Mean, std, mean CI bounds across seeds and verdict counts per model and metric:
        :func:`recaudit.study.aggregate` over this view."""
        return aggregate(self.table, "model")

    def metric_keys(self) -> list[tuple[str, str, str]]:
        """(auditor, metric, scope) in table order, utility first."""
        keys = self.table[_KEY].drop_duplicates()
        return [tuple(r) for r in keys.itertuples(index=False)]  # type: ignore[misc]

    def directions(self) -> dict[tuple[str, str, str], bool | None]:
        """higher_is_better per metric (None: no preferred direction, no best marked)."""
        out: dict[tuple[str, str, str], bool | None] = {}
        for row in self.table.itertuples(index=False):
            key = (row.auditor, row.metric, row.scope)
            hib = row.higher_is_better
            if out.get(key) is None and hib is not None and not (
                    isinstance(hib, float) and math.isnan(hib)):
                out[key] = bool(hib)
            out.setdefault(key, None)
        return out

    def trust_metrics(self) -> list[tuple[str, str, str]]:
        """Thresholded metrics with a direction (what the utility-and-trust table shows)."""
        return [key[:3] for key in trust_metric_keys(self.table)]

    def pareto(self, auditor: str, metric: str, scope: str, higher_is_better: bool) -> set[str]:
        """Models not dominated in (utility up, trust metric in its good direction)."""
        return pareto_front(self.aggregate(), self.labels, "model", self.utility_metric,
                            (auditor, metric, scope), higher_is_better)

    def best(self) -> dict[tuple[str, str, str], set[str]]:
        """Per metric with a direction: the model(s) with the best mean across seeds."""
        agg = self.aggregate()
        out = {}
        for key, hib in self.directions().items():
            if hib is None:
                continue
            rows = agg[(agg["auditor"] == key[0]) & (agg["metric"] == key[1])
                       & (agg["scope"] == key[2]) & agg["mean"].notna()]
            if rows.empty:
                continue
            target = rows["mean"].max() if hib else rows["mean"].min()
            out[key] = set(rows.loc[np.isclose(rows["mean"], target, rtol=1e-9, atol=1e-12),
                                    "model"])
        return out

    def pairwise(self) -> pd.DataFrame:
        """A test of every pairwise difference per metric (Holm over each metric's pairs)."""
        if self._pairwise is None:
            self._pairwise = self._compute_pairwise()
        return self._pairwise

    def _compute_pairwise(self) -> pd.DataFrame:
        rows = []
        t = self.table[self.table["value"].notna()]
        dirs = self.directions()
        for n_key, key in enumerate(self.metric_keys()):
            sub = t[(t["auditor"] == key[0]) & (t["metric"] == key[1]) & (t["scope"] == key[2])]
            found = []
            for a, b in itertools.combinations(self.labels, 2):
                ra, rb = sub[sub["model"] == a], sub[sub["model"] == b]
                if ra.empty or rb.empty:
                    continue
                mean_a, mean_b = float(ra["value"].mean()), float(rb["value"].mean())
                users = self._paired_users(a, b, key)
                if users is not None:
                    diff = users[:, 0] - users[:, 1]
                    lo, hi, p = paired_bootstrap(diff, n_resamples=self.n_resamples,
                                                 seed=n_key)
                    test, n = "paired_bootstrap_over_users", len(diff)
                else:
                    test, lo, hi, p = seed_test(ra, rb)
                    n = min(len(ra), len(rb))
                found.append({"auditor": key[0], "metric": key[1], "scope": key[2],
                              "model_a": a, "model_b": b, "mean_a": mean_a, "mean_b": mean_b,
                              "difference": mean_a - mean_b, "ci_low": lo, "ci_high": hi,
                              "test": test, "n": n, "p_value": p})
            for r, adj in zip(found, holm_ignoring_nan([r["p_value"] for r in found])):
                r["p_holm"] = float(adj)
            for r in found:
                sig = bool(r["p_holm"] < self.alpha)
                r["significant"] = sig
                hib = dirs.get(key)
                r["better"] = (None if not sig or hib is None or r["difference"] == 0 else
                               r["model_a"] if (r["difference"] > 0) == hib else r["model_b"])
            rows.extend(found)
        return pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)

    def _paired_users(self, a: str, b: str, key: tuple[str, str, str]) -> np.ndarray | None:
        """(users x 2) per-user values, each user's mean over seeds, or None when absent."""
        if key[0] != "utility":
            return None
        means = []
        for label in (a, b):
            vals: dict[str, list[float]] = {}
            for seed in self.seeds:
                for user, v in self.per_user.get((label, seed, key[1]), {}).items():
                    vals.setdefault(user, []).append(v)
            if not vals:
                return None
            means.append({u: float(np.mean(v)) for u, v in vals.items()})
        common = sorted(set(means[0]) & set(means[1]))
        if len(common) < 2:
            return None
        return np.array([[means[0][u], means[1][u]] for u in common])

    def summary_table(self, metrics: Sequence[tuple[str, str, str]] | None = None,
                      mark_best: bool = True) -> pd.DataFrame:
        """Models as rows; utility and trust metrics as columns (mean over seeds, as text).

        A best value per column ends in ``*``; a metric the model could not produce reads
        ``skipped``; ``failed`` counts failed verdicts over seeds.
        """
        agg = self.aggregate().set_index(["model", *_KEY])
        keys = list(metrics) if metrics is not None else [
            *[k for k in self.metric_keys() if k[0] == "utility"], *self.trust_metrics()]
        best = self.best() if mark_best else {}
        out = {}
        for key in keys:
            name = f"{key[0]}.{key[1]}" + ("" if key[2] == "all" else f"[{key[2]}]")
            col = []
            for label in self.labels:
                try:
                    r = agg.loc[(label, *key)]
                except KeyError:
                    col.append("not run")
                    continue
                if r["status"] != "ok" or pd.isna(r["mean"]):
                    col.append(r["status"] if r["status"] != "ok" else "skipped")
                    continue
                col.append(f"{r['mean']:.4g}" + ("*" if label in best.get(key, set()) else ""))
            out[name] = col
        df = pd.DataFrame(out, index=pd.Index(self.labels, name="model"))
        df["failed"] = [int(((self.table["model"] == m) & (self.table["verdict"] == "fail"))
                            .sum()) for m in self.labels]
        return df

    # -------------------------------------------------------------- outputs
    def figures(self, max_plots: int = 12) -> dict[str, str]:
        """Utility-vs-trust scatters and per-metric bars with CIs (inline SVG)."""
        from .report import comparison_figures

        return comparison_figures(self, max_plots=max_plots)

    def to_dict(self) -> dict[str, Any]:
        records = table_records
        return {"kind": "recaudit.comparison", "version": 1, "labels": self.labels,
                "seeds": self.seeds, "alpha": self.alpha, "utility_metric": self.utility_metric,
                "metadata": self.metadata, "table": records(self.table),
                "pairwise": records(self.pairwise()),
                "per_user": [{"model": m, "seed": s, "metric": k, "values": v}
                             for (m, s, k), v in self.per_user.items()]}

    def to_json(self, path: str | Path | None = None) -> str:
        return self._write(json.dumps(self.to_dict(), indent=1, default=str), path)

    @classmethod
    def from_json(cls, source: str | Path) -> ComparisonResult:
        """Read what :meth:`to_json` wrote (a path or the JSON text)."""
        d = cls._read(source)
        per_user = {(p["model"], int(p["seed"]), p["metric"]): p["values"]
                    for p in d.get("per_user", [])}
        pair = pd.DataFrame(d.get("pairwise", []), columns=PAIRWISE_COLUMNS)
        return cls(table=pd.DataFrame(d["table"], columns=TABLE_COLUMNS), labels=d["labels"],
                   seeds=[int(s) for s in d["seeds"]], per_user=per_user, alpha=d["alpha"],
                   utility_metric=d["utility_metric"], metadata=d.get("metadata", {}),
                   _pairwise=pair)

    def to_html(self, path: str | Path | None = None) -> str:
        """The self-contained HTML comparison report (written to ``path`` when given)."""
        from .report import render_comparison

        return self._write(render_comparison(self), path)


def compare(models: Mapping[str, Any], data: Any, auditors: Sequence[Any], *,
            seeds: Sequence[int] = (0, 1, 2), config: Mapping[str, Any] | None = None,
            utility_k: int = 10, utility_users: int | None = 200, refit: bool = False,
            alpha: float = 0.05, cache: Any = True, progress: bool = True,
            metadata: Mapping[str, Any] | None = None, executor: Any = None
            ) -> ComparisonResult:
    """Audit every model for every seed with the same auditors; test every difference.

    Parameters
    ----------
    models : mapping of label to Recommender
        The models (paradigms) to compare, all built on ``data``.
    data : AuditDataset
    auditors : list
        As for :func:`recaudit.audit` (names, dicts, instances); the same for every model.
    seeds : sequence of int
        Audit seeds (the users and perturbations each auditor samples).
    config : dict, optional
        Run settings and per-auditor overrides, as for :func:`recaudit.audit`.
    utility_k, utility_users : int
        NDCG@K / HR@K over the whole catalog, on up to ``utility_users`` users per seed.
    refit : bool
        Re-train each model with the ``train`` capability per seed (``fit(data, seed=)``),
        so seed-to-seed spread includes training randomness.
    alpha : float
        Significance level of the Holm-corrected pairwise tests.
    executor : Executor, str or mapping, optional
        Where cache misses are answered, as for :func:`recaudit.audit` (one for every model).

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=60, n_items=40, seed=0)
    >>> res = ra.compare({"pop": ra.models.MostPopular(data),
    ...                   "knn": ra.models.ItemKNN(data)}, data, ["popularity_bias"],
    ...                  seeds=[0, 1], config={"n_bootstrap": 100, "n_permutations": 100},
    ...                  cache=False, progress=False)
    >>> sorted(res.table["model"].unique())
    ['knn', 'pop']
    """
    if not models:
        raise ValueError("compare needs at least one model in models={label: model}")
    if not seeds:
        raise ValueError("compare needs at least one seed")
    labels = [str(k) for k in models]
    if len(set(labels)) != len(labels):
        raise ValueError(f"model labels must be distinct as strings: {labels}")

    def build(model: Any, seed: int) -> Any:
        if refit and "train" in set(getattr(model, "capabilities", ())):
            return model.fit(data, seed=seed)
        return model

    result = study(dict(zip(labels, models.values())), data, auditors, seeds, build=build,
                   config=config, utility_k=utility_k, utility_users=utility_users,
                   cache=cache, progress=progress, executor=executor)
    meta = {"dataset": data.summary(), "auditors": [_auditor_name(a) for a in auditors],
            "models": {lab: {"repr": repr(mod), "fingerprint": mod.fingerprint(),
                             "capabilities": sorted(getattr(mod, "capabilities", ()))}
                       for lab, mod in zip(labels, models.values())},
            "utility_k": utility_k, "utility_users": utility_users, "refit": refit,
            **dict(metadata or {})}
    return ComparisonResult.from_study(result, alpha=alpha, metadata=meta)


def _auditor_name(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        return str(spec.get("name", spec))
    if isinstance(spec, (tuple, list)) and spec:
        return str(spec[0])
    return str(getattr(spec, "name", None) or type(spec).__name__)
