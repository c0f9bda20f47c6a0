"""Non-language references every LLM recommender is read against: most popular,
random, item-to-item kNN and SASRec.
"""

from ..._lazy import lazy_attributes

_LAZY = {
    "MostPopular": "._baselines",
    "RandomRecommender": "._baselines",
    "ItemKNN": "._item_knn",
    "SASRec": "._sasrec",
    "SASRecConfig": "._sasrec",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
