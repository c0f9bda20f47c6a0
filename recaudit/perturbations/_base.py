"""The ``Perturbation`` base class, the registry by name, and text helpers.

A perturbation maps a :class:`~recaudit.Request` to a perturbed request. It acts only on
request fields (history, candidates, ``item_text`` overrides, ``prompt_extra``), so it works
on any model; text perturbations change only what the model reads: item ids stay, and
utility on held-out items can still be measured.

Perturbations are registered by name in :data:`PERTURBATIONS` (``@register_perturbation``
on the class, or an entry point in the ``recaudit.perturbations`` group of a third-party
package).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal

import numpy as np

from ..contract import Request
from ..params import Params
from ..registry import Registry

#: A word a text perturbation may touch: alphabetic, at least 3 letters (years and short
#: words such as "of" are left alone, as in CheckList's typo perturbation).
WORD = re.compile(r"[A-Za-z][A-Za-z']{2,}")



class Perturbation(Params):
    """Base class: a named, seeded request perturbation with a ``strength`` in [0, 1].

    Subclasses set ``name``, ``kind`` (``text``, ``history``, ``candidates`` or ``prompt``),
    ``preserves_meaning`` (False when the perturbation removes information, such as history
    truncation, so some change in the output is legitimate), ``default_strength``, and
    implement :meth:`_apply`. Their ``__init__`` keywords are stored under the same names:
    ``get_params()``, :meth:`params`, :meth:`describe` and the repr read them from the
    signature (:class:`~recaudit.params.Params`), in signature order.

    Parameters
    ----------
    strength : float
        How much to perturb, in [0, 1]; its meaning is documented per perturbation.
    seed : int
        Seeds the perturbation; with ``rng=None`` in :meth:`apply` each request gets its own
        stream derived from (seed, request), so results do not depend on request order.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[Literal["text", "history", "candidates", "prompt"]] = "text"
    preserves_meaning: ClassVar[bool] = True
    default_strength: ClassVar[float] = 0.5

    def __init__(self, strength: float | None = None, seed: int = 0) -> None:
        strength = self.default_strength if strength is None else float(strength)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"perturbation {self.name!r}: strength must be in [0, 1], "
                             f"got {strength}")
        self.strength = strength
        self.seed = int(seed)

    def params(self) -> dict[str, Any]:
        """Parameters other than ``strength`` and ``seed`` (shown in reports), less the
        ones the repr leaves out (``_repr_exclude``)."""
        return {k: v for k, v in self.get_params().items()
                if k not in ("strength", "seed", *self._repr_exclude)}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "strength": self.strength,
                "seed": self.seed, **self.params()}

    def rng_for(self, request: Request) -> np.random.Generator:
        """The default stream for ``request``: a function of (seed, name, request)."""
        key = zlib.crc32(f"{self.name}/{request.key()}".encode())
        return np.random.default_rng([self.seed, key])

    def apply(self, request: Request, data: Any,
              rng: np.random.Generator | None = None) -> Request:
        """The perturbed request (``request`` itself when there is nothing to perturb)."""
        if rng is None:
            rng = self.rng_for(request)
        return self._apply(request, data, rng)

    def _apply(self, request: Request, data: Any, rng: np.random.Generator) -> Request:
        raise NotImplementedError


class TitlePerturbation(Perturbation):
    """A text perturbation of item titles, written into ``request.item_text``.

    Parameters
    ----------
    target : {"history", "all"}
        Which titles to perturb: the history's (what the user "said"), or the candidates'
        too.
    """

    kind = "text"

    def __init__(self, strength: float | None = None, seed: int = 0, *,
                 target: Literal["history", "all"] = "history") -> None:
        super().__init__(strength, seed)
        if target not in ("history", "all"):
            raise ValueError(f"perturbation {self.name!r}: target must be 'history' or 'all', "
                             f"got {target!r}")
        self.target = target

    def perturb_text(self, text: str, rng: np.random.Generator) -> str:
        raise NotImplementedError

    def _apply(self, request: Request, data: Any, rng: np.random.Generator) -> Request:
        ids = list(request.history)
        if self.target == "all" and request.candidates is not None:
            ids += request.candidates
        overrides = request.item_text_dict
        changed = False
        for item in dict.fromkeys(ids):
            old = current_title(request, data, item)
            new = self.perturb_text(old, rng)
            if new != old:
                overrides[item] = new
                changed = True
        return request.replace(item_text=overrides) if changed else request


def shuffle_share(items: tuple[str, ...], strength: float,
                  rng: np.random.Generator) -> tuple[str, ...] | None:
    """Permute a random ``strength`` share of the positions of ``items`` among themselves;
    None when fewer than two positions would move (nothing to do)."""
    n = int(round(strength * len(items)))
    if n < 2:
        return None
    pos = np.sort(rng.choice(len(items), size=n, replace=False))
    out = list(items)
    for p, q in zip(pos, rng.permutation(pos)):
        out[p] = items[q]
    return tuple(out)


def current_title(request: Request, data: Any, item: str) -> str:
    """The title the model reads for ``item``: the request's override, else the catalog's."""
    text = request.item_text_dict.get(item)
    if text is not None:
        return text
    return data.titles.get(item, item)


def map_words(text: str, fn: Callable[[str], str | None]) -> str:
    """Replace each :data:`WORD` in ``text`` by ``fn(word)`` (``None`` keeps it)."""
    def sub(m: re.Match) -> str:
        out = fn(m.group(0))
        return m.group(0) if out is None else out

    return WORD.sub(sub, text)


def match_case(template: str, word: str) -> str:
    """``word`` in the capitalisation pattern of ``template`` (upper, title or lower)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word.lower()


# ------------------------------------------------------------------------ registry
#: Every perturbation by name; a class declares its own ``name``.
PERTURBATIONS: Registry[type[Perturbation]] = Registry(
    "perturbation", base=Perturbation, entry_point_group="recaudit.perturbations")


#: Class decorator: register a :class:`Perturbation` subclass under ``cls.name``.
register_perturbation = PERTURBATIONS.register_named

#: Every perturbation name: registered in this process or from plug-ins.
available_perturbations = PERTURBATIONS.names

#: Build the perturbation registered as a name with its parameters, e.g.
#: ``get_perturbation("typos", strength=0.3, seed=1)``.
get_perturbation = PERTURBATIONS.build


def as_perturbations(spec: Iterable[Any] | dict[str, dict[str, Any]], *,
                     seed: int = 0) -> list[Perturbation]:
    """Normalise a perturbation spec: names, ``{name: params}``, or instances.

    A ``seed`` not given in the params is ``seed``. Names must be unique.
    """
    items = spec.items() if isinstance(spec, dict) else [
        (s, {}) if isinstance(s, str) else (None, s) for s in spec]
    out: list[Perturbation] = []
    for name, params in items:
        if name is None:
            if not isinstance(params, Perturbation):
                raise TypeError(f"expected a perturbation name or instance, got {params!r}")
            out.append(params)
        else:
            out.append(get_perturbation(name, **{"seed": seed, **dict(params or {})}))
    names = [p.name for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"perturbation(s) {dup} listed twice; give each once")
    return out
