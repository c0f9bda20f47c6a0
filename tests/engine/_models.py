"""Counting models shared by the engine tests."""

from __future__ import annotations

from recaudit.testing.zoo import ScoringModel


class Counting(ScoringModel):
    """Records every batch the engine sends to it."""

    def __init__(self, data, **kw):
        super().__init__(data, **kw)
        self.batches: list[tuple[str, int]] = []

    def rank(self, requests, k):
        self.batches.append(("rank", len(requests)))
        return super().rank(requests, k)

    def score(self, requests):
        self.batches.append(("score", len(requests)))
        return super().score(requests)

    def nll(self, requests, targets):
        self.batches.append(("nll", len(requests)))
        return super().nll(requests, targets)

    @property
    def seen(self) -> int:
        return sum(n for _, n in self.batches)
