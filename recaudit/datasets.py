"""``recaudit.datasets``: the public face of :mod:`recaudit.data`."""

from .data import (  # noqa: F401
           AuditDataset,
           __getattr__,  # noqa: F401  (lazy: synthetic, Effects, movielens_*, DATASET_KINDS)
           from_frames,
           leave_last_out,
)
from .errors import DatasetError  # noqa: F401

__all__ = ["DATASET_KINDS", "AuditDataset", "DatasetError", "DatasetKind", "Effects",
           "dataset_kind", "from_frames", "leave_last_out", "movielens_100k", "movielens_1m",
           "synthetic"]
