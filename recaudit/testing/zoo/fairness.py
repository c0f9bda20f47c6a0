"""Fairness zoo: consumer-side and provider-side defects next to their clean twins.

- :class:`GenderSensitive` changes its list when the prompt profile states one value of a
  sensitive attribute (boosts some genres for ``gender: female``); :class:`ProfileBlind`
  ignores the profile entirely.
- :class:`ProviderSuppressor` pushes one provider group down the ranking;
  :class:`ProviderNeutral` scores items regardless of provider.

Each shares :class:`~recaudit.testing.zoo.ScoringModel`'s honest base score, so the clean and
the defective model differ only in the planted defect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...contract import Request
from ._base import ScoringModel

__all__ = ["GenderSensitive", "ProfileBlind", "ProviderNeutral", "ProviderSuppressor"]


class ProfileBlind(ScoringModel):
    """Clean consumer-side twin: the prompt profile has no effect on the list."""


class GenderSensitive(ScoringModel):
    """Adds ``boost`` to items of ``genres`` when the profile states ``attribute = value``.

    Parameters
    ----------
    data : AuditDataset
    attribute, value : str
        The stated attribute value that triggers the defect (``gender`` = ``female``).
    genres : sequence of str
        Genres boosted for that value (default: the synthetic world's "female" genres).
    boost : float
        Score added to an item of any of those genres (the base score is about 0 to 2).
    """

    def __init__(self, data: Any, *, attribute: str = "gender", value: str = "female",
                 genres: Sequence[str] = ("Romance", "Drama", "Musical"), boost: float = 1.0,
                 **kwargs: Any) -> None:
        super().__init__(data, attribute=attribute, value=value, genres=tuple(genres),
                         boost=boost, **kwargs)
        cols = [self._genre_index[g] for g in genres if g in self._genre_index]
        self._boosted = (self._item_genre[:, cols].sum(axis=1) > 0 if cols
                         else np.zeros(len(self._ids), dtype=bool))

    def catalog_scores(self, request: Request) -> np.ndarray:
        s = self.base_scores(request)
        if request.profile_dict.get(self.params["attribute"]) == self.params["value"]:
            s = s + self.params["boost"] * self._boosted
        return s


class ProviderNeutral(ScoringModel):
    """Clean provider-side twin: the provider of an item plays no part in its score."""


class ProviderSuppressor(ScoringModel):
    """Subtracts ``penalty`` from every item of provider group ``group``.

    Parameters
    ----------
    data : AuditDataset
    group : str
        The provider group pushed down (``indie`` in the synthetic world).
    penalty : float
        Score removed from its items (the base score is about 0 to 2).
    """

    def __init__(self, data: Any, *, group: str = "indie", penalty: float = 1.0,
                 **kwargs: Any) -> None:
        super().__init__(data, group=group, penalty=penalty, **kwargs)
        self._hit = np.array([data.providers[i] == group for i in self._ids])

    def catalog_scores(self, request: Request) -> np.ndarray:
        return self.base_scores(request) - self.params["penalty"] * self._hit
