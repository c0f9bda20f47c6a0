"""Mitigations wrap the model under test; a mitigated model is again a Recommender.

>>> import recaudit as ra
>>> ra.mitigations.get("counterfactual_prompting", mode="ensemble")
CounterfactualPrompting(mode='ensemble', attributes=None)
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import UnknownNameError
from ._base import Identity, MitigatedRecommender, Mitigation
from ._counterfactual import CounterfactualPrompting
from ._decoding import DebiasedDecoding
from ._reweighting import Reweighting, kamiran_calders_weights, popularity_group_weights

MITIGATIONS: dict[str, type[Mitigation]] = {
    "identity": Identity,
    "reweighting": Reweighting,
    "counterfactual_prompting": CounterfactualPrompting,
    "debiased_decoding": DebiasedDecoding,
}


def available() -> list[str]:
    return sorted(MITIGATIONS)


def get(name: str, **params: Any) -> Mitigation:
    """Build a mitigation from its registry name (what YAML specs use)."""
    if name not in MITIGATIONS:
        close = difflib.get_close_matches(name, MITIGATIONS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(f"unknown mitigation {name!r}.{hint} "
                               f"Available: {', '.join(available())}")
    try:
        return MITIGATIONS[name](**params)
    except TypeError as exc:
        raise UnknownNameError(f"bad parameter(s) for mitigation {name!r}: {exc}") from exc


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
