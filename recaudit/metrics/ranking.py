"""Ranking accuracy metrics for one list against a set of relevant items (binary relevance)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np


def dcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Sum over 1-based ranks r <= k of rel / log2(r + 1)."""
    rel = set(relevant)
    return float(sum(1.0 / np.log2(r + 2) for r, i in enumerate(ranked[:k]) if i in rel))


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Binary-relevance NDCG@k; 0 when nothing is relevant.

    Examples
    --------
    >>> round(ndcg_at_k(["a", "b", "c"], {"b"}, 3), 4)
    0.6309
    """
    rel = set(relevant)
    if not rel:
        return 0.0
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(len(rel), k)))
    return dcg_at_k(ranked, rel, k) / ideal


def hit_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 when any relevant item is in the top k, else 0.0."""
    rel = set(relevant)
    return float(any(i in rel for i in ranked[:k]))


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    rel = set(relevant)
    if not rel:
        return 0.0
    return sum(1 for i in ranked[:k] if i in rel) / len(rel)


def mrr_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    rel = set(relevant)
    for r, i in enumerate(ranked[:k]):
        if i in rel:
            return 1.0 / (r + 1)
    return 0.0
