"""``ra.study``: arms x seeds -> audit -> utility -> one tidy table.

The one loop under :func:`recaudit.ablate` (arms are mitigation stacks around one model) and
:func:`recaudit.compare` (arms are named models). Every arm x seed is wrapped in the engine,
audited with the same auditors and settings (:func:`recaudit.audit`), and its utility (NDCG@K
and HR@K of held-out items over the whole catalog, :func:`measure_utility`) is measured on the
same sampled users through the same engine, so repeated requests are answered once.

Skipped metrics: the table has one row per arm x seed for every (auditor, metric, scope) any
run produced. A run that has no value for one (its auditor was skipped for a missing
capability, errored, or did not produce that metric) gets a row with ``value`` NaN (never 0),
``verdict`` ``"skipped"`` or ``"error"``, the ``reason``, and ``measured=False``; an auditor
no run could produce gets one such row per arm x seed with metric ``"-"``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import sample_users
from .metrics.utility import summarize, utility_per_user
from .results import Cost

TABLE_COLUMNS = ["arm", "seed", "auditor", "metric", "scope", "value", "ci_low", "ci_high",
                 "higher_is_better", "threshold", "p_value", "verdict", "reason", "measured"]
COST_COLUMNS = ["arm", "seed", "stage", "requests", "unique", "cache_hits", "model_calls",
                "model_seconds", "total_seconds"]


def measure_utility(model: Any, data: Any, *, k: int = 10, n_users: int | None = 200,
                    seed: int = 0) -> tuple[list[str], dict[str, np.ndarray]]:
    """(users, {"ndcg_at_k": per-user values, "hr_at_k": ...}) over the whole catalog.

    Up to ``n_users`` users with held-out items, sampled with ``seed`` (the same users for
    every model given the same seed), ranked by ``model`` over the whole catalog.
    """
    users = sample_users(data, n_users, np.random.default_rng([seed, 10_007]))
    rankings = model.rank([data.request(u) for u in users], k)
    return users, utility_per_user([r.items for r in rankings],
                                   [data.test_items[u] for u in users], k)


def utility(model: Any, data: Any, *, k: int = 10, n_users: int | None = 200,
            seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """NDCG@k and HR@k of held-out items over the whole catalog: {name: (value, lo, hi)}."""
    _users, per_user = measure_utility(model, data, k=k, n_users=n_users, seed=seed)
    return summarize(per_user, seed=seed)


class TableOutputs:
    """``to_csv`` of a result's ``table`` and the text writer its ``to_html``/``to_json`` use."""

    table: pd.DataFrame

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.table.to_csv(path, index=False)
        return path

    @staticmethod
    def _read(source: str | Path) -> dict[str, Any]:
        """The JSON a ``to_json`` wrote, from a path or the JSON text itself."""
        import json

        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return json.loads(text)

    @staticmethod
    def _write(text: str, path: str | Path | None) -> str:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text


@dataclass
class StudyResult(TableOutputs):
    """Everything one study measured.

    ``table`` (:data:`TABLE_COLUMNS`): one row per arm x seed x auditor x metric x scope, in
    run order (arm, seed, then utility and each auditor's metrics), the rows of skipped
    metrics (``measured=False``, see the module docstring) last. ``per_user`` holds the
    utility values per (arm, seed, metric) by user; ``reports`` the audit report per
    (arm, seed); ``costs`` the requests and seconds per (arm, seed, stage), stage ``audit``
    or ``utility``.
    """

    table: pd.DataFrame
    labels: list[str]
    seeds: list[int]
    utility_metric: str = "ndcg_at_10"
    per_user: dict[tuple[str, int, str], dict[str, float]] = field(default_factory=dict,
                                                                   repr=False)
    reports: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)
    costs: dict[tuple[str, int, str], Cost] = field(default_factory=dict, repr=False)

    def measured(self) -> pd.DataFrame:
        """The rows the runs produced (utility and every auditor's metrics)."""
        return self.table[self.table["measured"].astype(bool)].reset_index(drop=True)

    def skipped(self) -> pd.DataFrame:
        """The rows of metrics a run has no value for, with the verdict and the reason."""
        return self.table[~self.table["measured"].astype(bool)].reset_index(drop=True)

    def utility(self) -> pd.DataFrame:
        """The utility rows: one per arm x seed x utility metric."""
        return self.table[self.table["auditor"] == "utility"].reset_index(drop=True)

    def aggregate(self) -> pd.DataFrame:
        """Per arm and metric across seeds (see :func:`aggregate`)."""
        return aggregate(self.table, "arm")

    def trust_metrics(self) -> list[tuple[str, str, str, bool]]:
        """The thresholded trust metrics with a direction (see :func:`trust_metric_keys`)."""
        return trust_metric_keys(self.table)

    def pareto(self, auditor: str, metric: str, scope: str,
               higher_is_better: bool) -> set[str]:
        """Arms not dominated in (utility up, trust metric in its good direction)."""
        return pareto_front(self.aggregate(), self.labels, "arm", self.utility_metric,
                            (auditor, metric, scope), higher_is_better)

    def cost_table(self) -> pd.DataFrame:
        """Requests, cache hits, model calls and seconds per arm x seed x stage."""
        rows = [{"arm": arm, "seed": seed, "stage": stage, **cost.to_dict()}
                for (arm, seed, stage), cost in self.costs.items()]
        return pd.DataFrame(rows, columns=COST_COLUMNS)


