"""Local causal language models under test (transformers).

:class:`HFRecommender` (a model folder or a GGUF file; completion or chat prompts; batched,
prefix-shared scoring and free generation), GGUF conversion (:func:`gguf_folder`), the two
packaged real LLMs (:func:`load_smollm2`, :func:`load_gemma3_270m`) and the embedded tiny
GPT-2 trained here (:func:`train_tiny_lm`).
"""

from ..._lazy import lazy_attributes

_LAZY = {
    "HFRecommender": "._hf",
    "gguf_folder": "._gguf",
    "load_smollm2": "._packaged",
    "load_gemma3_270m": "._packaged",
    "smollm2_gguf": "._packaged",
    "gemma3_270m_gguf": "._packaged",
    "train_tiny_lm": "._tiny_lm",
    "TinyLMConfig": "._tiny_lm",
    # the toolkit the training paradigms build on
    "quiet_transformers": "._hf",
    "score_prompts": "._hf_scoring",
    "score_batch": "._hf_scoring",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
