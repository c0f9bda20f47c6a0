"""Counterfactual prompting (in the spirit of UP5, Hua et al. 2023): the output must not
depend on the sensitive attributes stated in the prompt."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..contract import Request
from ._base import MitigatedRecommender, Mitigation, inner_pool_scores, log_softmax, model_data


class CounterfactualPrompting(Mitigation):
    """Remove or average out sensitive attributes in the prompt.

    Parameters
    ----------
    mode : {"neutralize", "ensemble"}
        ``neutralize`` states no sensitive attribute (drops them from ``request.profile``);
        ``ensemble`` scores the request under every value of each attribute (every
        combination) and averages the log-softmax scores, so every stated value, and the
        neutral prompt, get the same list.
    attributes : sequence of str, optional
        Which attributes; default every sensitive attribute of the dataset.

    Examples
    --------
    >>> cf = CounterfactualPrompting(mode="neutralize")
    >>> cf.name
    'counterfactual_prompting'
    """

    name = "counterfactual_prompting"

    def __init__(self, mode: Literal["neutralize", "ensemble"] = "neutralize",
                 attributes: Sequence[str] | None = None) -> None:
        if mode not in ("neutralize", "ensemble"):
            raise ValueError(f"counterfactual_prompting mode must be 'neutralize' or "
                             f"'ensemble', got {mode!r}")
        self.mode = mode
        self.attributes = None if attributes is None else list(attributes)

    def wrap(self, model: Any, data: Any = None) -> Any:
        self.check(model)
        data = model_data(model, data)
        attrs = self.attributes if self.attributes is not None else list(data.sensitive)
        cls = _Neutralized if self.mode == "neutralize" else _Ensembled
        return cls(model, self, data, attrs)


class _Neutralized(MitigatedRecommender):
    def __init__(self, inner: Any, mitigation: Mitigation, data: Any,
                 attributes: list[str]) -> None:
        super().__init__(inner, mitigation, data)
        self.attributes = set(attributes)

    def supported_capabilities(self, inner_caps: frozenset[str]) -> frozenset[str]:
        return inner_caps & frozenset({"rank", "score", "nll", "prompt", "train"})

    def transform(self, request: Request) -> Request:
        return request.replace(profile={a: v for a, v in request.profile
                                        if a not in self.attributes})

    def rank(self, requests, k):
        return self.inner.rank([self.transform(r) for r in requests], k)

    def score(self, requests):
        return self.inner.score([self.transform(r) for r in requests])


class _Ensembled(MitigatedRecommender):
    def __init__(self, inner: Any, mitigation: Mitigation, data: Any,
                 attributes: list[str]) -> None:
        super().__init__(inner, mitigation, data)
        self.attributes = attributes
        values = [data.attribute_values(a) for a in attributes]
        self.combinations = [dict(zip(attributes, combo)) for combo in itertools.product(*values)]

    def variants(self, request: Request) -> list[Request]:
        base = {a: v for a, v in request.profile if a not in self.attributes}
        return [request.replace(profile={**base, **combo}) for combo in self.combinations]

    def transform(self, request: Request) -> Request:  # what render shows: the first variant
        return self.variants(request)[0]

    def pool_scores(self, requests: Sequence[Request]) -> list[np.ndarray]:
        n = len(self.combinations)
        flat = [v for r in requests for v in self.variants(r)]
        scores = inner_pool_scores(self.inner, flat, self.data)
        out = []
        for i in range(len(requests)):
            block = np.stack([log_softmax(s) for s in scores[i * n:(i + 1) * n]])
            with np.errstate(invalid="ignore"):
                out.append(block.mean(axis=0))
        return out
