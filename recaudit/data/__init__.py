"""Datasets: ``AuditDataset``, synthetic worlds with planted effects, MovieLens loaders, and
:data:`DATASET_KINDS`, the table of the ``dataset: {kind: ...}`` a spec may name (third-party
kinds come from the ``recaudit.datasets`` entry-point group)."""

from .._lazy import lazy_attributes
from ._dataset import AuditDataset, from_frames, leave_last_out

_LAZY = {
    "DATASET_KINDS": "._kinds",
    "DatasetKind": "._kinds",
    "dataset_kind": "._kinds",
    "dataset_kind_names": "._kinds",
    "every_dataset_key": "._kinds",
    "build_dataset": "._kinds",
    "Effects": "._synthetic",
    "synthetic": "._synthetic",
    "movielens_100k": "._movielens",
    "movielens_1m": "._movielens",
    "movielens_layout": "._movielens",
    "MOVIELENS_LAYOUTS": "._movielens",
    "split_users": "._sampling",
    "sample_users": "._sampling",
    "sample_negatives": "._sampling",
    "candidate_pool": "._sampling",
}

__all__ = ["AuditDataset", "from_frames", "leave_last_out", *_LAZY]

__getattr__ = lazy_attributes(__name__, _LAZY)
