"""MovieLens 100K and 1M loaders, reading the original GroupLens files.

Both loaders return an :class:`~recaudit.data.AuditDataset` with

- ``items``: ``item_id``, ``title`` (as published, year included), ``genres``
  ("|"-separated), ``year`` (release year, -1 when unknown) and ``provider``;
- ``users``: ``user_id``, ``gender`` (``female``/``male``), ``age_group`` (the ML-1M bins
  ``under 18``, ``18-24``, ``25-34``, ``35-44``, ``45-49``, ``50-55``, ``56+``; 100K ages
  are binned the same way), ``occupation`` (a name) and ``zip``; the sensitive attributes
  are ``gender``, ``age_group`` and ``occupation``;
- ``interactions``: every rating (implicit feedback, as in LLM-recommendation benchmarks)
  with ``rating`` and ``timestamp``, split leave-last-out by timestamp (ties keep file order).

Provider. MovieLens has no studio or distributor. By default the provider group is the
film's *release era* (``pre-1970``, ``1970s``, ``1980s``, ``1990s``, ``2000s``, from the
year in the title or the 100K release date): it is a supplier-side property fixed before
any user interacts, so provider fairness stays distinct from popularity bias, and
era-based exposure gaps ("old films are never recommended") are a known concern of movie
recommenders. ``provider="popularity"`` uses instead the usual short-head split: ``head``
for the top 20% of items by distinct train users, ``tail`` for the rest (then provider
fairness measures popularity exposure, overlapping the ``popularity_bias`` auditor).

Errors: a missing folder or file, a malformed line, an unknown code in a sensitive column,
an empty ratings file, a rating off the 1-5 whole-star scale or a timestamp outside
0..4102444800 (1970 to 2100) raises :class:`~recaudit.errors.DatasetError` naming the
file, the table, the column and the offending 1-based line numbers. A repeated
(user, item) pair keeps its latest rating by timestamp (ties: the later line); the dropped
repeats, items nobody rated and users without any train interaction are counted in
``data.notes`` (shown in the report).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ._dataset import AuditDataset, leave_last_out
from ._readers import ints, line_numbers, read_lines, read_ratings

URLS = {
    "ml-100k": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    "ml-1m": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
}

#: The 19 genre flags of ``u.item``, in file order (as listed in ``u.genre``).
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

#: ML-1M ``users.dat`` age codes (README of ml-1m).
AGE_CODES_1M = {1: "under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49",
                50: "50-55", 56: "56+"}
AGE_GROUPS = tuple(AGE_CODES_1M.values())

#: ML-1M ``users.dat`` occupation codes (README of ml-1m).
OCCUPATIONS_1M = {
    0: "other", 1: "academic/educator", 2: "artist", 3: "clerical/admin",
    4: "college/grad student", 5: "customer service", 6: "doctor/health care",
    7: "executive/managerial", 8: "farmer", 9: "homemaker", 10: "K-12 student",
    11: "lawyer", 12: "programmer", 13: "retired", 14: "sales/marketing", 15: "scientist",
    16: "self-employed", 17: "technician/engineer", 18: "tradesman/craftsman",
    19: "unemployed", 20: "writer",
}

#: ML-100K occupations (the content of ``u.occupation``; used when that file is absent).
OCCUPATIONS_100K = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment",
    "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none",
    "other", "programmer", "retired", "salesman", "scientist", "student", "technician",
    "writer",
)

GENDER_CODES = {"F": "female", "M": "male"}
#: The rating scale of both releases: whole stars 1 to 5 (README of ml-100k and ml-1m).
RATING_SCALE = (1, 5)
#: Timestamps are Unix seconds from 0 (1970-01-01) up to 2100-01-01 00:00 UTC.
TIMESTAMP_MAX = 4_102_444_800
SENSITIVE = ("gender", "age_group", "occupation")
HEAD_SHARE = 0.2

ProviderKind = Literal["era", "popularity"]

LAYOUT_100K = ("an 'ml-100k' folder holding u.data (user<TAB>item<TAB>rating<TAB>timestamp), "
               "u.item (24 '|'-separated fields: id|title|release date|video release date|"
               "IMDb URL|19 genre flags) and u.user (id|age|gender|occupation|zip)")
LAYOUT_1M = ("an 'ml-1m' folder holding ratings.dat (UserID::MovieID::Rating::Timestamp), "
             "movies.dat (MovieID::Title::Genres) and users.dat "
             "(UserID::Gender::Age::Occupation::Zip-code)")


#: Loader name -> (the release's folder name, its files, a name for reports).
MOVIELENS_LAYOUTS = {"movielens_100k": ("ml-100k", ("u.data", "u.item", "u.user"), "MovieLens 100K"),
           "movielens_1m": ("ml-1m", ("ratings.dat", "movies.dat", "users.dat"),
                            "MovieLens 1M")}


def movielens_layout(path: str | Path) -> str:
    """Which MovieLens release a folder holds, from the files present.

    ``path`` may be the release folder itself (``u.data``, ``u.item``, ``u.user`` for 100K;
    ``ratings.dat``, ``movies.dat``, ``users.dat`` for 1M) or a folder holding exactly one of
    ``ml-100k/`` and ``ml-1m/``. Returns the loader's name, ``"movielens_100k"`` or
    ``"movielens_1m"``; raises :class:`~recaudit.errors.DatasetError` naming the folder and
    the files expected otherwise.

    Examples
    --------
    >>> movielens_layout("~/data/ml-1m")                    # doctest: +SKIP
    'movielens_1m'
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DatasetError(f"MovieLens folder {str(root)!r} {what}; expected an ML-100K folder "
                           "(u.data, u.item, u.user) or an ML-1M folder (ratings.dat, "
                           "movies.dat, users.dat)")
    here = [k for k, (_, files, _) in MOVIELENS_LAYOUTS.items() if all((root / f).is_file() for f in files)]
    if len(here) == 1:
        return here[0]
    inside = [k for k, (sub, files, _) in MOVIELENS_LAYOUTS.items()
              if all((root / sub / f).is_file() for f in files)]
    if not here and len(inside) == 1:
        return inside[0]
    if here or inside:
        raise DatasetError(f"{str(root)!r} holds both MovieLens 100K and 1M; pass the ml-100k "
                           "or the ml-1m folder itself")
    partial = [f"{name}: found {', '.join(f for f in files if (root / f).is_file())}, "
               f"missing {', '.join(f for f in files if not (root / f).is_file())}"
               for _, files, name in MOVIELENS_LAYOUTS.values()
               if any((root / f).is_file() for f in files)]
    found = f" ({'; '.join(partial)})" if partial else ""
    raise DatasetError(f"{str(root)!r} is neither an ML-100K folder (u.data, u.item, u.user) "
                       f"nor an ML-1M folder (ratings.dat, movies.dat, users.dat){found}; pass "
                       "the folder unzipped from ml-100k.zip or ml-1m.zip")


