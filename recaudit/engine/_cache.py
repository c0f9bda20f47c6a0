"""``RequestCache``: model answers on disk (SQLite, WAL), keyed by model and request.

Like lm-evaluation-harness' ``CachingLM``, the key is a hash of the request; here it is the
tuple (model fingerprint, method, ``Request.key()``, argument) where the argument is ``k`` for
``rank``/``explain`` and the target item for ``nll``. Every batch is committed as soon as it
is answered, so an audit killed half-way loses nothing already computed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .._paths import cache_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    fingerprint TEXT NOT NULL,
    method TEXT NOT NULL,
    id TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (fingerprint, method, id)
) WITHOUT ROWID
"""

_CHUNK = 500  # stays below SQLite's limit on bound parameters


def default_cache_path() -> Path:
    """``$RECAUDIT_CACHE_DIR/requests.sqlite``, else ``~/.cache/recaudit/requests.sqlite``."""
    return cache_dir() / "requests.sqlite"


class RequestCache:
    """A key-value store of model answers (JSON text), safe across processes.

    Parameters
    ----------
    path : str or Path
        SQLite file (created with its folder), or ``":memory:"`` for a store that lives only
        as long as this object (what ``cache=False`` uses to share answers within one audit).

    Examples
    --------
    >>> c = RequestCache(":memory:")
    >>> c.put_many("fp", "rank", {"abc:10": '{"items": []}'})
    >>> c.get_many("fp", "rank", ["abc:10", "zzz:10"])
    {'abc:10': '{"items": []}'}
    """

    def __init__(self, path: str | os.PathLike = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.path = str(Path(self.path).expanduser())
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False,
                                     isolation_level=None)
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)

    @property
    def persistent(self) -> bool:
        return self.path != ":memory:"

    def get_many(self, fingerprint: str, method: str, ids: Sequence[str]) -> dict[str, str]:
        """The stored answers among ``ids`` (missing ids are absent from the result)."""
        found: dict[str, str] = {}
        ids = list(ids)
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT id, value FROM answers WHERE fingerprint=? AND method=? "
                    f"AND id IN ({marks})", (fingerprint, method, *chunk))
                found.update(rows)
        return found

    def put_many(self, fingerprint: str, method: str, values: Mapping[str, str]) -> None:
        """Store answers and commit at once (one transaction per call)."""
        now = time.time()
        rows = [(fingerprint, method, k, v, now) for k, v in values.items()]
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO answers (fingerprint, method, id, value, created) "
                    "VALUES (?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def count(self, fingerprint: str | None = None, method: str | None = None) -> int:
        """Number of stored answers, optionally for one model and/or method."""
        sql, args = "SELECT COUNT(*) FROM answers WHERE 1=1", []
        if fingerprint is not None:
            sql, args = sql + " AND fingerprint=?", [*args, fingerprint]
        if method is not None:
            sql, args = sql + " AND method=?", [*args, method]
        with self._lock:
            return int(self._conn.execute(sql, args).fetchone()[0])

    def clear(self, fingerprints: Iterable[str] | None = None) -> None:
        """Delete every answer, or only those of some model fingerprints."""
        with self._lock:
            if fingerprints is None:
                self._conn.execute("DELETE FROM answers")
            else:
                self._conn.executemany("DELETE FROM answers WHERE fingerprint=?",
                                       [(f,) for f in fingerprints])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"RequestCache({self.path!r})"
