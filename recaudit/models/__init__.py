"""Models under test: the ``Recommender`` protocol and the adapters, grouped by role.

======================  ======================================================================
``models.lm``           local causal LMs (transformers): ``HFRecommender``, GGUF, the packaged
                        real LLMs, the tiny LM trained here
``models.encoders``     zero-shot recommenders on the packaged MiniLM sentence encoder
``models.api``          a chat endpoint (``ChatRecommender``) or any function
``models.classic``      most popular, random, item kNN, SASRec: the non-language references
``models.logged``       top-K lists a recommender produced elsewhere (``LoggedRecommender``)
``models.paradigms``    the training paradigms of the paradigm study (one module per arm)
``models.prompts``      prompt text in, ranking out: what ``lm`` and ``api`` share
``models._kinds``       the ``model: {kind: ...}`` table a spec names (:data:`MODEL_KINDS`)
======================  ======================================================================

Every name is also here (``ra.models.HFRecommender``); each group imports its heavy back-end
(torch, transformers) only when first used.
"""

from .._lazy import lazy_attributes
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
    "HFRecommender": ".lm",
    "load_smollm2": ".lm",
    "load_gemma3_270m": ".lm",
    "gguf_folder": ".lm",
    "PromptTemplate": ".prompts",
    "train_tiny_lm": ".lm",
    "TinyLMConfig": ".lm",
    "EmbeddingRecommender": ".encoders",
    "CallableRecommender": ".api",
    "ChatRecommender": ".api",
    "ChatTemplate": ".prompts",
    "MostPopular": ".classic",
    "RandomRecommender": ".classic",
    "ItemKNN": ".classic",
    "SASRec": ".classic",
    "SASRecConfig": ".classic",
    "LoggedRecommender": ".logged",
    "train_prompt_tuning": ".paradigms",
    "SoftPromptConfig": ".paradigms",
    "PromptTunedRecommender": ".paradigms",
    "split_users": "..data",  # a data operation; kept here for old code
    "train_zero_shot_lm": ".paradigms",
    "train_few_shot_lm": ".paradigms",
    "FewShotConfig": ".paradigms",
    "ZeroShotLMRecommender": ".paradigms",
    "FewShotLMRecommender": ".paradigms",
    "train_lora": ".paradigms",
    "LoRAConfig": ".paradigms",
    "LoRARecommender": ".paradigms",
    "train_prompt_lm_tuning": ".paradigms",
    "PromptLMConfig": ".paradigms",
    "PromptLMTunedRecommender": ".paradigms",
    "train_instruction_tuning": ".paradigms",
    "InstructionConfig": ".paradigms",
    "InstructionTunedRecommender": ".paradigms",
    "build_paradigm": ".paradigms",
    "build_paradigms": ".paradigms",
    "DEFAULT_PARADIGMS": ".paradigms",
    "MODEL_KINDS": "._kinds",
    "ModelKind": "._kinds",
    "BuildContext": "._kinds",
    "model_kind": "._kinds",
    "build_model": "._kinds",
}

__all__ = ["CAPABILITIES", "BaseRecommender", "Explanation", "GradientHandle", "Ranking",
           "Recommender", "Request", "has_capabilities", "stable_hash", *_LAZY]

#: The role groups, reachable as ``ra.models.lm`` and so on without an import.
GROUPS = ("lm", "encoders", "api", "classic", "logged", "paradigms", "prompts")

__getattr__ = lazy_attributes(__name__, _LAZY, GROUPS)
