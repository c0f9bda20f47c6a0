"""Result values: ``Metric``, ``Cost``, ``Figure`` and ``AuditResult`` (JSON round-trippable)."""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

Verdict = Literal["pass", "fail", "info", "skipped", "error"]
VERDICTS = ("fail", "error", "pass", "info", "skipped")  # severity order, worst first


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


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

    def __post_init__(self) -> None:
        self.value = float(self.value) if self.value is not None else float("nan")
        self.ci_low = _num(self.ci_low)
        self.ci_high = _num(self.ci_high)
        self.p_value = _num(self.p_value)
        self.threshold = _num(self.threshold)

    @property
    def beyond_threshold(self) -> bool:
        if self.threshold is None or self.higher_is_better is None or math.isnan(self.value):
            return False
        if self.higher_is_better:
            return self.value < self.threshold
        return self.value > self.threshold

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(d["value"], float) and math.isnan(d["value"]):
            d["value"] = None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metric:
        d = dict(d)
        if d.get("value") is None:
            d["value"] = float("nan")
        return cls(**d)


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
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditResult:
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
