"""Candidate order shuffle."""

from __future__ import annotations

import numpy as np

from ._base import Perturbation, register_perturbation, shuffle_share


@register_perturbation
class CandidateShuffle(Perturbation):
    """Shuffle the order candidates are presented in (LLMRank's order sensitivity).

    Requests without candidates (whole-catalog ranking) are returned unchanged.

    Parameters
    ----------
    strength : float, default 1.0
        Share of candidate positions shuffled among themselves.
    """

    name = "candidate_shuffle"
    kind = "candidates"
    default_strength = 1.0

    def _apply(self, request, data, rng: np.random.Generator):
        if request.candidates is None:
            return request
        out = shuffle_share(request.candidates, self.strength, rng)
        return request if out is None else request.replace(candidates=out)
