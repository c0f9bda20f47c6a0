"""One registry type for every pluggable name: auditors, mitigations, perturbations,
executors, model kinds, datasets.

A :class:`Registry` maps names to objects (classes or builder functions), filled three ways:

- ``registry.register("name")`` as a decorator, or ``registry.register("name", obj)``;
- ``registry.lazy("name", "package.module:attr")`` for a built-in imported on first use (so
  ``import recaudit`` does not import every auditor and its dependencies), the way
  lm-evaluation-harness keeps its task registry lazy;
- an entry-point group (``[project.entry-points."recaudit.mitigations"]`` in a third-party
  ``pyproject.toml``), so plug-ins need no import from the user.

Unknown names raise :class:`~recaudit.errors.UnknownNameError` with suggestions and the list
of names; bad parameters for :meth:`Registry.build` raise it with the accepted parameters.

Each registry is its own front: the helper functions the packages export are its methods
(``available_auditors`` is ``AUDITORS.names``, ``get_perturbation`` is
``PERTURBATIONS.build``). The three registries of spec entries (model, dataset and executor
kinds) hold :class:`Kind` records in a :class:`KindRegistry`, whose
:meth:`KindRegistry.record` returns the record, adopting a plug-in's bare loader or class
where the registry allows it.

>>> colours = Registry("colour")
>>> @colours.register("red")
... def red(shade=1):
...     return ("red", shade)
>>> colours.build("red", shade=2)
('red', 2)
>>> colours.get("rde")
Traceback (most recent call last):
...
recaudit.errors.UnknownNameError: unknown colour 'rde'. Did you mean 'red'? Available: red
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar, overload

from .errors import UnknownNameError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> objects of one kind.

    Parameters
    ----------
    kind : str
        What the names name, singular ("auditor"): used in every message.
    base : type, optional
        Registered objects must be subclasses of ``base`` (checked on register and on
        loading a lazy or plug-in target).
    entry_point_group : str, optional
        The ``importlib.metadata`` entry-point group third-party packages register under.
    set_name : bool
        Set ``obj.name = name`` on registration (auditors and mitigations carry their
        registry name).
    """

    def __init__(self, kind: str, *, base: type | None = None,
                 entry_point_group: str | None = None, set_name: bool = False) -> None:
        self.kind = kind
        self.base = base
        self.entry_point_group = entry_point_group
        self.set_name = set_name
        self._objects: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    # ------------------------------------------------------------------ filling
    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, a decorator that does.

        A second, different object under a taken name is an error (no silent override);
        registering the same definition again (a re-imported module) is allowed. A name
        reserved by :meth:`lazy` takes only the object the lazy target names.
        """
        if obj is None:
            return lambda target: self.register(name, target)
        self._check(name, obj, source=f"{self.kind} {name!r}")
        existing = self._objects.get(name)
        if existing is not None and _same_definition(existing, obj) is False:
            raise ValueError(f"{self.kind} name {name!r} is already registered to "
                             f"{_qualname(existing)}")
        target = self._lazy.get(name)
        if (target is not None and existing is None
                and target.split(":")[0] != getattr(obj, "__module__", None)):
            raise ValueError(f"{self.kind} name {name!r} is reserved for the built-in "
                             f"{target}")
        if self.set_name:
            obj.name = name
        self._objects[name] = obj
        return obj

    def register_named(self, obj: T) -> T:
        """Register ``obj`` under its own ``name`` attribute (a class decorator)."""
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{getattr(obj, '__qualname__', obj)!r} has no 'name' to register "
                             f"it as a {self.kind} under")
        return self.register(name, obj)

    def lazy(self, name: str, target: str) -> None:
        """Reserve ``name`` for ``"package.module:attr"``, imported on first :meth:`get`."""
        if ":" not in target:
            raise ValueError(f"lazy {self.kind} target must be 'module:attr', got {target!r}")
        self._lazy[name] = target

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        """Every name: registered, lazy built-in, or from the entry-point group."""
        return sorted(set(self._objects) | set(self._lazy) | set(self._entry_points()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __getitem__(self, name: str) -> T:
        """``registry[name]`` is :meth:`get` (an unknown name raises a ``KeyError``)."""
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> T:
        """The object under ``name``; unknown names raise with suggestions."""
        if name in self._objects:
            return self._objects[name]
        if name in self._lazy:
            module, attr = self._lazy[name].split(":")
            obj = getattr(importlib.import_module(module), attr)
            return self._adopt(name, obj, source=f"built-in {self._lazy[name]}")
        points = self._entry_points()
        if name in points:
            obj = points[name].load()
            return self._adopt(name, obj, source=f"entry point {name!r} in group "
                                                 f"{self.entry_point_group!r}")
        raise self.unknown(name)

    def build(self, name: str, /, **params: Any) -> Any:
        """``get(name)(**params)``; a bad parameter names the ones accepted."""
        factory: Any = self.get(name)
        try:
            return factory(**params)
        except TypeError as exc:
            accepted = ", ".join(accepted_parameters(factory)) or "none"
            raise UnknownNameError(f"bad parameter(s) for {self.kind} {name!r}: {exc}. "
                                   f"It accepts: {accepted}") from exc

    def unknown(self, name: object) -> UnknownNameError:
        """The error for a name not in this registry (suggestions and the list)."""
        names = self.names()
        return UnknownNameError(f"unknown {self.kind} {name!r}.{did_you_mean(name, names)} "
                                f"Available: {', '.join(names)}")

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} names)"

    # ------------------------------------------------------------------ internals
    def _entry_points(self) -> dict[str, Any]:
        if self.entry_point_group is None:
            return {}
        return {ep.name: ep for ep in entry_points(group=self.entry_point_group)}

    def _check(self, name: str, obj: Any, *, source: str) -> None:
        if self.base is not None and not (isinstance(obj, type)
                                          and issubclass(obj, self.base)):
            base = self.base.__name__
            article = "an" if base[:1].lower() in "aeiou" else "a"
            raise TypeError(f"{source} does not point to {article} {base} subclass (every "
                            f"{self.kind} expects {article} {base} subclass): {obj!r}")

    def _adopt(self, name: str, obj: Any, *, source: str) -> T:
        self._check(name, obj, source=source)
        if self.set_name:
            obj.name = name
        self._objects.setdefault(name, obj)
        return self._objects[name]


@dataclass(frozen=True)
class Kind:
    """One kind of spec entry (``{kind: name, ...}``): its name, a one-line description for
    listings and reports, and its builder. :class:`~recaudit.models.ModelKind`,
    :class:`~recaudit.data.DatasetKind` and :class:`~recaudit.engine.ExecutorKind` add the
    keys their entries accept and their own checks; each builder's signature is its own.
    """

    name: str
    description: str
    build: Callable[..., Any]


class KindRegistry(Registry[T]):
    """A registry of :class:`Kind` records (model, dataset or executor kinds).

    Parameters
    ----------
    kind : str
        What the names name ("model kind").
    record : type
        The :class:`Kind` subclass its records are.
    entry_point_group : str, optional
        As for :class:`Registry`.
    adopt : callable, optional
        ``adopt(name, obj) -> record or None``: turns something a plug-in registered
        directly (a loader function, an executor class) into a record; ``None`` refuses it.
    adopts : str
        What ``adopt`` accepts, for the error message ("a loader function").
    label : str, optional
        What a record is called in messages, when not ``kind`` ("executor kind" for the
        registry of "executor" names).
    """

    def __init__(self, kind: str, record: type, *, entry_point_group: str | None = None,
                 adopt: Callable[[str, Any], Any] | None = None, adopts: str = "",
                 label: str = "") -> None:
        super().__init__(kind, entry_point_group=entry_point_group)
        self.label = label or kind
        self.record_type = record
        self.adopt = adopt
        self.adopts = adopts

    def record(self, name: str) -> Any:
        """The record registered as ``name`` (unknown names raise with suggestions)."""
        obj = self.get(name)
        if isinstance(obj, self.record_type):
            return obj
        adopted = self.adopt(name, obj) if self.adopt is not None else None
        if adopted is not None:
            return adopted
        record = self.record_type.__name__
        article = "an" if record[:1].lower() in "aeiou" else "a"
        also = f" or {self.adopts}" if self.adopts else ""
        raise TypeError(f"{self.label} {name!r} is registered as {obj!r}, not {article} "
                        f"{record}{also}")


def accepted_parameters(factory: Any) -> list[str]:
    """The keyword parameters ``factory`` (a class or function) accepts, in order."""
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _same_definition(a: Any, b: Any) -> bool:
    """Same class or function by qualified name (a module imported twice, a reload)."""
    return getattr(a, "__qualname__", a) == getattr(b, "__qualname__", b)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
