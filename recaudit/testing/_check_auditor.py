"""``check_auditor``: what every registered auditor must satisfy (like scikit-learn's
``check_estimator``).

Run it over every auditor with one parametrised test::

    @pytest.mark.parametrize("name", available_auditors())
    def test_conformance(name):
        check_auditor(name)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..auditors import Auditor, MetricSpec, get_auditor_class
from ..contract import CAPABILITIES
from ..errors import AuditorCheckError, SpecError
from ..results import VERDICTS, AuditResult, Figure

#: Run settings used by the checks: small, so every auditor is checked in seconds.
CHECK_CONFIG = {"n_bootstrap": 50, "n_permutations": 50}


def _fail(auditor: str, check: str, message: str) -> None:
    raise AuditorCheckError(f"[{auditor}] {check}: {message}")


def _instance(auditor_or_name: Any) -> Auditor:
    if isinstance(auditor_or_name, str):
        return get_auditor_class(auditor_or_name)()
    if isinstance(auditor_or_name, type) and issubclass(auditor_or_name, Auditor):
        return auditor_or_name()
    if isinstance(auditor_or_name, Auditor):
        return auditor_or_name
    raise TypeError(f"check_auditor expects an auditor name, class or instance, got "
                    f"{auditor_or_name!r}")


class _Without:
    """A model that hides some capabilities of another (to test skipping)."""

    def __init__(self, model: Any, hidden: set[str]) -> None:
        self._model = model
        self.capabilities = frozenset(set(model.capabilities) - hidden)

    def rank(self, requests: Sequence[Any], k: int) -> list:
        return self._model.rank(requests, k)

    def fingerprint(self) -> str:
        return "without-" + "-".join(sorted(self.capabilities)) + self._model.fingerprint()


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_identity(auditor: Auditor) -> None:
    """Name, family, method, citation, requires, metrics and thresholds are declared."""
    name = auditor.name or type(auditor).__name__
    for attr in ("name", "family", "method", "citation"):
        value = getattr(auditor, attr, "")
        if not isinstance(value, str) or not value.strip():
            _fail(name, "identity", f"`{attr}` must be a non-empty string, got {value!r}")
    req = set(auditor.requires)
    if not req or not req <= CAPABILITIES:
        _fail(name, "identity", f"`requires` must be a non-empty subset of {sorted(CAPABILITIES)}"
              f", got {sorted(req)}")
    if not isinstance(auditor.default_thresholds, dict):
        _fail(name, "identity", "`default_thresholds` must be a dict of metric -> number")
    for k, v in auditor.default_thresholds.items():
        if not isinstance(k, str) or not isinstance(v, (int, float)) or isinstance(v, bool):
            _fail(name, "identity", f"default threshold {k!r}: {v!r} is not metric -> number")
    specs = getattr(auditor, "metrics", ())
    if not isinstance(specs, tuple) or not specs:
        _fail(name, "identity", "`metrics` declares nothing: list every metric name run() can "
              "emit, e.g. metrics = (MetricSpec('repeat_share', 'share of the list already "
              "seen', higher_is_better=False, threshold=0.05),)")
    if not all(isinstance(s, MetricSpec) for s in specs):
        _fail(name, "identity", "`metrics` must hold recaudit.MetricSpec values")
    try:
        type(auditor).check_thresholds(auditor.default_thresholds)
    except SpecError as exc:
        _fail(name, "identity", f"default_thresholds: {exc}")


def check_declared_metrics(res: AuditResult, auditor: Auditor) -> None:
    """Every metric of ``res`` is declared in ``auditor.metrics`` (name or pattern), with
    the declared direction."""
    name = auditor.name or type(auditor).__name__
    undeclared = sorted({m.name for m in res.metrics if auditor.metric_spec(m.name) is None})
    if undeclared:
        _fail(name, "declared", f"emits metric(s) {undeclared} that {type(auditor).__name__}"
              f".metrics does not declare (it declares {[s.name for s in auditor.metrics]});"
              " add a MetricSpec for each (a pattern such as 'gap_{attribute}' for an open "
              "set)")
    for m in res.metrics:
        spec = auditor.metric_spec(m.name)
        if (spec.higher_is_better is not None and m.higher_is_better is not None
                and spec.higher_is_better != m.higher_is_better):
            _fail(name, "declared", f"metric {m.name!r}@{m.scope!r} has higher_is_better="
                  f"{m.higher_is_better} but is declared {spec.direction!r}")


def check_params(auditor: Auditor) -> None:
    """``get_params`` returns the constructor's keywords and rebuilds an equal auditor."""
    params = auditor.get_params()
    names = type(auditor)._param_names()
    if sorted(params) != sorted(names):
        _fail(auditor.name, "params", f"get_params() keys {sorted(params)} differ from the "
              f"__init__ keywords {sorted(names)}; store each keyword as an attribute")
    try:
        clone = type(auditor)(**params)
    except Exception as exc:  # noqa: BLE001
        _fail(auditor.name, "params", f"{type(auditor).__name__}(**get_params()) raised "
              f"{type(exc).__name__}: {exc}")
    if repr(clone.get_params()) != repr(params):
        _fail(auditor.name, "params", f"params do not round-trip: {params!r} -> "
              f"{clone.get_params()!r}")
    repr(auditor)


