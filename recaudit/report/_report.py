"""``AuditReport``: the outcome of one audit, with its summary table, JSON and HTML forms.

The JSON form is versioned (``schema_version``). :meth:`AuditReport.from_json` reads the
current version and every older one (each older version is upgraded by a small migration
function in :data:`MIGRATIONS`), and refuses a newer or unknown version with a message naming
it.

Schema history:

- 1: ``schema``, ``schema_version``, ``title``, ``complete``, ``passed``, ``metadata``,
  ``results``.
- 2: adds ``counts`` (checks per verdict, for machines; recomputed on reading) and
  ``metadata.model.description`` (one line on the model; ``""`` when migrated from 1), and
  ``metadata.versions`` lists fairlearn and captum (``None`` when migrated from 1: unknown).
- 3: a figure may be figure data (``{"kind", "data"}``). Each result may also carry
  ``per_user`` (the rows behind its metrics: ``metric``, ``scope``, ``aggregate``,
  ``unit``, aligned ``ids`` and ``values``, optional extra ``columns``); it is optional, so
  it needs no new version: a result without it simply has no per-user rows.

Reading checks the structure first (:func:`check_report`): a missing ``results``, a metric
value that is not a number, an unknown verdict... raise :class:`~recaudit.errors.SpecError`
naming the place (``results[2].metrics[0].ci_low``), so a broken file never reads as a
passed audit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import SpecError, short_repr
from ..results import _PER_USER, VERDICTS, AuditResult, Cost, Metric, _jsonable
from ._output import write_output

if TYPE_CHECKING:
    from ._diff import ReportDiff

SCHEMA_VERSION = 3
SCHEMA_NAME = "recaudit.audit_report"


def _v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    """1 -> 2: a ``description`` on the model, fairlearn/captum in the versions (unknown)."""
    meta = dict(d.get("metadata") or {})
    model = dict(meta.get("model") or {})
    model.setdefault("description", "")
    meta["model"] = model
    versions = dict(meta.get("versions") or {})
    for pkg in ("fairlearn", "captum"):
        versions.setdefault(pkg, None)
    meta["versions"] = versions
    return {**d, "metadata": meta, "schema_version": 2}


def _v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
    """2 -> 3: a figure may be figure data (``{"kind", "data"}``) the report draws; version
    2's figures, SVG text, stay valid as they are."""
    return {**d, "schema_version": 3}


#: ``version -> function`` upgrading a report dict of that version to the next one.
MIGRATIONS: dict[int, Any] = {1: _v1_to_v2, 2: _v2_to_v3}


def migrate(d: Mapping[str, Any]) -> dict[str, Any]:
    """Upgrade a report dict (as read from JSON) to :data:`SCHEMA_VERSION`.

    Raises :class:`~recaudit.errors.SpecError` naming the version when it is newer than this
    recaudit reads, or not a version that ever existed.
    """
    if not isinstance(d, Mapping) or d.get("schema") != SCHEMA_NAME:
        raise SpecError(f"not a recaudit audit report (missing schema {SCHEMA_NAME!r}); "
                        "write one with AuditReport.to_json()")
    version = d.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise SpecError(f"audit report schema_version {short_repr(version)} is unknown: "
                        "expected an "
                        f"integer from 1 to {SCHEMA_VERSION}")
    if version > SCHEMA_VERSION:
        raise SpecError(f"audit report schema_version {version} is newer than this recaudit "
                        f"reads (up to {SCHEMA_VERSION}); upgrade recaudit to read it")
    if version < 1:
        raise SpecError(f"audit report schema_version {version} is unknown: versions start "
                        f"at 1 (this recaudit reads 1 to {SCHEMA_VERSION})")
    out = dict(d)
    while out["schema_version"] < SCHEMA_VERSION:
        out = MIGRATIONS[out["schema_version"]](out)
    return out


