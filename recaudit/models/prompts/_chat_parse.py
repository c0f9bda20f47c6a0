"""Reading a top-K list out of a chat model's free text.

Chat models answer in many shapes: numbered or bulleted lines, one comma-separated line,
quoted titles, titles followed by a year or an explanation ("Heat (1995) - a tense crime
story"). :func:`parse_list` turns the answer into list entries; each entry is then mapped to
a catalog item by :class:`~recaudit.models.prompts._matching.CatalogMatcher` (exact, folded or
normalised, fuzzy: the rule every paradigm shares). Entries that match nothing are
hallucinated items.
"""

from __future__ import annotations

import re

from ...contract import Ranking, Request
from ._matching import FUZZY_THRESHOLD, CatalogMatcher

_FENCE = re.compile(r"^\s*```[\w-]*\s*$")
_MARKER = re.compile(r"^\s*(?:[-*\u2022+]\s+|#?\d{1,3}\s*[.):\]]\s*|\[\d{1,3}\]\s*)")
_INLINE_NUMBERS = re.compile(r"(?:^|\s)\d{1,3}[.)]\s+")


def _clean(entry: str) -> str:
    e = entry.strip()
    e = _MARKER.sub("", e, count=1).strip()
    e = e.strip("*_`").strip()
    return e


def parse_list(text: str) -> list[str]:
    """The list entries of a free-text answer, in order (markers and blank lines removed).

    Numbered or bulleted lines are entries; when an answer has some, its other lines
    (a preamble such as "Sure, here are ten movies:") are ignored. A single line is split
    on inline numbers ("1. A 2. B"), else on semicolons, else on commas.

    Examples
    --------
    >>> parse_list("Sure! Here you go:\\n1. Heat (1995)\\n2. \\"Alien\\" - a classic")
    ['Heat (1995)', '"Alien" - a classic']
    >>> parse_list("Heat; Alien; Casablanca")
    ['Heat', 'Alien', 'Casablanca']
    """
    lines = [ln for ln in str(text).splitlines() if ln.strip() and not _FENCE.match(ln)]
    if not lines:
        return []
    if len(lines) == 1 and len(_INLINE_NUMBERS.findall(lines[0])) >= 2:
        return [e for e in (_clean(p) for p in _INLINE_NUMBERS.split(lines[0])) if e]
    marked = [ln for ln in lines if _MARKER.match(ln)]
    if marked:
        return [e for e in (_clean(ln) for ln in marked) if e]
    if len(lines) == 1:
        line = lines[0].strip()
        if ";" in line:
            parts = line.split(";")
        elif "," in line:
            parts = line.split(",")
        else:
            parts = [line]
        return [e for e in (_clean(p) for p in parts) if e]
    return [e for e in (_clean(ln) for ln in lines if not ln.rstrip().endswith(":")) if e]


def answer_to_ranking(text: str, request: Request, k: int, matcher: CatalogMatcher, *,
                      match_threshold: float = FUZZY_THRESHOLD,
                      exclude: frozenset[str] | set[str] = frozenset()) -> Ranking:
    """The :class:`Ranking` a free-text answer gives: its list entries (:func:`parse_list`)
    mapped to the catalog in order (no repeats), the count of entries that matched no catalog
    item or an item outside the request's candidates (hallucinations), and the text as
    ``raw``. Items in ``exclude`` (e.g. the user's history) are skipped before the list is
    cut to ``k``. The one rule of every chat-style recommender, served or local."""
    overrides = request.item_text_dict
    local = CatalogMatcher(overrides, match_threshold) if overrides else None
    allowed = set(request.candidates) if request.candidates is not None else None
    items: list[str] = []
    hallucinated = 0
    for entry in parse_list(text):
        item = (local.match(entry) if local is not None else None) or matcher.match(entry)
        if item is None or (allowed is not None and item not in allowed):
            hallucinated += 1
        elif item not in items and item not in exclude:
            items.append(item)
    return Ranking(tuple(items[:k]), hallucinated=hallucinated, raw=text)
