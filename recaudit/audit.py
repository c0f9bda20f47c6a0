"""``ra.audit``: run auditors on a model and collect an :class:`AuditReport`.

Each auditor runs on its own (in a try/except, like Giskard's scanner): a missing capability
(or a request the model cannot answer at all, :class:`~recaudit.errors.UnanswerableRequestError`)
gives ``skipped`` with the reason, an exception gives ``error`` with the message, and the
others still run. Model requests go through the engine (:class:`~recaudit.engine.
CachedRecommender`), so answers are shared across auditors and re-runs. After every auditor
the report so far can be written to JSON, so nothing computed is lost if a later one fails
or the process is killed. Verdicts use Holm's correction across the whole audit.
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .auditors import (
    BUILTIN_AUDITORS,
    AuditContext,
    Auditor,
    assign_verdicts,
    auditor_families,
    available_auditors,
    get_auditor_class,
)
from .contract import BaseRecommender, Ranking, Request
from .engine import engine_for, owned_executor, uncached
from .errors import (
    EndpointError,
    SpecError,
    UnanswerableRequestError,
    UnknownAuditorError,
    UnknownNameError,
    did_you_mean,
)
from .report import SCHEMA_VERSION, SUMMARY_COLUMNS, AuditReport
from .results import AuditResult, Cost
from .tracking import open_tracker

__all__ = ["SCHEMA_VERSION", "SUMMARY_COLUMNS", "AuditReport", "audit", "estimate_audit",
           "resolve_auditors"]


#: Run settings ``config`` may hold next to per-auditor overrides.
RUN_KEYS = {
    "n_bootstrap": "bootstrap resamples for confidence intervals",
    "n_permutations": "permutations for permutation tests",
    "alpha": "significance level (Holm-adjusted across the audit)",
    "batch_size": "most requests per call to the model",
    "extra": "free settings passed to auditors as ctx.extra",
}
_AUDITOR_KEYS = ("params", "thresholds")
_VERSIONED = ("recaudit", "torch", "transformers", "numpy", "pandas", "scipy",
              "scikit-learn", "fairlearn", "captum")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in _VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _describe(model: Any) -> str:
    """The model's ``description`` attribute, else the first line of its class docstring."""
    text = getattr(model, "description", None)
    if not isinstance(text, str):
        text = (type(model).__doc__ or "").strip()
    return text.strip().splitlines()[0] if text.strip() else ""


# ======================================================================== resolving auditors
@dataclass
class _Planned:
    name: str
    auditor: Auditor | None = None
    unavailable: str = ""  # why a built-in could not be imported


def _split_config(config: Mapping[str, Any] | None) -> tuple[dict, dict[str, dict]]:
    """Split ``config`` into run settings and per-auditor ``{params, thresholds}``."""
    run: dict[str, Any] = {}
    per: dict[str, dict] = {}
    names = available_auditors()
    for key, value in (config or {}).items():
        if key in RUN_KEYS:
            run[key] = value
        elif key == "auditors" and isinstance(value, Mapping):
            for name, sub in value.items():
                per[name] = _auditor_overrides(name, sub, names)
        elif key in names:
            per[key] = _auditor_overrides(key, value, names)
        else:
            allowed = sorted(RUN_KEYS) + ["auditors", "<auditor name>"]
            raise SpecError(f"config: unknown key {key!r}.{did_you_mean(key, [*RUN_KEYS, *names])}"
                            f" Allowed: {', '.join(allowed)}")
    return run, per


def _auditor_overrides(name: str, value: Any, names: Sequence[str]) -> dict:
    if name not in names:
        raise UnknownNameError(f"config: unknown auditor {name!r}.{did_you_mean(name, names)}")
    if not isinstance(value, Mapping):
        raise SpecError(f"config[{name!r}] must be a mapping of params/thresholds, got "
                        f"{type(value).__name__}")
    value = dict(value)
    thresholds = dict(value.pop("thresholds", None) or {})
    params = dict(value.pop("params", None) or {})
    params.update(value)  # flat params are accepted too
    return {"params": params, "thresholds": thresholds}


