"""Word substitution by nearest neighbour in the MiniLM embedding space."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ._base import TitlePerturbation, map_words, match_case, register_perturbation
from ._vocabulary import Vocabulary

#: Function words a word swap leaves alone (their "neighbours" are not synonyms).
STOPWORDS = frozenset("""the and for from with into onto upon over under about beyond
once this that these those then than who whom whose what when where which while of""".split())


@register_perturbation
class NeighbourSwap(TitlePerturbation):
    """Replace title words by a nearest neighbour in MiniLM space (CheckList's synonym
    swap with an embedding neighbourhood instead of WordNet).

    The vocabulary is the catalog's title words plus common English words
    (:class:`Vocabulary`), built once per dataset; function words are kept; each swapped word is replaced by one of
    its ``n_neighbours`` nearest words, drawn uniformly, with the original capitalisation.

    Parameters
    ----------
    strength : float, default 0.25
        Probability that an eligible word (3+ letters) is swapped.
    n_neighbours : int
        Draw the replacement among this many nearest words.
    """

    name = "word_swap"
    default_strength = 0.25

    def __init__(self, strength: float | None = None, seed: int = 0, *,
                 target: Literal["history", "all"] = "history",
                 n_neighbours: int = 1) -> None:
        super().__init__(strength, seed, target=target)
        if n_neighbours < 1:
            raise ValueError(f"word_swap: n_neighbours must be >= 1, got {n_neighbours}")
        self.n_neighbours = int(n_neighbours)
        self._vocab: tuple[str, Vocabulary] | None = None

    def vocabulary(self, data: Any) -> Vocabulary:
        key = data.fingerprint()
        if self._vocab is None or self._vocab[0] != key:
            self._vocab = (key, Vocabulary.from_data(data))
        return self._vocab[1]

    def _apply(self, request, data, rng):
        self._current = self.vocabulary(data)
        return super()._apply(request, data, rng)

    def perturb_text(self, text: str, rng: np.random.Generator) -> str:
        vocab = self._current

        def one(word: str) -> str | None:
            if word.lower() in STOPWORDS or rng.random() >= self.strength:
                return None
            near = vocab.neighbours(word, self.n_neighbours)
            if not near:
                return None
            return match_case(word, near[int(rng.integers(len(near)))])

        return map_words(text, one)
