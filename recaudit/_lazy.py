"""Lazy package faces: a package lists its public names and the module each lives in, and
the module is imported the first time a name is asked for (PEP 562 ``__getattr__``).

So ``import recaudit`` stays light: torch and transformers load only when a model that needs
them is first used. The bottom layer: imports nothing of recaudit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, table: Mapping[str, str],
                    submodules: Iterable[str] = ()) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``table[name]`` (a module path
    relative to ``package``) on first use and returns its ``name``; a name in
    ``submodules`` is that sub-package itself (``ra.models.lm``), imported on first use.

    Examples
    --------
    >>> get = lazy_attributes("recaudit", {"stable_hash": ".contract"})
    >>> get("stable_hash").__name__
    'stable_hash'
    """
    subs = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in subs:
            return import_module(f".{name}", package)
        if name in table:
            return getattr(import_module(table[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
