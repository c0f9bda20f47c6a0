"""``LoggedRecommender``: audit top-K lists a recommender produced elsewhere (a log file).

Many teams log what their recommender showed: one row per ``user_id, rank, item_id``, and
sometimes a ``condition`` naming the counterfactual prompt the list answered (``gender=female``,
``age_group=young;gender=female``; empty or ``neutral`` = the neutral prompt). A
:class:`LoggedRecommender` answers an auditor's ``rank`` requests from that log and from
nothing else:

- a request for a user and a stated profile the log holds gets the logged list (cut at k);
- a request the log does not hold is never filled in: it gets an empty ranking marked
  ``answered=False`` and is recorded in :attr:`LoggedRecommender.unanswered`; auditors leave
  such users out and say how many and which in their notes;
- a request a log cannot answer by its nature (a ranking of given candidates, changed item
  titles, extra prompt text, a history other than the user's own, whole or its most recent
  items) raises :class:`~recaudit.errors.UnanswerableRequestError`, and the audit reports the
  auditor that sent it as skipped, with the reason.

It declares only ``rank``: auditors needing scores, likelihoods or prompts are skipped.
A malformed log (a missing column, a non-integer rank, a rank given twice or skipped, an id
the catalog does not hold, an unreadable condition) raises a one-line
:class:`~recaudit.errors.DatasetError` naming the file, the row and the column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...contract import BaseRecommender, Ranking, Request, stable_hash
from ...errors import (
    DatasetError,
    MissingDependencyError,
    RequestError,
    UnanswerableRequestError,
)

#: The columns a log must have; ``condition`` is optional.
COLUMNS = ("user_id", "rank", "item_id")
#: Condition texts that mean the neutral prompt (besides an empty cell), case-insensitive.
NEUTRAL = ("neutral", "none")
_SUFFIXES = {".csv": ",", ".tsv": "\t", ".parquet": None, ".pq": None}

Profile = tuple[tuple[str, str], ...]


def condition_label(profile: Mapping[str, str] | Profile) -> str:
    """The ``condition`` text of a stated profile: ``attribute=value`` pairs sorted by
    attribute and joined by ``;``; ``neutral`` for none.

    >>> condition_label({"gender": "female", "age_group": "young"})
    'age_group=young;gender=female'
    >>> condition_label({})
    'neutral'
    """
    pairs = sorted(profile.items() if isinstance(profile, Mapping) else profile)
    return ";".join(f"{a}={v}" for a, v in pairs) or "neutral"


def parse_condition(text: Any) -> Profile:
    """The stated profile a ``condition`` cell names (sorted pairs; ``()`` = neutral).

    >>> parse_condition("gender=female; age_group=young")
    (('age_group', 'young'), ('gender', 'female'))
    >>> parse_condition("neutral"), parse_condition(None)
    ((), ())
    >>> parse_condition("female")
    Traceback (most recent call last):
    ...
    ValueError: 'female' is not attribute=value (e.g. gender=female; join several with ';')
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ()
    text = str(text).strip()
    if not text or text.lower() in NEUTRAL:
        return ()
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        attr, eq, value = part.partition("=")
        attr, value = attr.strip(), value.strip()
        if not eq or not attr or not value:
            raise ValueError(f"{part.strip()!r} is not attribute=value (e.g. gender=female; "
                             "join several with ';')")
        if attr in pairs:
            raise ValueError(f"attribute {attr!r} is stated twice in {text!r}")
        pairs[attr] = value
    return tuple(sorted(pairs.items()))


class _Where:
    """Names a row of the log in an error: the 1-based data row, and the file line for CSV."""

    def __init__(self, source: str, lines: np.ndarray | None) -> None:
        self.source = source
        self.lines = lines

    def error(self, message: str, pos: int, column: str | None) -> DatasetError:
        line = "" if self.lines is None else f" (line {int(self.lines[pos])} of the file)"
        return DatasetError(f"{message}{line}", table=self.source, column=column,
                            rows=[pos + 1])


