"""The model-under-test contract: ``Request``, ``Ranking`` and the ``Recommender`` protocol.

Requests are plain frozen values (like lm-eval's requests) so the engine can hash,
de-duplicate and cache them. Auditors build requests; they reach a model only through
the capabilities it declares.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from .errors import CapabilityError

#: Every capability a model may declare. ``rank`` is mandatory.
CAPABILITIES = frozenset({"rank", "score", "nll", "prompt", "gradients", "train", "explain"})


def _as_pairs(value: Mapping[str, str] | Sequence[tuple[str, str]] | None) -> tuple:
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), str(v)) for k, v in items))


def _repeated(items: tuple[str, ...], limit: int = 5) -> list[str]:
    """The items that occur more than once, in first-occurrence order (at most ``limit``)."""
    if len(set(items)) == len(items):
        return []
    seen: set[str] = set()
    reps: dict[str, None] = {}
    for i in items:
        if i in seen:
            reps[i] = None
        seen.add(i)
    return list(reps)[:limit]


@dataclass(frozen=True)
class Request:
    """One question to a recommender: "what should this user see next?".

    Parameters
    ----------
    user_id : str
        The user the request is about.
    history : tuple of str
        Item ids the user interacted with, oldest first.
    profile : mapping of str to str
        Sensitive attributes stated in the prompt (``{"gender": "female"}``); empty means
        a neutral prompt. Stored as sorted pairs so the request stays hashable.
    candidates : tuple of str or None
        Ordered candidate items to rank, each named once (a repeat raises ``ValueError``);
        ``None`` ranks the whole catalog.
    item_text : mapping of str to str
        Title overrides for some items (used by text attacks and perturbations).
    prompt_extra : str
        Free text appended to the prompt (e.g. an irrelevant sentence).

    Examples
    --------
    >>> r = Request("u1", history=("i3", "i7"), profile={"gender": "female"})
    >>> r.profile_dict
    {'gender': 'female'}
    """

    user_id: str
    history: tuple[str, ...] = ()
    profile: tuple[tuple[str, str], ...] = ()
    candidates: tuple[str, ...] | None = None
    item_text: tuple[tuple[str, str], ...] = ()
    prompt_extra: str = ""

    def __post_init__(self) -> None:
        for name in ("history", "candidates"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"Request.{name} must be a sequence of item ids, got the "
                                f"string {value!r}; wrap it: ({value!r},)")
        object.__setattr__(self, "user_id", str(self.user_id))
        object.__setattr__(self, "history", tuple(str(i) for i in self.history))
        object.__setattr__(self, "profile", _as_pairs(self.profile))
        object.__setattr__(self, "item_text", _as_pairs(self.item_text))
        if self.candidates is not None:
            object.__setattr__(self, "candidates", tuple(str(i) for i in self.candidates))
            reps = _repeated(self.candidates)
            if reps:
                raise ValueError(f"Request.candidates repeats item(s) {reps}: a model ranking "
                                 "them would list an item twice; pass each candidate once")

    @property
    def profile_dict(self) -> dict[str, str]:
        return dict(self.profile)

    @property
    def item_text_dict(self) -> dict[str, str]:
        return dict(self.item_text)

    def replace(self, **changes: Any) -> Request:
        """A copy with some fields changed (dicts are accepted for profile/item_text)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "history": list(self.history),
            "profile": dict(self.profile),
            "candidates": None if self.candidates is None else list(self.candidates),
            "item_text": dict(self.item_text),
            "prompt_extra": self.prompt_extra,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Request:
        cand = d.get("candidates")
        return cls(
            user_id=d["user_id"],
            history=tuple(d.get("history", ())),
            profile=d.get("profile") or {},
            candidates=None if cand is None else tuple(cand),
            item_text=d.get("item_text") or {},
            prompt_extra=d.get("prompt_extra", ""),
        )

    def key(self) -> str:
        """A stable content hash (sha256 hex), identical across processes and runs."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Ranking:
    """A model's answer to one request: item ids best first, with scores when it has them.

    Each item appears once: a repeated item raises ``ValueError`` at construction (a model
    that can emit repeats, e.g. by free-text generation, keeps the first occurrence before
    building its ``Ranking``), so list metrics never have to choose how to count a repeat.
    ``hallucinated`` counts generated outputs that matched no catalog item (free generation).
    ``answered=False`` says the model holds no answer for the request at all (a
    :class:`~recaudit.models.LoggedRecommender` whose log has no list for that user and
    stated profile): the ranking is empty, and auditors leave it out and say so rather
    than read it as a list the user was shown.

    Examples
    --------
    >>> Ranking(("i1", "i2")).top(1)
    ('i1',)
    >>> Ranking(("i1", "i2", "i1"))
    Traceback (most recent call last):
    ...
    ValueError: Ranking repeats item(s) ['i1']; a ranking lists each item once (keep the first occurrence)
    """

    items: tuple[str, ...]
    scores: tuple[float, ...] | None = None
    hallucinated: int = 0
    raw: str | None = field(default=None, compare=False)
    answered: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(str(i) for i in self.items))
        reps = _repeated(self.items)
        if reps:
            raise ValueError(f"Ranking repeats item(s) {reps}; a ranking lists each item once "
                             "(keep the first occurrence)")
        if not self.answered and self.items:
            raise ValueError("an unanswered Ranking (answered=False) lists no item")
        if self.scores is not None:
            object.__setattr__(self, "scores", tuple(float(s) for s in self.scores))
            if len(self.scores) != len(self.items):
                raise ValueError(
                    f"Ranking has {len(self.items)} items but {len(self.scores)} scores")

    def top(self, k: int) -> tuple[str, ...]:
        return self.items[:k]

    def to_dict(self) -> dict[str, Any]:
        out = {"items": list(self.items),
               "scores": None if self.scores is None else list(self.scores),
               "hallucinated": self.hallucinated, "raw": self.raw}
        if not self.answered:  # only then: an answered ranking keeps its old form
            out["answered"] = False
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Ranking:
        s = d.get("scores")
        return cls(items=tuple(d["items"]), scores=None if s is None else tuple(s),
                   hallucinated=int(d.get("hallucinated", 0)), raw=d.get("raw"),
                   answered=bool(d.get("answered", True)))


@runtime_checkable
class Recommender(Protocol):
    """What recaudit needs of a model under test.

    Required: ``capabilities``, ``rank(requests, k)`` and ``fingerprint()``.
    Optional, when declared in ``capabilities``:

    - ``score(requests) -> list[np.ndarray]``: a score per candidate of each request
      (``request.candidates`` must be set), higher is better, in candidate order.
    - ``nll(requests, targets) -> np.ndarray``: negative log-likelihood of each target item
      given its request.
    - ``render(request) -> str`` (capability ``prompt``): the exact text the LM sees.
    - ``gradient_handle() -> GradientHandle`` (capability ``gradients``).
    - ``fit(data, sample_weight=None, seed=0) -> Recommender`` (capability ``train``):
      a *new* model of the same kind trained on ``data``; ``self`` is left unchanged.
    - ``explain(requests, k) -> list[Explanation]`` (capability ``explain``).
    """

    capabilities: frozenset[str]

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]: ...

    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class Explanation:
    """A recommendation with a natural-language explanation and the history items it cites."""

    item: str
    text: str
    cited: tuple[str, ...] = ()


@dataclass
class GradientHandle:
    """What gradient-based attribution needs from a model with the ``gradients`` capability."""

    model: Any  # torch.nn.Module with a HF-style forward(input_ids=..., attention_mask=...)
    embedding_layer: Any  # torch.nn.Module, e.g. model.transformer.wte
    tokenizer: Any


class BaseRecommender:
    """Convenience base class: declares ``rank`` only; other capabilities raise clearly.

    Subclasses set ``capabilities`` and override what they declare.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"rank"})

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def _missing(self, what: str) -> CapabilityError:
        return CapabilityError(
            f"{type(self).__name__} does not declare the '{what}' capability "
            f"(it has: {', '.join(sorted(self.capabilities))})")

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        raise self._missing("score")

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        raise self._missing("nll")

    def render(self, request: Request) -> str:
        raise self._missing("prompt")

    def gradient_handle(self) -> GradientHandle:
        raise self._missing("gradients")

    def fit(self, data: Any, sample_weight: Any = None, seed: int = 0) -> Recommender:
        raise self._missing("train")

    def explain(self, requests: Sequence[Request], k: int = 1) -> list[Explanation]:
        raise self._missing("explain")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capabilities={sorted(self.capabilities)})"


class DelegatingRecommender(BaseRecommender):
    """Forwards every model call to ``self.model``: the base of wrappers that add one thing
    (an ``explain`` capability, say) and leave the rest of the model as it is.

    Subclasses set ``self.model`` and ``self.capabilities`` and define ``fingerprint``.
    """

    model: Any

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        return self.model.rank(requests, k)

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        return self.model.score(requests)

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        return self.model.nll(requests, targets)

    def render(self, request: Request) -> str:
        return self.model.render(request)

    def gradient_handle(self) -> GradientHandle:
        return self.model.gradient_handle()


def has_capabilities(model: Any, needed: set[str] | frozenset[str]) -> set[str]:
    """Return the capabilities in ``needed`` that ``model`` does not declare."""
    declared = set(getattr(model, "capabilities", ()) or ())
    return set(needed) - declared


def stable_hash(*parts: Any) -> str:
    """sha256 over the JSON of ``parts`` (sorted keys): a fingerprint building block."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
