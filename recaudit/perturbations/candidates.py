"""Candidate order shuffle."""

from __future__ import annotations

import numpy as np

from ._base import Perturbation, register_perturbation


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
        cands = request.candidates
        if cands is None:
            return request
        n = int(round(self.strength * len(cands)))
        if n < 2:
            return request
        pos = np.sort(rng.choice(len(cands), size=n, replace=False))
        moved = rng.permutation(pos)
        out = list(cands)
        for p, q in zip(pos, moved):
            out[p] = cands[q]
        return request.replace(candidates=tuple(out))
