"""Auditor registry: built-ins (lazy), ``@register_auditor``, and entry-point plug-ins.

One :class:`~recaudit.registry.Registry`, :data:`AUDITORS`. Built-ins are ``lazy`` entries
(``"module:Class"`` strings imported on first use, like lm-evaluation-harness' lazy
registry); third-party packages add auditors through the ``recaudit.auditors`` entry-point
group; ``@register_auditor("name")`` registers a class in this process and sets its
``name``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from ..registry import Registry
from ._base import Auditor

ENTRY_POINT_GROUP = "recaudit.auditors"

#: Built-in name -> ``"module:Class"`` (AUDITORS' lazy table; filled below).
BUILTIN_AUDITORS: dict[str, str] = {}
#: Name -> class, for every auditor loaded or registered in this process.
_REGISTERED: dict[str, type[Auditor]] = {}


class _AuditorRegistry(Registry):
    """:data:`AUDITORS` keeps its tables in this module's globals, looked up on each use:
    ``BUILTIN_AUDITORS`` (lazy built-ins), ``_REGISTERED`` (loaded classes) and
    ``entry_points`` (the plug-in lookup), so swapping one of them here (tests isolate the
    registry with a copy of ``_REGISTERED``, or fake the plug-ins) swaps it for the
    registry too."""

    @property
    def _objects(self) -> dict[str, Any]:
        return _REGISTERED

    @_objects.setter
    def _objects(self, value: dict[str, Any]) -> None:
        global _REGISTERED
        _REGISTERED = value

    @property
    def _lazy(self) -> dict[str, str]:
        return BUILTIN_AUDITORS

    @_lazy.setter
    def _lazy(self, value: dict[str, str]) -> None:
        global BUILTIN_AUDITORS
        BUILTIN_AUDITORS = value

    def _entry_points(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


#: Every auditor name: the built-ins, ``@register_auditor`` classes and plug-ins.
AUDITORS: Registry[type[Auditor]] = _AuditorRegistry(
    "auditor", base=Auditor, entry_point_group=ENTRY_POINT_GROUP, set_name=True)

for _name, _target in {
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
}.items():
    AUDITORS.lazy(_name, _target)
del _name, _target


#: Class decorator: ``@register_auditor("name")`` registers an :class:`Auditor` subclass (a
#: second, different class under a taken name is an error, no silent override).
register_auditor = AUDITORS.register

#: Every auditor name: built-in, registered in this process, or from plug-ins.
available_auditors = AUDITORS.names


def auditor_families() -> dict[str, list[str]]:
    """Family -> the built-in auditors of that family, in name order.

    Read from where each built-in lives (``recaudit.auditors.<family>.<module>``), so no
    auditor module is imported; each class's ``family`` says the same (a test checks).

    >>> auditor_families()["privacy"]
    ['attribute_inference', 'membership_inference', 'memorization']
    """
    out: dict[str, list[str]] = {}
    for name, target in sorted(BUILTIN_AUDITORS.items()):
        parts = target.split(":")[0].split(".")
        if len(parts) >= 4 and parts[:2] == ["recaudit", "auditors"]:
            out.setdefault(parts[2], []).append(name)
    return out


#: The class registered under a name; unknown names raise with suggestions.
get_auditor_class = AUDITORS.get

#: Build a registered auditor with its parameters (what YAML specs use); a bad parameter
#: names the ones accepted.
make_auditor = AUDITORS.build
