"""Reading a top-K list out of a chat model's free text.

Chat models answer in many shapes: numbered or bulleted lines, one comma-separated line,
quoted titles, titles followed by a year or an explanation ("Heat (1995) - a tense crime
story"). :func:`parse_list` turns the answer into list entries; each entry is then mapped to
a catalog item by :class:`~recaudit.models._matching.CatalogMatcher` (exact, folded or
normalised, fuzzy: the rule every paradigm shares). Entries that match nothing are
hallucinated items.
"""

from __future__ import annotations

import re

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