def _normalise(spec: Any) -> tuple[str, dict, dict, Auditor | None]:
    """(name, params, thresholds, instance) from any accepted auditor form."""
    if isinstance(spec, Auditor):
        return spec.name or type(spec).__name__, {}, {}, spec
    if isinstance(spec, type) and issubclass(spec, Auditor):
        return spec.name or spec.__name__, {}, {}, spec()
    if isinstance(spec, str):
        return spec, {}, {}, None
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return spec[0], dict(spec[1] or {}), {}, None
    if isinstance(spec, Mapping):
        extra = set(spec) - {"name", "params", "thresholds"}
        if "name" not in spec or extra:
            raise SpecError(f"auditor entry {dict(spec)!r}: expected keys name, params, "
                            f"thresholds" + (f"; unknown {sorted(extra)}" if extra else ""))
        return (str(spec["name"]), dict(spec.get("params") or {}),
                dict(spec.get("thresholds") or {}), None)
    raise SpecError(f"cannot read auditor {spec!r}: give a name, (name, params), "
                    "{name:, params:, thresholds:} or an Auditor instance")


def _unknown_auditor(name: str, names: Sequence[str],
                     families: Mapping[str, Sequence[str]]) -> UnknownAuditorError:
    return UnknownAuditorError(
        f"unknown auditor {name!r}.{did_you_mean(name, [*names, *families])} Families: "
        f"{', '.join(sorted(families))}; auditors: {', '.join(names)}")


def resolve_auditors(auditors: Any, per: Mapping[str, dict] | None = None) -> list[_Planned]:
    """Build every auditor before anything runs, so a typo fails fast.

    A name that is no auditor but an auditor family (``"fairness"``) stands for every
    built-in auditor of that family. Unknown names, bad parameters and thresholds that name
    no declared metric (or are not finite numbers) raise; a built-in whose module is not
    importable yet is planned as skipped with the reason.
    """
    per = per or {}
    if auditors is None:
        auditors = list(BUILTIN_AUDITORS)
    elif isinstance(auditors, (str, Auditor)) or (
            isinstance(auditors, Mapping) and "name" in auditors):
        auditors = [auditors]
    names = available_auditors()
    families = auditor_families()
    auditors = [one for spec in auditors for one in (
        families[spec] if isinstance(spec, str) and spec not in names and spec in families
        else [spec])]
    planned: list[_Planned] = []
    for spec in auditors:
        name, params, thresholds, instance = _normalise(spec)
        over = per.get(name, {})
        params = {**params, **over.get("params", {})}
        thresholds = {**thresholds, **over.get("thresholds", {})}
        if instance is None:
            if name not in names:
                raise _unknown_auditor(name, names, families)
            try:
                cls = get_auditor_class(name)
            except Exception as exc:  # a built-in whose module is missing or broken
                if name in BUILTIN_AUDITORS:
                    planned.append(_Planned(name, unavailable=(
                        f"auditor not available in this installation "
                        f"({type(exc).__name__}: {exc})")))
                    continue
                raise
            allowed = cls._param_names()
            bad = [p for p in params if p not in allowed]
            if bad:
                raise UnknownNameError(
                    f"auditor {name!r}: unknown parameter(s) {bad}."
                    f"{did_you_mean(bad[0], allowed)} It accepts: {', '.join(allowed)}")
            instance = cls(**params)
        elif params:
            raise SpecError(f"auditor {name!r} was given as an instance; set its parameters "
                            "in its constructor, not in config")
        if thresholds:
            instance.thresholds = {**dict(getattr(instance, "thresholds", {}) or {}),
                                   **thresholds}
        type(instance).check_thresholds(getattr(instance, "thresholds", None))
        planned.append(_Planned(name, instance))
    seen: set[str] = set()
    for p in planned:
        if p.name in seen:
            raise SpecError(f"auditor {p.name!r} is listed twice; give it once (with params)")
        seen.add(p.name)
    return planned


