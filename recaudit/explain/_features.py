"""The interpretable features of a request: each history item, each profile attribute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..contract import Request


@dataclass(frozen=True)
class PromptFeatures:
    """A request seen as ``d`` removable parts: its history items (one feature each, oldest
    first) followed by its profile attributes (one feature each).

    A binary mask over the features (1 = kept, 0 = removed) maps back to a request with the
    removed history items dropped and the removed profile attributes left out of the prompt.

    Examples
    --------
    >>> f = PromptFeatures(Request("u", history=("a", "b"), profile={"gender": "female"}))
    >>> f.labels()
    ['a', 'b', 'gender=female']
    >>> f.masked([1, 0, 0]).history, f.masked([1, 0, 0]).profile
    (('a',), ())
    """

    request: Request

    @property
    def n_history(self) -> int:
        return len(self.request.history)

    @property
    def n_features(self) -> int:
        return len(self.request.history) + len(self.request.profile)

    @property
    def kinds(self) -> list[str]:
        return ["history"] * self.n_history + ["profile"] * len(self.request.profile)

    @property
    def keys(self) -> list[str]:
        """Item id for a history feature, attribute name for a profile feature."""
        return list(self.request.history) + [a for a, _ in self.request.profile]

    def labels(self, titles: Mapping[str, str] | None = None) -> list[str]:
        """Readable names: item titles (when ``titles`` is given) and ``attribute=value``."""
        titles = titles or {}
        return ([titles.get(i, i) for i in self.request.history]
                + [f"{a}={v}" for a, v in self.request.profile])

    def masked(self, mask: Sequence[float] | np.ndarray) -> Request:
        """The request with the features where ``mask`` is 0 removed."""
        m = np.asarray(mask).reshape(-1)
        if m.size != self.n_features:
            raise ValueError(f"mask has {m.size} entries; request of user "
                             f"{self.request.user_id!r} has {self.n_features} features")
        keep = m > 0.5
        h = self.n_history
        history = tuple(i for i, k in zip(self.request.history, keep[:h]) if k)
        profile = tuple(p for p, k in zip(self.request.profile, keep[h:]) if k)
        return self.request.replace(history=history, profile=profile)