_STATUSES = ("ok", "skipped", "error")
_METRIC_KEYS = tuple(f.name for f in fields(Metric) if f.name not in _PER_USER)
_METRIC_NUMBERS = ("value", "ci_low", "ci_high", "threshold", "p_value", "p_adjusted")
_COST_KEYS = tuple(f.name for f in fields(Cost))
_RESULT_TYPES = (("metrics", list, "a list"), ("evidence", list, "a list"),
                 ("notes", list, "a list"), ("per_user", list, "a list"),
                 ("tables", Mapping, "a mapping"), ("figures", Mapping, "a mapping"),
                 ("params", Mapping, "a mapping"), ("cost", Mapping, "a mapping"),
                 ("reason", str, "a string"), ("family", str, "a string"),
                 ("method", str, "a string"), ("citation", str, "a string"))


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_report(d: Mapping[str, Any], where: str = "audit report") -> None:
    """Raise :class:`~recaudit.errors.SpecError` at the first part of a report dict (current
    schema version) that is not what :class:`AuditReport` reads, naming its JSON path:
    ``audit report 'a.json': results[2].metrics[0].ci_low: expected a number or null, got
    'abc'``. Hand-written checks (no JSON Schema library is a dependency); keys that only
    carry text (``metadata``, ``evidence``, figure data) are not looked into."""
    def bad(path: str, expected: str, value: Any) -> None:
        raise SpecError(f"{where}: {path}: expected {expected}, got {short_repr(value)}")

    if "results" not in d:
        raise SpecError(f"{where}: results: missing; a report without its results cannot be "
                        "read (AuditReport.to_json() writes them)")
    results = d["results"]
    if not isinstance(results, list):
        bad("results", "a list of auditor results", results)
    for key, typ, expected in (("metadata", Mapping, "a mapping"), ("title", str, "a string"),
                               ("complete", bool, "true or false")):
        if key in d and not isinstance(d[key], typ):
            bad(key, expected, d[key])
    for i, r in enumerate(results):
        at = f"results[{i}]"
        if not isinstance(r, Mapping):
            bad(at, "a mapping (one auditor's result)", r)
        if not isinstance(r.get("auditor"), str):
            bad(f"{at}.auditor", "the auditor's name", r.get("auditor"))
        if r.get("status", "ok") not in _STATUSES:
            bad(f"{at}.status", f"one of {', '.join(_STATUSES)}", r.get("status"))
        for key, typ, expected in _RESULT_TYPES:
            if key in r and not isinstance(r[key], typ):
                bad(f"{at}.{key}", expected, r[key])
        for j, m in enumerate(r.get("metrics", [])):
            mat = f"{at}.metrics[{j}]"
            if not isinstance(m, Mapping):
                bad(mat, "a mapping (one metric)", m)
            for key in m:
                if key not in _METRIC_KEYS:
                    raise SpecError(f"{where}: {mat}: unknown key {short_repr(key)}; a metric "
                                    f"has {', '.join(_METRIC_KEYS)}")
            if not isinstance(m.get("name"), str):
                bad(f"{mat}.name", "the metric's name", m.get("name"))
            for key in _METRIC_NUMBERS:
                if m.get(key) is not None and not _number(m[key]):
                    bad(f"{mat}.{key}", "a number or null", m[key])
            if m.get("verdict", "info") not in VERDICTS:
                bad(f"{mat}.verdict", f"one of {', '.join(VERDICTS)}", m["verdict"])
            if m.get("higher_is_better") not in (None, True, False):
                bad(f"{mat}.higher_is_better", "true, false or null", m["higher_is_better"])
            for key in ("scope", "auditor", "description"):
                if key in m and not isinstance(m[key], str):
                    bad(f"{mat}.{key}", "a string", m[key])
        for key, v in r.get("tables", {}).items():
            if not isinstance(v, str):
                bad(f"{at}.tables.{key}", "a table as JSON text", v)
        for key, v in r.get("figures", {}).items():
            if isinstance(v, Mapping):
                if not isinstance(v.get("kind"), str) or not v["kind"]:
                    bad(f"{at}.figures.{key}.kind", "a figure kind", v.get("kind"))
                if not isinstance(v.get("data", {}), Mapping):
                    bad(f"{at}.figures.{key}.data", "a mapping", v["data"])
            elif not isinstance(v, str):
                bad(f"{at}.figures.{key}", "SVG text or {kind, data}", v)
        for key, v in r.get("cost", {}).items():
            if key not in _COST_KEYS:
                bad(f"{at}.cost", f"the keys {', '.join(_COST_KEYS)}", key)
            if not _number(v):
                bad(f"{at}.cost.{key}", "a number", v)
        for j, e in enumerate(r.get("per_user", [])):
            if not isinstance(e, Mapping):
                bad(f"{at}.per_user[{j}]", "a mapping", e)
            for key in ("ids", "values"):
                if not isinstance(e.get(key, []), list):
                    bad(f"{at}.per_user[{j}].{key}", "a list", e[key])


