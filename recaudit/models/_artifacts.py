"""Publishing trained artefacts into the cache folder atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def publish_folder(folder: Path, marker: str) -> Iterator[Path]:
    """Yield an empty staging folder beside ``folder``; on success, move it into place.

    Readers never see a half-written model: the staging folder is renamed onto ``folder`` in
    one step. When another process published the same artefact first (``folder`` already holds
    ``marker``), theirs is kept. The staging folder is removed on any failure.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        yield tmp
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same artefact first: keep theirs
            if not (folder / marker).exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
