"""Models under test: the ``Recommender`` protocol and adapters.

Adapters import their heavy back-ends (torch, transformers) only when first used.
"""

from importlib import import_module
from typing import Any

from ..contract import (
    CAPABILITIES,
    BaseRecommender,
    Explanation,
    GradientHandle,
    Ranking,
    Recommender,
    Request,
    has_capabilities,
    stable_hash,
)

_LAZY = {
    "HFRecommender": "._hf",
    "load_smollm2": "._packaged",
    "load_gemma3_270m": "._packaged",
    "gguf_folder": "._gguf",
    "PromptTemplate": "._templates",
    "train_tiny_lm": "._tiny_lm",
    "TinyLMConfig": "._tiny_lm",
    "EmbeddingRecommender": "._embedding",
    "CallableRecommender": "._callable",
    "ChatRecommender": "._chat",
    "ChatTemplate": "._chat_templates",
    "MostPopular": "._baselines",
    "RandomRecommender": "._baselines",
    "ItemKNN": "._cooccurrence",
    "SASRec": "._sasrec",
    "SASRecConfig": "._sasrec",
    "train_prompt_tuning": "._prompt_tuning",
    "SoftPromptConfig": "._prompt_tuning",
    "PromptTunedRecommender": "._prompt_tuning",
    "split_users": "._prompt_tuning",
    "train_zero_shot_lm": "._in_context",
    "train_few_shot_lm": "._in_context",
    "FewShotConfig": "._in_context",
    "ZeroShotLMRecommender": "._in_context",
    "FewShotLMRecommender": "._in_context",
    "train_lora": "._adapters",
    "LoRAConfig": "._adapters",
    "LoRARecommender": "._adapters",
    "train_prompt_lm_tuning": "._adapters",
    "PromptLMConfig": "._adapters",
    "PromptLMTunedRecommender": "._adapters",
    "train_instruction_tuning": "._instruction",
    "InstructionConfig": "._instruction",
    "InstructionTunedRecommender": "._instruction",
    "build_paradigm": "._paradigms",
    "build_paradigms": "._paradigms",
    "DEFAULT_PARADIGMS": "._paradigms",
    "MODEL_KINDS": "._kinds",
    "ModelKind": "._kinds",
    "BuildContext": "._kinds",
}

__all__ = ["CAPABILITIES", "BaseRecommender", "Explanation", "GradientHandle", "Ranking",
           "Recommender", "Request", "has_capabilities", "stable_hash", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'recaudit.models' has no attribute {name!r}")