# ======================================================================== running
def _skipped(name: str, auditor: Auditor | None, reason: str) -> AuditResult:
    if auditor is not None:
        res = auditor.result(status="skipped", reason=reason)
    else:
        res = AuditResult(auditor=name, status="skipped", reason=reason)
    res.auditor = name
    return res


def _error(name: str, auditor: Auditor, exc: BaseException) -> AuditResult:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    tail = "".join(tb[-3:]).strip()
    try:
        res = auditor.result(status="error", reason=f"{type(exc).__name__}: {exc}")
    except Exception:  # get_params itself broke
        res = AuditResult(auditor=name, status="error", reason=f"{type(exc).__name__}: {exc}")
    res.auditor = name
    res.notes.append("Traceback (last frames):\n" + tail)
    return res


def _unused_thresholds(auditor: Auditor, res: AuditResult) -> list[str]:
    """The user's threshold keys that matched no metric this run emitted. Names of declared
    metrics are checked before the run (:func:`resolve_auditors`), so for those this finds a
    scope that did not occur or a metric this run did not emit (a pattern key counts as
    used when a name it matches was emitted)."""
    keys = set()
    for m in res.metrics:
        spec = auditor.metric_spec(m.name)
        for base in {m.name, spec.name if spec is not None else m.name}:
            keys |= {base, f"{base}@{m.scope}"}
    return [k for k in (getattr(auditor, "thresholds", None) or {}) if k not in keys]


def audit(model: Any, data: Any, auditors: Any = None, config: Mapping[str, Any] | None = None,
          *, seed: int = 0, cache: Any = True, progress: bool = True,
          out_json: str | Path | None = None, title: str | None = None,
          executor: Any = None, log_to: Any = None) -> AuditReport:
    """Audit ``model`` on ``data`` and return an :class:`AuditReport`.

    Parameters
    ----------
    model : Recommender
        The model under test (wrapped in the engine unless it already is).
    data : AuditDataset
    auditors : str or list, optional
        Names, ``(name, params)`` pairs, ``{name:, params:, thresholds:}`` dicts or
        :class:`~recaudit.Auditor` instances; a family name (``"fairness"``) stands for every
        built-in auditor of that family. Default: every built-in auditor (those whose module
        is not installed are reported as skipped). A threshold naming no metric the auditor
        declares is a :class:`~recaudit.SpecError` before the model is called.
    config : dict, optional
        Run settings (``n_bootstrap``, ``n_permutations``, ``alpha``, ``batch_size``,
        ``extra``) and per-auditor overrides: ``{"popularity_bias": {"params": {...},
        "thresholds": {"arp": 0.2}}}`` (flat params are accepted too).
    seed : int
        Every auditor's randomness derives from it.
    cache : bool, path or RequestCache
        The engine's answer cache (see :class:`~recaudit.engine.CachedRecommender`).
    progress : bool
        Progress bars.
    out_json : path, optional
        Written after every auditor (``complete: false`` until the end), so results already
        computed survive a later failure or a killed process.
    title : str, optional
        Shown at the top of the HTML report.
    executor : Executor, str or mapping, optional
        Where cache misses are answered: in this process (default), or ``"ray"`` /
        ``{"kind": "ray", "address": "auto", "num_workers": 2, "gpus_per_worker": 1}`` for
        model replicas in Ray actors (an executor built from a spec is closed at the end).
    log_to : str or mapping, optional
        ``"mlflow"`` or ``{"kind": "mlflow", "tracking_uri": ..., "experiment": ...,
        "run_name": ...}``: log the finished audit (metrics with CI bounds, settings as
        params, the JSON and HTML reports as artifacts) to the active MLflow run or a new
        one (``pip install 'recaudit[mlflow]'``; see :mod:`recaudit.tracking`). Checked
        before the audit runs; a logging failure after it raises
        :class:`~recaudit.errors.TrackingError` with the report as ``.report``.

    Raises
    ------
    EndpointError
        A model behind an API stopped answering (its retries exhausted): the audit stops at
        that auditor, since the next ones would only spend their retries too. The partial
        report (``complete: false``, that auditor ``error``) is the exception's ``.report``
        and, with ``out_json``, already on disk; ``recaudit audit`` exits 2 with the
        endpoint's one-line message.

    Examples
    --------
    >>> import recaudit as ra                                            # doctest: +SKIP
    >>> data = ra.datasets.synthetic(seed=0)                             # doctest: +SKIP
    >>> model = ra.models.train_tiny_lm(data, seed=0)                    # doctest: +SKIP
    >>> report = ra.audit(model, data, ["popularity_bias"],              # doctest: +SKIP
    ...                   config={"popularity_bias": {"thresholds": {"arp": 0.3}}})
    >>> report.passed                                                    # doctest: +SKIP
    """
    tracker = open_tracker(log_to)  # a missing mlflow or a bad URI fails before the audit
    with owned_executor(executor) as built:  # one built from a spec is closed at the end
        report = _audit(model, data, auditors, config, seed=seed, cache=cache,
                        progress=progress, out_json=out_json, title=title, executor=built)
    if tracker is not None:
        tracker.log(report, json_path=out_json)
        if out_json is not None:  # now with the run's id, like the logged copy
            report.to_json(out_json)
    return report


