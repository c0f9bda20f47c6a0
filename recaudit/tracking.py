"""Experiment tracking: log an audit to MLflow (``pip install 'recaudit[mlflow]'``).

    ra.audit(model, data, auditors, log_to="mlflow")
    ra.audit(model, data, auditors, log_to={"kind": "mlflow", "tracking_uri": "sqlite:///m.db",
                                            "experiment": "audits", "run_name": "nightly"})
    recaudit audit SPEC.yaml --mlflow [--mlflow-uri URI] [--mlflow-experiment NAME]
    recaudit.tracking.log_report(AuditReport.from_json("r.json"), "mlflow")   # after the fact

**Which run.** Inside ``with mlflow.start_run():`` and with none of ``tracking_uri``,
``experiment``, ``run_name`` given, the audit goes into that active run (left open).
Otherwise a new run is created (and ended) at ``tracking_uri`` (default: MLflow's own,
``$MLFLOW_TRACKING_URI`` or ``mlflow.set_tracking_uri``) in ``experiment`` (created when
missing; default: ``$MLFLOW_EXPERIMENT_NAME``, the experiment ``mlflow.set_experiment``
chose, else MLflow's ``Default``), named ``run_name`` (default: the report's title), its
start time the audit's. MLflow 3's own default URI is ``sqlite:///mlflow.db`` (hence
SQLAlchemy and Alembic in the extra); its file store (``file:./mlruns``) is refused unless
``MLFLOW_ALLOW_FILE_STORE=true``.

**What is logged.**

- *Metrics*: every check's value, and its 95% CI bounds as two more metrics; the verdict
  counts ``verdicts.fail``, ``verdicts.error``, ``verdicts.pass``, ``verdicts.info``,
  ``verdicts.skipped``; ``audit.passed`` (1 or 0) and ``audit.wall_seconds``.
- *Params* (values of at most MLflow's limit, 6000 characters; longer ones end in ``...``):
  ``audit.seed``, ``audit.auditors`` and the run settings (``audit.n_bootstrap``, ...),
  ``model.type|fingerprint|description|capabilities|repr``, ``dataset.<summary key>``
  (name, fingerprint, sizes) and every auditor parameter as ``<auditor>.<param>``
  (thresholds included); non-strings as JSON.
- *Tags*: ``recaudit.version``, ``recaudit.passed``, ``recaudit.complete``,
  ``recaudit.title``.
- *Artifacts* under ``recaudit/``: ``report.json``, ``report.html`` and
  ``metric_names.json`` (each metric key back to its auditor, metric, scope and field).

**Metric names** (:func:`metric_key`). MLflow allows letters, digits, ``_ - . / space``
(and ``:`` except on Windows) and at most 250 characters. A check (auditor, metric, scope)
becomes ``<auditor>/<metric>`` when the scope is ``all``, else
``<auditor>/<metric>.<scope>``, each part with every character outside
``A-Z a-z 0-9 _ - .`` replaced by ``_`` (a part of dots only becomes underscores); its CI
bounds add ``.ci_low`` and ``.ci_high``. So ``popularity_lift`` of ``popularity_bias`` in
scope ``gender=female`` is ``popularity_bias/popularity_lift.gender_female`` with
``popularity_bias/popularity_lift.gender_female.ci_low``; ``position_bias``'s
``ndcg_at_pos`` at ``pos=0`` is ``position_bias/ndcg_at_pos.pos_0``. A name over 242
characters (250 less ``.ci_high``) keeps its first 233 and ends in ``-`` and 8 hex digits
of its sha256. When two
checks of one report map to the same name, the later ones get ``-2``, ``-3``, ... in report
order. The name of a ``/``-free flat metric (the counts above) never clashes with a check's.

**Failures.** A missing mlflow is a :class:`~recaudit.errors.MissingDependencyError` before
anything runs; an unusable tracking URI or experiment a :class:`~recaudit.errors.
TrackingError` before the audit (exit 2 on the command line). Logging that fails after the
audit is a ``TrackingError`` carrying the finished report (``.report``); the JSON and HTML
already written stay on disk, and a run this module created is marked ``FAILED``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import (
    MissingDependencyError,
    SpecError,
    TrackingError,
    did_you_mean,
    short_repr,
)
from .results import VERDICTS

__all__ = ["LOG_TO_KEYS", "MlflowLogger", "MlflowTarget", "log_report", "metric_key",
           "open_tracker", "parse_log_to", "report_metrics", "report_params"]

#: The keys a ``log_to`` mapping accepts.
LOG_TO_KEYS = {
    "kind": "'mlflow' (the one tracker)",
    "tracking_uri": "MLflow tracking URI (default: MLflow's own)",
    "experiment": "experiment name, created when missing",
    "run_name": "name of the new run (default: the report's title)",
}
INSTALL = "pip install 'recaudit[mlflow]'"
MAX_KEY = 250  # MLflow's longest metric, param or tag key
_CI = (".ci_low", ".ci_high")
_MAX_BASE = MAX_KEY - max(map(len, _CI))
_DISALLOWED = re.compile(r"[^A-Za-z0-9_.\-]")


# ======================================================================== names and values
def _part(text: Any) -> str:
    """One name part: characters outside ``A-Za-z0-9_.-`` become ``_``; a part of dots
    only (``.``, ``..``: not a name MLflow accepts) or empty becomes underscores."""
    s = _DISALLOWED.sub("_", str(text))
    return s if s.strip(".") else "_" * max(len(s), 1)


def _fit(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    return f"{name[:limit - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def metric_key(auditor: str, metric: str, scope: str = "all") -> str:
    """The MLflow metric name of one check (see the module docstring for the rule).

    >>> metric_key("popularity_bias", "popularity_lift", "gender=female")
    'popularity_bias/popularity_lift.gender_female'
    >>> metric_key("popularity_bias", "arp")
    'popularity_bias/arp'
    >>> metric_key("llm_judge", "agreement", "a~b")
    'llm_judge/agreement.a_b'
    """
    base = f"{_part(auditor)}/{_part(metric)}"
    if str(scope) != "all":
        base += f".{_part(scope)}"
    return _fit(base, _MAX_BASE)


def _float(x: Any) -> float | None:
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def report_metrics(report: Any) -> tuple[dict[str, float], dict[str, dict[str, str]]]:
    """``(metrics, names)``: every MLflow metric of ``report`` (name -> value) and, for each
    check's name, where it came from (``auditor``, ``metric``, ``scope``, ``field``)."""
    metrics: dict[str, float] = {}
    names: dict[str, dict[str, str]] = {}
    for m in report.metrics:
        key = base = metric_key(m.auditor, m.name, m.scope)
        n = 1
        while any(k in metrics for k in (key, *(key + s for s in _CI))):
            n += 1
            key = f"{base}-{n}"
        for suffix, field in (("", "value"), (_CI[0], "ci_low"), (_CI[1], "ci_high")):
            value = _float(getattr(m, field))
            if value is None:
                continue
            metrics[key + suffix] = value
            names[key + suffix] = {"auditor": m.auditor, "metric": m.name,
                                   "scope": str(m.scope), "field": field}
    counts = report.counts()
    for v in VERDICTS:
        metrics[f"verdicts.{v}"] = float(counts.get(v, 0))
    metrics["audit.passed"] = 1.0 if report.passed else 0.0
    wall = _float((report.metadata or {}).get("wall_seconds"))
    if wall is not None and not math.isnan(wall):
        metrics["audit.wall_seconds"] = wall
    return metrics, names


