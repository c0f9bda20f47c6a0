"""Explanations of recommendations: attribution over prompt parts and explaining LMs.

- :class:`PromptFeatures`: a request as removable parts (history items, profile attributes).
- :class:`TargetFunction`: the model's probability of the recommended item, batched.
- :func:`perturbation_attributions`, :func:`gradient_attributions`: Captum methods.
- :class:`ExplainingLM`: adds the ``explain`` capability to a language-model recommender.
"""

from ._attribution import (
    GRADIENT_METHODS,
    METHODS,
    PERTURBATION_METHODS,
    AttributionProblem,
    MaskEvaluator,
    gradient_attributions,
    perturbation_attributions,
)
from ._explainer import ExplainingLM
from ._features import PromptFeatures
from ._target import TargetFunction

__all__ = ["GRADIENT_METHODS", "METHODS", "PERTURBATION_METHODS", "AttributionProblem", "ExplainingLM",
           "MaskEvaluator", "PromptFeatures", "TargetFunction", "gradient_attributions",
           "perturbation_attributions"]
