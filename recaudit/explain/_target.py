"""The quantity attributions explain: the model's output for the recommended item.

For each request the auditor fixes a target item ``t`` (the model's top recommendation for
the unperturbed request) and a candidate set ``C`` (its top list). The output for a
(perturbed) request is, by the first capability the model declares:

- ``nll``: ``log p(t | request)`` in nats, the model's own log-likelihood of the item (for a
  language model, of the item's title given the prompt exactly as it is ranked, with no
  candidate list). It is the quantity LayerIntegratedGradients attributes too, so every
  method explains the same function. One (request, item) pair per perturbation.
- ``score``: the score of ``t`` for the request with ``candidates=C``, divided by the
  standard deviation of the unperturbed request's candidate scores ("auto" temperature), so
  that scores on any scale (cosines, logits) read in the same units.
- ``rank`` only: the target's normalised rank among ``C``: ``1 - position / (|C| - 1)``.

Whether ``t`` stays in the top-K (CountER) is read from ``rank`` over ``C``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..contract import Request
from ..errors import CapabilityError

Output = Literal["auto", "nll", "score", "rank"]

#: What each output measures (used in notes and figure labels).
UNITS = {"nll": "log-likelihood of the top item (nats)",
         "score": "score of the top item (in SDs of the candidate scores)",
         "rank": "normalised rank of the top item among the candidates"}


class TargetFunction:
    """Batched model outputs for (request, target, candidate set) triples.

    Parameters
    ----------
    model : Recommender
        The model under test.
    output : {"auto", "nll", "score", "rank"}
        Which capability gives the output ("auto": nll, else score, else rank).
    temperature : float or "auto"
        Divisor of raw scores in ``score`` mode ("auto": per-user SD of the unperturbed
        candidate scores); ignored otherwise.

    Examples
    --------
    >>> fn = TargetFunction(model)                                   # doctest: +SKIP
    >>> fn.values([req], ["i1"], [("i1", "i2")], [1.0])              # doctest: +SKIP
    """

    def __init__(self, model: Any, output: Output = "auto",
                 temperature: float | str = "auto") -> None:
        caps = set(getattr(model, "capabilities", ()) or ())
        if output == "auto":
            output = "nll" if "nll" in caps else "score" if "score" in caps else "rank"
        if output not in ("nll", "score", "rank"):
            raise ValueError(f"output must be 'auto', 'nll', 'score' or 'rank', got {output!r}")
        if output not in caps:
            raise CapabilityError(f"output={output!r} needs the '{output}' capability; the "
                                  f"model declares {sorted(caps)}")
        if not (temperature == "auto" or (isinstance(temperature, (int, float))
                                          and temperature > 0)):
            raise ValueError(f"temperature must be 'auto' or a positive number, "
                             f"got {temperature!r}")
        self.model = model
        self.output = output
        self.temperature = temperature
        self.n_requests = 0

    @property
    def units(self) -> str:
        return UNITS[self.output]

    def scales(self, requests: Sequence[Request],
               candidates: Sequence[Sequence[str]]) -> list[float]:
        """Per-request divisor of the output (only ``score`` mode uses one)."""
        if self.output != "score":
            return [1.0] * len(requests)
        if self.temperature != "auto":
            return [float(self.temperature)] * len(requests)
        scores = self.model.score([r.replace(candidates=tuple(c))
                                   for r, c in zip(requests, candidates)])
        out = []
        for s in scores:
            sd = float(np.std(np.asarray(s, dtype=float)))
            out.append(sd if sd > 1e-12 else 1.0)
        return out

    def values(self, requests: Sequence[Request], targets: Sequence[str],
               candidates: Sequence[Sequence[str]], scales: Sequence[float]) -> np.ndarray:
        """The output for each request's target (one batched model call)."""
        requests = list(requests)
        self.n_requests += len(requests)
        if not requests:
            return np.zeros(0)
        if self.output == "nll":
            return -np.asarray(self.model.nll([r.replace(candidates=None) for r in requests],
                                              list(targets)), dtype=float)
        reqs = [r.replace(candidates=tuple(c)) for r, c in zip(requests, candidates)]
        if self.output == "score":
            out = []
            for s, c, t, sc in zip(self.model.score(reqs), candidates, targets, scales):
                out.append(float(np.asarray(s, dtype=float)[list(c).index(t)]) / sc)
            return np.asarray(out)
        k = max(len(c) for c in candidates)
        out = []
        for ranking, c, t in zip(self.model.rank(reqs, k), candidates, targets):
            items = list(ranking.items)
            pos = items.index(t) if t in items else len(c) - 1
            out.append(1.0 - pos / max(len(c) - 1, 1))
        return np.asarray(out)

    def in_top_k(self, requests: Sequence[Request], targets: Sequence[str],
                 candidates: Sequence[Sequence[str]], k: int) -> np.ndarray:
        """Whether each target is in the model's top-``k`` among its candidates."""
        requests = list(requests)
        if not requests:
            return np.zeros(0, dtype=bool)
        rankings = self.model.rank([r.replace(candidates=tuple(c))
                                    for r, c in zip(requests, candidates)], k)
        return np.array([t in rk.items[:k] for rk, t in zip(rankings, targets)])