# ---------------------------------------------------------------------------- helpers
def _resolve(path: str | Path, folder: str, required: Sequence[str], layout: str,
             download: bool) -> Path:
    """The folder that holds ``required``: ``path`` itself or ``path/folder``."""
    root = Path(path).expanduser()
    for cand in (root, root / folder):
        if all((cand / f).is_file() for f in required):
            return cand
    if download:
        _download(URLS[folder], root)
        if all((root / folder / f).is_file() for f in required):
            return root / folder
    if not root.exists():
        raise DatasetError(f"folder {str(root)!r} does not exist; expected {layout}. "
                           f"Pass download=True to fetch {URLS[folder]}")
    base = root / folder if (root / folder).is_dir() else root
    missing = [f for f in required if not (base / f).is_file()]
    raise DatasetError(f"missing file(s) {missing} in {str(base)!r}; expected {layout}. "
                       f"Pass download=True to fetch {URLS[folder]}")


def _download(url: str, root: Path) -> None:
    """Fetch the official zip with urllib and extract it under ``root`` (only when asked)."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / url.rsplit("/", 1)[-1]
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(target, "wb") as fh:
                shutil.copyfileobj(resp, fh)
        except OSError as exc:
            raise DatasetError(f"could not download {url}: {exc}. Download and unzip it "
                               f"into {str(root)!r} by hand") from exc
        try:
            with zipfile.ZipFile(target) as zf:
                zf.extractall(root)
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"{url} did not return a valid zip file: {exc}") from exc


def _unknown_code(values: Sequence, lines: np.ndarray, allowed, file: Path, table: str,
                  column: str) -> None:
    bad = np.array([v not in allowed for v in values], dtype=bool)
    if bad.any():
        codes = sorted({str(v) for v, b in zip(values, bad) if b})
        raise DatasetError(f"unknown code(s) {codes} in {file.name}; expected one of "
                           f"{sorted(map(str, allowed))}; rows are 1-based line numbers "
                           f"in {file}", table=table, column=column, rows=lines[bad].tolist())


def _duplicates(ids: np.ndarray, lines: np.ndarray, file: Path, table: str,
                column: str) -> None:
    dup = pd.Series(ids).duplicated(keep="first").to_numpy()
    if dup.any():
        raise DatasetError(f"duplicate id(s) {sorted(set(ids[dup].tolist()))[:5]} in "
                           f"{file.name}; rows are 1-based line numbers in {file}",
                           table=table, column=column, rows=lines[dup].tolist())


def _no_empty_titles(items: pd.DataFrame, lines: np.ndarray, file: Path) -> None:
    empty = (items["title"] == "").to_numpy()
    if empty.any():
        raise DatasetError(f"empty title(s) in {file.name}; rows are 1-based line numbers in "
                           f"{file}", table="items", column="title", rows=lines[empty].tolist())


def _unknown_ref(ids: np.ndarray, known: np.ndarray, lines: np.ndarray | None, file: Path,
                 column: str, what: str, source: str) -> None:
    bad = ~np.isin(ids, known)
    if bad.any():
        raise DatasetError(f"rating(s) in {file.name} with {what} id(s) "
                           f"{sorted(set(ids[bad].tolist()))[:5]} not in {source}; rows are "
                           f"1-based line numbers in {file}", table="interactions",
                           column=column, rows=line_numbers(lines, bad))


def _out_of_range(values: np.ndarray, bad: np.ndarray, lines: np.ndarray | None, file: Path,
                  column: str, expected: str) -> None:
    if bad.any():
        shown = [v.item() for v in pd.unique(values[bad])[:5]]
        raise DatasetError(f"{column}(s) {shown} in {file.name} out of range; expected "
                           f"{expected}; rows are 1-based line numbers in {file}",
                           table="interactions", column=column,
                           rows=line_numbers(lines, bad))


def _latest_per_pair(ratings: pd.DataFrame, lines: np.ndarray | None, file: Path,
                     notes: list[str]) -> pd.DataFrame:
    """``ratings`` with one row per (user, item): the latest by timestamp, ties to the later
    line. MovieLens never repeats a pair, so a repeat is a re-rating appended to the file;
    the dropped rows are counted in ``notes`` with their first line numbers."""
    u, i = ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy()
    u_lo, i_lo = int(u.min()), int(i.min())
    i_span = int(i.max()) - i_lo + 1
    # one int64 per pair hashes 3-5x faster than two columns; too wide to pack: the columns
    pairs = (pd.Series((u - u_lo) * i_span + (i - i_lo))
             if (int(u.max()) - u_lo + 1) * i_span < 2 ** 63
             else ratings[["user_id", "item_id"]].reset_index(drop=True))
    if not pairs.duplicated().any():
        return ratings
    by_time = np.argsort(ratings["timestamp"].to_numpy(), kind="stable")  # ties: file order
    dropped = np.zeros(len(ratings), dtype=bool)
    dropped[by_time[pairs.iloc[by_time].duplicated(keep="last").to_numpy()]] = True
    at = line_numbers(lines, dropped)
    notes.append(f"{len(at)} repeated (user, item) rating(s) in {file.name} dropped, keeping "
                 f"each pair's latest by timestamp (ties: the later line); line(s) "
                 f"{at[:5]}{' ...' if len(at) > 5 else ''}")
    return ratings[~dropped].reset_index(drop=True)


def _checked_ratings(file: Path, sep: str, user_ids: np.ndarray, item_ids: np.ndarray,
                     users_file: str, items_file: str, notes: list[str]) -> pd.DataFrame:
    """The ratings file, read and checked: not empty, ratings on the 1-5 scale, timestamps
    in [0, 2100-01-01), ids known to the other files; repeated pairs reduced to the latest
    (counted in ``notes``)."""
    ratings, lines = read_ratings(file, sep)
    if ratings.empty:
        raise DatasetError(f"no ratings in {file.name}: the file is empty or holds only "
                           f"blank lines ({file})", table="interactions")
    r = ratings["rating"].to_numpy()
    lo, hi = RATING_SCALE
    _out_of_range(r, (r < lo) | (r > hi) | (r != np.round(r)), lines, file, "rating",
                  f"whole stars {lo} to {hi}, MovieLens' scale")
    t = ratings["timestamp"].to_numpy()
    _out_of_range(t, (t < 0) | (t > TIMESTAMP_MAX), lines, file, "timestamp",
                  f"Unix seconds from 0 to {TIMESTAMP_MAX} (2100-01-01)")
    _unknown_ref(ratings["user_id"].to_numpy(), user_ids, lines, file, "user_id", "user",
                 users_file)
    _unknown_ref(ratings["item_id"].to_numpy(), item_ids, lines, file, "item_id", "item",
                 items_file)
    return _latest_per_pair(ratings, lines, file, notes)


def age_group(age: int) -> str:
    """Bin an age in years into the ML-1M age groups (``under 18`` ... ``56+``)."""
    edges = (18, 25, 35, 45, 50, 56)
    return AGE_GROUPS[int(np.searchsorted(edges, age, side="right"))]


def era(year: int) -> str:
    """Release era used as the provider group: ``pre-1970``, ``1970s`` ... or ``unknown``."""
    if year < 0:
        return "unknown"
    if year < 1970:
        return "pre-1970"
    return f"{year // 10 * 10}s"


_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _title_year(title: str) -> int:
    m = _YEAR.search(title)
    return int(m.group(1)) if m else -1


# ---------------------------------------------------------------------------- assembly
def _id_strings(ids: np.ndarray) -> np.ndarray:
    """``ids`` as strings, one ``str`` object per distinct id shared by all its rows.

    A million interactions then hold a million pointers to a few thousand strings, not a
    million strings (``astype(str)`` makes one object per row: about 50 bytes each).
    """
    codes, uniques = pd.factorize(ids)
    return np.array([str(u) for u in uniques], dtype=object)[codes]


def _assemble(items: pd.DataFrame, users: pd.DataFrame, ratings: pd.DataFrame, *,
              name: str, provider: ProviderKind, min_rating: float | None,
              allowed: dict[str, Sequence[str]], notes: Sequence[str] = ()) -> AuditDataset:
    """The dataset from the parsed tables; takes ``ratings`` over (pass no other reference
    to it, so that it is freed as soon as the interactions are built). ``notes`` come
    first in ``data.notes`` (the reading's, e.g. repeated pairs dropped)."""
    notes = list(notes)
    if min_rating is not None:
        keep = ratings["rating"] >= min_rating
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} rating(s) below min_rating={min_rating} "
                         "dropped")
        ratings = ratings[keep]
    unrated = ~items["item_id"].isin(ratings["item_id"].unique())
    if unrated.any():
        notes.append(f"{int(unrated.sum())} item(s) with no ratings dropped")
        items = items[~unrated]
    items = items.assign(item_id=items["item_id"].astype(str))
    users = users.assign(user_id=users["user_id"].astype(str))
    inter = pd.DataFrame({"user_id": _id_strings(ratings["user_id"].to_numpy()),
                          "item_id": _id_strings(ratings["item_id"].to_numpy()),
                          "rating": ratings["rating"].to_numpy(),
                          "timestamp": ratings["timestamp"].to_numpy()}, copy=False)
    del ratings
    # sorted by the string ids (AuditDataset's order), stable: ties keep file order
    inter = leave_last_out(inter)
    has_train = inter.loc[inter["split"] == "train", "user_id"].unique()
    no_hist = ~users["user_id"].isin(has_train)
    if no_hist.any():
        notes.append(f"{int(no_hist.sum())} user(s) with no train history dropped")
        users = users[~no_hist]
    if provider == "era":
        items["provider"] = [era(y) for y in items["year"]]
    elif provider == "popularity":
        train = inter[inter["split"] == "train"]
        pop = train.groupby("item_id")["user_id"].nunique().reindex(items["item_id"],
                                                                     fill_value=0)
        n_head = max(1, int(round(HEAD_SHARE * len(items))))
        head = set(pop.sort_values(ascending=False, kind="stable").index[:n_head])
        items["provider"] = np.where(items["item_id"].isin(head), "head", "tail")
    else:
        raise ValueError(f"provider must be 'era' or 'popularity', got {provider!r}")
    data = AuditDataset(items.reset_index(drop=True), users.reset_index(drop=True), inter,
                        sensitive=SENSITIVE, allowed_values=allowed, name=name,
                        notes=notes, meta={"source": name, "provider": provider})
    return data


