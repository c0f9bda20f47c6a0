"""Compare two audit reports: ``AuditReport.diff`` and ``recaudit diff A.json B.json``.

A is the baseline (the model before a mitigation, the last release), B the candidate. Checks
are matched by (auditor, metric, scope); every pair gets value A, value B, delta and the
verdict change, and a ``change`` class:

- ``regression``: B fails where A did not, B errors where A did not (a metric or a whole
  auditor), or B's value is beyond its threshold where A's was not (even when the effect is
  not significant yet, so a drift shows before it fails);
- ``improvement``: the reverse (A failed or errored or was beyond, B is not);
- ``changed``: another verdict change (``info`` -> ``pass``, a check now skipped, ...), or
  the same verdict with a value that moved beyond sampling noise (the two 95% CIs do not
  overlap);
- ``added`` / ``removed``: a check only in B / only in A (a new check that fails is a
  regression);
- ``unchanged``.

Warnings say when the two runs are not comparable as they stand: different datasets,
different auditors, parameters, thresholds or statistical settings, different seeds, an
incomplete run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..results import AuditResult, Metric, _jsonable

Change = Literal["regression", "improvement", "changed", "added", "removed", "unchanged"]
CHANGES: tuple[str, ...] = ("regression", "improvement", "changed", "added", "removed",
                            "unchanged")  # display order, regressions first
DIFF_SCHEMA = "recaudit.audit_diff"
DIFF_SCHEMA_VERSION = 1
DIFF_COLUMNS = ["change", "auditor", "metric", "scope", "value_a", "value_b", "delta",
                "threshold_a", "threshold_b", "verdict_a", "verdict_b", "reasons"]
_SETTINGS = ("n_bootstrap", "n_permutations", "alpha")
_MAX_WARNINGS_PER_KIND = 6


@dataclass
class CheckChange:
    """One matched check of the two runs (``metric`` is None for a whole-auditor row)."""

    auditor: str
    metric: str | None
    scope: str | None
    change: Change
    verdict_a: str | None = None  # None: absent from that run
    verdict_b: str | None = None
    value_a: float | None = None
    value_b: float | None = None
    ci_a: tuple[float, float] | None = None
    ci_b: tuple[float, float] | None = None
    threshold_a: float | None = None
    threshold_b: float | None = None
    higher_is_better: bool | None = None
    p_adjusted_a: float | None = None
    p_adjusted_b: float | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def delta(self) -> float | None:
        if self.value_a is None or self.value_b is None:
            return None
        return self.value_b - self.value_a

    @property
    def worse(self) -> bool | None:
        """Whether B's value is worse than A's in the metric's direction (None: unknown)."""
        d = self.delta
        if d is None or self.higher_is_better is None or d == 0:
            return None
        return d < 0 if self.higher_is_better else d > 0

    @property
    def key(self) -> str:
        return self.auditor if self.metric is None else f"{self.auditor}.{self.metric}@{self.scope}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["delta"] = self.delta
        d["key"] = self.key
        return _jsonable(d)


