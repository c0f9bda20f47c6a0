"""MovieLens loaders on tiny folders written in the original formats."""

from __future__ import annotations

import io
import zipfile

import pytest

import recaudit as ra
from recaudit.data import _movielens as ml
from recaudit.data import _readers as readers
from recaudit.errors import DatasetError

from . import movielens_files


@pytest.fixture
def ml_files():
    """The writers and default rows, for tests that write broken variants."""
    return movielens_files


@pytest.fixture
def ml100k_dir(tmp_path):
    return movielens_files.write_100k(tmp_path)


@pytest.fixture
def ml1m_dir(tmp_path):
    return movielens_files.write_1m(tmp_path)

LOADERS = {"100k": ra.datasets.movielens_100k, "1m": ra.datasets.movielens_1m}


def _write(kind, files, root, **kw):
    return (files.write_100k if kind == "100k" else files.write_1m)(root, **kw)


@pytest.mark.parametrize("kind", ["100k", "1m"])
def test_loads_tables_splits_and_notes(kind, ml_files, tmp_path):
    _write(kind, ml_files, tmp_path)
    data = LOADERS[kind](tmp_path)
    assert data.sensitive == ("gender", "age_group", "occupation")
    # item 6 and user 5 never appear in the ratings: dropped and counted
    assert "6" not in data.item_ids and "5" not in data.user_ids
    assert "1 item(s) with no ratings dropped" in data.notes
    assert "1 user(s) with no train history dropped" in data.notes
    assert len(data.interactions) == len(ml_files.RATINGS)
    # leave-last-out by timestamp: user 2's latest rating (item 1 at t=400) is held out
    assert data.test_items["2"] == ("1",)
    assert data.train_histories["2"] == ("5", "3")  # oldest first (t=50, t=150)
    assert data.test_items["4"] == ("5",)
    assert set(data.interactions["rating"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert set(data.users["gender"]) == {"female", "male"}


def test_100k_fields(ml100k_dir):
    data = ra.datasets.movielens_100k(ml100k_dir)
    assert data.titles["5"] == "Misérables, Les (1995)"  # latin-1 decoded
    assert data.genres("1") == ("Animation", "Children's", "Comedy")
    assert data.genres("4") == ("Film-Noir", "Sci-Fi")
    users = data.users.set_index("user_id")
    # ages binned into the ML-1M groups: 24 -> 18-24, 53 -> 50-55, 17 -> under 18
    assert users.loc["1", "age_group"] == "18-24"
    assert users.loc["2", "age_group"] == "50-55"
    assert users.loc["3", "age_group"] == "under 18"
    assert users.loc["4", "occupation"] == "writer"
    assert users.loc["4", "zip"] == "T8H1N"
    assert data.providers == {"1": "1990s", "2": "1990s", "3": "pre-1970", "4": "1980s",
                              "5": "1990s"}


def test_1m_codes_mapped(ml1m_dir):
    data = ra.datasets.movielens_1m(ml1m_dir)
    users = data.users.set_index("user_id")
    assert users.loc["1", "age_group"] == "under 18"
    assert users.loc["2", "age_group"] == "56+"
    assert users.loc["4", "age_group"] == "45-49"
    assert users.loc["1", "occupation"] == "K-12 student"
    assert users.loc["2", "occupation"] == "self-employed"
    assert users.loc["3", "occupation"] == "scientist"
    assert users.loc["4", "zip"] == "02460"  # zip kept as text
    assert data.genres("2") == ("Adventure", "Children's", "Fantasy")
    assert data.titles["5"] == "Misérables, Les (1998)"
    assert data.providers["4"] == "pre-1970"
    assert data.items.set_index("item_id").loc["3", "year"] == 1994


def test_age_bins_match_ml1m_codes():
    assert [ml.age_group(a) for a in (1, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 90)] \
        == ["under 18", "under 18", "18-24", "18-24", "25-34", "25-34", "35-44", "35-44",
            "45-49", "45-49", "50-55", "50-55", "56+", "56+"]
    assert [ml.age_group(code) for code in ml.AGE_CODES_1M] == list(ml.AGE_CODES_1M.values())


def test_popularity_provider(ml100k_dir):
    data = ra.datasets.movielens_100k(ml100k_dir, provider="popularity")
    # 5 items -> the top 20% (one item) by distinct train users is the head
    top = data.popularity.sort_values(ascending=False, kind="stable").index[0]
    assert data.providers[top] == "head"
    assert sorted(data.providers.values()).count("head") == 1
    with pytest.raises(ValueError, match="provider"):
        ra.datasets.movielens_100k(ml100k_dir, provider="studio")


def test_min_rating_filters_and_counts(ml100k_dir):
    data = ra.datasets.movielens_100k(ml100k_dir, min_rating=3)
    assert (data.interactions["rating"] >= 3).all()
    assert any("2 rating(s) below min_rating=3 dropped" in n for n in data.notes)


def test_accepts_folder_itself_or_parent(ml100k_dir):
    a = ra.datasets.movielens_100k(ml100k_dir)
    b = ra.datasets.movielens_100k(ml100k_dir.parent)
    assert a.fingerprint() == b.fingerprint()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kind", ["100k", "1m"])
def test_missing_folder(kind, tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as exc:
        LOADERS[kind](tmp_path / "nowhere")
    assert "ml-100k" in str(exc.value) or "ml-1m" in str(exc.value)


@pytest.mark.parametrize("kind,file", [("100k", "u.user"), ("100k", "u.data"),
                                       ("1m", "movies.dat"), ("1m", "ratings.dat")])
def test_missing_file_named_with_layout(kind, file, ml_files, tmp_path):
    folder = _write(kind, ml_files, tmp_path)
    (folder / file).unlink()
    with pytest.raises(DatasetError) as exc:
        LOADERS[kind](tmp_path)
    msg = str(exc.value)
    assert f"missing file(s) ['{file}']" in msg
    assert "expected an 'ml-" in msg and "download=True" in msg


@pytest.mark.parametrize("kind,file,line", [
    ("100k", "u.data", "7\t1\t5"),                 # 3 fields
    ("100k", "u.user", "9|30|M|writer"),            # 4 fields
    ("1m", "ratings.dat", "1::2::3::4::5"),         # 5 fields
    ("1m", "movies.dat", "9::Title Without Genres"),
    ("1m", "ratings.dat", "1:2::3::4"),             # a single ':' joins two fields
])
def test_malformed_line_names_file_and_line(kind, file, line, ml_files, tmp_path):
    _write(kind, ml_files, tmp_path, extra={file: [line]})
    n_lines = {"u.data": len(ml_files.RATINGS), "ratings.dat": len(ml_files.RATINGS),
               "u.user": len(ml_files.USERS_100K), "movies.dat": len(ml_files.MOVIES_1M)}
    with pytest.raises(DatasetError) as exc:
        LOADERS[kind](tmp_path)
    assert exc.value.rows == [n_lines[file] + 1]
    assert file in str(exc.value) and "malformed" in str(exc.value)


def test_non_integer_field(ml_files, tmp_path):
    ml_files.write_100k(tmp_path, extra={"u.data": ["1\tabc\t3\t500"]})
    with pytest.raises(DatasetError) as exc:
        ra.datasets.movielens_100k(tmp_path)
    assert (exc.value.table, exc.value.column, exc.value.rows) == (
        "interactions", "item_id", [len(ml_files.RATINGS) + 1])
    assert "u.data" in str(exc.value)


def test_bad_genre_flag(ml_files, tmp_path):
    line = ml_files.item_line_100k(7, "Odd (1990)", "01-Jan-1990", set()).rsplit("|", 1)[0]
    ml_files.write_100k(tmp_path, extra={"u.item": [line + "|2"]})
    with pytest.raises(DatasetError) as exc:
        ra.datasets.movielens_100k(tmp_path)
    assert (exc.value.table, exc.value.column) == ("items", "genres")
    assert exc.value.rows == [len(ml_files.ITEMS_100K) + 1]


def test_unknown_gender_code_in_u_user(ml_files, tmp_path):
    users = list(ml_files.USERS_100K)
    users[2] = (3, 17, "D", "student", "32067")
    ml_files.write_100k(tmp_path, users=users)
    with pytest.raises(DatasetError) as exc:
        ra.datasets.movielens_100k(tmp_path)
    e = exc.value
    assert (e.table, e.column, e.rows) == ("users", "gender", [3])
    assert "['D']" in str(e) and "u.user" in str(e)


@pytest.mark.parametrize("column,row", [("age_group", (3, "M", 30, 15, "55117")),
                                        ("occupation", (3, "M", 25, 21, "55117")),
                                        ("gender", (3, "X", 25, 15, "55117"))])
def test_unknown_code_in_users_dat(column, row, ml_files, tmp_path):
    users = list(ml_files.USERS_1M)
    users[2] = row
    ml_files.write_1m(tmp_path, users=users)
    with pytest.raises(DatasetError) as exc:
        ra.datasets.movielens_1m(tmp_path)
    assert (exc.value.table, exc.value.column, exc.value.rows) == ("users", column, [3])
    assert "users.dat" in str(exc.value)


def test_unknown_occupation_in_u_user(ml_files, tmp_path):
    users = list(ml_files.USERS_100K)
    users[0] = (1, 24, "M", "astronaut", "85711")
    ml_files.write_100k(tmp_path, users=users)
    with pytest.raises(DatasetError) as exc:
        ra.datasets.movielens_100k(tmp_path)
    assert (exc.value.table, exc.value.column, exc.value.rows) == ("users", "occupation", [1])


@pytest.mark.parametrize("kind", ["100k", "1m"])
def test_duplicate_user_id(kind, ml_files, tmp_path):
    users = ml_files.USERS_100K if kind == "100k" else ml_files.USERS_1M
    _write(kind, ml_files, tmp_path, users=[*users, users[1]])
    with pytest.raises(DatasetError, match="duplicate") as exc:
        LOADERS[kind](tmp_path)
    assert (exc.value.table, exc.value.column, exc.value.rows) == (
        "users", "user_id", [len(users) + 1])


@pytest.mark.parametrize("kind", ["100k", "1m"])
def test_duplicate_item_id(kind, ml_files, tmp_path):
    if kind == "100k":
        ml_files.write_100k(tmp_path, items=[*ml_files.ITEMS_100K, ml_files.ITEMS_100K[0]])
        n = len(ml_files.ITEMS_100K)
    else:
        ml_files.write_1m(tmp_path, movies=[*ml_files.MOVIES_1M, ml_files.MOVIES_1M[0]])
        n = len(ml_files.MOVIES_1M)
    with pytest.raises(DatasetError, match="duplicate") as exc:
        LOADERS[kind](tmp_path)
    assert (exc.value.table, exc.value.column, exc.value.rows) == ("items", "item_id", [n + 1])


@pytest.mark.parametrize("kind", ["100k", "1m"])
@pytest.mark.parametrize("column,rating", [("user_id", (99, 1, 4, 500)),
                                           ("item_id", (1, 99, 4, 500))])
def test_rating_with_unknown_user_or_item(kind, column, rating, ml_files, tmp_path):
    _write(kind, ml_files, tmp_path, ratings=[*ml_files.RATINGS, rating])
    with pytest.raises(DatasetError, match="99") as exc:
        LOADERS[kind](tmp_path)
    assert (exc.value.table, exc.value.column, exc.value.rows) == (
        "interactions", column, [len(ml_files.RATINGS) + 1])


def test_download_only_when_asked(ml_files, tmp_path, monkeypatch):
    """download=True fetches the official zip through urllib (served locally here)."""
    src = ml_files.write_100k(tmp_path / "src")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f"ml-100k/{f.name}")
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return io.BytesIO(buf.getvalue())

    monkeypatch.setattr(ml.urllib.request, "urlopen", fake_urlopen)
    target = tmp_path / "dest"
    with pytest.raises(DatasetError):
        ra.datasets.movielens_100k(target)
    assert calls == []
    data = ra.datasets.movielens_100k(target, download=True)
    assert calls == [ml.URLS["ml-100k"]]
    assert len(data.users) == 4
    ra.datasets.movielens_100k(target, download=True)  # already there: no second fetch
    assert len(calls) == 1


@pytest.mark.parametrize("kind", ["100k", "1m"])
def test_fast_and_line_by_line_readers_agree(kind, ml_files, tmp_path):
    """A blank line sends the ratings file down the line-by-line reader: same dataset."""
    fast = LOADERS[kind](_write(kind, ml_files, tmp_path / "a").parent)
    folder = _write(kind, ml_files, tmp_path / "b")
    name = "u.data" if kind == "100k" else "ratings.dat"
    text = (folder / name).read_text("latin-1").split("\n")
    (folder / name).write_text("\n".join(text[:3] + [""] + text[3:]), "latin-1")
    slow = LOADERS[kind](folder)
    assert fast.fingerprint() == slow.fingerprint()
    assert readers.read_ratings(folder / name, "\t" if kind == "100k" else "::")[1][3] == 5


@pytest.mark.parametrize("kind", ["100k", "1m"])
def test_layout_told_apart_by_files(kind, ml_files, tmp_path):
    folder = _write(kind, ml_files, tmp_path)
    name = "movielens_100k" if kind == "100k" else "movielens_1m"
    assert ml.movielens_layout(folder) == name
    assert ml.movielens_layout(tmp_path) == name  # the folder holding ml-100k/ or ml-1m/
    (folder / ("u.user" if kind == "100k" else "users.dat")).unlink()
    with pytest.raises(DatasetError, match="is neither an ML-100K folder") as exc:
        ml.movielens_layout(folder)
    assert str(folder) in str(exc.value) and "missing u" in str(exc.value)
