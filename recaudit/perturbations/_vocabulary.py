"""A small word vocabulary with MiniLM nearest neighbours (for word swaps and attacks).

The vocabulary is the catalog's title words plus :data:`COMMON_WORDS`; embeddings come from
the packaged MiniLM encoder (:func:`recaudit.models.encoders.encode`, offline) and are cached
per word, so each word is encoded once per process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Everyday English words (nouns, adjectives, verbs common in titles and descriptions).
COMMON_WORDS = tuple("""
able about above across action actor adventure after again against age ago air all almost
alone along already also always amazing american among angel angry animal another answer
any apple army around art ask autumn away baby back bad ball band bank bear beautiful
because become bed before begin behind believe below best better between big bird birth
black blood blue boat body bone book born both box boy brave bread break bright bring
brother brown build burn business call calm camp can captain car care carry case castle
cat catch cause center chance change child children choose city class classic clean clear
close cloud cold color come common company cool corner could country couple course cover
crazy cross crowd cry cut dance danger dark daughter day dead dear death deep desert
dinner doctor dog door down dream dress drink drive dry early earth east easy eat edge
empty end enemy energy enough escape evening event every evil eye face fact fall family
famous far farm fast father fear feel few field fight film final find fine fire first fish
five flower fly follow food foot forest forever forget free friend front fruit full fun
funny future game garden gentle ghost gift girl give glass glory go gold good great green
ground group grow guard gun hair half hand happy hard heart heaven heavy hero high hill
history holiday home honor hope horse hot hotel hour house human hunter idea island
journey joy judge jump jungle just keep key kid kill kind king kiss kitchen knife know lady
lake land large last late laugh law lead learn leave left legend life light line lion
little live long look lord love lucky magic man many map market master matter memory
middle might mind minute miss modern moment money monster month moon morning mother move
movie music mystery name nation natural near never new news next nice night noble north
nothing number ocean old open other out paint party pass past peace people perfect person
picture piece place plan planet play poor power pretty prince princess problem queen quick
race rain rare read ready real red rest return rich ride right ring rise road rock room
rose round royal run sad safe sail sea season second secret see sell send seven shadow
ship shoot short show sign simple singer sister sky sleep small smile snow soft soldier
song soul sound south space speak special spirit spring square star start stay steel
stone story strange street strong student sun sweet table tale teacher team tell ten
terror thing think thousand three time together tomorrow tonight top town train travel
treasure tree true truth turn two under uncle until up valley very village visit voice
wait walk wall war warm watch water way weather wedding west white whole wife wind window
wine wing winner wise woman wonder wood word work world wrong year yellow young youth
""".split())

#: Words sellers add to titles to promote an item ("Remastered", "Award-Winning"): the
#: first appended tokens a gradient-free attack tries.
PROMOTIONAL_WORDS = ("best", "classic", "acclaimed", "masterpiece", "remastered", "deluxe",
                     "edition", "award", "winning", "bestseller", "new", "top", "official",
                     "original", "ultimate", "legendary", "essential", "collector",
                     "exclusive", "special")

_TOKEN = re.compile(r"[A-Za-z][A-Za-z']{2,}")


def title_words(titles: Iterable[str]) -> list[str]:
    """Distinct lower-cased words (3+ letters) of ``titles``, in first-seen order."""
    seen: dict[str, None] = {}
    for t in titles:
        for w in _TOKEN.findall(str(t)):
            seen.setdefault(w.lower(), None)
    return list(seen)


_VECTORS: dict[str, np.ndarray] = {}


def _embed(words: tuple[str, ...]) -> np.ndarray:
    """MiniLM vectors of ``words``, cached per word for the process (only new words are
    encoded, so vocabularies of different catalogs share the common words' vectors)."""
    from ..models.encoders import encode

    missing = [w for w in dict.fromkeys(words) if w not in _VECTORS]
    if missing:
        for w, v in zip(missing, encode(missing)):
            _VECTORS[w] = v
    if not words:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([_VECTORS[w] for w in words])


class Vocabulary:
    """Words with MiniLM embeddings and cached nearest neighbours.

    Parameters
    ----------
    words : sequence of str
        Lower-cased words (duplicates are dropped).

    Examples
    --------
    >>> vocab = Vocabulary(["river", "stream", "castle"])    # doctest: +SKIP
    >>> vocab.neighbours("river", 1)                           # doctest: +SKIP
    ['stream']
    """

    def __init__(self, words: Sequence[str]) -> None:
        self.words = tuple(dict.fromkeys(w.lower() for w in words if w))
        self.index = {w: n for n, w in enumerate(self.words)}
        self._neighbours: dict[tuple[str, int], list[str]] = {}
        self._vectors: np.ndarray | None = None

    @classmethod
    def from_data(cls, data: Any, *, extra: Iterable[str] = COMMON_WORDS) -> Vocabulary:
        """Title words of ``data``'s catalog plus ``extra`` (the common English words)."""
        return cls(title_words(data.items["title"]) + [w.lower() for w in extra])

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            self._vectors = _embed(self.words)
        return self._vectors

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word.lower() in self.index

    def neighbours(self, word: str, n: int = 5) -> list[str]:
        """The ``n`` most similar other words (cosine over MiniLM embeddings)."""
        key = (word.lower(), n)
        if key not in self._neighbours:
            if word.lower() in self.index:
                v = self.vectors[self.index[word.lower()]]
            else:
                v = _embed((word.lower(),))[0]
            sims = self.vectors @ v
            order = np.argsort(-sims, kind="stable")
            out = [self.words[i] for i in order
                   if self.words[i] != word.lower()][:n]
            self._neighbours[key] = out
        return self._neighbours[key]