def check_result(res: AuditResult, name: str) -> None:
    """Every field of a result is valid."""
    if not isinstance(res, AuditResult):
        _fail(name, "result", f"run() returned {type(res).__name__}, not an AuditResult")
    if res.status != "ok":
        _fail(name, "result", f"status {res.status!r} on the conformance world: {res.reason}\n"
              + "\n".join(res.notes[-1:]))
    if not res.metrics:
        _fail(name, "result", "no metrics")
    seen = set()
    for m in res.metrics:
        where = f"metric {m.name!r}@{m.scope!r}"
        if not m.name or not isinstance(m.scope, str) or not m.scope:
            _fail(name, "metrics", f"{where}: name and scope must be non-empty strings")
        if (m.name, m.scope) in seen:
            _fail(name, "metrics", f"{where} appears twice; give each (name, scope) once")
        seen.add((m.name, m.scope))
        if m.auditor != name:
            _fail(name, "metrics", f"{where}: auditor field is {m.auditor!r}")
        if not isinstance(m.value, float):
            _fail(name, "metrics", f"{where}: value is not a float ({m.value!r})")
        if (m.ci_low is None) != (m.ci_high is None):
            _fail(name, "metrics", f"{where}: give both CI bounds or neither")
        if m.ci_low is not None and m.ci_low > m.ci_high + 1e-12:
            _fail(name, "metrics", f"{where}: ci_low {m.ci_low} > ci_high {m.ci_high}")
        if m.p_value is not None and not 0.0 <= m.p_value <= 1.0:
            _fail(name, "metrics", f"{where}: p_value {m.p_value} outside [0, 1]")
        if m.threshold is not None:
            if m.higher_is_better is None:
                _fail(name, "metrics", f"{where}: has a threshold but no higher_is_better")
            if m.p_value is None:
                _fail(name, "metrics", f"{where}: has a threshold but no p_value (the verdict "
                      "rule needs a test of 'no effect')")
        if m.verdict not in VERDICTS:
            _fail(name, "metrics", f"{where}: verdict {m.verdict!r} not in {VERDICTS}")
    for key, fig in res.figures.items():
        if not isinstance(fig, Figure) and (not isinstance(fig, str) or "<svg" not in fig[:200]):
            _fail(name, "figures", f"figure {key!r} is neither figure data (recaudit.Figure) "
                  "nor SVG text")
    for key, table in res.tables.items():
        if not isinstance(table, pd.DataFrame):
            _fail(name, "tables", f"table {key!r} is a {type(table).__name__}, not a DataFrame")
    if not isinstance(res.evidence, list) or not all(isinstance(e, dict) for e in res.evidence):
        _fail(name, "evidence", "evidence must be a list of small dicts")
    if not all(isinstance(n, str) for n in res.notes):
        _fail(name, "notes", "notes must be strings")


def check_per_user(res: AuditResult, name: str, back: AuditResult | None = None) -> None:
    """Per-user rows are well formed (a key column, then a float ``value``), a ``"mean"``
    (``"sum"``) metric is the mean (sum) of its rows' non-missing values, and the rows read
    back from JSON (``back``) are the same."""
    import numpy as np

    for m in res.metrics:
        rows = m.per_user
        if rows is None:
            continue
        where = f"per-user rows of {m.name!r}@{m.scope!r}"
        if list(rows.columns[1:2]) != ["value"] or rows["value"].dtype != np.float64:
            _fail(name, "per_user", f"{where}: expected [key, 'value', ...] with float values, "
                  f"got columns {list(rows.columns)}; pass per_user= to Auditor.metric")
        values = rows["value"].to_numpy(float)
        agg = m.per_user_aggregate
        if agg in ("mean", "sum") and np.isfinite(values).any():
            got = float(np.nanmean(values) if agg == "mean" else np.nansum(values))
            if not math.isclose(got, m.value, rel_tol=1e-9, abs_tol=1e-9):
                _fail(name, "per_user", f"{where}: their {agg} is {got!r} but the metric is "
                      f"{m.value!r}; pass per_user_aggregate=None when the metric is not "
                      f"their {agg}")
        if back is not None:
            other = back.metric(m.name, m.scope).per_user
            try:
                pd.testing.assert_frame_equal(rows, other)
            except AssertionError as exc:
                _fail(name, "per_user", f"{where} changed in the JSON round trip: {exc}")


