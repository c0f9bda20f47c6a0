"""Explanations of recommendations: attribution over prompt parts and explaining LMs.

- :class:`PromptFeatures`: a request as removable parts (history items, profile attributes).
- :class:`TargetFunction`: the model's probability of the recommended item, batched.
- :func:`perturbation_attributions`, :func:`gradient_attributions`: Captum methods.
- :class:`ExplainingLM`: adds the ``explain`` capability to a language-model recommender.
- the tables (:func:`attribution_table`, :func:`curve_table`, :func:`mean_curves`) the
  explanation auditors report (their figures are drawn by :mod:`recaudit.report.figures`).
"""

from .._lazy import lazy_attributes

_LAZY = {
    "GRADIENT_METHODS": "._attribution",
    "METHODS": "._attribution",
    "PERTURBATION_METHODS": "._attribution",
    "AttributionProblem": "._attribution",
    "MaskEvaluator": "._attribution",
    "gradient_attributions": "._attribution",
    "perturbation_attributions": "._attribution",
    "ExplainingLM": "._explainer",
    "PromptFeatures": "._features",
    "TargetFunction": "._target",
    "attribution_table": "._tables",
    "curve_table": "._tables",
    "mean_curves": "._tables",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
