"""Catalog embeddings on disk: the item side of a sentence-encoder model, encoded once.

Files live in ``<cache folder>/embeddings/<key>.npy`` beside the request cache (the folder
of :func:`recaudit._paths.cache_dir`: ``$RECAUDIT_CACHE_DIR`` or ``~/.cache/recaudit``). The key hashes everything the matrix depends on (encoder, its
version and token limit, normalisation, and every document text in catalog order), so a
changed title or option never reads a stale matrix. Files are written to a temporary name
and renamed into place, so a reader never sees half a matrix.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..._paths import cache_dir

#: Bumped whenever the pooling or the file layout changes (old files are then ignored).
FORMAT = 1


def store_folder() -> Path:
    """``<cache folder>/embeddings``, read from ``$RECAUDIT_CACHE_DIR`` at call time."""
    return cache_dir() / "embeddings"


def catalog_key(encoder: str, normalize: bool, texts: Sequence[str]) -> str:
    """A hex digest of the encoder identity, the normalisation and the exact texts.

    Examples
    --------
    >>> catalog_key("enc", True, ["a", "b"]) == catalog_key("enc", True, ["a", "b"])
    True
    >>> catalog_key("enc", True, ["a", "b"]) == catalog_key("enc", True, ["ab", ""])
    False
    """
    h = hashlib.sha256(json.dumps([FORMAT, encoder, bool(normalize), len(texts)]).encode())
    for text in texts:
        raw = text.encode("utf-8")
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)
    return h.hexdigest()


def load_matrix(key: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The stored float32 matrix for ``key``, or ``None`` if absent, unreadable or of
    another shape."""
    path = store_folder() / f"{key}.npy"
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if matrix.shape != tuple(shape) or matrix.dtype != np.float32:
        return None
    return matrix


def save_matrix(key: str, matrix: np.ndarray) -> Path | None:
    """Write ``matrix`` atomically under ``key``; returns the path, or ``None`` (with a
    warning) when the cache folder cannot be written: the model still works, it will only
    encode the catalog again next time."""
    folder = store_folder()
    path = folder / f"{key}.npy"
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=folder)
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        warnings.warn(f"could not store catalog embeddings in {folder} ({exc}); set "
                      "RECAUDIT_CACHE_DIR to a writable folder to reuse them", stacklevel=3)
        return None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path
