"""``CatalogMatcher``: the one rule that maps generated text to catalog items.

Every paradigm that reads item titles out of free text maps them with this matcher: free
generation of a causal LM (``HFRecommender(mode="generate")``), the answers of a chat model
(``ChatRecommender``) and self-explanations (``ExplainingLM(mode="generate")``). So a
hallucination means the same everywhere: an entry that no rule below maps to a catalog item.

An entry is read in several *variants*, most literal first: the whole entry; a quoted part
(``"Heat" (1995)`` -> ``Heat``); the text up to a bracketed year; the text before an
explanation (" - ", " \u2013 ", " \u2014 ", " | ", " because ", " since ", " by "); the text
before the last and before the first ": ". Each variant in turn, most literal first, is
tried against three rules (the first that matches wins), as FaiRLLM and LLMRank map
ChatGPT output:

1. **exact**: the variant equals a catalog title, surrounding whitespace and quotes aside;
2. **folded**: equal once case and runs of whitespace are ignored (:func:`normalize_title`:
   ``"heat (1995)"``);
3. **normalised**: equal once case, punctuation, leading articles ("The", "A", "An"), a
   trailing article (", The") and a bracketed year are ignored too (:func:`normalize`:
   ``"The American President"`` -> ``american president``). When several titles share a
   normalised form ("Hamlet (1990)", "Hamlet (1996)"), the one with the year the variant
   names wins, else the first in catalog order.

So the whole entry read loosely beats a part of it read exactly ("alien: resurrection" is
"Alien: Resurrection (1997)", not "Alien"). When no variant matches:

4. **fuzzy**: the normalised title closest to a normalised variant by ``difflib`` ratio,
   accepted at or above ``threshold`` (default 0.85: one or two wrong characters in a
   15-character title pass, a different title does not; ``1.0`` turns this rule off). The
   best ratio over all variants wins (the earlier variant on a tie); the standard library's
   difflib keeps the package free of an extra dependency.

Nothing matches: ``None``, a hallucination. The indices are built once per catalog, and
answers already mapped are remembered (generation repeats the same titles across users).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

#: Default minimum ``difflib`` ratio for a fuzzy title match.
FUZZY_THRESHOLD = 0.85

#: Most distinct entries whose mapping a matcher remembers.
_MEMO_SIZE = 100_000

_YEAR = re.compile(r"\s*[\(\[]\s*(1[89]\d\d|20\d\d)\s*[\)\]]")
_QUOTED = re.compile(r"[\"\u201c\u201d'\u2018\u2019*_]{1,2}([^\"\u201c\u201d*_]{2,}?)"
                     r"[\"\u201c\u201d'\u2018\u2019*_]{1,2}(?=\s|$|[,.:;\-(])")
_EXPLANATION = re.compile(r"\s+(?:-|\u2013|\u2014|\||because|since|by)\s+", re.IGNORECASE)
_ARTICLES = ("the ", "a ", "an ")
_TRAILING_ARTICLE = re.compile(r",\s*(the|a|an)$")
_PUNCT = re.compile(r"[^\w\s]")


def normalize_title(text: str) -> str:
    """Case- and whitespace-insensitive form of a title (the *folded* step).

    >>> normalize_title("  The  SILENT river (1994) ")
    'the silent river (1994)'
    """
    return " ".join(str(text).casefold().split())


def normalize(title: str) -> str:
    """Case, punctuation, articles and a trailing year removed (the *normalised* step).

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


def title_year(text: str) -> str | None:
    """The bracketed year a title names ("Heat (1995)" -> "1995"), or ``None``."""
    m = _YEAR.search(str(text))
    return m.group(1) if m else None


def variants(entry: str) -> list[str]:
    """Readings of one entry, most literal first: whole, quoted part, up to the year,
    before an explanation, before the last / first colon (stripped, no repeats)."""
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


class CatalogMatcher:
    """Maps generated titles to catalog item ids: exact, folded, normalised, then fuzzy.

    Build one per catalog (the indices are built here, once); see the module docstring for
    the rules and their order.

    Parameters
    ----------
    titles : mapping of item id to title
    threshold : float
        Minimum ``difflib.SequenceMatcher`` ratio between normalised titles for a fuzzy
        match; ``1.0`` turns fuzzy matching off.

    Attributes
    ----------
    how : dict
        How many calls each rule answered: ``exact``, ``normalized`` (folded or normalised),
        ``fuzzy``, ``none``.

    Examples
    --------
    >>> m = CatalogMatcher({"i1": "The Silent River (1994)", "i2": "Golden Empire (1980)"})
    >>> m.match("silent river"), m.match("Golden Empyre"), m.match("Heat")
    ('i1', 'i2', None)
    """

    def __init__(self, titles: Mapping[str, str], threshold: float = FUZZY_THRESHOLD) -> None:
        if not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = float(threshold)
        self._exact: dict[str, str] = {}
        self._folded: dict[str, str] = {}
        #: normalised title -> [(year, item)] in catalog order
        self._norm: dict[str, list[tuple[str | None, str]]] = {}
        for item, title in titles.items():
            self._exact.setdefault(str(title).strip(), item)
            self._folded.setdefault(normalize_title(title), item)
            n = normalize(title)
            if n:
                self._norm.setdefault(n, []).append((title_year(title), item))
        self._norm_keys = list(self._norm)
        self._memo: dict[str, tuple[str | None, str]] = {}
        self.how: dict[str, int] = {"exact": 0, "normalized": 0, "fuzzy": 0, "none": 0}

    def match(self, entry: str) -> str | None:
        """The catalog item an answer entry names, or ``None`` (a hallucination)."""
        entry = str(entry)
        found = self._memo.get(entry)
        if found is None:
            found = self._lookup(entry)
            if len(self._memo) < _MEMO_SIZE:
                self._memo[entry] = found
        self.how[found[1]] += 1
        return found[0]

    def _pick(self, norm: str, year: str | None) -> str:
        """The item of a normalised title: the one of ``year`` when several share it."""
        items = self._norm[norm]
        if year is not None and len(items) > 1:
            for y, item in items:
                if y == year:
                    return item
        return items[0][1]

    def _lookup(self, entry: str) -> tuple[str | None, str]:
        norms: list[tuple[str, str | None]] = []
        for v in variants(entry):
            if v in self._exact:
                return self._exact[v], "exact"
            folded = normalize_title(v)
            if folded in self._folded:
                return self._folded[folded], "normalized"
            n = normalize(v)
            if n:
                norms.append((n, title_year(v)))
                if n in self._norm:
                    return self._pick(n, title_year(v)), "normalized"
        if self.threshold < 1.0:
            best, best_year, best_ratio = None, None, 0.0
            for n, year in norms:
                for cand in difflib.get_close_matches(n, self._norm_keys, n=1,
                                                      cutoff=self.threshold):
                    r = difflib.SequenceMatcher(None, n, cand).ratio()
                    if r > best_ratio:
                        best, best_year, best_ratio = cand, year, r
            if best is not None:
                return self._pick(best, best_year), "fuzzy"
        return None, "none"