def _read(path: Path) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The log as a frame of strings (CSV) or as stored (Parquet), with each row's line
    number in a CSV file (``None`` for Parquet)."""
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DatasetError(f"cannot read {suffix or 'a file without a suffix'}: give a .csv, "
                           ".tsv or .parquet file", table=str(path))
    if _SUFFIXES[suffix] is None:
        try:
            return pd.read_parquet(path), None
        except ImportError as exc:
            raise MissingDependencyError(
                f"reading the Parquet file {path} needs pyarrow, which is not installed: "
                "pip install pyarrow, or save the lists as CSV") from exc
    # strings, so ids such as 0042 stay as written; blank lines kept so line numbers hold
    try:
        df = pd.read_csv(path, sep=_SUFFIXES[suffix], dtype=str, keep_default_na=False,
                         skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"not a readable {suffix} file: {str(exc).splitlines()[0]}",
                           table=str(path)) from None
    if not isinstance(df.index, pd.RangeIndex):  # pandas read the extra fields as an index
        raise DatasetError("line 2 has more fields than the header "
                           f"({', '.join(map(str, df.columns))})", table=str(path))
    lines = np.arange(len(df)) + 2  # line 1 is the header
    blank = (df.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    return df.loc[~blank].reset_index(drop=True), lines[~blank]


def _missing(column: pd.Series) -> np.ndarray:
    return (column.isna() | (column.astype(str).str.strip() == "")).to_numpy()


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


class LoggedRecommender(BaseRecommender):
    """Top-K lists logged elsewhere, audited as a model that can only ``rank``.

    Build it with :meth:`from_file` (CSV, TSV or Parquet) or :meth:`from_frame`; in a spec,
    ``model: {kind: lists, path: logs.csv}`` (the path is relative to the spec).

    Parameters
    ----------
    lists : mapping
        ``(user_id, profile) -> item ids best first``; ``profile`` is a sorted tuple of
        ``(attribute, value)`` pairs, ``()`` for the neutral prompt.
    data : AuditDataset
        The dataset the lists were made for (the ids must be its ids).
    name : str
        Where the lists come from (the file), shown in reports and errors.

    Attributes
    ----------
    unanswered : list of (user_id, condition)
        Each request this object was asked and the log holds no list for, once, in the
        order first asked. Requests an audit's cache answered are not asked again; the
        auditors' notes count unanswered requests either way.

    Examples
    --------
    >>> import pandas as pd
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    >>> log = pd.DataFrame({"user_id": ["u0000", "u0000"], "rank": [1, 2],
    ...                     "item_id": ["i0003", "i0007"]})
    >>> model = LoggedRecommender.from_frame(log, data)
    >>> model.rank([data.request("u0000"), data.request("u0001")], 5)[0].items
    ('i0003', 'i0007')
    >>> model.unanswered
    [('u0001', 'neutral')]
    """

    capabilities = frozenset({"rank"})

    def __init__(self, lists: Mapping[tuple[str, Profile], Sequence[str]], data: Any, *,
                 name: str = "data frame") -> None:
        self.data = data
        self.name = str(name)
        self._lists = {(str(u), tuple(p)): tuple(str(i) for i in items)
                       for (u, p), items in lists.items()}
        catalog = data.item_index
        for (u, p), items in self._lists.items():
            bad = [i for i in items if i not in catalog]
            if bad:
                raise DatasetError(f"item id(s) {bad[:5]} of user {u!r} "
                                   f"({condition_label(p)}) are not in the catalog",
                                   table=self.name, column="item_id")
            if len(set(items)) < len(items):
                raise DatasetError(f"user {u!r} ({condition_label(p)}) lists an item twice",
                                   table=self.name, column="item_id")
        users = {u for u, _ in self._lists}
        known = set(data.user_ids)
        if self._lists and not users & known:
            first = sorted(users)[0]
            raise DatasetError(f"none of the {len(users)} logged users is a user of the "
                               f"dataset (first: {first!r}; the dataset's look like "
                               f"{data.user_ids[0]!r}); the ids must be the dataset's",
                               table=self.name, column="user_id")
        self.users = sorted(users & known)
        #: logged users the dataset does not hold (never asked for)
        self.extra_users = sorted(users - known)
        self.conditions = sorted({p for _, p in self._lists}, key=lambda p: (len(p), p))
        self.unanswered: list[tuple[str, str]] = []
        self._seen: set[tuple[str, Profile]] = set()
        self._fingerprint: str | None = None

    # ---------------------------------------------------------------- building
    @classmethod
    def from_frame(cls, df: pd.DataFrame, data: Any, *, name: str = "data frame"
                   ) -> LoggedRecommender:
        """The lists in ``df``: one row per ``user_id, rank, item_id`` (ranks 1, 2, ... per
        user and condition), with an optional ``condition`` column. Errors name ``name``,
        the 1-based row and the column."""
        return cls(_parse(df, data, _Where(str(name), None)), data, name=name)

    @classmethod
    def from_file(cls, path: str | Path, data: Any) -> LoggedRecommender:
        """The lists in a ``.csv``, ``.tsv`` or ``.parquet`` file (Parquet needs pyarrow).
        Errors name the file, the 1-based data row (and the line, for CSV) and the column.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"logged lists file {str(path)!r} not found"
                                    + (" (it is a folder)" if path.is_dir() else ""))
        df, lines = _read(path)
        return cls(_parse(df, data, _Where(str(path), lines)), data, name=str(path))

    # ---------------------------------------------------------------- protocol
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256()
            for (u, p), items in sorted(self._lists.items()):
                h.update(json.dumps([u, p, items], separators=(",", ":")).encode())
            self._fingerprint = "LoggedRecommender-" + stable_hash(
                self.data.fingerprint(), h.hexdigest())
        return self._fingerprint

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        if int(k) < 1:
            raise RequestError(f"k must be >= 1, got {k}")
        requests = list(requests)
        for r in requests:  # the whole batch or nothing
            self._check(r)
        out = []
        for r in requests:
            items = self._lists.get((r.user_id, r.profile))
            if items is None:
                key = (r.user_id, r.profile)
                if key not in self._seen:
                    self._seen.add(key)
                    self.unanswered.append((r.user_id, condition_label(r.profile)))
                out.append(Ranking((), answered=False))
            else:
                out.append(Ranking(items[: int(k)]))
        return out

    def _check(self, r: Request) -> None:
        """Raise for a request no log can answer (whatever lists it holds)."""
        why = ""
        if r.candidates is not None:
            why = (f"rank {len(r.candidates)} given candidates (user {r.user_id!r}): it holds "
                   "lists over the whole catalog (an auditor with an n_candidates option "
                   "runs on it with n_candidates: null)")
        elif r.item_text:
            why = f"show changed item titles (user {r.user_id!r})"
        elif r.prompt_extra:
            why = f"add text to the prompt (user {r.user_id!r})"
        else:
            own = self.data.train_histories.get(r.user_id)
            n = len(r.history)
            if own is not None and (tuple(own[len(own) - n:]) != r.history
                                    or (n == 0 and own)):
                why = (f"answer for another history (user {r.user_id!r}: {n} items that are "
                       f"not the most recent of their {len(own)}): the log holds the lists "
                       "shown for each user's own history")
        if why:
            raise UnanswerableRequestError(
                f"LoggedRecommender ({self.name}) cannot {why}; a log answers only what it "
                "recorded")

    # ---------------------------------------------------------------- description
    @property
    def description(self) -> str:
        """One line for the report: where the lists come from and what they cover."""
        conds = ", ".join(condition_label(p) for p in self.conditions[:6])
        more = f" (+{len(self.conditions) - 6} more)" if len(self.conditions) > 6 else ""
        return (f"top-K lists logged elsewhere ({self.name}): {len(self._lists)} lists of "
                f"{len(self.users)} users, conditions {conds}{more}; requests the log does "
                "not hold are left unanswered")

    @property
    def unanswered_users(self) -> list[str]:
        """The users of :attr:`unanswered`, once each, sorted."""
        return sorted({u for u, _ in self.unanswered})

    def lists(self, condition: str | Mapping[str, str] = "neutral") -> dict[str, tuple[str, ...]]:
        """``user_id -> logged list`` under one condition (a text or a profile mapping)."""
        p = (parse_condition(condition) if isinstance(condition, str)
             else tuple(sorted(condition.items())))
        return {u: items for (u, q), items in self._lists.items() if q == p}

    def __repr__(self) -> str:
        return (f"LoggedRecommender({self.name!r}, lists={len(self._lists)}, "
                f"users={len(self.users)}, conditions="
                f"{[condition_label(p) for p in self.conditions]})")


