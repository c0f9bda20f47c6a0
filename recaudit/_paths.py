"""Where recaudit keeps files between runs: ``$RECAUDIT_CACHE_DIR``, else ``~/.cache/recaudit``.

The bottom layer (imports nothing of recaudit), so every layer may ask it: the engine keeps
its request cache there (:func:`recaudit.engine.default_cache_path`), the models their
catalog embeddings (``embeddings/``).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$RECAUDIT_CACHE_DIR`` (``~`` expanded), else ``~/.cache/recaudit``; read at call time."""
    root = os.environ.get("RECAUDIT_CACHE_DIR")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "recaudit"


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """``override`` (``~`` expanded) when given, else :func:`cache_dir`: the one rule every
    cached artefact (request answers, trained and converted models, embeddings) follows."""
    return Path(override).expanduser() if override is not None else cache_dir()