SUMMARY_COLUMNS = ["auditor", "metric", "scope", "value", "ci_low", "ci_high", "threshold",
                   "p_value", "p_adjusted", "verdict"]


@dataclass
class AuditReport:
    """The outcome of one audit: a result per auditor and the run's metadata.

    Examples
    --------
    >>> import recaudit as ra                                            # doctest: +SKIP
    >>> report = ra.audit(model, data, auditors=["popularity_bias"])   # doctest: +SKIP
    >>> report.summary().query("verdict == 'fail'")                    # doctest: +SKIP
    >>> report.to_html("reports/audit.html")                           # doctest: +SKIP
    """

    results: list[AuditResult] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    title: str = "recaudit audit"
    complete: bool = True
    schema_version: int = SCHEMA_VERSION

    # -------------------------------------------------------------- access
    def __getitem__(self, auditor: str) -> AuditResult:
        for r in self.results:
            if r.auditor == auditor:
                return r
        raise KeyError(f"no result for auditor {auditor!r}; this report has "
                       f"{[r.auditor for r in self.results]}")

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def metrics(self) -> list:
        return [m for r in self.results for m in r.metrics]

    @property
    def passed(self) -> bool:
        """True when no metric failed and no auditor raised (skipped ones do not count)."""
        return not any(r.status == "error" for r in self.results) and not any(
            m.verdict in ("fail", "error") for m in self.metrics)

    @property
    def failed(self) -> list:
        """Metrics whose verdict is ``fail``."""
        return [m for m in self.metrics if m.verdict == "fail"]

    @property
    def cost(self) -> Cost:
        total = Cost()
        for r in self.results:
            total += r.cost
        return total

    def counts(self) -> dict[str, int]:
        """How many checks have each verdict (an errored or skipped auditor counts once)."""
        out = dict.fromkeys(VERDICTS, 0)
        for r in self.results:
            if r.status in ("skipped", "error") and not r.metrics:
                out[r.status] += 1
            for m in r.metrics:
                out[m.verdict] = out.get(m.verdict, 0) + 1
        return out

    def summary(self) -> pd.DataFrame:
        """One row per metric (and one per skipped or errored auditor without metrics)."""
        rows = []
        for r in self.results:
            if r.status in ("skipped", "error") and not r.metrics:
                rows.append({"auditor": r.auditor, "metric": None, "scope": None,
                             "verdict": r.status})
            for m in r.metrics:
                rows.append({c: getattr(m, "name" if c == "metric" else c)
                             for c in SUMMARY_COLUMNS})
        df = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
        for c in ("value", "ci_low", "ci_high", "threshold", "p_value", "p_adjusted"):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        return df

    def per_user(self, auditor: str, metric: str, scope: str | None = None) -> pd.DataFrame:
        """The per-user values behind one metric (every scope, or ``scope``), to find who is
        worst served.

        Columns: ``user_id`` (or the unit's key, such as ``item_id``, where the unit is not
        a user), ``scope``, ``value``, then any extra columns the auditor adds (a group, a
        membership label). ``attrs["aggregate"]`` says how the metric follows from
        ``value``: ``"mean"`` (the mean of its non-missing values), ``"sum"``, or ``None``
        (a ratio, gap or AUC; the auditor's docstring says how). Read back from JSON alike.
        Raises ``KeyError`` naming the auditors, metrics or scopes that exist.

        Examples
        --------
        >>> rows = report.per_user("popularity_bias", "popularity_lift", "all")  # doctest: +SKIP
        >>> rows.nlargest(5, "value")                     # the most over-served  # doctest: +SKIP
        """
        return self[auditor].per_user(metric, scope)

    # -------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION,
                "title": self.title, "complete": self.complete, "passed": self.passed,
                "counts": self.counts(), "metadata": _jsonable(self.metadata),
                "results": [r.to_dict() for r in self.results]}

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON text; also written (atomically) to ``path`` when given."""
        d = self.to_dict()
        try:
            text = json.dumps(d, indent=1, allow_nan=False, default=str)
        except ValueError:  # an infinite value somewhere: Python's JSON dialect keeps it
            text = json.dumps(d, indent=1, default=str)
        if path is not None:
            write_output(path, text, "the JSON report")
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "audit report") -> AuditReport:
        """Build a report from its dict form, upgrading older schema versions first.

        The structure is checked first (:func:`check_report`): a bad part raises
        :class:`~recaudit.errors.SpecError` naming ``where`` and the place in the dict."""
        d = migrate(d)
        check_report(d, where)
        results = []
        for i, r in enumerate(d["results"]):
            try:
                results.append(AuditResult.from_dict(r))
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise SpecError(f"{where}: results[{i}] cannot be read: "
                                f"{short_repr(str(exc))[1:-1]}") from exc
        return cls(results=results, metadata=dict(d.get("metadata", {})),
                   title=d.get("title", "recaudit audit"),
                   complete=bool(d.get("complete", True)), schema_version=SCHEMA_VERSION)

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> AuditReport:
        """Read a report written by :meth:`to_json` (a path, or the JSON text itself)."""
        text = str(path_or_text)
        is_text = text.lstrip().startswith("{")
        where = "audit report (JSON text)" if is_text else f"audit report {short_repr(text)}"
        if not is_text:
            try:
                data = Path(path_or_text).read_bytes()
            except OSError as exc:
                raise SpecError(f"cannot read audit report {short_repr(text)}: "
                                f"{exc.strerror or exc}") from exc
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise SpecError(f"{where} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset "
                                f"{exc.start}); recaudit writes reports as UTF-8") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{where} is not valid JSON "
                            f"(line {exc.lineno}: {exc.msg})") from exc
        return cls.from_dict(d, where=where)

    # -------------------------------------------------------------- comparing
    def diff(self, other: AuditReport) -> ReportDiff:
        """Compare this run (A, the baseline) with ``other`` (B, the candidate).

        Checks are matched by (auditor, metric, scope). A regression is a check that fails
        or errors in B but not in A, or whose value moved beyond its threshold (even when
        not significant). See :class:`~recaudit.report.ReportDiff`.

        Examples
        --------
        >>> before = AuditReport.from_json("reports/before.json")         # doctest: +SKIP
        >>> d = before.diff(AuditReport.from_json("reports/after.json"))  # doctest: +SKIP
        >>> d.has_regressions, d.summary().head()                          # doctest: +SKIP
        """
        from ._diff import diff_reports

        return diff_reports(self, other)

    # -------------------------------------------------------------- HTML
    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report; also written (atomically) to ``path`` when given."""
        from ._html import render_html

        html = render_html(self)
        if path is not None:
            write_output(path, html, "the HTML report")
        return html

    # -------------------------------------------------------------- CI
    def to_junit(self, path: str | Path | None = None) -> str:
        """JUnit XML for CI test reporters; also written (atomically) to ``path`` when given.

        One ``<testsuite>`` per auditor, one ``<testcase>`` per check: ``<failure>`` for a
        failed verdict (value, CI, threshold, Holm-adjusted p), ``<error>`` and ``<skipped>``
        with the reason; ``info`` metrics are suite properties, not test cases. Valid against
        the Jenkins JUnit schema (see :mod:`recaudit.report._junit`). A path that cannot be
        written raises :class:`~recaudit.errors.OutputError`.
        """
        from ._junit import render_junit

        text = render_junit(self)
        if path is not None:
            write_output(path, text, "JUnit XML")
        return text

    def to_markdown(self, path: str | Path | None = None) -> str:
        """A Markdown scorecard (verdict per auditor, checks worst first) for a CI job summary
        such as ``$GITHUB_STEP_SUMMARY``; also written (atomically) to ``path`` when given."""
        from ._markdown import render_markdown

        text = render_markdown(self)
        if path is not None:
            write_output(path, text, "the Markdown summary")
        return text

    def _repr_html_(self) -> str:  # notebooks
        return self.summary().to_html(index=False)

    def __repr__(self) -> str:
        c = self.counts()
        state = "passed" if self.passed else "FAILED"
        parts = ", ".join(f"{c[v]} {v}" for v in VERDICTS if c.get(v))
        return f"AuditReport({state}: {len(self.results)} auditors; {parts})"