# ---------------------------------------------------------------------------- 100K
def movielens_100k(path: str | Path, *, download: bool = False,
                   provider: ProviderKind = "era",
                   min_rating: float | None = None) -> AuditDataset:
    """Load MovieLens 100K from the original files (``u.data``, ``u.item``, ``u.user``).

    Parameters
    ----------
    path : str or Path
        The ``ml-100k`` folder, or a folder containing it.
    download : bool
        Fetch and unzip the official archive into ``path`` when the files are not there
        (network needed; never used by the tests).
    provider : {"era", "popularity"}
        How the item provider group is derived (see the module docstring).
    min_rating : float, optional
        Keep only ratings at or above this value (e.g. 4 for "liked"); default keeps all.

    Examples
    --------
    >>> data = movielens_100k("~/data/ml-100k")            # doctest: +SKIP
    >>> data.sensitive                                      # doctest: +SKIP
    ('gender', 'age_group', 'occupation')
    """
    folder = _resolve(path, "ml-100k", ("u.data", "u.item", "u.user"), LAYOUT_100K,
                      download)

    # u.item: id|title|release date|video release date|URL|19 flags (latin-1)
    f = folder / "u.item"
    rows, lines = read_lines(f, "|", 5 + len(GENRES_100K), "items", "latin-1")
    ids = ints([r[0] for r in rows], lines, f, "items", "item_id")
    _duplicates(ids, lines, f, "items", "item_id")
    flags = np.array([r[5:] for r in rows], dtype=object).reshape(len(rows),
                                                                  len(GENRES_100K))
    bad = ~np.isin(flags, ["0", "1"]).all(axis=1)
    if bad.any():
        raise DatasetError(f"malformed line(s) in {f.name}: the 19 genre flags must be 0 or "
                           f"1; rows are 1-based line numbers in {f}", table="items",
                           column="genres", rows=lines[bad].tolist())
    on = flags == "1"
    genres = ["|".join(g for g, b in zip(GENRES_100K, row) if b) for row in on]
    dates = pd.to_datetime(pd.Series([r[2] for r in rows]), format="%d-%b-%Y",
                           errors="coerce")
    years = [int(d.year) if not pd.isna(d) else _title_year(r[1])
             for d, r in zip(dates, rows)]
    items = pd.DataFrame({"item_id": ids, "title": [r[1].strip() for r in rows],
                          "genres": genres, "year": years,
                          "release_date": [r[2] for r in rows]})
    _no_empty_titles(items, lines, f)

    # u.user: id|age|gender|occupation|zip
    f = folder / "u.user"
    rows, lines = read_lines(f, "|", 5, "users", "latin-1")
    uids = ints([r[0] for r in rows], lines, f, "users", "user_id")
    _duplicates(uids, lines, f, "users", "user_id")
    ages = ints([r[1] for r in rows], lines, f, "users", "age")
    genders = [r[2].strip() for r in rows]
    _unknown_code(genders, lines, GENDER_CODES, f, "users", "gender")
    occ_file = folder / "u.occupation"
    occupations = OCCUPATIONS_100K
    if occ_file.is_file():
        occupations = tuple(x.strip() for x in occ_file.read_text("latin-1").splitlines()
                            if x.strip())
    occ = [r[3].strip() for r in rows]
    _unknown_code(occ, lines, set(occupations), f, "users", "occupation")
    users = pd.DataFrame({"user_id": uids, "gender": [GENDER_CODES[g] for g in genders],
                          "age_group": [age_group(a) for a in ages], "occupation": occ,
                          "age": ages, "zip": [r[4].strip() for r in rows]})

    # u.data: user \t item \t rating \t timestamp
    f = folder / "u.data"
    notes: list[str] = []  # filled while reading the ratings (evaluated before notes=)
    # the ratings frame passed straight in: no name here keeps it alive during assembly
    return _assemble(items, users, _checked_ratings(f, "\t", uids, ids, "u.user", "u.item",
                                                    notes),
                     notes=notes, name="movielens-100k", provider=provider,
                     min_rating=min_rating,
                     allowed={"gender": tuple(GENDER_CODES.values()),
                              "age_group": AGE_GROUPS, "occupation": occupations})


