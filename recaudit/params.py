"""Keyword parameters as the object's identity, the scikit-learn way.

A class that stores every ``__init__`` keyword argument as an attribute of the same name
(``BaseEstimator``'s convention) gets ``get_params()`` and a ``repr`` that rebuilds it.
Auditors, mitigations and perturbations share this one mixin: their parameters appear in
results, reports and cache keys through ``get_params()``.

>>> class Cut(Params):
...     def __init__(self, k=10, *, mode="top"):
...         self.k, self.mode = k, mode
>>> Cut(5)
Cut(k=5, mode='top')
>>> Cut(5).get_params()
{'k': 5, 'mode': 'top'}

A parameter whose value is too long to read in a repr (a pool of sentences) is listed in
``_repr_exclude``: it stays in ``get_params()``, only the repr leaves it out.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar


class Params:
    """``get_params()`` and ``repr`` from the ``__init__`` signature."""

    #: Parameters the repr leaves out (still in ``get_params()``).
    _repr_exclude: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _param_names(cls) -> list[str]:
        """The ``__init__`` keyword parameters, in signature order."""
        if cls.__init__ is object.__init__:
            return []
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """Every ``__init__`` parameter and its current value."""
        return {name: getattr(self, name, None) for name in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                         if k not in self._repr_exclude)
        return f"{type(self).__name__}({args})"
