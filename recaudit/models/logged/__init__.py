"""Lists a recommender produced elsewhere, read from a log: :class:`LoggedRecommender`
(``model: {kind: lists, path: logs.csv}`` in a spec).
"""

from ..._lazy import lazy_attributes

_LAZY = {
    "LoggedRecommender": "._lists",
    "condition_label": "._lists",
    "parse_condition": "._lists",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