# ====================================================================== validation
def _parse(df: pd.DataFrame, data: Any, where: _Where) -> dict[tuple[str, Profile], tuple]:
    """``(user_id, profile) -> items`` from a log frame, or a DatasetError naming the first
    bad row and its column."""
    df = df.rename(columns=lambda c: str(c).strip())
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(f"missing column(s) {missing}; a log has one row per "
                           "user_id, rank, item_id (and an optional condition column); it "
                           f"has {list(map(str, df.columns))}", table=where.source,
                           column=missing[0])
    if df.empty:
        raise DatasetError("the log holds no row", table=where.source)
    df = df.reset_index(drop=True)
    for col in COLUMNS:
        if (pos := _first(_missing(df[col]))) is not None:
            raise where.error("empty cell", pos, col)
    users = df["user_id"].astype(str).str.strip().to_numpy()
    items = df["item_id"].astype(str).str.strip().to_numpy()

    raw_rank = df["rank"]
    num = pd.to_numeric(raw_rank.astype(str).str.strip() if raw_rank.dtype == object
                        else raw_rank, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(num) | (num != np.round(num)) | (num < 1)
    if (pos := _first(bad)) is not None:
        raise where.error(f"rank {raw_rank.iloc[pos]!r} is not an integer >= 1; ranks are "
                          "1, 2, ... within each user's list", pos, "rank")
    ranks = num.astype(np.int64)

    catalog = data.item_index
    if (pos := _first(~np.isin(items, list(catalog)))) is not None:
        raise where.error(f"item id {items[pos]!r} is not in the dataset's catalog", pos,
                          "item_id")

    if "condition" in df.columns:
        parsed: dict[Any, Profile] = {}
        cells = df["condition"].tolist()
        for pos, cell in enumerate(cells):
            if cell not in parsed:
                try:
                    parsed[cell] = parse_condition(cell)
                except ValueError as exc:
                    raise where.error(f"condition {exc}", pos, "condition") from None
        conds = [parsed[c] for c in cells]
    else:
        conds = [()] * len(df)
    labels = np.array([condition_label(p) for p in conds], dtype=object)

    key = pd.DataFrame({"u": users, "c": labels, "r": ranks, "i": items})
    for cols, what in ((["u", "c", "r"], "rank"), (["u", "c", "i"], "item_id")):
        dup = key.duplicated(cols, keep="first").to_numpy()
        if (pos := _first(dup)) is not None:
            same = np.flatnonzero((key[cols] == key.loc[pos, cols]).all(axis=1).to_numpy())
            value = int(ranks[pos]) if what == "rank" else str(items[pos])
            raise where.error(
                f"{what} {value!r} appears twice in the list of user {users[pos]!r} "
                f"({labels[pos]}), first in row {int(same[0]) + 1}", pos, what)

    grouped = key.groupby(["u", "c"], sort=False)["r"]
    size, top = grouped.transform("size").to_numpy(), grouped.transform("max").to_numpy()
    if (pos := _first(size != top)) is not None:  # no repeats and ranks >= 1: a gap
        mine = np.flatnonzero(((key["u"] == users[pos]) & (key["c"] == labels[pos])).to_numpy())
        have = set(ranks[mine].tolist())
        gap = next(r for r in range(1, int(top[pos]) + 1) if r not in have)
        after = mine[np.argmin(np.where(ranks[mine] > gap, ranks[mine], np.inf))]
        raise where.error(f"rank {gap} is missing from the list of user {users[pos]!r} "
                          f"({labels[pos]}): ranks must run 1, 2, ..., n without a gap "
                          f"(this row has rank {int(ranks[after])})", int(after), "rank")

    order = np.lexsort((ranks, labels.astype(str), users))
    out: dict[tuple[str, Profile], list[str]] = {}
    for n in order:
        out.setdefault((users[n], conds[n]), []).append(items[n])
    return {k: tuple(v) for k, v in out.items()}
