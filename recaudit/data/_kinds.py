"""Dataset kinds: the one table of every ``dataset: {kind: ...}`` a spec may name.

Each :class:`DatasetKind` says, in one place, how the dataset is built, which keys its entry
accepts, which it requires, the type (and lowest and highest value) of its scalar keys and
the keys of its nested mappings (``effects:`` of a synthetic world). :mod:`recaudit.spec`
validates ``dataset:`` against this table and builds it through :func:`build_dataset`.

A new kind is one :func:`DATASET_KINDS.register <recaudit.registry.Registry.register>` call
here, or, from a third-party package, an entry point in the ``recaudit.datasets`` group
naming a :class:`DatasetKind`, or a loader function (its keyword parameters are the entry's
keys; a ``path`` is resolved next to the spec file).

>>> dataset_kind("movielens_1m").keys
('kind', 'path', 'download', 'provider', 'min_rating')
>>> build_dataset({"kind": "synthetic", "n_users": 30, "n_items": 20}).name
'synthetic(n_users=30, n_items=20, seed=0)'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..registry import Kind, KindRegistry, accepted_parameters


@dataclass(frozen=True)
class DatasetKind(Kind):
    """One dataset kind: builder, accepted keys, requirements and checks.

    ``build(options, resolve_path) -> AuditDataset``; ``options`` is the entry without
    ``kind``; ``resolve_path`` maps a path of the entry to the folder to read (a spec
    resolves it next to the spec file).
    """

    #: The accepted keys of an entry, ``kind`` included.
    keys: tuple[str, ...]
    #: Required key -> what it is (for the error message).
    required: Mapping[str, str] = field(default_factory=dict)
    #: Key -> (type, lowest value or None), checked in this order when the key is given.
    types: Mapping[str, tuple[type, float | None]] = field(default_factory=dict)
    #: Nested mapping key -> (its accepted keys, the type and lowest value of its values).
    nested: Mapping[str, tuple[Callable[[], list[str]], type, float | None]] = field(
        default_factory=dict)
    #: Key -> highest value, for the keys of ``types`` that have one (a spec asking for
    #: ``n_users: 10**24`` is refused before any work).
    highest: Mapping[str, float] = field(default_factory=dict)


def _adopt_loader(name: str, obj: Any) -> DatasetKind | None:
    """A loader function registered directly (a plug-in) as a kind whose keys are its
    keyword parameters."""
    if not callable(obj):
        return None
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return DatasetKind(name, doc.splitlines()[0] if doc else "", _loader(obj),
                       ("kind", *accepted_parameters(obj)))


DATASET_KINDS: KindRegistry[DatasetKind] = KindRegistry(
    "dataset kind", DatasetKind, entry_point_group="recaudit.datasets",
    adopt=_adopt_loader, adopts="a loader function")

#: The :class:`DatasetKind` registered as a name (unknown names raise with suggestions).
dataset_kind = DATASET_KINDS.record


def dataset_kind_names() -> list[str]:
    """Every dataset kind: the built-ins in the order the docs list them, then the others."""
    return [*_BUILTIN, *(n for n in DATASET_KINDS.names() if n not in _BUILTIN)]


def every_dataset_key(name: Any = None) -> list[str]:
    """The keys some dataset kind accepts (the first check of a ``dataset:`` entry):
    ``kind``, each built-in's keys, and ``name``'s own when it is another known kind."""
    tables = [dataset_kind(n).keys for n in _BUILTIN]
    if isinstance(name, str) and name not in _BUILTIN and name in DATASET_KINDS:
        tables.append(dataset_kind(name).keys)
    unique: list[tuple[str, ...]] = []
    for keys in tables:
        if keys not in unique:
            unique.append(keys)
    return ["kind", *(k for keys in unique for k in keys)]


def build_dataset(entry: Mapping[str, Any],
                  resolve_path: Callable[[str], Any] = str) -> Any:
    """The dataset a ``{kind:, **options}`` entry describes (default kind ``synthetic``)."""
    opts = {k: v for k, v in dict(entry).items() if k != "kind"}
    return dataset_kind(entry.get("kind", "synthetic")).build(opts, resolve_path)


def _loader(fn: Callable[..., Any]) -> Callable[[dict[str, Any], Callable[[str], Any]], Any]:
    def build(opts: dict[str, Any], resolve_path: Callable[[str], Any]) -> Any:
        if isinstance(opts.get("path"), str):
            opts["path"] = resolve_path(opts["path"])
        return fn(**opts)

    return build


# ====================================================================== the built-in kinds
def _build_synthetic(opts: dict[str, Any], resolve_path: Callable[[str], Any]) -> Any:
    from ._synthetic import Effects, synthetic

    eff = opts.pop("effects", None)
    return synthetic(effects=Effects(**eff) if eff is not None else None, **opts)


def _effects_fields() -> list[str]:
    from ._synthetic import Effects

    return [f.name for f in dataclasses.fields(Effects)]


def _movielens(loader: str) -> Callable[[dict[str, Any], Callable[[str], Any]], Any]:
    def build(opts: dict[str, Any], resolve_path: Callable[[str], Any]) -> Any:
        from . import _movielens

        opts["path"] = resolve_path(opts["path"])
        return getattr(_movielens, loader)(**opts)

    return build


_SYNTHETIC_KEYS = ("kind", "n_users", "n_items", "seed", "effects", "min_interactions",
                   "max_interactions", "taste", "name")
_MOVIELENS_KEYS = ("kind", "path", "download", "provider", "min_rating")
_MOVIELENS = {"required": {"path": "the folder with the MovieLens files"},
              "types": {"path": (str, None)}}

for _kind in (
    DatasetKind("synthetic", "a synthetic world with planted effects", _build_synthetic,
                _SYNTHETIC_KEYS,
                types={"n_users": (int, 0), "n_items": (int, 0), "seed": (int, 0),
                       "min_interactions": (int, 0), "max_interactions": (int, 0),
                       "taste": (float, 0)},
                nested={"effects": (_effects_fields, float, 0)},
                highest={"n_users": 1_000_000, "n_items": 1_000_000,
                         "min_interactions": 100_000, "max_interactions": 100_000}),
    DatasetKind("movielens_100k", "MovieLens 100K from its original files",
                _movielens("movielens_100k"), _MOVIELENS_KEYS, **_MOVIELENS),
    DatasetKind("movielens_1m", "MovieLens 1M from its original files",
                _movielens("movielens_1m"), _MOVIELENS_KEYS, **_MOVIELENS),
):
    DATASET_KINDS.register(_kind.name, _kind)
del _kind

#: The built-in kinds, in the order specs and messages list them.
_BUILTIN = ("synthetic", "movielens_100k", "movielens_1m")
