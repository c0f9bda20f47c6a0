"""Datasets: ``AuditDataset``, synthetic worlds with planted effects, MovieLens loaders, and
:data:`DATASET_KINDS`, the table of the ``dataset: {kind: ...}`` a spec may name (third-party
kinds come from the ``recaudit.datasets`` entry-point group)."""

from importlib import import_module
from typing import Any

from ._dataset import AuditDataset, from_frames, leave_last_out

_LAZY = {
    "DATASET_KINDS": "._kinds",
    "DatasetKind": "._kinds",
    "dataset_kind": "._kinds",
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
