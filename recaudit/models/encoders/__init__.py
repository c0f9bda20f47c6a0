"""Zero-shot recommenders on a pre-trained sentence encoder (the packaged MiniLM).

:class:`EmbeddingRecommender` ranks by the similarity of the history's and the items' text
embeddings; :func:`encode` embeds text offline (also used by the perturbations and the
membership auditor); catalog embeddings are cached on disk.
"""

from ..._lazy import lazy_attributes

_LAZY = {
    "EmbeddingRecommender": "._embedding",
    "encode": "._minilm",
}

__all__ = [*_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
