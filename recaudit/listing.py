"""``recaudit list``: everything a spec may name, read from the registries.

The auditors by family with the metrics each declares, then mitigations, perturbations,
model kinds, dataset kinds and executors (plug-ins included). A name whose module or
back-end does not load is listed as unavailable, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: ``recaudit list``: the order of the built-in families (others follow, by name).
FAMILY_ORDER = ("bias", "fairness", "privacy", "robustness", "explanation")


def _table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths))).rstrip() for r in rows]


def _metric_rows(cls: Any) -> list[tuple[str, str, str, str]]:
    """(name, direction, default threshold, description) of each metric ``cls`` declares;
    thresholds are the effective ``default_thresholds`` (``name`` and ``name@scope``)."""
    rows = []
    for spec in cls.metrics:
        found = {k: v for k, v in cls.default_thresholds.items()
                 if k == spec.name or k.startswith(f"{spec.name}@")}
        text = "; ".join(f"{v:g}" if k == spec.name else f"{k.split('@', 1)[1]}: {v:g}"
                         for k, v in found.items())
        rows.append((spec.name, spec.direction, f"threshold {text or '-'}", spec.description))
    return rows


def _first_line(obj: Any) -> str:
    """The first sentence of a class docstring."""
    para = " ".join((obj.__doc__ or "").strip().split("\n\n")[0].split())
    return para.split(". ")[0].rstrip(".") + "." if para else ""


def _sections() -> list[tuple[str, list[tuple[str, ...]]]]:
    """The ``recaudit list`` sections after the auditors: (title, header + rows)."""
    from . import mitigations, perturbations
    from .data import DATASET_KINDS, dataset_kind
    from .engine import EXECUTOR_KINDS, executor_kind
    from .models import MODEL_KINDS, model_kind

    def rows(names: Sequence[str], describe: Any) -> list[tuple[str, ...]]:
        out = []
        for name in names:
            try:
                out.append((name, *describe(name)))
            except Exception as exc:  # a plug-in or optional back-end that does not load
                out.append((name, "-", f"unavailable: {type(exc).__name__}"))
        return out

    def model(name: str) -> tuple[str, str]:
        kind = model_kind(name)
        return ("audit, compare" if kind.in_audit_spec else "compare", kind.description)

    def mitigation(name: str) -> tuple[str, str]:
        cls = mitigations.MITIGATIONS.get(name)
        return ", ".join(sorted(cls.requires)), _first_line(cls)

    def perturbation(name: str) -> tuple[str, str]:
        cls = perturbations.PERTURBATIONS.get(name)
        return cls.kind, _first_line(cls)

    return [
        ("mitigations", [("name", "requires", "description"),
                         *rows(mitigations.available(), mitigation)]),
        ("perturbations", [("name", "kind", "description"),
                           *rows(perturbations.available_perturbations(), perturbation)]),
        ("model kinds", [("kind", "specs", "description"),
                         *rows(MODEL_KINDS.names(), model)]),
        ("dataset kinds", [("kind", "description"), *rows(
            DATASET_KINDS.names(), lambda n: (dataset_kind(n).description,))]),
        ("executors", [("kind", "description"), *rows(
            EXECUTOR_KINDS.names(), lambda n: (executor_kind(n).description,))]),
    ]



def listing_lines() -> list[str]:
    """The auditors by family, each followed by the metrics it emits (name, direction,
    default threshold, description); then mitigations, perturbations, model kinds, dataset
    kinds and executors."""
    from .auditors import available_auditors, get_auditor_class

    header = ("auditor", "family", "requires", "")
    rows, emitted = [], {}
    for name in available_auditors():
        try:
            cls = get_auditor_class(name)
            rows.append((name, cls.family, ", ".join(sorted(cls.requires)), ""))
            emitted[name] = _metric_rows(cls)
        except Exception as exc:  # a built-in whose module is not there yet
            rows.append((name, "-", "-", f"unavailable: {type(exc).__name__}"))
    rank = {f: n for n, f in enumerate(FAMILY_ORDER)}
    rows.sort(key=lambda r: (rank.get(r[1], len(rank)), r[1], r[0]))
    lines = _table([header, *rows])
    metric_lines = iter(_table([m for r in rows for m in emitted.get(r[0], [])], "    ")
                        if any(emitted.values()) else [])
    out = [lines[0]]
    for row, line in zip(rows, lines[1:]):
        out.append(line)
        out.extend(next(metric_lines) for _ in emitted.get(row[0], []))
        if row[0] in emitted and not emitted[row[0]]:
            out.append("    (declares no metrics)")
    for title, table in _sections():
        out += ["", f"{title}:", *_table(table, "  ")]
    return out
