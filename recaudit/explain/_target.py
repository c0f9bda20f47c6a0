"""The quantity attributions explain: the model's probability of the recommended item.

For each request the auditor fixes a candidate set ``C`` (the model's own top list for the
unperturbed request) and a target item ``t`` (its top recommendation). The model's output
for a perturbed request is then ``p(t | request, C) = softmax(logits / T)[t]`` with logits
taken, in order of preference, from

- ``nll`` (``-nll`` of each candidate): for language models this is the log-likelihood of
  the item's title given the prompt *exactly as ranked* (no candidate list in the prompt),
  and the softmax is the LM's probability renormalised over ``C``;
- ``score`` (requests carry ``candidates=C``);
- ``rank`` only: the output is the target's normalised rank ``1 - position / (|C| - 1)``.

``T`` ("auto") is 1 for log-probabilities and, for raw scores, the standard deviation of the
unperturbed request's candidate scores, so that scores on any scale (cosines, logits) give
comparable probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..errors import CapabilityError
from ..models._types import Request

Output = Literal["auto", "nll", "score", "rank"]


class TargetFunction:
    """Batched model outputs for (request, candidate set) pairs.

    Parameters
    ----------
    model : Recommender
        The model under test.
    output : {"auto", "nll", "score", "rank"}
        Which capability gives the logits ("auto": nll, else score, else rank).
    temperature : float or "auto"
        Softmax temperature applied to the logits (see the module docstring).

    Examples
    --------
    >>> fn = TargetFunction(model)                                   # doctest: +SKIP
    >>> logits = fn.logits([req], [("i1", "i2", "i3")])              # doctest: +SKIP
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

    def logits(self, requests: Sequence[Request],
               candidates: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """One logit per candidate of each request (a single batched model call).

        In ``rank`` mode the logit is minus the candidate's position.
        """
        requests = list(requests)
        self.n_requests += len(requests)
        if not requests:
            return []
        if self.output == "nll":
            flat_req, flat_tgt, sizes = [], [], []
            for r, c in zip(requests, candidates):
                base = r.replace(candidates=None)
                flat_req += [base] * len(c)
                flat_tgt += list(c)
                sizes.append(len(c))
            nll = np.asarray(self.model.nll(flat_req, flat_tgt), dtype=float)
            out, start = [], 0
            for n in sizes:
                out.append(-nll[start:start + n])
                start += n
            return out
        reqs = [r.replace(candidates=tuple(c)) for r, c in zip(requests, candidates)]
        if self.output == "score":
            return [np.asarray(s, dtype=float) for s in self.model.score(reqs)]
        k = max(len(c) for c in candidates)
        out = []
        for ranking, c in zip(self.model.rank(reqs, k), candidates):
            pos = {item: n for n, item in enumerate(ranking.items)}
            out.append(-np.array([pos.get(item, len(c)) for item in c], dtype=float))
        return out

    def scale(self, base_logits: np.ndarray) -> float:
        """The softmax temperature for one user, from the unperturbed request's logits."""
        if self.temperature != "auto":
            return float(self.temperature)
        if self.output == "score":
            sd = float(np.std(base_logits))
            return sd if sd > 1e-12 else 1.0
        return 1.0

    def value(self, logits: np.ndarray, target_index: int, scale: float) -> float:
        """The output for the target: its softmax probability (or normalised rank)."""
        if self.output == "rank":
            n = logits.size
            pos = float(np.sum(logits > logits[target_index]))
            return 1.0 - pos / max(n - 1, 1)
        z = logits / scale
        z = z - z.max()
        p = np.exp(z)
        return float(p[target_index] / p.sum())

    @staticmethod
    def target_rank(logits: np.ndarray, target_index: int) -> int:
        """0-based rank of the target among the candidates (ties count in its favour)."""
        return int(np.sum(logits > logits[target_index]))
