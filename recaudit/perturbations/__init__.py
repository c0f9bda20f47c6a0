"""Request perturbations for robustness audits (CheckList-style invariance tests).

Each perturbation has a ``name``, a ``strength`` in [0, 1] and a ``seed``, and maps a
request to a perturbed one with ``apply(request, data, rng=None)``:

- text (through ``request.item_text`` overrides; item ids stay): ``typos``, ``case``,
  ``whitespace``, ``word_swap`` (MiniLM nearest neighbours);
- history: ``history_shuffle``, ``history_truncation``;
- prompt: ``irrelevant_sentence`` (``prompt_extra``);
- candidates: ``candidate_shuffle``.

:func:`hotflip_tokens` ranks tokens to append to an item's title by the gradient of its
likelihood (models with the ``gradients`` capability); ``item_text_attack`` uses it.

>>> from recaudit.perturbations import get_perturbation
>>> get_perturbation("history_shuffle").kind
'history'
"""

from ._base import (
    PERTURBATIONS,
    Perturbation,
    TitlePerturbation,
    as_perturbations,
    available_perturbations,
    current_title,
    get_perturbation,
    register_perturbation,
)
from ._vocabulary import COMMON_WORDS, PROMOTIONAL_WORDS, Vocabulary, title_words
from .candidates import CandidateShuffle
from .case import CaseChange
from .distractor import IrrelevantSentence
from .history import HistoryShuffle, HistoryTruncation
from .hotflip import hotflip_tokens
from .synonyms import NeighbourSwap
from .typos import CharTypos, typo
from .whitespace import WhitespaceNoise

__all__ = [
    "COMMON_WORDS", "CandidateShuffle", "CaseChange", "CharTypos", "HistoryShuffle",
    "HistoryTruncation", "IrrelevantSentence", "NeighbourSwap", "PERTURBATIONS",
    "PROMOTIONAL_WORDS", "Perturbation", "TitlePerturbation", "Vocabulary", "WhitespaceNoise",
    "as_perturbations", "available_perturbations", "current_title", "get_perturbation",
    "hotflip_tokens", "register_perturbation", "title_words", "typo",
]
