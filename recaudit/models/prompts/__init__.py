"""Prompt text in, ranking out: the formats a local LM and an API-served model share.

Completion templates (:class:`PromptTemplate`), the chat messages FaiRLLM and LLMRank send
(:class:`ChatTemplate`), the reading of a generated answer back into catalog items
(:func:`answer_to_ranking`) and the title matcher it uses (:class:`CatalogMatcher`). No
model here: ``lm/`` and ``api/`` both build on it.
"""

from ..._lazy import lazy_attributes

_LAZY = {
    "PromptTemplate": "._templates",
    "ChatTemplate": "._chat_templates",
    "chat_template": "._chat_templates",
    "BUILTIN_CHAT_TEMPLATES": "._chat_templates",
    "answer_to_ranking": "._chat_parse",
    "CatalogMatcher": "._matching",
    "FUZZY_THRESHOLD": "._matching",
    "normalize": "._matching",
    "normalize_title": "._matching",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
