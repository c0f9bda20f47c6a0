"""Models behind an interface rather than weights: an OpenAI-compatible chat endpoint
(:class:`ChatRecommender`) and any Python function (:class:`CallableRecommender`).
"""

from ..._lazy import lazy_attributes

_LAZY = {
    "ChatRecommender": "._chat",
    "CallableRecommender": "._callable",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