def _audit(model: Any, data: Any, auditors: Any, config: Mapping[str, Any] | None, *,
           seed: int, cache: Any, progress: bool, out_json: str | Path | None,
           title: str | None, executor: Any) -> AuditReport:
    """:func:`audit` with its executor built."""
    run, per = _split_config(config)
    planned = resolve_auditors(auditors, per)
    ctx = AuditContext(seed=int(seed), n_bootstrap=int(run.get("n_bootstrap", 1000)),
                       n_permutations=int(run.get("n_permutations", 1000)),
                       alpha=float(run.get("alpha", 0.05)), show_progress=bool(progress),
                       extra=dict(run.get("extra") or {}))
    engine = engine_for(model, run=run, cache=cache, progress=progress, executor=executor)
    declared = sorted(engine.capabilities)
    try:
        dataset = data.summary()
    except Exception:  # a foreign data object
        dataset = {"name": repr(data)}
    meta: dict[str, Any] = {
        "model": {"repr": repr(model), "type": type(engine.model).__name__,
                  "fingerprint": engine.fingerprint(), "capabilities": declared,
                  "description": _describe(engine.model)},
        "dataset": {**dataset, "fingerprint": getattr(data, "fingerprint", lambda: None)()},
        "seed": int(seed),
        "settings": {"n_bootstrap": ctx.n_bootstrap, "n_permutations": ctx.n_permutations,
                     "alpha": ctx.alpha, "batch_size": engine.batch_size,
                     "cache": engine.cache.path,
                     "executor": repr(engine.executor) if engine.executor else "local"},
        "auditors": [p.name for p in planned],
        "versions": _versions(),
        "started": _now(),
    }
    report = AuditReport(metadata=meta, title=title or f"recaudit audit of {meta['model']['type']}",
                         complete=False)
    t_start = time.perf_counter()
    bar = None
    if progress and len(planned) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(planned), desc="audit", unit="auditor", dynamic_ncols=True)
    endpoint_down: EndpointError | None = None
    for p in planned:
        if bar is not None:
            bar.set_postfix_str(p.name)
        t0 = time.perf_counter()
        if p.auditor is None:
            res = _skipped(p.name, None, p.unavailable)
        elif missing := p.auditor.missing_requirements(engine):
            res = _skipped(p.name, p.auditor,
                           f"needs {', '.join(sorted(missing))}; model declares "
                           f"{', '.join(declared) or 'nothing'}")
        else:
            engine.reset_cost(p.name)
            with engine.attribute_to(p.name) as cost:
                try:
                    res = p.auditor.run(engine, data, ctx)
                    if not isinstance(res, AuditResult):
                        raise TypeError(f"{type(p.auditor).__name__}.run() returned "
                                        f"{type(res).__name__}, not an AuditResult")
                except UnanswerableRequestError as exc:  # e.g. a log asked to re-rank
                    res = _skipped(p.name, p.auditor, str(exc))
                except EndpointError as exc:  # the endpoint is gone: later auditors would
                    res = _error(p.name, p.auditor, exc)  # only burn their retries
                    endpoint_down = exc
                except Exception as exc:
                    res = _error(p.name, p.auditor, exc)
            res.auditor = p.name
            for m in res.metrics:
                m.auditor = p.name
            if res.status == "ok":
                unused = _unused_thresholds(p.auditor, res)
                if unused:
                    res.notes.append(f"threshold(s) {unused} matched no metric this run "
                                     "emitted; check the scope (and the name)")
            res.cost = Cost(**cost.to_dict())
        res.cost.total_seconds = time.perf_counter() - t0
        report.results.append(res)
        if out_json is not None:
            assign_verdicts(report.results, alpha=ctx.alpha)
            report.to_json(out_json)
        if endpoint_down is not None:  # stop: the partial report (complete: false) is kept
            if bar is not None:
                bar.close()
            assign_verdicts(report.results, alpha=ctx.alpha)
            endpoint_down.report = report
            raise endpoint_down
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    assign_verdicts(report.results, alpha=ctx.alpha)
    total = report.cost
    meta["ended"] = _now()
    meta["wall_seconds"] = time.perf_counter() - t_start
    meta["cost"] = {**total.to_dict(), "model_share": (
        total.model_seconds / meta["wall_seconds"] if meta["wall_seconds"] > 0 else 0.0)}
    report.complete = True
    if out_json is not None:
        report.to_json(out_json)
    return report


