import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from recaudit.metrics.ranking import hit_at_k, mrr_at_k, ndcg_at_k, recall_at_k


def test_ndcg_hand_computed():
    # one relevant item at rank 2: 1/log2(3) over ideal 1/log2(2) = 0.6309
    assert ndcg_at_k(["a", "b", "c"], {"b"}, 3) == pytest.approx(1 / np.log2(3))
    # two relevant at ranks 1 and 3: (1 + 1/2) / (1 + 1/log2(3))
    assert ndcg_at_k(["a", "b", "c"], {"a", "c"}, 3) == pytest.approx(
        1.5 / (1 + 1 / np.log2(3)))
    assert ndcg_at_k(["a", "b"], {"z"}, 2) == 0.0
    assert ndcg_at_k(["a", "b"], set(), 2) == 0.0
    assert ndcg_at_k(["a", "b", "c"], {"c"}, 2) == 0.0  # beyond k


def test_ndcg_matches_scikit_learn():
    rng = np.random.default_rng(0)
    items = [f"i{n}" for n in range(12)]
    for _ in range(20):
        scores = rng.normal(size=12)
        relevant = set(rng.choice(items, size=3, replace=False))
        ranked = [items[i] for i in np.argsort(-scores)]
        y_true = np.array([[1.0 if i in relevant else 0.0 for i in items]])
        assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(
            ndcg_score(y_true, scores[None, :], k=5))


def test_hit_recall_mrr():
    assert hit_at_k(["a", "b"], {"b"}, 2) == 1.0
    assert hit_at_k(["a", "b"], {"b"}, 1) == 0.0
    assert recall_at_k(["a", "b", "c"], {"b", "z"}, 3) == 0.5
    assert mrr_at_k(["a", "b", "c"], {"c"}, 3) == pytest.approx(1 / 3)
    assert mrr_at_k(["a"], {"c"}, 1) == 0.0
