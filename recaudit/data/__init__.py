"""Datasets: ``AuditDataset``, synthetic worlds with planted effects, MovieLens loaders."""

from importlib import import_module
from typing import Any

from ._dataset import AuditDataset, from_frames, leave_last_out

_LAZY = {
    "Effects": "._synthetic",
    "synthetic": "._synthetic",
    "movielens_100k": "._movielens",
    "movielens_1m": "._movielens",
}

__all__ = ["AuditDataset", "from_frames", "leave_last_out", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'recaudit.data' has no attribute {name!r}")
