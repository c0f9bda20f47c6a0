"""MovieLens ratings files with invalid content: refused with a one-line error naming the
file, column and line, or (repeated pairs) reduced by the stated rule and counted."""

from __future__ import annotations

import warnings

import pytest

import recaudit as ra
from recaudit.data import _readers as readers
from recaudit.errors import DatasetError

from . import movielens_files as files

LOADERS = {"100k": ra.datasets.movielens_100k, "1m": ra.datasets.movielens_1m}
RATINGS_FILE = {"100k": "u.data", "1m": "ratings.dat"}
SEP = {"100k": "\t", "1m": "::"}
N = len(files.RATINGS)


def _load(kind, root, **kw):
    """Write the folder and load it with every warning an error (none may leak)."""
    (files.write_100k if kind == "100k" else files.write_1m)(root, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return LOADERS[kind](root)


def _refused(kind, root, **kw) -> DatasetError:
    with pytest.raises(DatasetError) as exc:
        _load(kind, root, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and RATINGS_FILE[kind] in msg
    return exc.value


@pytest.mark.parametrize("kind", ["100k", "1m"])
@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_ratings_file(kind, content, tmp_path):
    folder = (files.write_100k if kind == "100k" else files.write_1m)(tmp_path)
    (folder / RATINGS_FILE[kind]).write_bytes(content)
    with pytest.raises(DatasetError, match="no ratings in") as exc:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            LOADERS[kind](tmp_path)
    assert "\n" not in str(exc.value) and RATINGS_FILE[kind] in str(exc.value)
    assert exc.value.table == "interactions"


@pytest.mark.parametrize("kind", ["100k", "1m"])
@pytest.mark.parametrize("stamp", ["-1", "4102444801", "1e26", "99999999999999999999",
                                   "-9223372036854775809"])
def test_timestamp_out_of_range(kind, stamp, tmp_path):
    line = SEP[kind].join(["1", "4", "3", stamp])
    e = _refused(kind, tmp_path, extra={RATINGS_FILE[kind]: [line]})
    assert (e.table, e.column, e.rows) == ("interactions", "timestamp", [N + 1])


@pytest.mark.parametrize("kind", ["100k", "1m"])
@pytest.mark.parametrize("rating", ["-7", "99", "0", "6", "3.5"])
def test_rating_off_the_scale(kind, rating, tmp_path):
    line = SEP[kind].join(["1", "4", rating, "500"])
    e = _refused(kind, tmp_path, extra={RATINGS_FILE[kind]: [line]})
    assert (e.table, e.column, e.rows) == ("interactions", "rating", [N + 1])
    assert "1 to 5" in str(e)


def test_line_numbers_through_the_line_by_line_reader(tmp_path):
    """A blank line sends u.data to the scan: the line numbers still count it."""
    e = _refused("100k", tmp_path, extra={"u.data": ["", "1\t4\t99\t500", "2\t4\t5\t-3"]})
    assert (e.column, e.rows) == ("rating", [N + 2])  # ratings are checked first


@pytest.mark.parametrize("kind", ["100k", "1m"])
def test_repeated_pair_keeps_the_latest(kind, tmp_path):
    """Rule: one rating per (user, item), the latest by timestamp, ties to the later line;
    the dropped rows are counted in data.notes (the report's "Dataset notes")."""
    repeats = [(1, 2, 4, 250),   # later than (1, 2, 3, 200): replaces it
               (2, 3, 1, 100),   # earlier than (2, 3, 5, 150): dropped
               (3, 4, 2, 10)]    # same time as (3, 4, 3, 10): the later line wins
    data = _load(kind, tmp_path, ratings=[*files.RATINGS, *repeats])
    inter = data.interactions.set_index(["user_id", "item_id"])
    assert len(inter) == N and inter.index.is_unique
    assert inter.loc[("1", "2"), "rating"] == 4 and inter.loc[("1", "2"), "timestamp"] == 250
    assert inter.loc[("2", "3"), "rating"] == 5
    assert inter.loc[("3", "4"), "rating"] == 2
    note = next(n for n in data.notes if "repeated" in n)
    # dropped: line 2 (1, 2 at t=200), line 14 (2, 3 at t=100), line 7 (3, 4, tie)
    assert note.startswith(f"3 repeated (user, item) rating(s) in {RATINGS_FILE[kind]}")
    assert "[2, 7, 14]" in note
    assert data.test_items["1"] == ("3",)  # split after the reduction: t=300 still last


def test_no_repeats_no_note(tmp_path):
    data = _load("100k", tmp_path)
    assert not any("repeated" in n for n in data.notes)


def test_parse_numbers_flags_integers_beyond_int64_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr, bad = readers.parse_numbers(["1e26", "5", "-1e19", "9.2e18", "4.0"],
                                         integer=True)
    assert bad.tolist() == [True, False, True, False, False]
    assert arr.tolist() == [0, 5, 0, 9_200_000_000_000_000_000, 4]


@pytest.mark.parametrize("big", [7, 2 ** 62])  # ids packed into one key, or too wide: columns
def test_latest_per_pair_either_way(big, tmp_path):
    import numpy as np
    import pandas as pd

    from recaudit.data import _movielens as ml

    ratings = pd.DataFrame({"user_id": [1, big, 1, big, 1], "item_id": [big, 1, big, 1, 1],
                            "rating": [1.0, 2.0, 3.0, 4.0, 5.0],
                            "timestamp": [5, 9, 5, 3, 1]})
    notes: list[str] = []
    kept = ml._latest_per_pair(ratings, np.array([1, 2, 4, 5, 6]), tmp_path / "u.data", notes)
    assert kept["rating"].tolist() == [2.0, 3.0, 5.0]  # tie at t=5: the later line wins
    assert notes[0].startswith("2 repeated") and "[1, 5]" in notes[0]
