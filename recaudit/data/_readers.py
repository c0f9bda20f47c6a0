"""Readers of delimited text files whose errors name the file, table, column and lines.

Used by the MovieLens loaders. Every reader streams its file (no whole-file copy in memory)
and reports a bad line by its 1-based number, where a line ends at ``\\n``, ``\\r\\n`` or
``\\r`` (as pandas' C parser and Python's universal newlines count them).

- :func:`read_lines`: the fields of every non-blank line (small files: items, users).
- :func:`read_ratings`: ``user_id, item_id, rating, timestamp`` of a ratings file. Fast
  path: pandas' C parser with strict dtypes, reading a ``::`` file through
  :class:`TabbedStream`. When it fails (a blank line, a wrong field count, a value that is
  not a plain number), a line-by-line scan in blocks either parses what the fast path was
  too strict for or raises :class:`~recaudit.errors.DatasetError` naming every bad line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError

RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
RATING_DTYPES = {"user_id": np.int64, "item_id": np.int64, "rating": np.float64,
                 "timestamp": np.int64}
#: Lines per block of the fallback scan (bounds the Python strings alive at once).
BLOCK_LINES = 65_536


# ---------------------------------------------------------------------------- errors
def malformed_error(file: Path, sep: str, n_fields: int, table: str,
                    rows: list[int]) -> DatasetError:
    return DatasetError(f"malformed line(s) in {file.name} (line {rows[0]}: expected "
                        f"{n_fields} {sep!r}-separated fields); rows are 1-based line "
                        f"numbers in {file}", table=table, rows=rows)


def number_error(file: Path, table: str, column: str, integer: bool, shown: list[str],
                 rows: list[int]) -> DatasetError:
    what = f"an integer within 64-bit range, got {shown}" if integer else "a number"
    return DatasetError(f"malformed line(s) in {file.name}: {column} must be {what}; rows "
                        f"are 1-based line numbers in {file}", table=table, column=column,
                        rows=rows)


# ---------------------------------------------------------------------------- fields
def parse_numbers(values: Sequence[str], integer: bool) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (stripped) as numbers, and the mask of those that are not.

    A number is what :func:`pandas.to_numeric` reads; an integer must also be finite,
    whole (``"5.0"`` is 5) and inside int64's range (``"1e26"`` is bad: never cast, so no
    numpy overflow warning). Returns int64 for ``integer`` (0 where bad), else float64.
    """
    arr = pd.to_numeric(pd.Series(values, dtype=object).str.strip(),
                        errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(arr)
    if integer:
        bad |= (arr != np.round(arr)) | (np.abs(arr) >= 2.0 ** 63)
        return np.where(bad, 0, arr).astype(np.int64), bad
    return arr, bad


def ints(values: Sequence[str], lines: np.ndarray, file: Path, table: str,
         column: str) -> np.ndarray:
    arr, bad = parse_numbers(values, integer=True)
    if bad.any():
        shown = [values[i] for i in np.flatnonzero(bad)[:3]]
        raise number_error(file, table, column, True, shown, lines[bad].tolist())
    return arr


def floats(values: Sequence[str], lines: np.ndarray, file: Path, table: str,
           column: str) -> np.ndarray:
    arr, bad = parse_numbers(values, integer=False)
    if bad.any():
        raise number_error(file, table, column, False, [], lines[bad].tolist())
    return arr


# ---------------------------------------------------------------------------- lines
def read_lines(file: Path, sep: str, n_fields: int, table: str,
               encoding: str) -> tuple[list[list[str]], np.ndarray]:
    """Split every non-blank line into exactly ``n_fields`` fields.

    Returns the fields and the 1-based line numbers. Hand-written (rather than
    ``pd.read_csv``) because a bad line must be reported with its file and line number;
    every malformed line is listed.
    """
    rows, lines, bad = [], [], []
    with open(file, encoding=encoding, newline=None) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split(sep)
            if len(parts) != n_fields:
                bad.append(n)
                continue
            rows.append(parts)
            lines.append(n)
    if bad:
        raise malformed_error(file, sep, n_fields, table, bad)
    return rows, np.asarray(lines, dtype=np.int64)


class TabbedStream(io.RawIOBase):
    """A binary stream over an open file with every ``sep`` (e.g. ``b"::"``) read as a tab.

    Lets pandas' C parser, which takes only one-character separators, stream a ``::`` file
    chunk by chunk, with no second copy of it in memory. A chunk ending in an odd run of
    the separator's byte keeps its last byte for the next chunk, so a separator split
    across two reads is still replaced, and pairs are matched left to right as
    ``bytes.replace`` matches them on the whole file. A read returns ``b""`` only at the
    end of the file.

    Examples
    --------
    >>> TabbedStream(io.BytesIO(b"1::2:::3"), b"::").read()
    b'1\\t2\\t:3'
    """

    def __init__(self, fh: io.BufferedIOBase, sep: bytes) -> None:
        if len(sep) != 2 or sep[0] != sep[1]:
            raise ValueError(f"sep must be one byte doubled, such as b'::'; got {sep!r}")
        self._fh, self._sep, self._carry = fh, sep, b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = size if size is not None and size > 0 else -1
        while True:  # b"" means the end: never return it while a byte is held back
            raw = self._fh.read(size)
            chunk, self._carry = self._carry + raw, b""
            if raw:
                run = len(chunk) - len(chunk.rstrip(self._sep[:1]))
                if run % 2:
                    chunk, self._carry = chunk[:-1], chunk[-1:]
            if chunk or not raw:
                return chunk.replace(self._sep, b"\t")


# ---------------------------------------------------------------------------- ratings
def read_ratings_fast(file: Path, sep: str) -> pd.DataFrame | None:
    """The ratings through pandas' C parser with strict dtypes; ``None`` when that fails.

    Strict: no quoting, no comment character, no NA strings, blank lines kept (a blank
    line is a row of empty fields, which an integer column rejects), four fields per line
    and a plain number in each. So a success means row ``i`` is line ``i + 1`` and every
    value is what the line-by-line scan reads there.
    """
    options = dict(sep="\t", header=None, names=list(RATING_COLUMNS), dtype=RATING_DTYPES,
                   quoting=csv.QUOTE_NONE, skip_blank_lines=False, na_filter=False,
                   engine="c")
    # errstate: on a value such as 1e26 in an integer column pandas casts its float to
    # int64 (numpy warns "invalid value encountered in cast") before it raises ValueError
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            if sep == "\t":
                df = pd.read_csv(file, **options)
            else:
                with open(file, "rb") as fh:
                    df = pd.read_csv(TabbedStream(fh, sep.encode("latin-1")), **options)
    except (ValueError, OverflowError):  # pandas' ParserError and UnicodeDecodeError too
        return None
    if not np.isfinite(df["rating"].to_numpy()).all():
        return None
    return df


def scan_ratings(file: Path, sep: str, *,
                 block: int = BLOCK_LINES) -> tuple[pd.DataFrame, np.ndarray]:
    """The line-by-line reader of a ratings file, ``block`` lines at a time.

    Skips blank lines, strips fields, reads ``5.0`` as the integer 5 (as
    :func:`parse_numbers`). Raises for the malformed lines first (every one), else for the
    first column (in file order) holding a bad value (every line of it).
    """
    integer = (True, True, False, True)
    parsed: list[list[np.ndarray]] = [[] for _ in RATING_COLUMNS]
    bad: list[list[int]] = [[] for _ in RATING_COLUMNS]
    shown: list[list[str]] = [[] for _ in RATING_COLUMNS]
    line_blocks: list[np.ndarray] = []
    malformed: list[int] = []

    def flush(cols: list[list[str]], lines: list[int]) -> None:
        numbers = np.asarray(lines, dtype=np.int64)
        line_blocks.append(numbers)
        for k, values in enumerate(cols):
            arr, wrong = parse_numbers(values, integer[k])
            parsed[k].append(arr)
            if wrong.any():
                where = np.flatnonzero(wrong)
                bad[k].extend(numbers[where].tolist())
                shown[k].extend(values[i] for i in where[:max(0, 3 - len(shown[k]))])

    cols: list[list[str]] = [[] for _ in RATING_COLUMNS]
    lines: list[int] = []
    with open(file, encoding="latin-1", newline=None) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split(sep)
            if len(parts) != len(RATING_COLUMNS):
                malformed.append(n)
                continue
            for col, value in zip(cols, parts):
                col.append(value)
            lines.append(n)
            if len(lines) == block:
                flush(cols, lines)
                cols, lines = [[] for _ in RATING_COLUMNS], []
    flush(cols, lines)
    if malformed:
        raise malformed_error(file, sep, len(RATING_COLUMNS), "interactions", malformed)
    for k, name in enumerate(RATING_COLUMNS):
        if bad[k]:
            raise number_error(file, "interactions", name, integer[k], shown[k], bad[k])
    df = pd.DataFrame({name: np.concatenate(parsed[k])
                       for k, name in enumerate(RATING_COLUMNS)})
    return df, np.concatenate(line_blocks)


def read_ratings(file: Path, sep: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``user_id, item_id, rating, timestamp`` of a ratings file, with 1-based line numbers.

    Fast path (:func:`read_ratings_fast`): 1M lines in a fraction of a second; the line
    numbers are then ``None``, meaning row ``i`` is line ``i + 1``. Otherwise
    :func:`scan_ratings`, which accepts what the fast path is too strict for (blank lines,
    ``5.0`` for an integer, spaces around a field) and names every bad line.
    """
    df = read_ratings_fast(file, sep)
    if df is not None:
        return df, None
    return scan_ratings(file, sep)


def line_numbers(lines: np.ndarray | None, mask: np.ndarray) -> list[int]:
    """The 1-based line numbers of the rows in ``mask`` (``lines=None``: row i is line i+1)."""
    return (np.flatnonzero(mask) + 1 if lines is None else lines[mask]).tolist()
