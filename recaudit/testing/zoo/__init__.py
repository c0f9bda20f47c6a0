"""The planted-defect model zoo used by tests: each defect next to its matching clean model.

Every model builds on :class:`ScoringModel`; family modules are imported on first use.

======================  =====================  ==========================
defect                  defective model        clean twin
======================  =====================  ==========================
popularity bias         PopularityPusher       PopularityNeutral
position bias           EarlyCandidateRanker   OrderInvariantRanker
consumer fairness       GenderSensitive        ProfileBlind
provider fairness       ProviderSuppressor     ProviderNeutral
attribute leakage       GenderLeaky            GenderBlind
memorization            Memorizer              Generalizer
brittle item text       BrittleTitleModel      RobustTitleModel
unfaithful explainer    DishonestExplainer     HonestExplainer
======================  =====================  ==========================
"""

from importlib import import_module
from typing import Any

from ._base import ScoringModel

_LAZY = {
    "PopularityPusher": ".popularity", "PopularityNeutral": ".popularity",
    "EarlyCandidateRanker": ".position", "OrderInvariantRanker": ".position",
    "GenderSensitive": ".fairness", "ProfileBlind": ".fairness",
    "ProviderSuppressor": ".fairness", "ProviderNeutral": ".fairness",
    "GenderLeaky": ".privacy", "GenderBlind": ".privacy",
    "Memorizer": ".privacy", "Generalizer": ".privacy",
    "BrittleTitleModel": ".robustness", "RobustTitleModel": ".robustness",
    "LastItemRecommender": ".explanation", "HistoryBlindRecommender": ".explanation",
    "HonestExplainer": ".explanation", "DishonestExplainer": ".explanation",
}

__all__ = ["ScoringModel", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'recaudit.testing.zoo' has no attribute {name!r}")
