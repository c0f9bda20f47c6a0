"""Audit specs: a YAML file (or dict) that says what to audit, with what, and where to write.

    dataset:  {kind: synthetic, n_users: 400, n_items: 200, seed: 0, effects: {popularity: 1}}
              | {kind: movielens_100k | movielens_1m, path: data/ml-100k}
    model:    {kind: tiny_lm, seed: 0, epochs: 6, max_examples: 100000} | {kind: hf, path: ...}
              | {kind: embedding}
              | {kind: most_popular} | {kind: random, seed: 0}
              | {kind: chat, base_url: http://127.0.0.1:8000/v1, model: NAME, template: ...}
    auditors: [popularity_bias, {name: consumer_fairness, params: {...}, thresholds: {...}}]
    seed: 0
    run:      {n_bootstrap: 1000, n_permutations: 1000, alpha: 0.05, cache: true, batch_size: 64}
    output:   {html: reports/quickstart.html, json: reports/quickstart.json}
    executor: {kind: local} | {kind: ray, address: auto | "ray://host:port", num_workers: 2,
               gpus_per_worker: 1}

Every key is checked: an unknown one raises :class:`~recaudit.SpecError` naming its path
(``model.epoch``), the allowed keys and the closest match. Data paths are relative to the
spec file; output paths are relative to the working directory.

A spec file is bounded before any work: at most :data:`MAX_SPEC_BYTES`, UTF-8, nested at
most :data:`MAX_SPEC_DEPTH` deep and at most :data:`MAX_SPEC_NODES` values once its YAML
aliases are expanded (an alias bomb fails at once). Counts have a highest value too
(``run.n_bootstrap <= 100,000``, ``dataset.n_users <= 1,000,000``, an auditor's ``k``...).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError, did_you_mean, short_repr

TOP_KEYS = ("title", "dataset", "model", "auditors", "seed", "run", "output", "ablation",
            "executor", "models", "compare")
COMPARE_KEYS = ("seeds", "utility_k", "utility_users", "pretrain_share", "refit", "alpha")
RUN_KEYS = ("n_bootstrap", "n_permutations", "alpha", "cache", "batch_size", "progress")
OUTPUT_KEYS = ("html", "json", "csv")
ABLATION_KEYS = ("mitigations", "seeds", "utility_k", "utility_users")
AUDITOR_KEYS = ("name", "params", "thresholds")

#: The largest spec file read (bytes), its deepest nesting and its most values (YAML nodes,
#: aliases expanded): a spec is a page of settings, never data.
MAX_SPEC_BYTES = 1_000_000
MAX_SPEC_DEPTH = 50
MAX_SPEC_NODES = 100_000
#: Highest values of the ``run:`` counts.
RUN_HIGHEST = {"n_bootstrap": 100_000, "n_permutations": 100_000, "batch_size": 65_536}
#: (lowest, highest) of the count parameters of auditors and mitigations (``null`` is left
#: to the auditor); any other numeric ``n_*`` parameter is bounded by :data:`COUNT_BOUNDS`.
PARAM_BOUNDS = {"k": (1, 10_000), "n_users": (1, 10_000_000), "n_candidates": (1, 1_000_000)}
COUNT_BOUNDS = (0, 10_000_000)


# ------------------------------------------------------------------ validation helpers
def _suggest(key: str, allowed: Any) -> str:
    return did_you_mean(key, allowed, n=1)


def _check_keys(d: Any, allowed: Any, path: str) -> dict[str, Any]:
    where = path or "spec"
    if not isinstance(d, Mapping):
        raise SpecError(f"{where}: expected a mapping, got {type(d).__name__} "
                        f"({short_repr(d)})")
    allowed = list(allowed)
    for key in d:
        if key not in allowed:
            keypath = f"{path}.{key}" if path else str(key)
            raise SpecError(f"{where}: unknown key {short_repr(keypath)}."
                            f"{_suggest(key, allowed)} "
                            f"Allowed keys: {', '.join(allowed)}")
    return dict(d)


def _typed(value: Any, kind: type | tuple, path: str, *, low: float | None = None,
           high: float | None = None) -> Any:
    if isinstance(value, bool) and kind is not bool and bool not in (
            kind if isinstance(kind, tuple) else (kind,)):
        raise SpecError(f"{path}: expected {getattr(kind, '__name__', kind)}, got a boolean")
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        bounds = " and ".join(b for b in (low is not None and f">= {_num(low)}",
                                          high is not None and f"<= {_num(high)}") if b)
        raise SpecError(f"{path}: expected {name}{f' {bounds}' if bounds else ''}, got "
                        f"{type(value).__name__} ({short_repr(value)})")
    if low is not None and value < low:
        raise SpecError(f"{path}: must be >= {_num(low)}, got {short_repr(value)}")
    if high is not None and value > high:
        raise SpecError(f"{path}: must be <= {_num(high)}, got {short_repr(value)}")
    return value


def _num(x: float) -> str:
    """A bound as the message writes it: ``100,000``, ``1.0``."""
    return f"{x:,}" if isinstance(x, int) else repr(x)


def _check_counts(params: Mapping[str, Any], path: str) -> None:
    """The count parameters of an auditor or mitigation (``k``, ``n_users``, any ``n_*``)
    are within :data:`PARAM_BOUNDS` / :data:`COUNT_BOUNDS`; ``null`` is left to the class."""
    for key, value in params.items():
        if value is None or not isinstance(key, str):
            continue
        if key in PARAM_BOUNDS:
            low, high = PARAM_BOUNDS[key]
            _typed(value, int, f"{path}.{key}", low=low, high=high)
        elif key.startswith("n_") and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            _typed(value, type(value), f"{path}.{key}", low=COUNT_BOUNDS[0],
                   high=COUNT_BOUNDS[1])


def _validate_dataset(d: Any) -> dict[str, Any]:
    """``dataset:``, checked against its kind in :data:`recaudit.data.DATASET_KINDS`."""
    from .data import dataset_kind, dataset_kind_names, every_dataset_key

    name = d.get("kind", "synthetic") if isinstance(d, Mapping) else None
    d = _check_keys(d, every_dataset_key(name), "dataset")
    kinds = dataset_kind_names()
    if name not in kinds:
        raise SpecError(f"dataset.kind: unknown kind {short_repr(name)}."
                        f"{_suggest(name, kinds)} "
                        f"Allowed: {', '.join(kinds)}")
    kind = dataset_kind(name)
    d = _check_keys(d, kind.keys, "dataset")
    d["kind"] = name
    for key, what in kind.required.items():
        if key not in d:
            raise SpecError(f"dataset.{key}: required for kind {name!r} ({what})")
    for key, (typ, low) in kind.types.items():
        if key in d:
            d[key] = _typed(d[key], typ, f"dataset.{key}", low=low,
                            high=kind.highest.get(key))
    for key, (keys, typ, low) in kind.nested.items():
        if key in d:
            sub = _check_keys(d[key] or {}, keys(), f"dataset.{key}")
            d[key] = {k: _typed(v, typ, f"dataset.{key}.{k}", low=low) for k, v in sub.items()}
    return d


def _model_kinds(*, audit_spec: bool) -> list[str]:
    from .models import MODEL_KINDS, model_kind

    return [k for k in MODEL_KINDS.names()
            if not audit_spec or model_kind(k).in_audit_spec]


def _validate_model(d: Any, path: str = "model", *, audit_spec: bool = True,
                    default_kind: str | None = "tiny_lm") -> dict[str, Any]:
    """One model entry (``model:`` of an audit spec, or an arm of ``models:``), checked
    against its kind in :data:`recaudit.models.MODEL_KINDS`."""
    from .models import model_kind

    if not isinstance(d, Mapping) or (default_kind is None and "kind" not in d):
        raise SpecError(f"{path}: expected a mapping with a 'kind', got {short_repr(d)}")
    name = d.get("kind", default_kind)
    kinds = _model_kinds(audit_spec=audit_spec)
    if name not in kinds:
        raise SpecError(f"{path}.kind: unknown kind {short_repr(name)}."
                        f"{_suggest(name, kinds)} "
                        f"Allowed: {', '.join(kinds)}")
    kind = model_kind(name)
    d = _check_keys(d, kind.keys(), path)
    d["kind"] = name
    for key, what in kind.required.items():
        if not isinstance(d.get(key), str):
            raise SpecError(f"{path}.{key}: required for kind {name!r} ({what})")
    for key, allowed in kind.nested.items():
        if key in d:
            d[key] = _check_keys(d[key] or {}, allowed(), f"{path}.{key}")
    if "seed" in d:
        _typed(d["seed"], int, f"{path}.seed")
    if "epochs" in d:
        _typed(d["epochs"], int, f"{path}.epochs", low=1)
    if d.get("max_examples") is not None:
        _typed(d["max_examples"], int, f"{path}.max_examples", low=1)
    return d


def _validate_models(d: Any) -> dict[str, dict[str, Any]] | None:
    """``models:`` of a compare spec: label -> model entry (any model kind)."""
    if d is None:
        return None
    if not isinstance(d, Mapping) or not d:
        raise SpecError("models: expected a mapping of label to a model entry ({kind: ...}), "
                        f"got {short_repr(d)}")
    return {str(label): _validate_model(entry, f"models.{label}", audit_spec=False,
                                        default_kind=None)
            for label, entry in d.items()}


def _validate_compare(d: Any, models: Any) -> dict[str, Any] | None:
    if d is None and models is None:
        return None
    if models is None:
        raise SpecError("compare: needs a 'models' section (label: {kind: ...}) to compare")
    d = _check_keys(d or {}, COMPARE_KEYS, "compare")
    seeds = d.get("seeds", [0, 1, 2])
    if not isinstance(seeds, list) or not seeds:
        raise SpecError("compare.seeds: expected a non-empty list of integers, got "
                        f"{short_repr(seeds)}")
    d["seeds"] = [_typed(x, int, f"compare.seeds[{n}]") for n, x in enumerate(seeds)]
    for key, high in (("utility_k", 10_000), ("utility_users", 10_000_000)):
        if key in d:
            _typed(d[key], int, f"compare.{key}", low=1, high=high)
    if "refit" in d:
        _typed(d["refit"], bool, "compare.refit")
    if "alpha" in d:
        d["alpha"] = _typed(d["alpha"], float, "compare.alpha", low=0.0, high=1.0)
    from .models import model_kind

    needs = any(model_kind(e["kind"]).needs_pretrain for e in models.values())
    share = d.get("pretrain_share", 0.5 if needs else None)
    if share is not None:
        share = _typed(share, float, "compare.pretrain_share", low=0.0, high=1.0)
        if not 0.0 < share < 1.0:
            raise SpecError(f"compare.pretrain_share: must be strictly between 0 and 1, got "
                            f"{share}")
    d["pretrain_share"] = share
    return d


def _validate_auditors(entries: Any) -> list[dict[str, Any]]:
    from .auditors import available_auditors, get_auditor_class

    if entries is None:
        return []
    if not isinstance(entries, list):
        raise SpecError(f"auditors: expected a list of names or {{name, params, thresholds}}, "
                        f"got {type(entries).__name__}")
    names = available_auditors()
    out = []
    for n, entry in enumerate(entries):
        path = f"auditors[{n}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        entry = _check_keys(entry, AUDITOR_KEYS, path)
        name = entry.get("name")
        if not isinstance(name, str):
            raise SpecError(f"{path}.name: required (an auditor name; `recaudit list` shows "
                            "them)")
        if name not in names:
            raise SpecError(f"{path}.name: unknown auditor {short_repr(name)}."
                            f"{_suggest(name, names)} "
                            f"Available: {', '.join(names)}")
        params = _check_keys(entry.get("params") or {}, _allowed_params(name, get_auditor_class),
                             f"{path}.params")
        _check_counts(params, f"{path}.params")
        thresholds = entry.get("thresholds") or {}
        if not isinstance(thresholds, Mapping):
            raise SpecError(f"{path}.thresholds: expected a mapping of metric (or "
                            f"metric@scope) to a number, got {short_repr(thresholds)}")
        for k, v in thresholds.items():
            _typed(v, float, f"{path}.thresholds.{k}")
        _check_thresholds(name, thresholds, f"{path}.thresholds", get_auditor_class)
        out.append({"name": name, "params": params,
                    "thresholds": {k: float(v) for k, v in thresholds.items()}})
    seen = [e["name"] for e in out]
    dup = sorted({x for x in seen if seen.count(x) > 1})
    if dup:
        raise SpecError(f"auditors: {dup} listed more than once; list each auditor once")
    return out


def _validate_mitigation(entry: Any, path: str) -> Any:
    from . import mitigations

    if entry is None:
        return None
    if isinstance(entry, list):
        return [_validate_mitigation(e, f"{path}[{n}]") for n, e in enumerate(entry)]
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise SpecError(f"{path}: expected null, a mitigation name, {{name:, ...params}} or a "
                        f"list of those, got {short_repr(entry)}")
    name = entry["name"]
    names = mitigations.available()
    if name not in names:
        raise SpecError(f"{path}.name: unknown mitigation {short_repr(name)}."
                        f"{_suggest(name, names)} "
                        f"Available: {', '.join(names)}")
    from .registry import accepted_parameters

    allowed = accepted_parameters(mitigations.MITIGATIONS[name])
    _check_keys(entry, ["name", *allowed], path)
    _check_counts({k: v for k, v in entry.items() if k != "name"}, path)
    return dict(entry)


def _validate_ablation(d: Any) -> dict[str, Any] | None:
    if d is None:
        return None
    d = _check_keys(d, ABLATION_KEYS, "ablation")
    arms = d.get("mitigations")
    if not isinstance(arms, Mapping) or not arms:
        raise SpecError("ablation.mitigations: required, a mapping of arm label to null (the "
                        "baseline), a mitigation name, {name:, ...params} or a list of those")
    d["mitigations"] = {str(k): _validate_mitigation(v, f"ablation.mitigations.{k}")
                        for k, v in arms.items()}
    seeds = d.get("seeds", [0, 1, 2])
    if not isinstance(seeds, list) or not seeds:
        raise SpecError("ablation.seeds: expected a non-empty list of integers, got "
                        f"{short_repr(seeds)}")
    d["seeds"] = [_typed(x, int, f"ablation.seeds[{n}]") for n, x in enumerate(seeds)]
    for key, high in (("utility_k", 10_000), ("utility_users", 10_000_000)):
        if key in d:
            _typed(d[key], int, f"ablation.{key}", low=1, high=high)
    return d


def _validate_executor(d: Any) -> dict[str, Any] | None:
    if d is None:
        return None
    from .engine import validate_executor_spec

    return validate_executor_spec(d, "executor")


def _allowed_params(name: str, get_cls: Any) -> list[str]:
    try:
        return [p for p in get_cls(name)._param_names() if p != "thresholds"]
    except Exception:  # a built-in not installed yet: accept any params, it will be skipped
        return _Anything()


def _check_thresholds(name: str, thresholds: Mapping[str, Any], path: str,
                      get_cls: Any) -> None:
    """Each key names a metric the auditor declares, each value is finite."""
    try:
        cls = get_cls(name)
    except Exception:  # a built-in not installed yet: it will be skipped
        return
    cls.check_thresholds(thresholds, where=path)


class _Anything(list):
    def __contains__(self, item: object) -> bool:
        return True


# ------------------------------------------------------------------ the spec
@dataclass
class AuditSpec:
    """A validated audit spec. Build it with :func:`load_spec`; run it with
    :mod:`recaudit.runner` (``run_audit``, ``run_ablation``, ``run_compare``)."""

    dataset: dict[str, Any] = field(default_factory=lambda: {"kind": "synthetic"})
    model: dict[str, Any] = field(default_factory=lambda: {"kind": "tiny_lm"})
    auditors: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0
    run: dict[str, Any] = field(default_factory=dict)
    output: dict[str, str] = field(default_factory=dict)
    title: str | None = None
    ablation: dict[str, Any] | None = None
    source: Path | None = None
    executor: dict[str, Any] | None = None
    models: dict[str, dict[str, Any]] | None = None
    compare: dict[str, Any] | None = None

    def resolve_path(self, p: str) -> Path:
        """A data path of the spec: relative ones are relative to the spec file."""
        path = Path(p).expanduser()
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path

    def audit_config(self) -> dict[str, Any]:
        """The ``config`` for :func:`recaudit.audit`."""
        return {k: self.run[k] for k in ("n_bootstrap", "n_permutations", "alpha",
                                         "batch_size") if k in self.run}

    def to_dict(self) -> dict[str, Any]:
        out = {"dataset": self.dataset, "model": self.model, "auditors": self.auditors,
               "seed": self.seed, "run": self.run, "output": self.output}
        if self.title:
            out["title"] = self.title
        if self.ablation:
            out["ablation"] = self.ablation
        if self.executor:
            out["executor"] = self.executor
        if self.models:
            out["models"] = self.models
            out["compare"] = self.compare
        return out


def load_spec(source: str | Path | Mapping[str, Any]) -> AuditSpec:
    """Read and validate a spec from a YAML file or a dict.

    Examples
    --------
    >>> spec = load_spec({"dataset": {"kind": "synthetic", "n_users": 50},
    ...                   "model": {"kind": "most_popular"}, "auditors": ["popularity_bias"]})
    >>> spec.model["kind"]
    'most_popular'
    >>> load_spec({"modle": {}})
    Traceback (most recent call last):
    ...
    recaudit.errors.SpecError: spec: unknown key 'modle'. Did you mean 'model'? ...
    """
    path = None
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        path = Path(source)
        raw = _read_yaml(path)
        if raw is None:
            raise SpecError(f"spec {str(path)!r} is empty; see audits/quickstart.yaml")
    raw = _check_keys(raw, TOP_KEYS, "")
    run = _check_keys(raw.get("run") or {}, RUN_KEYS, "run")
    for key, high in RUN_HIGHEST.items():
        if key in run:
            _typed(run[key], int, f"run.{key}", low=1, high=high)
    if "alpha" in run:
        run["alpha"] = _typed(run["alpha"], float, "run.alpha", low=0.0, high=1.0)
    if "cache" in run:
        _typed(run["cache"], (bool, str), "run.cache")
    if "progress" in run:
        _typed(run["progress"], bool, "run.progress")
    output = _check_keys(raw.get("output") or {}, OUTPUT_KEYS, "output")
    for k, v in output.items():
        _typed(v, str, f"output.{k}")
    title = raw.get("title")
    if title is not None:
        _typed(title, str, "title")
    return AuditSpec(dataset=_validate_dataset(raw.get("dataset") or {"kind": "synthetic"}),
                     model=_validate_model(raw.get("model") or {"kind": "tiny_lm"}),
                     auditors=_validate_auditors(raw.get("auditors")),
                     seed=_typed(raw.get("seed", 0), int, "seed"), run=run, output=output,
                     title=title, ablation=_validate_ablation(raw.get("ablation")),
                     source=path, executor=_validate_executor(raw.get("executor")),
                     models=(models := _validate_models(raw.get("models"))),
                     compare=_validate_compare(raw.get("compare"), models))


# ------------------------------------------------------------------ reading the YAML
def _read_yaml(path: Path) -> Any:
    """The YAML document of a spec file, bounded before and while parsing: size, encoding,
    nesting depth and expanded size (aliases counted each time they are used)."""
    import yaml

    name = short_repr(str(path))
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec {name}: {exc.strerror or exc}") from exc
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"spec {name} is larger than {MAX_SPEC_BYTES:,} bytes; a spec is a "
                        "page of settings (point dataset.path at the data instead)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec {name} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start}); save it as UTF-8") from exc
    loader = _bounded_loader()(text)
    try:
        return loader.get_single_data()
    except _TooBig as exc:
        raise SpecError(f"spec {name}{exc.where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise SpecError(f"spec {name} is not valid YAML{where}: {problem}") from None
    finally:
        loader.dispose()


class _TooBig(Exception):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.where = f" at line {mark.line + 1}" if mark is not None else ""


@functools.cache
def _bounded_loader() -> type:
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """``SafeLoader`` refusing a document nested deeper than :data:`MAX_SPEC_DEPTH` or
        with more than :data:`MAX_SPEC_NODES` values once aliases are expanded (each node's
        expanded size and depth are known when it is composed, so a bomb stops at once)."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth)

        def fetch_flow_collection_start(self, token_class: Any) -> None:
            # the scanner reads a flow collection ahead to its end (it may be a key):
            # stop a deep one here, before that costs quadratic time
            if self.flow_level >= MAX_SPEC_DEPTH:
                raise _TooBig(f"nested more than {MAX_SPEC_DEPTH} levels deep",
                              self.get_mark())
            super().fetch_flow_collection_start(token_class)

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            mark = event.start_mark
            if isinstance(event, yaml.AliasEvent):
                node = super().compose_node(parent, index)
                if id(node) not in self._sizes:  # the anchor is still being composed
                    raise _TooBig("an alias refers to a node that contains it", mark)
                return node
            self._depth += 1
            if self._depth > MAX_SPEC_DEPTH:
                raise _TooBig(f"nested more than {MAX_SPEC_DEPTH} levels deep", mark)
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            self._measure(node, mark)
            return node

        def _measure(self, node: Any, mark: Any) -> None:
            if isinstance(node, yaml.ScalarNode):
                self._sizes[id(node)] = (1, 1)
                return
            children = (node.value if isinstance(node, yaml.SequenceNode)
                        else [n for pair in node.value for n in pair])
            size, depth = 1, 0
            for child in children:
                s, d = self._sizes[id(child)]
                size, depth = size + s, max(depth, d)
            if size > MAX_SPEC_NODES or depth + 1 > MAX_SPEC_DEPTH:
                raise _TooBig(f"its aliases expand to more than {MAX_SPEC_NODES:,} values or "
                              f"{MAX_SPEC_DEPTH} levels; write the values out or use fewer "
                              "aliases", mark)
            self._sizes[id(node)] = (size, depth + 1)

    return BoundedLoader