def _metric_tuples(res: AuditResult) -> list[tuple]:
    return [(m.name, m.scope, m.value, m.ci_low, m.ci_high, m.p_value) for m in res.metrics]


def check_auditor(auditor_or_name: Any, *, data: Any = None, model: Any = None,
                  seed: int = 0, run: bool = True) -> list[str]:
    """Check that an auditor honours the auditor contract; raise ``AssertionError`` if not.

    Parameters
    ----------
    auditor_or_name : str, Auditor subclass or instance
    data : AuditDataset, optional
        Default: a small synthetic world (120 users, 60 items).
    model : Recommender, optional
        Default: a :class:`~recaudit.testing.zoo.ScoringModel` on ``data``. An auditor that
        needs a capability this model lacks has its run checks skipped (listed in the result).
    seed : int
    run : bool
        When False, only the static checks (identity, parameters) run: no model is called.

    Returns
    -------
    list of str
        The checks that ran.

    Examples
    --------
    >>> from recaudit.testing import check_auditor
    >>> check_auditor("popularity_bias")                                # doctest: +SKIP
    ['identity', 'params', 'run', 'result', 'declared', 'deterministic', 'json', 'per_user',
     'skip']
    """
    import recaudit as ra

    from ..audit import AuditReport
    from .zoo import ScoringModel

    auditor = _instance(auditor_or_name)
    name = auditor.name or type(auditor).__name__
    done = []
    check_identity(auditor)
    done.append("identity")
    check_params(auditor)
    done.append("params")
    if not run:
        return done

    if data is None:
        data = ra.datasets.synthetic(n_users=120, n_items=60, seed=seed)
    if model is None:
        model = ScoringModel(data, seed=seed)
    missing = auditor.missing_requirements(model)
    if not missing:
        def once() -> AuditReport:
            fresh = type(auditor)(**auditor.get_params())
            fresh.thresholds = dict(auditor.thresholds)
            return ra.audit(model, data, [fresh], config=CHECK_CONFIG, seed=seed, cache=False,
                            progress=False)

        first = once()
        done.append("run")
        res = first.results[0]
        check_result(res, name)
        done.append("result")
        check_declared_metrics(res, auditor)
        done.append("declared")
        again = once().results[0]
        a, b = _metric_tuples(res), _metric_tuples(again)
        if len(a) != len(b) or not all(
                x[:2] == y[:2] and all(_same(u, v) for u, v in zip(x[2:], y[2:]))
                for x, y in zip(a, b)):
            _fail(name, "deterministic", f"the same seed gave different metrics: {a[:3]} vs "
                  f"{b[:3]}; draw randomness only from ctx.rng(...)")
        done.append("deterministic")
        text = first.to_json()
        back = AuditReport.from_json(text)
        if json.dumps(back.to_dict(), sort_keys=True) != json.dumps(
                json.loads(text), sort_keys=True):
            _fail(name, "json", "the JSON round trip changed the report")
        for key, table in res.tables.items():
            t2 = back.results[0].tables[key]
            if list(t2.columns) != [str(c) for c in table.columns] or len(t2) != len(table):
                _fail(name, "json", f"table {key!r} changed shape in the JSON round trip")
        done.append("json")
        check_per_user(res, name, back.results[0])
        done.append("per_user")
    else:
        done.append(f"run checks skipped: {type(model).__name__} lacks "
                    f"{', '.join(sorted(missing))}; pass model=")

    hidden = set(auditor.requires)
    lacking = _Without(model, hidden)
    res = ra.audit(lacking, data, [auditor], seed=seed, cache=False, progress=False).results[0]
    if res.status != "skipped":
        _fail(name, "skip", f"a model without {sorted(hidden)} was not skipped "
              f"(status {res.status!r})")
    for cap in hidden:
        if cap not in res.reason:
            _fail(name, "skip", f"the skip reason {res.reason!r} does not name {cap!r}")
    done.append("skip")
    return done
