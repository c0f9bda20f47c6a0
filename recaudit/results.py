"""Result values: ``Metric``, ``Cost``, ``Figure`` and ``AuditResult`` (JSON round-trippable)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import pandas as pd

from .errors import did_you_mean

Verdict = Literal["pass", "fail", "info", "skipped", "error"]
VERDICTS = ("fail", "error", "pass", "info", "skipped")  # severity order, worst first


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


#: How a metric relates to its per-user rows: ``"mean"`` (the value is the mean of the rows'
#: non-missing values), ``"sum"`` (their sum) or ``None`` (computed from them another way,
#: as a ratio, gap or AUC; the auditor's docstring says how).
PER_USER_AGGREGATES = ("mean", "sum", None)


def _per_user_columns(unit: str, ids: list, values: list, extra: Mapping[str, list]
                      ) -> pd.DataFrame:
    """The one constructor of per-user frames, live and read from JSON alike (so a round trip
    gives the same dtypes): ``unit`` ids as strings, ``value`` as float (None -> NaN), then
    the extra columns as JSON values."""
    import numpy as np

    cols: dict[str, Any] = {unit: [str(i) for i in ids],
                            "value": np.array(values, dtype=float).reshape(-1)}
    for name, col in extra.items():
        cols[name] = list(col)
    return pd.DataFrame(cols)


def per_user_frame(rows: Any) -> pd.DataFrame | None:
    """Normalise the rows behind a metric into a frame ``[unit, "value", extras...]``.

    ``rows`` is a mapping ``user_id -> value``, an aligned pair ``(user_ids, values)``, or a
    DataFrame with a ``value`` column whose key column is ``user_id`` when present, else its
    first other column (``item_id``, say, where the unit is not a user); its remaining
    columns (a membership label, the user's group) are kept as extras. Ids become strings,
    values floats (missing: NaN) and extras JSON values, so the frame survives the JSON
    round trip unchanged. ``None`` stays ``None``.

    >>> per_user_frame({"u1": 1, "u2": float("nan")})
      user_id  value
    0      u1    1.0
    1      u2    NaN
    """
    if rows is None:
        return None
    if isinstance(rows, pd.DataFrame):
        if "value" not in rows.columns:
            raise ValueError(f"per-user rows need a 'value' column; got {list(rows.columns)}")
        others = [str(c) for c in rows.columns if c != "value"]
        if not others:
            raise ValueError("per-user rows need a key column (user_id, or item_id where the "
                             "unit is not a user) beside 'value'")
        unit = "user_id" if "user_id" in others else others[0]
        if len(set(others)) != len(others):
            raise ValueError(f"per-user rows have duplicate column names: {others}")
        frame = rows.rename(columns=str)
        extra = {c: _jsonable(frame[c].tolist()) for c in others if c != unit}
        return _per_user_columns(unit, frame[unit].tolist(),
                                 _jsonable(frame["value"].tolist()), extra)
    if isinstance(rows, Mapping):
        ids, values = list(rows.keys()), list(rows.values())
    elif isinstance(rows, (tuple, list)) and len(rows) == 2:
        ids, values = list(rows[0]), list(rows[1])
    else:
        raise TypeError("per-user rows must be a mapping user_id -> value, a pair "
                        f"(user_ids, values) or a DataFrame with a 'value' column; got "
                        f"{type(rows).__name__}")
    if len(ids) != len(values):
        raise ValueError(f"per-user rows: {len(ids)} ids but {len(values)} values")
    return _per_user_columns("user_id", ids, [_float(v) for v in values], {})


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


@dataclass
class Metric:
    """One number an auditor reports, identified by (auditor, name, scope).

    ``threshold`` is the largest acceptable effect: with ``higher_is_better=False`` the value
    is bad above it, with ``True`` bad below it. ``p_value`` tests "no effect"; the verdict is
    ``fail`` only when the value is beyond the threshold *and* the Holm-adjusted p-value is
    below alpha (see :func:`recaudit.auditors.assign_verdicts`).
    """

    name: str
    value: float
    scope: str = "all"
    ci_low: float | None = None
    ci_high: float | None = None
    higher_is_better: bool | None = None
    threshold: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    verdict: Verdict = "info"
    auditor: str = ""
    description: str = ""
    #: The rows behind the value (one per user, or per item, example...; see
    #: :func:`per_user_frame`), or None. Kept out of :meth:`to_dict`: the result stores them.
    per_user: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    #: How ``value`` follows from ``per_user`` (see :data:`PER_USER_AGGREGATES`).
    per_user_aggregate: str | None = field(default="mean", repr=False, compare=False)

    def __post_init__(self) -> None:
        self.value = float(self.value) if self.value is not None else float("nan")
        self.ci_low = _num(self.ci_low)
        self.ci_high = _num(self.ci_high)
        self.p_value = _num(self.p_value)
        self.threshold = _num(self.threshold)
        self.per_user = per_user_frame(self.per_user)
        if self.per_user_aggregate not in PER_USER_AGGREGATES:
            raise ValueError(f"per_user_aggregate must be one of {PER_USER_AGGREGATES}, got "
                             f"{self.per_user_aggregate!r}")

    @property
    def beyond_threshold(self) -> bool:
        if self.threshold is None or self.higher_is_better is None or math.isnan(self.value):
            return False
        if self.higher_is_better:
            return self.value < self.threshold
        return self.value > self.threshold

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _PER_USER}
        if isinstance(d["value"], float) and math.isnan(d["value"]):
            d["value"] = None
        return d

    def per_user_to_dict(self) -> dict[str, Any] | None:
        """The per-user rows as compact JSON (``None`` when there are none): ``unit`` names
        the key column, ``ids`` and ``values`` are aligned lists (NaN -> None), ``columns``
        holds any extra columns."""
        if self.per_user is None:
            return None
        df = self.per_user
        unit = str(df.columns[0])
        out = {"metric": self.name, "scope": self.scope, "aggregate": self.per_user_aggregate,
               "unit": unit, "ids": df[unit].tolist(),
               "values": _jsonable(df["value"].tolist())}
        extra = {str(c): _jsonable(df[c].tolist()) for c in df.columns[2:]}
        if extra:
            out["columns"] = extra
        return out

    def per_user_from_dict(self, d: Mapping[str, Any]) -> None:
        """Attach rows written by :meth:`per_user_to_dict`."""
        self.per_user = _per_user_columns(d.get("unit", "user_id"), d.get("ids", []),
                                          d.get("values", []), d.get("columns", {}))
        self.per_user_aggregate = d.get("aggregate", "mean")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metric:
        d = dict(d)
        if d.get("value") is None:
            d["value"] = float("nan")
        return cls(**d)


_PER_USER = ("per_user", "per_user_aggregate")


@dataclass
class Cost:
    """Requests and time an auditor (or a whole audit) spent."""

    requests: int = 0  # asked by the auditor
    unique: int = 0  # after de-duplication
    cache_hits: int = 0
    model_calls: int = 0  # batches sent to the model
    model_seconds: float = 0.0
    total_seconds: float = 0.0

    def __iadd__(self, other: Cost) -> Cost:
        for f in ("requests", "unique", "cache_hits", "model_calls", "model_seconds",
                  "total_seconds"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        return self

    @property
    def model_share(self) -> float:
        return self.model_seconds / self.total_seconds if self.total_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cost:
        return cls(**d)


@dataclass(frozen=True)
class Figure:
    """A figure as data: which drawing (``kind``) and the values it draws (``data``).

    Auditors measure; the report draws (:func:`recaudit.report.figures.draw` looks ``kind``
    up among the registered drawers). ``data`` is normalised to JSON values on construction
    (numpy to lists, NaN to ``None``, a DataFrame to ``{column: values}``), so a figure read
    back from a report's JSON is equal to the live one and draws the same picture.

    >>> Figure("bars", {"x": ("a", "b"), "y": [1.0, float("nan")]}).data
    {'x': ['a', 'b'], 'y': [1.0, None]}
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise TypeError(f"Figure kind must be a non-empty string, got {self.kind!r}")
        object.__setattr__(self, "data", _jsonable(dict(self.data)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "data": self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Figure:
        return cls(kind=d["kind"], data=d.get("data", {}))


def _figure_from_json(value: Any) -> Figure | str:
    """A stored figure: figure data (a dict), or SVG text drawn by an older run or a plug-in."""
    return Figure.from_dict(value) if isinstance(value, dict) else str(value)


@dataclass
class AuditResult:
    """Everything one auditor found: metrics, tables, figures, evidence, notes.

    ``figures`` maps a name to a :class:`Figure` (data the report draws) or, for plug-ins
    that draw their own, SVG text.

    ``status`` is ``ok``, ``skipped`` (a needed capability is missing: ``reason`` says which)
    or ``error`` (the auditor raised: ``reason`` holds the message).
    """

    auditor: str
    metrics: list[Metric] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure | str] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)
    status: Literal["ok", "skipped", "error"] = "ok"
    reason: str = ""
    family: str = ""
    method: str = ""
    citation: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.metrics:
            m.auditor = m.auditor or self.auditor

    def metric(self, name: str, scope: str = "all") -> Metric:
        for m in self.metrics:
            if m.name == name and m.scope == scope:
                return m
        have = sorted({(m.name, m.scope) for m in self.metrics})
        raise KeyError(f"{self.auditor} has no metric {name!r} with scope {scope!r}; "
                       f"it has {have}")

    def per_user(self, metric: str, scope: str | None = None) -> pd.DataFrame:
        """The rows behind ``metric`` (every scope, or one): columns ``user_id`` (or the
        unit's key, such as ``item_id``), ``scope``, ``value``, then any extra columns.

        ``attrs["aggregate"]`` says how the metric follows from ``value`` (``"mean"``: the
        mean of its non-missing values; ``"sum"``; ``None``: another way, see the auditor).
        Raises ``KeyError`` naming the metrics (and scopes) that have per-user rows.
        """
        with_rows = [m for m in self.metrics if m.per_user is not None]
        names = list(dict.fromkeys(m.name for m in with_rows))
        if metric not in names:
            why = ("it has no per-user rows" if any(m.name == metric for m in self.metrics)
                   else "no such metric")
            raise KeyError(f"{self.auditor}: no per-user values for metric {metric!r} ({why})"
                           f"; metrics with per-user values: {names or 'none'}."
                           f"{did_you_mean(metric, names)}")
        chosen = [m for m in with_rows if m.name == metric]
        if scope is not None:
            scopes = [m.scope for m in chosen]
            chosen = [m for m in chosen if m.scope == str(scope)]
            if not chosen:
                raise KeyError(f"{self.auditor}: metric {metric!r} has no per-user values "
                               f"for scope {scope!r}; its scopes are {scopes}")
        frames = []
        for m in chosen:
            df = m.per_user.copy()
            df.insert(1, "scope", m.scope)
            frames.append(df)
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        aggregates = {m.per_user_aggregate for m in chosen}
        out.attrs = {"auditor": self.auditor, "metric": metric,
                     "aggregate": aggregates.pop() if len(aggregates) == 1 else None}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "auditor": self.auditor,
            "status": self.status,
            "reason": self.reason,
            "family": self.family,
            "method": self.method,
            "citation": self.citation,
            "params": _jsonable(self.params),
            "metrics": [m.to_dict() for m in self.metrics],
            "tables": {k: v.to_json(orient="split", index=False) for k, v in self.tables.items()},
            "figures": {k: v.to_dict() if isinstance(v, Figure) else v
                        for k, v in self.figures.items()},
            "evidence": _jsonable(self.evidence),
            "notes": list(self.notes),
            "cost": self.cost.to_dict(),
            "per_user": [d for d in (m.per_user_to_dict() for m in self.metrics)
                         if d is not None],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditResult:
        res = cls._from_dict(d)
        by_key = {(m.name, m.scope): m for m in reversed(res.metrics)}  # the first one wins
        for entry in d.get("per_user", []):  # absent from results written before it existed
            m = by_key.get((entry.get("metric"), entry.get("scope", "all")))
            if m is not None:
                m.per_user_from_dict(entry)
        return res

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> AuditResult:
        return cls(
            auditor=d["auditor"],
            metrics=[Metric.from_dict(m) for m in d.get("metrics", [])],
            tables={k: pd.read_json(io.StringIO(v), orient="split", dtype=False)
                    for k, v in d.get("tables", {}).items()},
            figures={k: _figure_from_json(v) for k, v in d.get("figures", {}).items()},
            evidence=list(d.get("evidence", [])),
            notes=list(d.get("notes", [])),
            cost=Cost.from_dict(d.get("cost", {})),
            status=d.get("status", "ok"),
            reason=d.get("reason", ""),
            family=d.get("family", ""),
            method=d.get("method", ""),
            citation=d.get("citation", ""),
            params=dict(d.get("params", {})),
        )


def _jsonable(x: Any) -> Any:
    """Make nested evidence/params/figure data JSON-safe (numpy, tuples, sets, frames)."""
    import numpy as np

    if isinstance(x, pd.DataFrame):
        return _jsonable(x.to_dict(orient="list"))
    if isinstance(x, pd.Series):
        return _jsonable(x.tolist())
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)
