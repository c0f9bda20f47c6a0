"""Mitigations wrap the model under test; a mitigated model is again a Recommender.

:data:`MITIGATIONS` is the registry by name: the built-ins below, anything registered with
``MITIGATIONS.register("name", cls)``, and third-party mitigations from the
``recaudit.mitigations`` entry-point group. A mitigation class declares its own ``name``.

>>> import recaudit as ra
>>> ra.mitigations.get("counterfactual_prompting", mode="ensemble")
CounterfactualPrompting(mode='ensemble', attributes=None)
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from ._base import Identity, MitigatedRecommender, Mitigation
from ._counterfactual import CounterfactualPrompting
from ._decoding import DebiasedDecoding
from ._reweighting import Reweighting, kamiran_calders_weights, popularity_group_weights

MITIGATIONS: Registry[type[Mitigation]] = Registry(
    "mitigation", base=Mitigation, entry_point_group="recaudit.mitigations")
for _cls in (Identity, Reweighting, CounterfactualPrompting, DebiasedDecoding):
    MITIGATIONS.register(_cls.name, _cls)
del _cls


#: Every mitigation name: built-in, registered in this process, or from plug-ins.
available = MITIGATIONS.names

#: Build a mitigation from its registry name (what YAML specs use); a bad parameter names
#: the ones accepted.
get = MITIGATIONS.build


def stack(model: Any, mitigations: Any, data: Any = None) -> Any:
    """Apply one mitigation or a list of them, first innermost; ``None`` returns ``model``."""
    if mitigations is None:
        return model
    if isinstance(mitigations, Mitigation):
        mitigations = [mitigations]
    for m in mitigations:
        model = m.wrap(model, data=data)
    return model


__all__ = ["CounterfactualPrompting", "DebiasedDecoding", "Identity", "MITIGATIONS",
           "MitigatedRecommender", "Mitigation", "Reweighting", "available", "get",
           "kamiran_calders_weights", "popularity_group_weights", "stack"]