# ---------------------------------------------------------------------- cost estimate
class _DryRun(BaseRecommender):
    """Records the (request, k) pairs an audit sends and answers them instantly: the given
    candidates in order, else the catalog by popularity (minus the history)."""

    def __init__(self, model: Any, data: Any) -> None:
        self.model = model
        self.capabilities = model.capabilities
        self.seen: list[tuple[Request, int]] = []
        pop = data.popularity
        self._order = sorted(data.item_ids, key=lambda i: -float(pop.get(i, 0.0)))

    def fingerprint(self) -> str:
        return "dry-run-" + self.model.fingerprint()

    def render(self, request: Request) -> str:
        return self.model.render(request)

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        out = []
        for r in requests:
            self.seen.append((r, int(k)))
            if r.candidates is not None:
                items = r.candidates[:k]
            else:
                hist = set(r.history)
                items = tuple(i for i in self._order if i not in hist)[:k]
            out.append(Ranking(items))
        return out


def estimate_audit(model: Any, data: Any, auditors: Any = None,
                   config: Mapping[str, Any] | None = None, *, seed: int = 0,
                   cache: Any = True, verbose: bool = True) -> Any:
    """What ``audit(model, data, auditors, config, seed=seed, cache=cache)`` would send a
    model that prices its requests (``model.estimate_cost(requests, ks)``, e.g. a
    :class:`~recaudit.models.ChatRecommender`).

    A dry run: the auditors run against a stand-in with the model's capabilities that
    records every ``rank`` request and answers at once (candidates in the given order, the
    catalog by popularity), with few bootstrap resamples. Requests the engine's ``cache``
    already holds under the model's fingerprint are not counted
    (:func:`~recaudit.engine.uncached`). Auditors whose later requests depend on earlier
    answers make the count approximate. The model's ``report_estimate(estimate, lead)``
    records the estimate and, when ``verbose``, prints it (else it is printed here).
    """
    stand_in = _DryRun(model, data)
    run = dict(config or {})
    run.update({"n_bootstrap": 20, "n_permutations": 20})
    audit(stand_in, data, auditors, config=run, seed=seed, cache=False, progress=False)
    pending = stand_in.seen
    if pending:
        keep = uncached(model, "rank", [r for r, _ in pending], [k for _, k in pending],
                        cache=cache)
        pending = [pending[n] for n in keep]
    est = model.estimate_cost([r for r, _ in pending], [k for _, k in pending])
    lead = "this audit will send" if verbose else None
    report = getattr(model, "report_estimate", None)
    if callable(report):
        report(est, lead)
    elif lead is not None:
        print(f"recaudit: {lead} {est}", file=sys.stderr, flush=True)
    return est
