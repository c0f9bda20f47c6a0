"""Running an audit spec: build its dataset and models, audit, ablate or compare, write.

:mod:`recaudit.spec` is the schema (it validates and nothing more); this module carries a
validated :class:`~recaudit.spec.AuditSpec` out. Models are built through the one model-kind
table, :data:`recaudit.models.MODEL_KINDS`, for an audit's ``model:`` and for every arm of a
comparison's ``models:`` alike.

>>> from recaudit.spec import load_spec
>>> spec = load_spec({"dataset": {"kind": "synthetic", "n_users": 40, "n_items": 30},
...                   "model": {"kind": "most_popular"}})
>>> build_model(spec, build_dataset(spec))
MostPopular(exclude_history=True)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RecauditError, SpecError

if TYPE_CHECKING:
    from .spec import AuditSpec


def build_dataset(spec: AuditSpec) -> Any:
    """The :class:`~recaudit.datasets.AuditDataset` the spec's ``dataset:`` names, built
    through :data:`recaudit.data.DATASET_KINDS`."""
    from .data import build_dataset as build

    kind = spec.dataset.get("kind", "synthetic")
    try:
        return build({**spec.dataset, "kind": kind}, spec.resolve_path)
    except RecauditError:
        raise
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise SpecError(f"dataset ({kind}): {exc}") from exc


def build_model(spec: AuditSpec, data: Any, *, entry: Mapping[str, Any] | None = None,
                where: str = "model", pretrain_data: Any = None,
                progress: bool = True) -> Any:
    """The model ``entry`` (default: the spec's ``model:``) describes, built on ``data``.

    A bad option (a ``ValueError`` or ``TypeError`` from the adapter) is a
    :class:`~recaudit.errors.SpecError` naming ``where`` and the kind.
    """
    from .models import BuildContext
    from .models import build_model as build

    entry = dict(spec.model if entry is None else entry)

    def resolve(path: str) -> str:  # a local folder next to the spec, else a hub id
        local = spec.resolve_path(path)
        return str(local) if local.exists() else path

    ctx = BuildContext(seed=spec.seed, pretrain_data=pretrain_data, progress=progress,
                       resolve_path=resolve)
    try:
        return build(entry, data, ctx)
    except RecauditError:
        raise
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{where} ({entry.get('kind')}): {exc}") from exc


def _progress(spec: AuditSpec, progress: bool | None) -> bool:
    return spec.run.get("progress", True) if progress is None else progress


def _write(spec: AuditSpec, result: Any, **paths: str | Path | None) -> None:
    """Write ``result.to_<format>(path)`` for every format given here or in ``output:``."""
    for fmt, path in paths.items():
        path = path or spec.output.get(fmt)
        if path:
            getattr(result, f"to_{fmt}")(path)


def run_audit(spec: AuditSpec, *, progress: bool | None = None,
              html: str | Path | None = None, json_path: str | Path | None = None) -> Any:
    """Build data and model, audit, write the outputs; returns the AuditReport."""
    from .audit import audit, estimate_audit

    progress = _progress(spec, progress)
    data = build_dataset(spec)
    model = build_model(spec, data, progress=progress)
    html = html or spec.output.get("html")
    json_path = json_path or spec.output.get("json") or (
        Path(html).with_suffix(".json") if html else None)
    if callable(getattr(model, "estimate_cost", None)):  # a paid API: say what it costs
        estimate_audit(model, data, spec.auditors or None, spec.audit_config(),
                       seed=spec.seed, cache=spec.run.get("cache", True))
    report = audit(model, data, auditors=spec.auditors or None, config=spec.audit_config(),
                   seed=spec.seed, cache=spec.run.get("cache", True), progress=progress,
                   out_json=json_path, title=spec.title, executor=spec.executor)
    report.metadata["spec"] = spec.to_dict()
    if json_path:
        report.to_json(json_path)
    if html:
        report.to_html(html)
    return report


def run_ablation(spec: AuditSpec, *, progress: bool | None = None,
                 html: str | Path | None = None, csv: str | Path | None = None,
                 json_path: str | Path | None = None) -> Any:
    """Run the spec's ``ablation`` (mitigation arms x seeds x auditors)."""
    from .ablation import ablate

    if not spec.ablation:
        raise SpecError("ablation: this spec has no 'ablation' section (mitigations, "
                        "seeds); see audits/ablation.yaml")
    progress = _progress(spec, progress)
    data = build_dataset(spec)
    model = build_model(spec, data, progress=progress)
    ab = spec.ablation
    extra = {k: ab[k] for k in ("utility_k", "utility_users") if k in ab}
    result = ablate(model, data, ab["mitigations"], spec.auditors or [], seeds=ab["seeds"],
                    config=spec.audit_config(), cache=spec.run.get("cache", True),
                    progress=progress, executor=spec.executor, **extra)
    _write(spec, result, html=html, csv=csv, json=json_path)
    return result


def run_compare(spec: AuditSpec, *, progress: bool | None = None,
                html: str | Path | None = None, csv: str | Path | None = None,
                json_path: str | Path | None = None) -> Any:
    """Build the dataset and every model of a compare spec, compare, write the outputs.

    With ``compare.pretrain_share`` the dataset's users are split
    (:func:`recaudit.models.split_users`): every model is trained and audited on the
    audited part; kinds that ``needs_pretrain`` (prompt tuning, pre-train then fine-tune)
    pre-train their LM on the other part.
    """
    from .compare import compare
    from .data import split_users
    from .models import model_kind

    if not spec.models:
        raise SpecError("models: this spec has no 'models' section to compare; see "
                        "audits/paradigms.yaml")
    cmp = spec.compare or {"seeds": [0, 1, 2], "pretrain_share": None}
    progress = _progress(spec, progress)
    world = build_dataset(spec)
    pretrain, data = None, world
    if cmp.get("pretrain_share"):
        pretrain, data = split_users(world, cmp["pretrain_share"], seed=spec.seed)
    models = {label: build_model(spec, data, entry=entry, where=f"models.{label}",
                                 pretrain_data=pretrain, progress=progress)
              for label, entry in spec.models.items()}
    extra = {k: cmp[k] for k in ("utility_k", "utility_users", "refit", "alpha") if k in cmp}
    meta: dict[str, Any] = {"title": spec.title, "spec": spec.to_dict()}
    if pretrain is not None:
        pretrained = [label for label, entry in spec.models.items()
                      if model_kind(entry["kind"]).needs_pretrain]
        meta["pretrain"] = (f"{len(pretrain.user_ids)} users (share "
                            f"{cmp['pretrain_share']}) held out of the audit to pre-train "
                            f"the LM of {', '.join(pretrained)}")
    result = compare(models, data, spec.auditors or [], seeds=cmp["seeds"],
                     config=spec.audit_config(), cache=spec.run.get("cache", True),
                     progress=progress, metadata=meta, executor=spec.executor, **extra)
    for label, entry in spec.models.items():
        result.metadata["models"][label]["description"] = model_kind(entry["kind"]).description
    _write(spec, result, html=html, csv=csv, json=json_path)
    return result
