"""Dataset operations on users: a seeded sample of users (:func:`sample_users`, what every
auditor and the utility measure draw) and the seeded split of a dataset's users into two
disjoint datasets (:func:`split_users`: pre-training users and audited users)."""

from __future__ import annotations

import math
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