# ====================================================================== views over a study table
#: The row key of one metric in a study table.
METRIC_KEY = ["auditor", "metric", "scope"]


def aggregate(table: pd.DataFrame, arm: str = "arm") -> pd.DataFrame:
    """Per (arm, auditor, metric, scope): mean, std, mean CI bounds across seeds, the number
    of seeds, the direction and threshold, failed seeds and the status (``ok``, or
    ``skipped`` / ``error`` when every seed was). ``arm`` names the arm column (``mitigation``
    in an ablation's view, ``model`` in a comparison's)."""
    g = table.groupby([arm, *METRIC_KEY], sort=False, dropna=False)
    agg = g.agg(mean=("value", "mean"), std=("value", "std"), ci_low=("ci_low", "mean"),
                ci_high=("ci_high", "mean"), n_seeds=("value", "count"),
                higher_is_better=("higher_is_better", "first"),
                threshold=("threshold", "first"),
                fails=("verdict", lambda v: int((v == "fail").sum())),
                status=("verdict", lambda v: "skipped" if (v == "skipped").all()
                        else "error" if (v == "error").all() else "ok")).reset_index()
    agg["std"] = agg["std"].fillna(0.0)
    return agg


def trust_metric_keys(table: pd.DataFrame) -> list[tuple[str, str, str, bool]]:
    """(auditor, metric, scope, higher_is_better) of every thresholded trust metric with a
    direction, in table order (what the trade-off plots and tables show)."""
    t = table[(table["auditor"] != "utility") & table["threshold"].notna()
              & table["higher_is_better"].notna()]
    seen = t[[*METRIC_KEY, "higher_is_better"]].drop_duplicates(METRIC_KEY)
    return [(a, m, sc, bool(h)) for a, m, sc, h in seen.itertuples(index=False)]


def pareto_front(agg: pd.DataFrame, labels: Sequence[str], arm: str, utility_metric: str,
                 key: tuple[str, str, str], higher_is_better: bool) -> set[str]:
    """The arms no other arm beats on both mean utility (up) and the trust metric ``key``
    (in its good direction), from :func:`aggregate`'s table."""
    means = agg.set_index([arm, *METRIC_KEY])["mean"]
    pts = {}
    for label in labels:
        try:
            u = means[(label, "utility", utility_metric, "all")]
            v = means[(label, *key)]
        except KeyError:
            continue
        if not (math.isnan(u) or math.isnan(v)):
            pts[label] = (u, v if higher_is_better else -v)
    return {a for a, (ua, va) in pts.items()
            if not any(ub >= ua and vb >= va and (ub > ua or vb > va)
                       for b, (ub, vb) in pts.items() if b != a)}


