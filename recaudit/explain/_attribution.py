"""Captum attributions over the parts of a request (history items, profile attributes).

Perturbation methods (``FeatureAblation``, ``ShapleyValueSampling``) attribute the model's
output for its top item (see :mod:`recaudit.explain._target`) over a binary mask with a baseline of 0 (the
part removed), one feature per history item and per profile attribute. They run in two
passes: a *record* pass collects every mask Captum asks for (Captum's sampling depends
only on the torch seed, never on the outputs), all masked requests of all users go to the
model in one batched call, and a *replay* pass feeds Captum the answers. Gradient
attribution (``LayerIntegratedGradients`` through Captum's ``LLMGradientAttribution`` on
a ``TextTokenInput``) attributes the log-likelihood of the target's title to every prompt
token; token attributions are summed over each part's character span.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._features import PromptFeatures
from ._target import TargetFunction

#: Attribution methods by name: perturbation methods work on any model; the gradient one
#: needs the ``gradients`` and ``prompt`` capabilities.
PERTURBATION_METHODS = ("feature_ablation", "shapley_sampling")
GRADIENT_METHODS = ("integrated_gradients",)
METHODS = PERTURBATION_METHODS + GRADIENT_METHODS


@dataclass
class AttributionProblem:
    """One user's attribution task: the request's features, the candidate set and target."""

    features: PromptFeatures
    candidates: tuple[str, ...]
    target: str
    scale: float = 1.0


class MaskEvaluator:
    """Model outputs for (problem, mask) pairs, computed in batches and cached.

    Call :meth:`evaluate` (outputs) or :meth:`evaluate_top_k` (CountER's top-K membership)
    with every pair needed next: one model call for the missing ones. Then read
    :meth:`value` / :meth:`in_top_k` for any evaluated pair.
    """

    def __init__(self, fn: TargetFunction, problems: Sequence[AttributionProblem]) -> None:
        self.fn = fn
        self.problems = list(problems)
        self._values: dict[tuple[int, bytes], float] = {}
        self._top: dict[tuple[int, int, bytes], bool] = {}

    @staticmethod
    def _key(i: int, mask: np.ndarray) -> tuple[int, bytes]:
        return i, (np.asarray(mask).reshape(-1) > 0.5).astype(np.uint8).tobytes()

    def _todo(self, pairs, cache, prefix=()) -> dict:
        todo: dict = {}
        for i, mask in pairs:
            key = prefix + self._key(i, mask)
            if key not in cache and key not in todo:
                todo[key] = (i, np.asarray(mask))
        return todo

    def evaluate(self, pairs: Iterable[tuple[int, np.ndarray]]) -> int:
        """Compute the outputs of the pairs not cached yet; returns how many were new."""
        todo = self._todo(pairs, self._values)
        if todo:
            probs = [self.problems[i] for i, _ in todo.values()]
            vals = self.fn.values([p.features.masked(m) for p, (_, m) in zip(probs,
                                                                               todo.values())],
                                  [p.target for p in probs], [p.candidates for p in probs],
                                  [p.scale for p in probs])
            self._values.update(zip(todo, map(float, vals)))
        return len(todo)

    def evaluate_top_k(self, pairs: Iterable[tuple[int, np.ndarray]], k: int) -> int:
        """Compute top-``k`` membership of the target for pairs not cached yet."""
        todo = self._todo(pairs, self._top, (int(k),))
        if todo:
            probs = [self.problems[i] for i, _ in todo.values()]
            inside = self.fn.in_top_k([p.features.masked(m) for p, (_, m) in
                                       zip(probs, todo.values())],
                                      [p.target for p in probs], [p.candidates for p in probs],
                                      k)
            self._top.update(zip(todo, map(bool, inside)))
        return len(todo)

    def value(self, i: int, mask: np.ndarray) -> float:
        key = self._key(i, mask)
        if key not in self._values:
            self.evaluate([(i, mask)])
        return self._values[key]

    def in_top_k(self, i: int, mask: np.ndarray, k: int) -> bool:
        key = (int(k),) + self._key(i, mask)
        if key not in self._top:
            self.evaluate_top_k([(i, mask)], k)
        return self._top[key]


def perturbation_attributions(method: str, evaluator: MaskEvaluator, *, n_samples: int = 10,
                              seed: int = 0,
                              progress: Callable[..., Iterable] | None = None,
                              ) -> list[np.ndarray]:
    """Attributions of every problem's output with a Captum perturbation method.

    Parameters
    ----------
    method : {"feature_ablation", "shapley_sampling"}
    evaluator : MaskEvaluator
        Holds the problems; its cache is filled with every mask the method needs.
    n_samples : int
        Permutations sampled by ``ShapleyValueSampling``.
    seed : int
        Seeds Captum's permutations (problem ``i`` uses ``seed + i``).
    """
    import torch
    from captum.attr import FeatureAblation, ShapleyValueSampling

    if method not in PERTURBATION_METHODS:
        raise ValueError(f"unknown perturbation method {method!r}; use one of "
                         f"{PERTURBATION_METHODS}")
    problems = evaluator.problems
    recorded: list[tuple[int, np.ndarray]] = []

    def run(phase: str) -> list[np.ndarray]:
        out = []
        items = range(len(problems))
        if phase == "replay" and progress is not None:
            items = progress(items, desc=f"attribution: {method}", total=len(problems))
        for i in items:
            d = problems[i].features.n_features

            def forward(masks: torch.Tensor, i: int = i, d: int = d) -> torch.Tensor:
                arr = masks.detach().cpu().numpy().reshape(-1, d)
                if phase == "record":
                    recorded.extend((i, m.copy()) for m in arr)
                    return torch.zeros(arr.shape[0], dtype=torch.float64)
                return torch.tensor([evaluator.value(i, m) for m in arr], dtype=torch.float64)

            inputs = torch.ones(1, d, dtype=torch.float64)
            feature_mask = torch.arange(d).unsqueeze(0)
            with torch.random.fork_rng():
                torch.manual_seed(seed + i)
                if method == "feature_ablation":
                    attr = FeatureAblation(forward).attribute(
                        inputs, baselines=0.0, feature_mask=feature_mask,
                        perturbations_per_eval=d)
                else:
                    attr = ShapleyValueSampling(forward).attribute(
                        inputs, baselines=0.0, feature_mask=feature_mask,
                        n_samples=n_samples, perturbations_per_eval=d)
            out.append(attr.detach().numpy().reshape(-1).astype(float))
        return out

    run("record")
    evaluator.evaluate(recorded)
    return run("replay")


def _feature_spans(prompt: str, features: PromptFeatures, titles: Mapping[str, str],
                   ) -> list[tuple[int, int] | None]:
    """Character span of each feature's text in the prompt (None when not shown).

    History titles are searched in order (the prompt lists them oldest first, possibly only
    the most recent ones); a profile attribute is the first occurrence of its value.
    """
    spans: list[tuple[int, int] | None] = []
    req = features.request
    text = req.item_text_dict
    cursor = 0
    for item in req.history:
        title = text.get(item, titles.get(item, item))
        at = prompt.find(title, cursor)
        if at < 0:
            spans.append(None)
            continue
        spans.append((at, at + len(title)))
        cursor = at + len(title)
    for _, value in req.profile:
        v = " ".join(str(value).replace("_", " ").split())
        at = prompt.find(v)
        spans.append(None if at < 0 or not v else (at, at + len(v)))
    return spans


def _token_offsets(tokenizer: Any, prompt: str, n_tokens: int) -> list[tuple[int, int]]:
    try:
        enc = tokenizer(prompt, return_offsets_mapping=True)
        offsets = [tuple(o) for o in enc["offset_mapping"]]
        if len(offsets) == n_tokens:
            return offsets
    except (NotImplementedError, TypeError, KeyError, ValueError):
        pass
    ids = tokenizer.encode(prompt)  # slow tokenizers: offsets by cumulative decoding
    offsets, end = [], 0
    for n in range(len(ids)):
        new_end = len(tokenizer.decode(ids[:n + 1]))
        offsets.append((end, new_end))
        end = new_end
    return offsets


def gradient_attributions(model: Any, problems: Sequence[AttributionProblem],
                          titles: Mapping[str, str], *, n_steps: int = 16,
                          with_candidates: bool = False,
                          progress: Callable[..., Iterable] | None = None,
                          ) -> list[np.ndarray]:
    """Layer Integrated Gradients (Captum's ``LLMGradientAttribution``) per part.

    Attributes ``log p(continuation(title_t) | prompt)`` to the prompt's token embeddings
    (baseline: token id 0 everywhere), then sums token attributions over each history
    item's title span and each profile value's span. Parts not shown in the prompt get 0.

    Parameters
    ----------
    model : Recommender
        Declares ``gradients`` (``gradient_handle()``) and ``prompt`` (``render``).
    problems : sequence of AttributionProblem
    titles : mapping
        Catalog titles (``data.titles``).
    with_candidates : bool
        Render the prompt with the candidate list (as ``score`` sees it) or without it (as
        ``nll`` and full-catalog ranking see it).
    """
    import torch
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    handle = model.gradient_handle()
    tokenizer = handle.tokenizer
    lig = LayerIntegratedGradients(handle.model, handle.embedding_layer)
    llm = LLMGradientAttribution(lig, tokenizer)
    template = getattr(model, "template", None)
    items: Iterable[int] = range(len(problems))
    if progress is not None:
        items = progress(items, desc="attribution: integrated_gradients", total=len(problems))
    out = []
    for i in items:
        p = problems[i]
        req = p.features.request.replace(candidates=p.candidates if with_candidates else None)
        prompt = model.render(req)
        title = req.item_text_dict.get(p.target, titles.get(p.target, p.target))
        target_text = (template.continuation(title) if hasattr(template, "continuation")
                       else " " + title)
        inp = TextTokenInput(prompt, tokenizer)
        with torch.enable_grad():
            res = llm.attribute(inp, target=target_text, n_steps=n_steps)
        tok = res.seq_attr.detach().cpu().double().numpy().reshape(-1)
        offsets = _token_offsets(tokenizer, prompt, tok.size)
        attr = np.zeros(p.features.n_features)
        for f, span in enumerate(_feature_spans(prompt, p.features, titles)):
            if span is None:
                continue
            lo, hi = span
            attr[f] = sum(a for a, (s, e) in zip(tok, offsets) if e > lo and s < hi and e > s)
        out.append(attr)
    return out