@dataclass
class ReportDiff:
    """The comparison of two runs: one :class:`CheckChange` per check, and warnings.

    Build it with :meth:`AuditReport.diff <recaudit.AuditReport.diff>`; write it with
    :meth:`to_html` or :meth:`to_json`.
    """

    a: dict[str, Any]
    b: dict[str, Any]
    changes: list[CheckChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[CheckChange]:
        return [c for c in self.changes if c.change == "regression"]

    @property
    def improvements(self) -> list[CheckChange]:
        return [c for c in self.changes if c.change == "improvement"]

    @property
    def has_regressions(self) -> bool:
        return bool(self.regressions)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(CHANGES, 0)
        for c in self.changes:
            out[c.change] += 1
        return out

    def summary(self) -> pd.DataFrame:
        """One row per check, regressions first (columns :data:`DIFF_COLUMNS`)."""
        rows = [{**{k: getattr(c, k) for k in DIFF_COLUMNS if k not in ("delta", "reasons")},
                 "delta": c.delta, "reasons": "; ".join(c.reasons)} for c in self.changes]
        df = pd.DataFrame(rows, columns=DIFF_COLUMNS)
        for col in ("value_a", "value_b", "delta", "threshold_a", "threshold_b"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        return df

    def to_dict(self) -> dict[str, Any]:
        return {"schema": DIFF_SCHEMA, "schema_version": DIFF_SCHEMA_VERSION,
                "has_regressions": self.has_regressions, "counts": self.counts(),
                "warnings": list(self.warnings), "a": _jsonable(self.a),
                "b": _jsonable(self.b), "changes": [c.to_dict() for c in self.changes]}

    def to_json(self, path: str | Path | None = None) -> str:
        """The diff as JSON text (for machines); also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1, default=str)
        if path is not None:
            _write(path, text)
        return text

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page: regressions first, then every check side by side."""
        from ._html import render_diff_html

        html = render_diff_html(self)
        if path is not None:
            _write(path, html)
        return html

    def __repr__(self) -> str:
        c = self.counts()
        parts = ", ".join(f"{n} {k}" for k, n in c.items() if n)
        return f"ReportDiff({parts or 'no checks'}; {len(self.warnings)} warning(s))"


def _write(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ======================================================================== building
def _val(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _ci(m: Metric) -> tuple[float, float] | None:
    return (m.ci_low, m.ci_high) if m.ci_low is not None and m.ci_high is not None else None


def _side(report: Any) -> dict[str, Any]:
    """What the diff page shows about one run."""
    meta = report.metadata or {}
    model = meta.get("model") or {}
    ds = meta.get("dataset") or {}
    return {"title": report.title, "passed": report.passed, "complete": report.complete,
            "counts": report.counts(), "started": meta.get("started"),
            "model": model.get("repr"), "model_fingerprint": model.get("fingerprint"),
            "model_description": model.get("description"),
            "dataset": ds.get("name"), "dataset_fingerprint": ds.get("fingerprint"),
            "seed": meta.get("seed"), "recaudit": (meta.get("versions") or {}).get("recaudit")}


def _beyond(m: Metric | None) -> bool:
    return m is not None and m.beyond_threshold


def _classify_metric(a: Metric | None, b: Metric | None) -> tuple[Change, list[str]]:
    va, vb = (a.verdict if a else None), (b.verdict if b else None)
    if a is None:
        if vb == "fail":
            return "regression", ["new check fails"]
        if vb == "error":
            return "regression", ["new check errored"]
        if _beyond(b):
            return "regression", ["new check is beyond its threshold"]
        return "added", ["only in B"]
    if b is None:
        return "removed", [f"only in A (verdict {va} there)"]
    bad, good = [], []
    if vb == "fail" and va != "fail":
        bad.append(f"verdict {va} -> fail")
    if vb == "error" and va != "error":
        bad.append(f"newly errored (was {va})")
    if _beyond(b) and not _beyond(a):
        bad.append(f"moved beyond its threshold ({_threshold_str(b)})")
    if va == "fail" and vb != "fail":
        good.append(f"verdict fail -> {vb}")
    if va == "error" and vb != "error":
        good.append(f"no longer errors (now {vb})")
    if _beyond(a) and not _beyond(b) and b.threshold is not None:
        good.append(f"back within its threshold ({_threshold_str(b)})")
    if bad:
        return "regression", bad
    if good:
        return "improvement", good
    if va != vb:
        return "changed", [f"verdict {va} -> {vb}"]
    if _ci(a) and _ci(b) and (b.ci_low > a.ci_high or b.ci_high < a.ci_low):
        return "changed", ["value moved beyond sampling noise (the 95% CIs do not overlap)"]
    return "unchanged", []


def _threshold_str(m: Metric) -> str:
    if m.threshold is None:
        return "no threshold"
    return f"{'>=' if m.higher_is_better else '<='} {m.threshold:.4g}"


def _auditor_row(name: str, ra: AuditResult | None, rb: AuditResult | None) -> CheckChange | None:
    """A whole-auditor row when either run skipped or errored it (or it is in one run only)."""
    sa = ra.status if ra is not None else None
    sb = rb.status if rb is not None else None
    if sa == "ok" and sb == "ok":
        return None
    reasons: list[str] = []
    if sb == "error" and sa != "error":
        change: Change = "regression"
        reasons.append(f"auditor newly errored: {rb.reason}")
    elif sa == "error" and sb != "error":
        change = "improvement"
        reasons.append(f"auditor no longer errors (was: {ra.reason})")
    elif sa == sb:
        if ra.metrics or rb.metrics:
            return None
        change = "unchanged"
        reasons.append(rb.reason)
    elif sa is None:
        change = "added"
        reasons.append(f"auditor only in B ({sb}{': ' + rb.reason if rb.reason else ''})")
    elif sb is None:
        change = "removed"
        reasons.append(f"auditor only in A ({sa})")
    else:
        change = "changed"
        why = rb.reason or ra.reason
        reasons.append(f"auditor {sa} -> {sb}" + (f": {why}" if why else ""))
    return CheckChange(name, None, None, change, verdict_a=sa, verdict_b=sb, reasons=reasons)


def _warnings(a: Any, b: Any) -> list[str]:
    out: list[str] = []
    ma, mb = a.metadata or {}, b.metadata or {}
    da, db = ma.get("dataset") or {}, mb.get("dataset") or {}
    fa, fb = da.get("fingerprint"), db.get("fingerprint")
    if (fa and fb and fa != fb) or (not (fa and fb) and _dataset_shape(da) != _dataset_shape(db)):
        out.append(f"the two runs audited different datasets: A {_dataset_str(da)}, "
                   f"B {_dataset_str(db)}; differences may come from the data, not the model")
    names_a = [r.auditor for r in a.results]
    names_b = [r.auditor for r in b.results]
    if only := [n for n in names_a if n not in names_b]:
        out.append(f"auditors only in A: {', '.join(only)}")
    if only := [n for n in names_b if n not in names_a]:
        out.append(f"auditors only in B: {', '.join(only)}")
    sa, sb = ma.get("settings") or {}, mb.get("settings") or {}
    for k in _SETTINGS:
        if k in sa and k in sb and sa[k] != sb[k]:
            out.append(f"different audit setting {k}: A {sa[k]}, B {sb[k]}")
    params, thresholds = [], []
    by_b = {r.auditor: r for r in b.results}
    for ra in a.results:
        rb = by_b.get(ra.auditor)
        if rb is None:
            continue
        pa, pb = _jsonable(ra.params or {}), _jsonable(rb.params or {})
        if ra.params and rb.params and pa != pb:
            keys = sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))
            params.append(f"{ra.auditor} ({', '.join(keys)})")
        mb_ = {(m.name, m.scope): m for m in rb.metrics}
        for m in ra.metrics:
            other = mb_.get((m.name, m.scope))
            if other is not None and m.threshold != other.threshold:
                thresholds.append(f"{ra.auditor}.{m.name}@{m.scope} "
                                  f"({_threshold_str(m)} vs {_threshold_str(other)})")
    if params:
        out.append("different auditor parameters: " + _capped(params))
    if thresholds:
        out.append("different thresholds: " + _capped(thresholds))
    if ma.get("seed") != mb.get("seed") and "seed" in ma and "seed" in mb:
        out.append(f"different seeds: A {ma.get('seed')}, B {mb.get('seed')} (sampling noise "
                   "alone can move values within their CIs)")
    for side, rep in (("A", a), ("B", b)):
        if not rep.complete:
            out.append(f"run {side} is incomplete: it stopped before every auditor ran")
    return out


def _capped(items: list[str]) -> str:
    head = ", ".join(items[:_MAX_WARNINGS_PER_KIND])
    more = len(items) - _MAX_WARNINGS_PER_KIND
    return head + (f" and {more} more" if more > 0 else "")


def _dataset_shape(ds: dict[str, Any]) -> tuple:
    return tuple(ds.get(k) for k in ("name", "n_users", "n_items", "n_interactions"))


def _dataset_str(ds: dict[str, Any]) -> str:
    fp = ds.get("fingerprint")
    shape = f"{ds.get('n_users', '?')} users, {ds.get('n_items', '?')} items"
    return f"{ds.get('name', '?')!r} ({shape}{', ' + str(fp)[:12] if fp else ''})"


def diff_reports(a: Any, b: Any) -> ReportDiff:
    """Compare report ``a`` (baseline) with report ``b`` (candidate); see the module doc."""
    rows: list[tuple[int, int, CheckChange]] = []
    res_a = {r.auditor: r for r in a.results}
    res_b = {r.auditor: r for r in b.results}
    order = [r.auditor for r in a.results] + [n for n in res_b if n not in res_a]
    for i, name in enumerate(order):
        ra, rb = res_a.get(name), res_b.get(name)
        row = _auditor_row(name, ra, rb)
        if row is not None:
            rows.append((i, -1, row))
        ma = {(m.name, m.scope): m for m in (ra.metrics if ra else [])}
        mb = {(m.name, m.scope): m for m in (rb.metrics if rb else [])}
        keys = list(ma) + [k for k in mb if k not in ma]
        for j, key in enumerate(keys):
            x, y = ma.get(key), mb.get(key)
            change, reasons = _classify_metric(x, y)
            ref = y if y is not None else x
            rows.append((i, j, CheckChange(
                name, key[0], key[1], change,
                verdict_a=x.verdict if x else None, verdict_b=y.verdict if y else None,
                value_a=_val(x.value) if x else None, value_b=_val(y.value) if y else None,
                ci_a=_ci(x) if x else None, ci_b=_ci(y) if y else None,
                threshold_a=x.threshold if x else None, threshold_b=y.threshold if y else None,
                higher_is_better=ref.higher_is_better,
                p_adjusted_a=x.p_adjusted if x else None,
                p_adjusted_b=y.p_adjusted if y else None, reasons=reasons)))
    rank = {c: n for n, c in enumerate(CHANGES)}
    rows.sort(key=lambda t: (rank[t[2].change], t[0], t[1]))
    return ReportDiff(a=_side(a), b=_side(b), changes=[r for _, _, r in rows],
                      warnings=_warnings(a, b))