# ---------------------------------------------------------------------------- 1M
def movielens_1m(path: str | Path, *, download: bool = False,
                 provider: ProviderKind = "era",
                 min_rating: float | None = None) -> AuditDataset:
    """Load MovieLens 1M from the original files (``ratings.dat``, ``movies.dat``,
    ``users.dat``, ``::``-separated, latin-1).

    Age codes 1/18/25/35/45/50/56 become the groups ``under 18`` ... ``56+`` and occupation
    codes 0-20 their names (``OCCUPATIONS_1M``), as documented in the ml-1m README.

    Parameters
    ----------
    path : str or Path
        The ``ml-1m`` folder, or a folder containing it.
    download : bool
        Fetch and unzip the official archive into ``path`` when the files are not there.
    provider : {"era", "popularity"}
        How the item provider group is derived (see the module docstring).
    min_rating : float, optional
        Keep only ratings at or above this value; default keeps all.

    Examples
    --------
    >>> data = movielens_1m("~/data/ml-1m")                 # doctest: +SKIP
    >>> data.attribute_values("gender")                     # doctest: +SKIP
    ['female', 'male']
    """
    folder = _resolve(path, "ml-1m", ("ratings.dat", "movies.dat", "users.dat"), LAYOUT_1M,
                      download)

    f = folder / "movies.dat"
    rows, lines = read_lines(f, "::", 3, "items", "latin-1")
    ids = ints([r[0] for r in rows], lines, f, "items", "item_id")
    _duplicates(ids, lines, f, "items", "item_id")
    titles = [r[1].strip() for r in rows]
    items = pd.DataFrame({"item_id": ids, "title": titles,
                          "genres": [r[2].strip() for r in rows],
                          "year": [_title_year(t) for t in titles]})
    _no_empty_titles(items, lines, f)

    f = folder / "users.dat"
    rows, lines = read_lines(f, "::", 5, "users", "latin-1")
    uids = ints([r[0] for r in rows], lines, f, "users", "user_id")
    _duplicates(uids, lines, f, "users", "user_id")
    genders = [r[1].strip() for r in rows]
    _unknown_code(genders, lines, GENDER_CODES, f, "users", "gender")
    ages = ints([r[2] for r in rows], lines, f, "users", "age_group")
    _unknown_code(ages.tolist(), lines, AGE_CODES_1M, f, "users", "age_group")
    occ = ints([r[3] for r in rows], lines, f, "users", "occupation")
    _unknown_code(occ.tolist(), lines, OCCUPATIONS_1M, f, "users", "occupation")
    users = pd.DataFrame({"user_id": uids, "gender": [GENDER_CODES[g] for g in genders],
                          "age_group": [AGE_CODES_1M[a] for a in ages],
                          "occupation": [OCCUPATIONS_1M[o] for o in occ],
                          "zip": [r[4].strip() for r in rows]})

    f = folder / "ratings.dat"
    notes: list[str] = []  # filled while reading the ratings (evaluated before notes=)
    # the ratings frame passed straight in: no name here keeps it alive during assembly
    return _assemble(items, users, _checked_ratings(f, "::", uids, ids, "users.dat",
                                                    "movies.dat", notes),
                     notes=notes, name="movielens-1m", provider=provider,
                     min_rating=min_rating,
                     allowed={"gender": tuple(GENDER_CODES.values()),
                              "age_group": AGE_GROUPS,
                              "occupation": tuple(OCCUPATIONS_1M.values())})
