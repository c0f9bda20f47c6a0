"""Shared by the tests of the arms built on an LM pre-trained on other users."""

from __future__ import annotations

import recaudit as ra
from recaudit.study import measure_utility


def split_world(n_users: int, n_items: int):
    """(full world, pre-training users, audited users): a synthetic world split in half."""
    full = ra.datasets.synthetic(n_users=n_users, n_items=n_items, seed=0)
    others, audited = ra.models.split_users(full, 0.5)
    return full, others, audited


class FakeBase:
    """Stands in for the pre-trained LM where only its fingerprint is read (cache keys)."""

    def __init__(self, fp: str) -> None:
        self._fp = fp

    def fingerprint(self) -> str:
        return self._fp


def gain_over_random(model, data, seed: int) -> tuple[float, float, float]:
    """(NDCG@10 gain over a seeded random ranking, HR@10 of the model, HR@10 of random) on
    every audited user's held-out items over the whole catalog."""
    _users, got = measure_utility(model, data, k=10, n_users=None)
    _users, rnd = measure_utility(ra.models.RandomRecommender(data, seed), data, k=10,
                                  n_users=None)
    return (float(got["ndcg_at_10"].mean() - rnd["ndcg_at_10"].mean()),
            float(got["hr_at_10"].mean()), float(rnd["hr_at_10"].mean()))
