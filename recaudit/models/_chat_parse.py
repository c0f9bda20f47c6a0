"""Reading a top-K list out of a chat model's free text and mapping it to the catalog.

Chat models answer in many shapes: numbered or bulleted lines, one comma-separated line,
quoted titles, titles followed by a year or an explanation ("Heat (1995) - a tense crime
story"). :func:`parse_list` turns the answer into list entries; :class:`TitleMatcher` maps
each entry to a catalog item in three steps, as FaiRLLM and LLMRank do for ChatGPT output:

1. exact title;
2. normalised title: case, punctuation, leading/trailing articles ("The", ", The") and a
   trailing year are ignored;
3. fuzzy: the closest normalised title by ``difflib.SequenceMatcher`` ratio, accepted at or
   above ``threshold`` (default 0.85: one or two wrong characters in a 15-character title
   pass, a different title does not). The standard library's difflib is used so the
   package needs no extra dependency for this.

Entries that match nothing are hallucinated items.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

#: Default minimum ``difflib`` ratio for a fuzzy title match.
FUZZY_THRESHOLD = 0.85

_FENCE = re.compile(r"^\s*```[\w-]*\s*$")
_MARKER = re.compile(r"^\s*(?:[-*\u2022+]\s+|#?\d{1,3}\s*[.):\]]\s*|\[\d{1,3}\]\s*)")
_INLINE_NUMBERS = re.compile(r"(?:^|\s)\d{1,3}[.)]\s+")
_YEAR = re.compile(r"\s*[\(\[]\s*(1[89]\d\d|20\d\d)\s*[\)\]]")
_QUOTED = re.compile(r"[\"\u201c\u201d'\u2018\u2019*_]{1,2}([^\"\u201c\u201d*_]{2,}?)"
                     r"[\"\u201c\u201d'\u2018\u2019*_]{1,2}(?=\s|$|[,.:;\-(])")
_EXPLANATION = re.compile(r"\s+(?:-|\u2013|\u2014|\||because|since|by)\s+", re.IGNORECASE)
_ARTICLES = ("the ", "a ", "an ")
_TRAILING_ARTICLE = re.compile(r",\s*(the|a|an)$")
_PUNCT = re.compile(r"[^\w\s]")


def normalize(title: str) -> str:
    """Case, punctuation, articles and a trailing year removed: the second matching step.

    Examples
    --------
    >>> normalize("American President, The (1995)")
    'american president'
    >>> normalize("  The Silent River (1994) ")
    'silent river'
    """
    t = " ".join(str(title).split()).strip()
    t = _YEAR.sub("", t).strip()
    t = t.casefold()
    t = _TRAILING_ARTICLE.sub("", t)
    for a in _ARTICLES:
        if t.startswith(a):
            t = t[len(a):]
            break
    t = _PUNCT.sub(" ", t)
    return " ".join(t.split())


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


def _variants(entry: str) -> list[str]:
    """Readings of one entry, most literal first: whole, quoted part, up to the year,
    before an explanation dash, before a colon."""
    out = [entry]
    q = _QUOTED.search(entry)
    if q:
        out.append(q.group(1))
    y = _YEAR.search(entry)
    if y:
        out.append(entry[:y.end()])
    parts = _EXPLANATION.split(entry, maxsplit=1)
    if len(parts) > 1:
        out.append(parts[0])
    if ": " in entry:
        out.append(entry.rsplit(": ", 1)[0])
        out.append(entry.split(": ", 1)[0])
    seen, uniq = set(), []
    for v in out:
        v = v.strip().strip("\"'\u201c\u201d\u2018\u2019*_").strip().rstrip(".,;")
        if v and v not in seen:
            seen.add(v)
            uniq.append(v)
    return uniq


class TitleMatcher:
    """Maps generated titles to catalog item ids: exact, normalised, then fuzzy.

    Parameters
    ----------
    titles : mapping of item id to title
    threshold : float
        Minimum ``difflib.SequenceMatcher`` ratio between normalised titles for a fuzzy
        match; ``1.0`` turns fuzzy matching off.

    Examples
    --------
    >>> m = TitleMatcher({"i1": "The Silent River (1994)", "i2": "Golden Empire (1980)"})
    >>> m.match("silent river"), m.match("Golden Empyre"), m.match("Heat")
    ('i1', 'i2', None)
    """

    def __init__(self, titles: Mapping[str, str], threshold: float = FUZZY_THRESHOLD) -> None:
        if not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = float(threshold)
        self._exact: dict[str, str] = {}
        self._norm: dict[str, str] = {}
        for item, title in titles.items():
            self._exact.setdefault(str(title).strip(), item)
            n = normalize(title)
            if n:
                self._norm.setdefault(n, item)
        self._norm_keys = list(self._norm)
        self.how: dict[str, int] = {"exact": 0, "normalized": 0, "fuzzy": 0, "none": 0}

    def match(self, entry: str) -> str | None:
        """The catalog item an answer entry names, or ``None`` (a hallucination)."""
        variants = _variants(entry)
        for v in variants:
            if v in self._exact:
                self.how["exact"] += 1
                return self._exact[v]
        norms = [n for n in (normalize(v) for v in variants) if n]
        for n in norms:
            if n in self._norm:
                self.how["normalized"] += 1
                return self._norm[n]
        if self.threshold < 1.0:
            best, best_ratio = None, 0.0
            for n in norms:
                for cand in difflib.get_close_matches(n, self._norm_keys, n=1,
                                                      cutoff=self.threshold):
                    r = difflib.SequenceMatcher(None, n, cand).ratio()
                    if r > best_ratio:
                        best, best_ratio = cand, r
            if best is not None:
                self.how["fuzzy"] += 1
                return self._norm[best]
        self.how["none"] += 1
        return None
