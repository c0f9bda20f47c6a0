"""Dataset operations on users and their items, all seeded: a sample of users
(:func:`sample_users`, what every auditor and the utility measure draw), items a user has not
interacted with (:func:`sample_negatives`), a user's fixed candidate list of held-out items
plus sampled unseen ones (:func:`candidate_pool`), and the split of a dataset's users into
two disjoint datasets (:func:`split_users`: pre-training users and audited users).

The auditors that build candidate lists compose these for their protocol: consumer fairness
takes :func:`candidate_pool`; position bias places one held-out item at each position among
:func:`sample_negatives`; the robustness auditors keep the held-out items first (a fixed
order the perturbation then changes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def sample_users(data, n: int | None, rng: np.random.Generator, *,
                 require_test: bool = True) -> list[str]:
    """Up to ``n`` user ids (all when ``n`` is None), in a seeded random order.

    With ``require_test`` only users that have held-out items are eligible.
    """
    pool = [u for u in data.user_ids if (not require_test or u in data.test_items)]
    order = rng.permutation(len(pool))
    chosen = [pool[i] for i in order]
    return chosen if n is None else chosen[:n]


def sample_negatives(data, user_id: str, n: int, rng: np.random.Generator, *,
                     strategy: str = "random", exclude: Sequence[str] = ()) -> list[str]:
    """``n`` catalog items the user has not interacted with (train or test).

    ``strategy`` is ``random`` (uniform) or ``popularity`` (weighted by train popularity + 1).
    """
    seen = set(data.train_histories.get(user_id, ())) | set(data.test_items.get(user_id, ()))
    seen |= set(exclude)
    pool = np.array([i for i in data.item_ids if i not in seen])
    if len(pool) < n:
        raise ValueError(f"user {user_id!r} has only {len(pool)} unseen items; need {n}")
    if strategy == "random":
        p = None
    elif strategy == "popularity":
        w = data.popularity.reindex(pool).to_numpy(dtype=float) + 1.0
        p = w / w.sum()
    else:
        raise ValueError(f"unknown negative sampling strategy {strategy!r}; "
                         "use 'random' or 'popularity'")
    return rng.choice(pool, size=n, replace=False, p=p).tolist()


def candidate_pool(data, user_id: str, n: int, rng: np.random.Generator) -> tuple[str, ...]:
    """A fixed candidate list for one user: the held-out items plus sampled unseen items
    (uniformly), ``n`` in all when the catalog allows, in a seeded random order."""
    held = list(dict.fromkeys(data.test_items.get(user_id, ())))[:n]  # each item once
    seen = set(data.train_histories.get(user_id, ())) | set(held)
    n_neg = min(n - len(held), sum(1 for i in data.item_ids if i not in seen))
    pool = held + (sample_negatives(data, user_id, n_neg, rng) if n_neg > 0 else [])
    return tuple(pool[i] for i in rng.permutation(len(pool)))


def split_users(data: Any, pretrain_share: float = 0.5, seed: int = 0) -> tuple[Any, Any]:
    """Split ``data`` into (pre-training users, audited users), disjoint, seeded.

    The catalog is shared; the pre-training part is what a prompt-tuned model's frozen LM
    learns from, the audited part is what every paradigm is trained and audited on.

    Examples
    --------
    >>> import recaudit as ra
    >>> others, audited = split_users(ra.datasets.synthetic(n_users=40, n_items=30), 0.25)
    >>> len(others.user_ids), len(audited.user_ids)
    (10, 30)
    """
    if not 0.0 < pretrain_share < 1.0:
        raise ValueError(f"pretrain_share must be in (0, 1), got {pretrain_share}")
    users = list(data.user_ids)
    n = int(math.floor(pretrain_share * len(users) + 0.5))
    if n < 1 or n >= len(users):
        raise ValueError(f"pretrain_share={pretrain_share} of {len(users)} users leaves one "
                         "side empty")
    order = np.random.default_rng([seed, 41]).permutation(len(users))
    pre = [users[i] for i in order[:n]]
    rest = [users[i] for i in order[n:]]
    return (data.subset_users(pre, name=f"{data.name} (pre-training users)"),
            data.subset_users(rest, name=f"{data.name} (audited users)"))
