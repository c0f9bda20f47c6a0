"""Auditor registry: built-ins (lazy), ``@register_auditor``, and entry-point plug-ins.

Built-ins are listed as ``"module:Class"`` strings and imported on first use, like
lm-evaluation-harness' lazy registry; third-party packages add auditors through the
``recaudit.auditors`` entry-point group.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ..errors import UnknownNameError
from ._base import Auditor

ENTRY_POINT_GROUP = "recaudit.auditors"

BUILTIN_AUDITORS: dict[str, str] = {
    "popularity_bias": "recaudit.auditors.bias.popularity:PopularityBias",
    "position_bias": "recaudit.auditors.bias.position:PositionBias",
    "consumer_fairness": "recaudit.auditors.fairness.consumer:ConsumerFairness",
    "provider_fairness": "recaudit.auditors.fairness.provider:ProviderFairness",
    "membership_inference": "recaudit.auditors.privacy.membership:MembershipInference",
    "attribute_inference": "recaudit.auditors.privacy.attribute:AttributeInference",
    "memorization": "recaudit.auditors.privacy.memorization:Memorization",
    "prompt_robustness": "recaudit.auditors.robustness.prompt:PromptRobustness",
    "item_text_attack": "recaudit.auditors.robustness.item_text:ItemTextAttack",
    "attribution_faithfulness":
        "recaudit.auditors.explanation.attribution:AttributionFaithfulness",
    "explanation_faithfulness":
        "recaudit.auditors.explanation.natural_language:ExplanationFaithfulness",
}

_REGISTERED: dict[str, type[Auditor]] = {}


def register_auditor(name: str) -> Callable[[type[Auditor]], type[Auditor]]:
    """Class decorator: register an :class:`Auditor` subclass under ``name``.

    A second, different class under the same name is an error (no silent override).
    """

    def decorate(cls: type[Auditor]) -> type[Auditor]:
        if not (isinstance(cls, type) and issubclass(cls, Auditor)):
            raise TypeError(f"@register_auditor({name!r}) expects an Auditor subclass, "
                            f"got {cls!r}")
        existing = _REGISTERED.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"auditor name {name!r} is already registered to "
                             f"{existing.__module__}.{existing.__qualname__}")
        target = BUILTIN_AUDITORS.get(name)
        if target is not None and target.split(":")[0] != cls.__module__ and existing is None:
            raise ValueError(f"auditor name {name!r} is reserved for the built-in {target}")
        cls.name = name
        _REGISTERED[name] = cls
        return cls

    return decorate


def _plugin_entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_auditors() -> list[str]:
    """Every auditor name: built-in, registered in this process, or from plug-ins."""
    return sorted(set(BUILTIN_AUDITORS) | set(_REGISTERED) | set(_plugin_entry_points()))


def get_auditor_class(name: str) -> type[Auditor]:
    """The class registered under ``name``; unknown names raise with suggestions."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in BUILTIN_AUDITORS:
        module, attr = BUILTIN_AUDITORS[name].split(":")
        cls = getattr(importlib.import_module(module), attr)
        _REGISTERED.setdefault(name, cls)
        cls.name = name
        return cls
    eps = _plugin_entry_points()
    if name in eps:
        cls = eps[name].load()
        if not (isinstance(cls, type) and issubclass(cls, Auditor)):
            raise TypeError(f"entry point {name!r} in group {ENTRY_POINT_GROUP!r} does not "
                            f"point to an Auditor subclass: {cls!r}")
        cls.name = name
        _REGISTERED[name] = cls
        return cls
    names = available_auditors()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(f"unknown auditor {name!r}.{hint} Available: {', '.join(names)}")


def make_auditor(name: str, **params: Any) -> Auditor:
    """Build a registered auditor with its parameters (what YAML specs use)."""
    cls = get_auditor_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        allowed = cls._param_names()
        raise UnknownNameError(
            f"bad parameter(s) for auditor {name!r}: {exc}. It accepts: {allowed}") from exc
