"""Debiased decoding: D3 (Bao et al., EMNLP 2024), contextual calibration (Zhao et al.,
ICML 2021) and permutation averaging (Hou et al., LLMRank, ECIR 2024)."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..contract import Request
from ..errors import CapabilityError
from ._base import MitigatedRecommender, Mitigation, inner_pool_scores, log_softmax, model_data

Variant = Literal["no_length_norm", "text_free_assistant", "contextual_calibration",
                  "permutation_averaging"]
VARIANTS = ("no_length_norm", "text_free_assistant", "contextual_calibration",
            "permutation_averaging")

#: The content-free input of contextual calibration: no history, no profile, "N/A".
CONTENT_FREE_USER = "__content_free__"


class DebiasedDecoding(Mitigation):
    """Change how the model's item scores become a ranking.

    Parameters
    ----------
    variant : str
        ``no_length_norm``: score titles by summed log-probability (D3: length normalisation
        inflates titles with near-certain "ghost" tokens); needs a model with a
        ``length_normalize`` option (``HFRecommender``).
        ``text_free_assistant``: D3's assistant: final = g * log p_LM(item) + (1 - g) *
        log p_A(item | history), p_A a non-language model fit on train (``assistant``:
        ``cooccurrence`` or ``popularity``).
        ``contextual_calibration``: subtract the log-probability each item gets for a
        content-free input (divide by p(y | "N/A")).
        ``permutation_averaging``: rank ``n_permutations`` shuffles of the candidate list and
        sum positional (Borda) scores; whole-catalog requests pass through unchanged.
    g : float
        Weight of the language model in ``text_free_assistant``.
    """

    name = "debiased_decoding"

    def __init__(self, variant: Variant = "no_length_norm", g: float = 0.7,
                 assistant: Literal["cooccurrence", "popularity"] = "cooccurrence",
                 n_permutations: int = 5, seed: int = 0) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"debiased_decoding variant must be one of {VARIANTS}, "
                             f"got {variant!r}")
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"g must be in [0, 1], got {g}")
        self.variant = variant
        self.g = g
        self.assistant = assistant
        self.n_permutations = n_permutations
        self.seed = seed

    def wrap(self, model: Any, data: Any = None) -> Any:
        self.check(model)
        data = model_data(model, data)
        if self.variant == "no_length_norm":
            if not hasattr(model, "length_normalize"):
                raise CapabilityError(
                    f"no_length_norm needs a model with a length_normalize option "
                    f"(HFRecommender); {type(model).__name__} has none")
            with_options = getattr(model, "with_options", None)
            if with_options is not None:
                return with_options(length_normalize=False)
            plain = copy.copy(model)  # shares weights; the option is part of the fingerprint
            plain.length_normalize = False
            if hasattr(plain, "_fingerprint"):
                plain._fingerprint = None  # a cached fingerprint would hide the change
            return plain
        if self.variant == "text_free_assistant":
            return _TextFreeAssistant(model, self, data)
        if self.variant == "contextual_calibration":
            return _ContextualCalibration(model, self, data)
        return _PermutationAveraging(model, self, data)


class _TextFreeAssistant(MitigatedRecommender):
    def __init__(self, inner, mitigation, data) -> None:
        super().__init__(inner, mitigation, data)
        ids = list(data.item_ids)
        self.index = data.item_index
        pop = data.popularity.reindex(ids).to_numpy(float) + 1.0
        self.log_pop = np.log(pop / pop.sum())
        self.cooc = np.zeros((len(ids), len(ids)))
        if mitigation.assistant == "cooccurrence":
            for hist in data.train_histories.values():
                idx = [self.index[i] for i in hist]
                for a, b in zip(idx[:-1], idx[1:]):  # sequential co-occurrence a -> b
                    self.cooc[a, b] += 1.0

    def assistant_log_probs(self, request: Request) -> np.ndarray:
        if self.mitigation.assistant == "popularity":
            return self.log_pop
        hist = [self.index[i] for i in request.history[-3:] if i in self.index]
        counts = self.cooc[hist].sum(axis=0) if hist else np.zeros(len(self.log_pop))
        p = counts + 0.5 * np.exp(self.log_pop) * len(self.log_pop)  # popularity back-off
        return np.log(p / p.sum())

    def pool_scores(self, requests):
        g = self.mitigation.g
        base = inner_pool_scores(self.inner, requests, self.data)
        out = []
        for r, s in zip(requests, base):
            pool = r.candidates if r.candidates is not None else self.data.item_ids
            a = self.assistant_log_probs(r)[[self.index[i] for i in pool]]
            out.append(g * log_softmax(s) + (1 - g) * (a - np.log(np.exp(a).sum())))
        return out


class _ContextualCalibration(MitigatedRecommender):
    def content_free(self, request: Request) -> Request:
        return Request(CONTENT_FREE_USER, history=(), profile={}, candidates=request.candidates,
                       prompt_extra="N/A")

    def pool_scores(self, requests):
        both = list(requests) + [self.content_free(r) for r in requests]
        scores = inner_pool_scores(self.inner, both, self.data)
        n = len(requests)
        return [log_softmax(scores[i]) - log_softmax(scores[n + i]) for i in range(n)]


class _PermutationAveraging(MitigatedRecommender):
    def shuffles(self, request: Request) -> list[Request]:
        # Seeded by the candidate list alone: requests that differ only in the profile or
        # the history get the same shuffles, so the mitigation adds no difference of its own.
        key = Request("", candidates=request.candidates).key()
        rng = np.random.default_rng([self.mitigation.seed, int(key[:8], 16)])
        cands = list(request.candidates)
        out = [request]
        for _ in range(self.mitigation.n_permutations - 1):
            out.append(request.replace(candidates=tuple(rng.permutation(cands))))
        return out

    def pool_scores(self, requests: Sequence[Request]):
        out: list[np.ndarray | None] = [None] * len(requests)
        plain = [n for n, r in enumerate(requests) if r.candidates is None]
        if plain:
            for n, s in zip(plain, inner_pool_scores(self.inner, [requests[n] for n in plain],
                                                     self.data)):
                out[n] = s
        cand = [n for n, r in enumerate(requests) if r.candidates is not None]
        flat = [(n, v) for n in cand for v in self.shuffles(requests[n])]
        by_len: dict[int, list[int]] = {}
        for j, (_, v) in enumerate(flat):
            by_len.setdefault(len(v.candidates), []).append(j)
        borda: dict[int, Counter] = {n: Counter() for n in cand}
        for k, js in by_len.items():
            rankings = self.inner.rank([flat[j][1] for j in js], k)
            for j, ranking in zip(js, rankings):
                for pos, item in enumerate(ranking.items):
                    borda[flat[j][0]][item] += k - pos
        for n in cand:
            out[n] = np.array([float(borda[n][c]) for c in requests[n].candidates])
        return out  # type: ignore[return-value]