def table_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-ready records (NaN as null)."""
    import json

    return json.loads(df.to_json(orient="records"))


def _timed(cost: Cost, since: float) -> Cost:
    """``cost`` with its wall-clock total measured from ``since``."""
    return Cost(**{**cost.to_dict(), "total_seconds": time.perf_counter() - since})


def study(arms: Mapping[str, Any], data: Any, auditors: Sequence[Any],
          seeds: Sequence[int] = (0, 1, 2), *,
          build: Callable[[Any, int], Any] | None = None,
          config: Mapping[str, Any] | None = None, utility_k: int = 10,
          utility_users: int | None = 200, utility_bootstrap: int | None = None,
          cache: Any = True, progress: bool = True, executor: Any = None) -> StudyResult:
    """Audit every arm for every seed with the same auditors; measure utility next to it.

    Parameters
    ----------
    arms : mapping of label to arm
        Each arm is a Recommender, or anything ``build`` turns into one.
    data : AuditDataset
    auditors : list
        As for :func:`recaudit.audit` (names, dicts, instances); the same for every arm.
    seeds : sequence of int
        Audit seeds (the users and perturbations each auditor samples, the utility users).
    build : callable, optional
        ``build(arm, seed) -> Recommender``: the model of one arm for one seed (a mitigation
        stack reseeded, a model re-trained). Default: the arm is the model.
    config : dict, optional
        Run settings and per-auditor overrides, as for :func:`recaudit.audit`.
    utility_k, utility_users : int
        NDCG@K / HR@K over the whole catalog, on up to ``utility_users`` users per seed.
    utility_bootstrap : int, optional
        Resamples of the utility CIs (default: ``config["n_bootstrap"]``, else 1000).
    cache : bool, path or RequestCache
        The engine's answer cache, shared by every arm and seed.
    executor : Executor, str or mapping, optional
        Where cache misses are answered, as for :func:`recaudit.audit`; one executor serves
        every arm (an executor built from a spec is closed at the end).

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=60, n_items=40, seed=0)
    >>> res = ra.study({"pop": ra.models.MostPopular(data)}, data, ["popularity_bias"],
    ...                seeds=[0], config={"n_bootstrap": 100, "n_permutations": 100},
    ...                cache=False, progress=False)
    >>> sorted(res.table["auditor"].unique())
    ['popularity_bias', 'utility']
    """
    from .audit import audit
    from .engine import engine_for, owned_executor

    if not arms:
        raise ValueError("study needs at least one arm in arms={label: ...}")
    labels = [str(k) for k in arms]
    if len(set(labels)) != len(labels):
        raise ValueError(f"arm labels must be distinct as strings: {labels}")
    seeds = [int(s) for s in seeds]
    n_boot = int(utility_bootstrap if utility_bootstrap is not None
                 else (config or {}).get("n_bootstrap", 1000))
    rows: list[dict[str, Any]] = []
    not_run: list[tuple[str, int, str, str, str]] = []
    per_user: dict[tuple[str, int, str], dict[str, float]] = {}
    reports = {}
    costs: dict[tuple[str, int, str], Cost] = {}
    with owned_executor(executor) as built:
        for label, arm in zip(labels, arms.values()):
            for seed in seeds:
                model = arm if build is None else build(arm, seed)
                engine = engine_for(model, run=config, cache=cache, progress=progress,
                                    executor=built)
                t0 = time.perf_counter()
                report = audit(engine, data, list(auditors), config, seed=seed, cache=cache,
                               progress=progress)
                costs[(label, seed, "audit")] = _timed(report.cost, t0)
                reports[(label, seed)] = report
                t0 = time.perf_counter()
                with engine.attribute_to("utility") as cost:
                    users, values = measure_utility(engine, data, k=utility_k,
                                                    n_users=utility_users, seed=seed)
                costs[(label, seed, "utility")] = _timed(cost, t0)
                for name, vals in values.items():
                    per_user[(label, seed, name)] = dict(zip(users, map(float, vals)))
                for name, (value, lo, hi) in summarize(values, n_resamples=n_boot,
                                                       seed=seed).items():
                    rows.append({"arm": label, "seed": seed, "auditor": "utility",
                                 "metric": name, "scope": "all", "value": value,
                                 "ci_low": lo, "ci_high": hi, "higher_is_better": True,
                                 "threshold": None, "p_value": None, "verdict": "info",
                                 "reason": "", "measured": True})
                got, missing = _rows_of(label, seed, report)
                rows.extend(got)
                not_run.extend((label, seed, *x) for x in missing)
    rows.extend(_skipped_rows(rows, not_run, labels, seeds))
    return StudyResult(table=pd.DataFrame(rows, columns=TABLE_COLUMNS), labels=labels,
                       seeds=seeds, utility_metric=f"ndcg_at_{utility_k}", per_user=per_user,
                       reports=reports, costs=costs)


def _rows_of(label: str, seed: int, report: Any
             ) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """The metric rows of one report's ok auditors; (auditor, status, reason) of the others."""
    rows, not_run = [], []
    for res in report.results:
        if res.status != "ok":
            not_run.append((res.auditor, res.status, res.reason))
            continue
        for m in res.metrics:
            rows.append({"arm": label, "seed": seed, "auditor": res.auditor,
                         "metric": m.name, "scope": m.scope, "value": m.value,
                         "ci_low": m.ci_low, "ci_high": m.ci_high,
                         "higher_is_better": m.higher_is_better, "threshold": m.threshold,
                         "p_value": m.p_value, "verdict": m.verdict, "reason": "",
                         "measured": True})
    return rows, not_run


def _skipped_rows(rows: list[dict[str, Any]], not_run: list[tuple], labels: list[str],
                  seeds: list[int]) -> list[dict[str, Any]]:
    """Rows that say "skipped" (or "error") where an arm has no value another arm has."""
    seen: dict[str, dict[tuple[str, str], dict]] = {}
    have = set()
    for r in rows:
        seen.setdefault(r["auditor"], {}).setdefault((r["metric"], r["scope"]), r)
        have.add((r["arm"], r["seed"], r["auditor"], r["metric"], r["scope"]))
    why = {(lab, seed, aud): (status, reason) for lab, seed, aud, status, reason in not_run}
    out = []
    auditors = list(dict.fromkeys([*seen, *(x[2] for x in not_run)]))
    for aud in auditors:
        metrics = seen.get(aud) or {("-", "all"): {}}
        for (metric, scope), ref in metrics.items():
            for lab in labels:
                for seed in seeds:
                    if (lab, seed, aud, metric, scope) in have:
                        continue
                    status, reason = why.get((lab, seed, aud),
                                             ("skipped", "the model did not produce this "
                                                         "metric"))
                    out.append({"arm": lab, "seed": seed, "auditor": aud, "metric": metric,
                                "scope": scope, "value": float("nan"), "ci_low": None,
                                "ci_high": None,
                                "higher_is_better": ref.get("higher_is_better"),
                                "threshold": ref.get("threshold"), "p_value": None,
                                "verdict": status, "reason": reason, "measured": False})
    return out
