"""The training paradigms of "pre-train, prompt and predict", each an arm of the
paradigm study: zero-shot and few-shot prompting, soft prompt tuning, prompt + LM tuning, LoRA
adapters, instruction tuning (TALLRec), and the study's default arms.
"""

from ..._lazy import lazy_attributes

_LAZY = {
    "train_prompt_tuning": "._prompt_tuning",
    "SoftPromptConfig": "._prompt_tuning",
    "PromptTunedRecommender": "._prompt_tuning",
    "train_zero_shot_lm": "._in_context",
    "train_few_shot_lm": "._in_context",
    "FewShotConfig": "._in_context",
    "ZeroShotLMRecommender": "._in_context",
    "FewShotLMRecommender": "._in_context",
    # the builders and spec keys of the kind table (recaudit.models._kinds)
    "build_lora": "._adapters",
    "lora_keys": "._adapters",
    "build_prompt_lm_tuning": "._adapters",
    "prompt_lm_tuning_keys": "._adapters",
    "build_instruction_tuning": "._instruction",
    "instruction_tuning_keys": "._instruction",
    "build_zero_shot_lm": "._in_context",
    "build_few_shot_lm": "._in_context",
    "train_lora": "._adapters",
    "LoRAConfig": "._adapters",
    "LoRARecommender": "._adapters",
    "train_prompt_lm_tuning": "._adapters",
    "PromptLMConfig": "._adapters",
    "PromptLMTunedRecommender": "._adapters",
    "train_instruction_tuning": "._instruction",
    "InstructionConfig": "._instruction",
    "InstructionTunedRecommender": "._instruction",
    "build_paradigm": "._arms",
    "build_paradigms": "._arms",
    "DEFAULT_PARADIGMS": "._arms",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
