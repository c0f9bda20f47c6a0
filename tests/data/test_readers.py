"""The delimited-file readers behind the MovieLens loaders: fast path, fallback, line numbers."""

from __future__ import annotations

import functools
import io

import numpy as np
import pandas as pd
import pytest

from recaudit.data import _readers as readers
from recaudit.errors import DatasetError

RATINGS = [(1, 10, 5, 978300760), (1, 11, 3, 978302109), (2, 10, 4, 978301968),
           (3, 12, 1, 978824291), (3, 10, 2, 978300275), (4, 11, 5, 978824351)]


def _write(path, lines, sep, newline="\n"):
    path.write_bytes(newline.join(lines).encode("latin-1") + newline.encode())
    return path


def _lines(sep, rows=RATINGS):
    return [sep.join(map(str, r)) for r in rows]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 64])
def test_tabbed_stream_matches_replace_on_the_whole_file(size):
    """A '::' split across two reads is still replaced, runs of ':' pair left to right, and
    a lone ':' held back at a read's end is not lost (b"" only at the end of the file)."""
    rng = np.random.default_rng(size)
    for _ in range(50):
        raw = bytes(int(b) for b in rng.choice(list(b"1:\n"), size=int(rng.integers(0, 40)),
                                                p=[0.3, 0.6, 0.1]))
        stream = readers.TabbedStream(io.BytesIO(raw), b"::")
        out = b"".join(iter(functools.partial(stream.read, size), b""))
        assert out == raw.replace(b"::", b"\t"), raw


def test_tabbed_stream_rejects_other_separators():
    with pytest.raises(ValueError, match="doubled"):
        readers.TabbedStream(io.BytesIO(b""), b":;")


@pytest.mark.parametrize("sep", ["\t", "::"])
def test_clean_file_takes_the_fast_path_and_agrees_with_the_scan(sep, tmp_path):
    path = _write(tmp_path / "ratings", _lines(sep), sep)
    fast, lines = readers.read_ratings(path, sep)
    assert lines is None  # row i is line i + 1
    slow, slow_lines = readers.scan_ratings(path, sep, block=4)
    pd.testing.assert_frame_equal(fast, slow)
    assert slow_lines.tolist() == list(range(1, len(RATINGS) + 1))
    assert fast.dtypes.tolist() == [np.int64, np.int64, np.float64, np.int64]
    assert fast["item_id"].tolist() == [r[1] for r in RATINGS]


@pytest.mark.parametrize("sep", ["\t", "::"])
@pytest.mark.parametrize("edit", ["blank", "decimal", "spaces", "crlf"])
def test_fallback_reads_what_the_fast_path_is_too_strict_for(sep, edit, tmp_path):
    lines, newline = _lines(sep), "\n"
    if edit == "blank":
        lines.insert(2, "")
    elif edit == "decimal":
        lines[1] = sep.join(["1", "11.0", "3", "978302109"])
    elif edit == "spaces":
        lines[1] = sep.join([" 1", "11 ", "3", "978302109"])
    else:
        newline = "\r\n"
    df, numbers = readers.read_ratings(_write(tmp_path / "r", lines, sep, newline), sep)
    clean, _ = readers.read_ratings(_write(tmp_path / "clean", _lines(sep), sep), sep)
    pd.testing.assert_frame_equal(df, clean)
    if edit == "blank":  # the line numbers skip the blank line
        assert numbers.tolist() == [1, 2, 4, 5, 6, 7]


def test_scan_names_every_bad_line_across_blocks(tmp_path):
    lines = _lines("::") * 3
    lines[2] = "3::x::1::978824291"
    lines[15] = "4::y::5::978824351"
    path = _write(tmp_path / "ratings.dat", lines, "::")
    for block in (2, 5, readers.BLOCK_LINES):
        with pytest.raises(DatasetError) as exc:
            readers.read_ratings(path, "::") if block == readers.BLOCK_LINES else \
                readers.scan_ratings(path, "::", block=block)
        e = exc.value
        assert (e.table, e.column, e.rows) == ("interactions", "item_id", [3, 16])
        assert "['x', 'y']" in str(e) and "ratings.dat" in str(e)


def test_scan_reports_malformed_lines_before_bad_values(tmp_path):
    lines = _lines("\t")
    lines[0] = "1\tx\t5\t1"  # a bad value, but the field counts are checked first
    lines[3] = "3\t12\t1"
    lines.append("5\t10\t4\t1\t9")
    path = _write(tmp_path / "u.data", lines, "\t")
    with pytest.raises(DatasetError, match="malformed line") as exc:
        readers.read_ratings(path, "\t")
    assert exc.value.rows == [4, len(lines)] and exc.value.column is None


@pytest.mark.parametrize("value", ["nan", "inf", ""])
def test_rating_must_be_a_finite_number(value, tmp_path):
    lines = _lines("::")
    lines[4] = f"3::10::{value}::978300275"
    with pytest.raises(DatasetError) as exc:
        readers.read_ratings(_write(tmp_path / "ratings.dat", lines, "::"), "::")
    assert (exc.value.column, exc.value.rows) == ("rating", [5])


def test_lines_end_only_at_newlines(tmp_path):
    """A latin-1 control byte such as 0x85 (cp1252's ellipsis) stays inside its field."""
    path = tmp_path / "movies.dat"
    path.write_bytes(b"1::Wait\x85 (1995)::Drama\r\n2::Misfits (1961)::Drama\r3::A (1990)::X\n")
    rows, lines = readers.read_lines(path, "::", 3, "items", "latin-1")
    assert [r[1] for r in rows] == ["Wait\x85 (1995)", "Misfits (1961)", "A (1990)"]
    assert lines.tolist() == [1, 2, 3]


def test_line_numbers():
    mask = np.array([False, True, False, True])
    assert readers.line_numbers(None, mask) == [2, 4]
    assert readers.line_numbers(np.array([1, 3, 4, 9]), mask) == [3, 9]
