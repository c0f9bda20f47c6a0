"""Publishing trained artefacts into the cache folder atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


# ====================================================================== training checkpoints
#: The file of a run's last checkpoint in its partial folder.
CHECKPOINT_FILE = "checkpoint.pt"


def partial_folder(folder: Path) -> Path:
    """``<folder>.partial``: beside the cache folder a run publishes to, where it keeps its
    checkpoint until the finished model is published (``folder`` itself must not exist until
    then: :func:`publish_folder` renames the staging folder onto it)."""
    return folder.with_name(folder.name + ".partial")


def checkpoint_path(folder: Path) -> Path:
    """The checkpoint file of the run that will publish ``folder``:
    ``<folder>.partial/checkpoint.pt``, beside the folder (publishing renames onto it)."""
    return partial_folder(folder) / CHECKPOINT_FILE


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` (``torch.save``) to ``path`` atomically: a temporary file in the same
    folder, then ``os.replace``; a kill leaves the previous checkpoint or the new one."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, key: str) -> dict | None:
    """The checkpoint at ``path`` when it belongs to the run ``key`` (its cache key), else
    ``None`` (none there, unreadable, or another run's: never resumed)."""
    import torch

    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a torn or foreign file: start over (it is overwritten next epoch)
        return None
    if not isinstance(state, dict) or state.get("key") != key:
        return None
    return state


def rng_state(gen: Any) -> str:
    """A numpy ``Generator``'s state as JSON (checkpoints load with ``weights_only``)."""
    return json.dumps(gen.bit_generator.state)


def set_rng_state(gen: Any, state: str) -> None:
    """Restore a numpy ``Generator`` from :func:`rng_state`."""
    gen.bit_generator.state = json.loads(state)


def drop_partial(folder: Path) -> None:
    """Remove ``folder``'s partial folder (its checkpoint) once the model is published."""
    shutil.rmtree(partial_folder(folder), ignore_errors=True)
