"""Writing a rendered output file (the JSON and HTML reports, JUnit XML, a Markdown
summary) atomically, with one error type (:class:`~recaudit.errors.OutputError`) naming the
file when it cannot be written."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import OutputError


def write_output(path: str | Path, text: str, what: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it, so a reader
    never sees half a file and a failed write leaves any earlier file as it was.

    Missing parent folders are created. Any ``OSError`` (the path is a folder, a parent is a
    file, no permission, a full disk) becomes an :class:`OutputError` naming ``what`` and the
    path.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise OutputError(f"cannot write {what} to {str(path)!r}: {reason}") from exc
    return path