def _param_value(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(
        value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def report_params(report: Any, *, limit: int = 6000) -> dict[str, str]:
    """The run settings of ``report`` as MLflow params (name -> value of at most ``limit``
    characters): seed, auditors and settings, model, dataset, every auditor's parameters."""
    meta = report.metadata or {}
    raw: dict[str, Any] = {
        "audit.seed": meta.get("seed"),
        "audit.auditors": ",".join(meta.get("auditors") or [r.auditor for r in report.results]),
    }
    raw.update({f"audit.{k}": v for k, v in (meta.get("settings") or {}).items()})
    model = meta.get("model") or {}
    raw.update({f"model.{k}": model[k] for k in
                ("type", "fingerprint", "description", "capabilities", "repr") if k in model})
    raw.update({f"dataset.{k}": v for k, v in (meta.get("dataset") or {}).items()})
    for r in report.results:
        raw.update({f"{r.auditor}.{k}": v for k, v in (r.params or {}).items()})
    out = {}
    for key, value in raw.items():
        if value is None:
            continue
        out[_fit(".".join(_part(p) for p in key.split(".", 1)), MAX_KEY)] = _param_value(
            value, limit)
    return out


def _tags(report: Any) -> dict[str, str]:
    meta = report.metadata or {}
    return {"recaudit.version": str((meta.get("versions") or {}).get("recaudit")),
            "recaudit.passed": str(bool(report.passed)).lower(),
            "recaudit.complete": str(bool(report.complete)).lower(),
            "recaudit.title": str(report.title)[:5000]}


def _started_ms(report: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(report.metadata["started"])).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return None


def _redact(uri: str) -> str:
    """``uri`` without a user name or password (it goes into reports and messages)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


# ======================================================================== the target
@dataclass(frozen=True)
class MlflowTarget:
    """Where an audit is logged: ``None`` everywhere means MLflow's defaults (and the
    active run, when there is one)."""

    tracking_uri: str | None = None
    experiment: str | None = None
    run_name: str | None = None

    @property
    def explicit(self) -> bool:
        return any(v is not None for v in (self.tracking_uri, self.experiment, self.run_name))


def parse_log_to(log_to: Any) -> MlflowTarget | None:
    """``None`` (no tracking), ``"mlflow"`` or ``{"kind": "mlflow", "tracking_uri": ...,
    "experiment": ..., "run_name": ...}`` -> a :class:`MlflowTarget`; anything else is a
    :class:`~recaudit.errors.SpecError` naming the key."""
    if log_to is None or log_to is False:
        return None
    if isinstance(log_to, MlflowTarget):
        return log_to
    if isinstance(log_to, str):
        if log_to != "mlflow":
            raise SpecError(f"log_to: unknown tracker {log_to!r}; the one tracker is "
                            f"'mlflow'{did_you_mean(log_to, ['mlflow'])}")
        return MlflowTarget()
    if not isinstance(log_to, Mapping):
        raise SpecError(f"log_to: expected 'mlflow' or a mapping with kind: mlflow, got "
                        f"{type(log_to).__name__}")
    for key in log_to:
        if key not in LOG_TO_KEYS:
            raise SpecError(f"log_to: unknown key {key!r}.{did_you_mean(key, LOG_TO_KEYS)} "
                            f"Keys: {', '.join(LOG_TO_KEYS)}.")
    if log_to.get("kind", "mlflow") != "mlflow":
        raise SpecError(f"log_to.kind: unknown tracker {log_to['kind']!r}; the one tracker "
                        "is 'mlflow'")
    values = {}
    for key in ("tracking_uri", "experiment", "run_name"):
        value = log_to.get(key)
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise SpecError(f"log_to.{key}: expected a string, got {type(value).__name__}")
        values[key] = str(value) if value is not None else None
    return MlflowTarget(**values)


def _import_mlflow() -> Any:
    try:
        import mlflow
        from mlflow.tracking import MlflowClient  # noqa: F401  (the client must be there)
    except ImportError as exc:
        raise MissingDependencyError(
            f"logging to MLflow needs mlflow, which is not installed: {INSTALL} "
            f"({_one_line(exc)})") from exc
    return mlflow


# ======================================================================== the logger
class MlflowLogger:
    """Opened before an audit (checks mlflow, the tracking URI and the experiment, so a bad
    one fails before the model is called); :meth:`log` logs a finished report."""

    def __init__(self, target: MlflowTarget) -> None:
        self.target = target
        mlflow = self._mlflow = _import_mlflow()
        from mlflow.tracking import MlflowClient

        active = mlflow.active_run()
        self.active_run_id = active.info.run_id if active and not target.explicit else None
        self.tracking_uri = _redact(target.tracking_uri or mlflow.get_tracking_uri())
        self.experiment_id: str | None = None
        self.experiment_name: str | None = None
        try:
            self.client = MlflowClient(tracking_uri=target.tracking_uri)
            if self.active_run_id is not None:
                self.experiment_id = active.info.experiment_id
            else:
                self.experiment_id = self._experiment_id()
            # one round trip to the store now: an unreachable server fails before the audit
            self.experiment_name = self.client.get_experiment(self.experiment_id).name
        except Exception as exc:  # every store raises its own kind
            reason = _one_line(exc)
            if "MLFLOW_ALLOW_FILE_STORE" in reason:  # the hint first: CLI lines are cut
                reason = ("MLflow refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true; "
                          "use a database URI such as sqlite:///mlflow.db")
            raise TrackingError(f"MLflow tracking URI {short_repr(self.tracking_uri)} is not "
                                f"usable: {reason}") from exc

    def _experiment_id(self) -> str:
        name = self.target.experiment
        if name is None and self.target.tracking_uri is None:
            # MLflow's own choice: mlflow.set_experiment, $MLFLOW_EXPERIMENT_NAME/_ID, Default
            fluent = getattr(getattr(self._mlflow, "tracking", None), "fluent", None)
            chosen = getattr(fluent, "_get_experiment_id", lambda: None)()
            if chosen is not None:
                return str(chosen)
        if name is None:
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if name is None:
            return os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return str(self.client.create_experiment(name))
            except Exception:  # created meanwhile by another process
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if getattr(found, "lifecycle_stage", "active") != "active":
            raise TrackingError(f"MLflow experiment {name!r} is deleted; restore it "
                                "or name another")
        return str(found.experiment_id)

    def _param_limit(self) -> int:
        try:
            from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
        except ImportError:  # pragma: no cover - older MLflow
            return 500
        return int(MAX_PARAM_VAL_LENGTH)

    def log(self, report: Any, *, html: str | Path | None = None,
            json_path: str | Path | None = None) -> str:
        """Log ``report`` (metrics, params, tags, artifacts); returns the run id and records
        ``{"run_id", "experiment_id", "tracking_uri"}`` in ``report.metadata["mlflow"]``.

        ``html``: a rendered report to upload as is (else it is rendered here).
        ``json_path``: named in the error message only (the JSON artifact is written fresh,
        with the ``mlflow`` entry). Raises :class:`~recaudit.errors.TrackingError` with the
        report attached when anything fails.
        """
        from mlflow.entities import Metric, Param, RunTag

        run_id, created = self.active_run_id, False
        try:
            if run_id is None:
                name = (self.target.run_name or str(report.title))[:MAX_KEY]
                run = self.client.create_run(self.experiment_id, start_time=_started_ms(report),
                                             run_name=name)
                run_id, created = run.info.run_id, True
            report.metadata["mlflow"] = {"run_id": run_id, "experiment_id": self.experiment_id,
                                         "tracking_uri": self.tracking_uri}
            now = int(time.time() * 1000)
            metrics, names = report_metrics(report)
            self.client.log_batch(
                run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in
                        report_params(report, limit=self._param_limit()).items()],
                tags=[RunTag(k, v) for k, v in _tags(report).items()])
            with tempfile.TemporaryDirectory(prefix="recaudit-mlflow-") as tmp:
                folder = Path(tmp)
                report.to_json(folder / "report.json")
                if html is not None and Path(html).is_file():
                    shutil.copyfile(html, folder / "report.html")
                else:
                    report.to_html(folder / "report.html")
                (folder / "metric_names.json").write_text(
                    json.dumps(names, indent=1, sort_keys=True), encoding="utf-8")
                self.client.log_artifacts(run_id, str(folder), "recaudit")
            if created:
                self.client.set_terminated(run_id, "FINISHED")
        except Exception as exc:
            report.metadata.pop("mlflow", None)
            if created:
                try:
                    self.client.set_terminated(run_id, "FAILED")
                except Exception:  # the store is what failed: nothing more to do
                    pass
            kept = [str(p) for p in (json_path, html) if p is not None and Path(p).exists()]
            where = (f"; the report stays in {' and '.join(kept)}" if kept
                     else "; the report is on this error as .report")
            raise TrackingError(f"logging the audit to MLflow at {self.tracking_uri!r} failed: "
                                f"{_one_line(exc)}{where}", report=report) from exc
        return run_id


def open_tracker(log_to: Any) -> MlflowLogger | None:
    """The logger ``log_to`` asks for (``None`` for none), opened now: a missing mlflow, an
    unknown key or an unusable URI fails here, before an audit runs."""
    target = parse_log_to(log_to)
    return MlflowLogger(target) if target is not None else None


def log_report(report: Any, log_to: Any = "mlflow", *, html: str | Path | None = None,
               json_path: str | Path | None = None) -> str:
    """Log a finished :class:`~recaudit.AuditReport` (one read with ``from_json`` too) to
    MLflow; returns the run id. ``log_to`` as for :func:`recaudit.audit`.

    Examples
    --------
    >>> from recaudit.tracking import log_report                         # doctest: +SKIP
    >>> report = ra.AuditReport.from_json("reports/quickstart.json")      # doctest: +SKIP
    >>> log_report(report, {"kind": "mlflow", "experiment": "audits"})    # doctest: +SKIP
    """
    tracker = open_tracker(log_to)
    if tracker is None:
        raise SpecError("log_report: log_to is None; pass 'mlflow' or a mapping")
    return tracker.log(report, html=html, json_path=json_path)
