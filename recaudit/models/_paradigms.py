"""The built-in recommendation paradigms, each a ``Recommender`` built on one dataset.

A paradigm study audits the same users with models trained the way each paradigm trains
(Geng et al., "Recommendation as Language Processing", RecSys 2022; the trustworthy LLM
recommendation tutorial this project follows):

- ``tiny_lm``: the embedded GPT-2 trained from scratch on the audited users' histories
  (:func:`~recaudit.models.train_tiny_lm`);
- ``pretrain_fine_tune``: pre-train and fine-tune: the same GPT-2 pre-trained on other users,
  then fine-tuned on the audited users (``train_tiny_lm(..., init_from=)``);
- ``embedding``: pre-train, prompt and predict, zero-shot: the packaged MiniLM sentence
  encoder reads the history titles, nothing is trained (:class:`EmbeddingRecommender`);
- ``prompt_tuning``: a soft prompt learnt with ``peft`` on a frozen LM pre-trained on other
  users (:func:`~recaudit.models.train_prompt_tuning`);
- classic non-language references: ``most_popular``, ``item_knn`` (item-to-item
  co-occurrence) and ``sasrec`` (ID-based causal self-attention).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

#: Label -> model entry of the default study (the order of the report's tables).
DEFAULT_PARADIGMS: dict[str, dict[str, Any]] = {
    "fine_tuned_lm": {"kind": "tiny_lm"},
    "pretrained_fine_tuned_lm": {"kind": "pretrain_fine_tune"},
    "zero_shot_minilm": {"kind": "embedding"},
    "prompt_tuning": {"kind": "prompt_tuning"},
    "most_popular": {"kind": "most_popular"},
    "item_knn": {"kind": "item_knn"},
    "sasrec": {"kind": "sasrec"},
}

#: What each kind is, for the report.
PARADIGM_KINDS: dict[str, str] = {
    "tiny_lm": "the tiny GPT-2 trained from scratch on the audited users",
    "pretrain_fine_tune": "pre-train and fine-tune: the tiny GPT-2 pre-trained on other users, "
                          "fine-tuned on the audited users",
    "hf": "a transformers causal LM from a folder",
    "embedding": "pre-train, prompt and predict (zero-shot): MiniLM sentence encoder",
    "prompt_tuning": "prompt tuning: a peft soft prompt on a frozen LM pre-trained on other "
                     "users",
    "most_popular": "non-personalised popularity baseline",
    "random": "uniformly random baseline",
    "item_knn": "item-to-item co-occurrence kNN (collaborative filtering)",
    "sasrec": "SASRec: ID-based causal self-attention over the history",
}

#: Kinds that need users other than the audited ones.
NEEDS_PRETRAIN = frozenset({"prompt_tuning", "pretrain_fine_tune"})


def _fields(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name != "template"]


def paradigm_keys(kind: str) -> list[str] | None:
    """Allowed keys of a model entry of the kinds defined here (None for other kinds)."""
    from ._cooccurrence import ItemKNN
    from ._prompt_tuning import SoftPromptConfig
    from ._sasrec import SASRecConfig

    if kind == "item_knn":
        import inspect

        params = inspect.signature(ItemKNN.__init__).parameters
        return ["kind", *[p for p in params if p not in ("self", "data", "sample_weight")]]
    if kind == "sasrec":
        return ["kind", "seed", "exclude_history", *_fields(SASRecConfig)]
    if kind == "prompt_tuning":
        return ["kind", "seed", "cache_dir", "progress", "lm", "length_normalize",
                "batch_size", *_fields(SoftPromptConfig)]
    if kind == "pretrain_fine_tune":
        from ._tiny_lm import TinyLMConfig

        return ["kind", "seed", "cache_dir", "progress", "lm", "length_normalize",
                "batch_size", *_fields(TinyLMConfig)]
    return None


def build_paradigm(entry: Mapping[str, Any], data: Any, *, seed: int = 0,
                   pretrain_data: Any = None, progress: bool = True) -> Any:
    """The model a ``{kind:, **options}`` entry describes, trained (or loaded) on ``data``.

    Parameters
    ----------
    entry : mapping
        ``kind`` (one of :data:`PARADIGM_KINDS`) and its options: ``TinyLMConfig`` fields for
        ``tiny_lm``; ``SoftPromptConfig`` fields and ``lm`` (``TinyLMConfig`` fields of the
        frozen LM) for ``prompt_tuning``; ``TinyLMConfig`` fields (the fine-tuning recipe)
        and ``lm`` (the pre-training recipe) for ``pretrain_fine_tune``; ``SASRecConfig``
        fields for ``sasrec``;
        ``n_neighbors``/``shrink`` for ``item_knn``; the adapters' keywords otherwise.
    data : AuditDataset
        The audited users.
    seed : int
        Training seed (an entry's own ``seed`` wins).
    pretrain_data : AuditDataset, optional
        Other users, required by ``prompt_tuning`` and ``pretrain_fine_tune``.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=40, n_items=30, seed=0)
    >>> build_paradigm({"kind": "item_knn", "n_neighbors": 10}, data)
    ItemKNN(n_neighbors=10, shrink=10.0)
    """
    from . import _baselines, _cooccurrence, _sasrec

    opts = {k: v for k, v in dict(entry).items() if k != "kind"}
    kind = entry.get("kind")
    if kind not in PARADIGM_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(PARADIGM_KINDS)}")
    seed = int(opts.pop("seed", seed))
    if kind == "tiny_lm":
        from ._tiny_lm import TinyLMConfig, train_tiny_lm

        cfg = {k: opts.pop(k) for k in list(opts) if k in _fields(TinyLMConfig)}
        opts.setdefault("progress", progress)
        return train_tiny_lm(data, seed, config=TinyLMConfig(**cfg), **opts)
    if kind == "hf":
        from ._hf import HFRecommender

        return HFRecommender(opts.pop("path"), data, **opts)
    if kind == "embedding":
        from ._embedding import EmbeddingRecommender

        return EmbeddingRecommender(data, **opts)
    if kind == "most_popular":
        return _baselines.MostPopular(data, **opts)
    if kind == "random":
        return _baselines.RandomRecommender(data, seed, **opts)
    if kind == "item_knn":
        return _cooccurrence.ItemKNN(data, **opts)
    if kind == "sasrec":
        cfg = {k: opts.pop(k) for k in list(opts) if k in _fields(_sasrec.SASRecConfig)}
        return _sasrec.SASRec(data, seed, config=_sasrec.SASRecConfig(**cfg), **opts)
    from ._prompt_tuning import SoftPromptConfig, train_prompt_tuning
    from ._tiny_lm import TinyLMConfig, train_tiny_lm

    if pretrain_data is None:
        raise ValueError(f"{kind} needs pretrain_data: users other than the audited ones to "
                         "pre-train its LM on (recaudit.models.split_users)")
    if kind == "pretrain_fine_tune":
        lm = opts.pop("lm", None)
        cfg = {k: opts.pop(k) for k in list(opts) if k in _fields(TinyLMConfig)}
        opts.setdefault("progress", progress)
        store = {k: opts[k] for k in ("cache_dir", "progress") if k in opts}
        base = train_tiny_lm(pretrain_data, seed, config=TinyLMConfig(**lm) if lm else None,
                             **store)
        return train_tiny_lm(data, seed, config=TinyLMConfig(**cfg), init_from=base, **opts)
    # prompt tuning
    cfg = {k: opts.pop(k) for k in list(opts) if k in _fields(SoftPromptConfig)}
    lm = opts.pop("lm", None)
    opts.setdefault("progress", progress)
    return train_prompt_tuning(data, pretrain_data, seed, config=SoftPromptConfig(**cfg),
                               lm_config=TinyLMConfig(**lm) if lm else None, **opts)


def build_paradigms(data: Any, entries: Mapping[str, Any] | None = None, *,
                    pretrain_data: Any = None, seed: int = 0,
                    progress: bool = True) -> dict[str, Any]:
    """``{label: model}`` for every entry (default :data:`DEFAULT_PARADIGMS`).

    Examples
    --------
    >>> import recaudit as ra                                                 # doctest: +SKIP
    >>> others, audited = ra.models.split_users(ra.datasets.synthetic(n_users=600))  # doctest: +SKIP
    >>> models = ra.models.build_paradigms(audited, pretrain_data=others)     # doctest: +SKIP
    """
    entries = DEFAULT_PARADIGMS if entries is None else entries
    return {str(label): build_paradigm(entry, data, seed=seed, pretrain_data=pretrain_data,
                                       progress=progress)
            for label, entry in entries.items()}
