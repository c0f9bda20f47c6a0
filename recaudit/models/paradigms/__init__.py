"""The training paradigms of "pre-train, prompt and predict", each an arm of the
paradigm study: zero-shot and few-shot prompting, soft prompt tuning, prompt + LM tuning, LoRA
adapters, instruction tuning (TALLRec), pre-train then fine-tune, and the study's default arms.
What they share (the pre-trained base, the cached run and its manifest, the cloze examples,
the training loop, the kind builder) is ``_shared``: a new arm is one module here and one
line in the kind table.
"""

from ..._lazy import lazy_attributes

_LAZY = {
    # one module per arm, named as its kind
    "train_prompt_tuning": "._prompt_tuning",
    "SoftPromptConfig": "._prompt_tuning",
    "PromptTunedRecommender": "._prompt_tuning",
    "train_zero_shot_lm": "._in_context",
    "train_few_shot_lm": "._in_context",
    "FewShotConfig": "._in_context",
    "ZeroShotLMRecommender": "._in_context",
    "FewShotLMRecommender": "._in_context",
    "train_lora": "._lora",
    "LoRAConfig": "._lora",
    "LoRARecommender": "._lora",
    "train_prompt_lm_tuning": "._prompt_lm_tuning",
    "PromptLMConfig": "._prompt_lm_tuning",
    "PromptLMTunedRecommender": "._prompt_lm_tuning",
    "train_instruction_tuning": "._instruction_tuning",
    "InstructionConfig": "._instruction_tuning",
    "InstructionTunedRecommender": "._instruction_tuning",
    # the builders and spec keys of the kind table (recaudit.models._kinds)
    "build_prompt_tuning": "._prompt_tuning",
    "prompt_tuning_keys": "._prompt_tuning",
    "build_zero_shot_lm": "._in_context",
    "zero_shot_lm_keys": "._in_context",
    "build_few_shot_lm": "._in_context",
    "few_shot_lm_keys": "._in_context",
    "build_lora": "._lora",
    "lora_keys": "._lora",
    "build_prompt_lm_tuning": "._prompt_lm_tuning",
    "prompt_lm_tuning_keys": "._prompt_lm_tuning",
    "build_instruction_tuning": "._instruction_tuning",
    "instruction_tuning_keys": "._instruction_tuning",
    "build_pretrain_fine_tune": "._pretrain_fine_tune",
    "pretrain_fine_tune_keys": "._pretrain_fine_tune",
    # the study's default arms
    "build_paradigm": "._arms",
    "build_paradigms": "._arms",
    "DEFAULT_PARADIGMS": "._arms",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
