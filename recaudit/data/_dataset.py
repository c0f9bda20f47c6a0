"""``AuditDataset``: the items, users and interactions an audit runs on, validated."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DatasetError

ITEM_COLUMNS = ("item_id", "title", "genres", "provider")
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "split")
SPLITS = frozenset({"train", "test"})


def _require_columns(df: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(
            f"missing required column(s) {missing}; found {list(df.columns)}",
            table=table, column=missing[0])


def _no_nan(df: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    for col in columns:
        bad = df.index[df[col].isna()].tolist()
        if bad:
            raise DatasetError(f"{len(bad)} missing value(s) (NaN)", table=table, column=col,
                               rows=bad)


def _unique(df: pd.DataFrame, table: str, column: str) -> None:
    dup = df.index[df[column].duplicated(keep="first")].tolist()
    if dup:
        ids = df.loc[dup, column].tolist()[:5]
        raise DatasetError(f"duplicate id(s) {ids}", table=table, column=column, rows=dup)


def _sorted_by_user_time(inter: pd.DataFrame) -> bool:
    """Whether ``inter`` is already in ``(user_id, timestamp)`` order (a stable sort would
    leave it as it is)."""
    users = inter["user_id"].to_numpy(dtype=object)
    times = inter["timestamp"].to_numpy()
    if len(users) < 2:
        return True
    same, later = users[1:] == users[:-1], users[1:] > users[:-1]
    return bool(np.all(later | (same & (times[1:] >= times[:-1]))))


@dataclass(eq=False)
class AuditDataset:
    """Items, users and interactions, validated on construction.

    Ids are stored as strings. ``interactions`` carry a ``split`` in {train, test}; item
    popularity is derived from the train split only (number of distinct train users).

    Parameters
    ----------
    items : DataFrame
        ``item_id``, ``title``, ``genres`` ("|"-separated), ``provider``; more text columns
        are kept.
    users : DataFrame
        ``user_id`` and the sensitive attribute columns.
    interactions : DataFrame
        ``user_id``, ``item_id``, ``timestamp``, ``split`` and optionally ``rating``.
    sensitive : sequence of str
        Which ``users`` columns are sensitive attributes.
    allowed_values : mapping, optional
        Per sensitive column, the codes that are valid; any other value is an error.
    name : str
        A short name used in reports.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=50, n_items=40, seed=0)
    >>> data.popularity.loc[data.item_ids[0]] >= 0
    True
    """

    items: pd.DataFrame
    users: pd.DataFrame
    interactions: pd.DataFrame
    sensitive: tuple[str, ...] = ()
    allowed_values: dict[str, Sequence[str]] | None = None
    name: str = "dataset"
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sensitive = tuple(self.sensitive)
        self.items = self._validate_items(self.items)
        self.users = self._validate_users(self.users)
        self.interactions = self._validate_interactions(self.interactions)

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _validate_items(items: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(items, pd.DataFrame):
            raise DatasetError(f"expected a pandas DataFrame, got {type(items).__name__}",
                               table="items")
        _require_columns(items, "items", ITEM_COLUMNS)
        items = items.reset_index(drop=True).copy()
        _no_nan(items, "items", ITEM_COLUMNS)
        items["item_id"] = items["item_id"].astype(str)
        items["title"] = items["title"].astype(str)
        items["genres"] = items["genres"].astype(str)
        items["provider"] = items["provider"].astype(str)
        _unique(items, "items", "item_id")
        empty = items.index[items["title"].str.strip() == ""].tolist()
        if empty:
            raise DatasetError("empty title(s)", table="items", column="title", rows=empty)
        return items

    def _validate_users(self, users: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(users, pd.DataFrame):
            raise DatasetError(f"expected a pandas DataFrame, got {type(users).__name__}",
                               table="users")
        _require_columns(users, "users", ("user_id", *self.sensitive))
        users = users.reset_index(drop=True).copy()
        _no_nan(users, "users", ("user_id", *self.sensitive))
        users["user_id"] = users["user_id"].astype(str)
        _unique(users, "users", "user_id")
        for col in self.sensitive:
            users[col] = users[col].astype(str)
            allowed = (self.allowed_values or {}).get(col)
            if allowed is not None:
                allowed = {str(a) for a in allowed}
                bad = users.index[~users[col].isin(allowed)].tolist()
                if bad:
                    codes = sorted(set(users.loc[bad, col]))
                    raise DatasetError(
                        f"unknown code(s) {codes} in sensitive attribute; expected one of "
                        f"{sorted(allowed)}", table="users", column=col, rows=bad)
        return users

    def _validate_interactions(self, inter: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(inter, pd.DataFrame):
            raise DatasetError(f"expected a pandas DataFrame, got {type(inter).__name__}",
                               table="interactions")
        _require_columns(inter, "interactions", INTERACTION_COLUMNS)
        inter = inter.reset_index(drop=True)
        cols = list(INTERACTION_COLUMNS) + (["rating"] if "rating" in inter.columns else [])
        _no_nan(inter, "interactions", cols)
        inter["user_id"] = inter["user_id"].astype(str)
        inter["item_id"] = inter["item_id"].astype(str)
        inter["split"] = inter["split"].astype(str)
        bad = inter.index[~inter["split"].isin(SPLITS)].tolist()
        if bad:
            raise DatasetError(f"split must be one of {sorted(SPLITS)}", table="interactions",
                               column="split", rows=bad)
        bad = inter.index[~inter["user_id"].isin(set(self.users["user_id"]))].tolist()
        if bad:
            raise DatasetError("interaction(s) with unknown user(s) "
                               f"{sorted(set(inter.loc[bad, 'user_id']))[:5]}",
                               table="interactions", column="user_id", rows=bad)
        bad = inter.index[~inter["item_id"].isin(set(self.items["item_id"]))].tolist()
        if bad:
            raise DatasetError("interaction(s) with unknown item(s) "
                               f"{sorted(set(inter.loc[bad, 'item_id']))[:5]}",
                               table="interactions", column="item_id", rows=bad)
        train_users = inter.loc[inter["split"] == "train", "user_id"].unique()
        no_hist = self.users.index[~self.users["user_id"].isin(train_users)].tolist()
        if no_hist:
            raise DatasetError(
                "user(s) with no train history "
                f"{self.users.loc[no_hist, 'user_id'].tolist()[:5]}; drop them or give them "
                "train interactions", table="users", column="user_id", rows=no_hist)
        if not _sorted_by_user_time(inter):
            inter = inter.sort_values(["user_id", "timestamp"],
                                      kind="stable").reset_index(drop=True)
        return inter

    # ------------------------------------------------------------------ views
    @cached_property
    def item_ids(self) -> tuple[str, ...]:
        """Catalog item ids in table order."""
        return tuple(self.items["item_id"])

    @cached_property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(self.users["user_id"])

    @cached_property
    def titles(self) -> dict[str, str]:
        return dict(zip(self.items["item_id"], self.items["title"]))

    @cached_property
    def providers(self) -> dict[str, str]:
        return dict(zip(self.items["item_id"], self.items["provider"]))

    @cached_property
    def item_index(self) -> dict[str, int]:
        """item id -> position in ``item_ids``."""
        return {i: n for n, i in enumerate(self.item_ids)}

    def genres(self, item_id: str) -> tuple[str, ...]:
        g = self.items.loc[self.item_index[str(item_id)], "genres"]
        return tuple(x for x in g.split("|") if x)

    @cached_property
    def train(self) -> pd.DataFrame:
        return self.interactions[self.interactions["split"] == "train"]

    @cached_property
    def test(self) -> pd.DataFrame:
        return self.interactions[self.interactions["split"] == "test"]

    @cached_property
    def train_histories(self) -> dict[str, tuple[str, ...]]:
        """user id -> train item ids, oldest first."""
        return {u: tuple(g["item_id"]) for u, g in self.train.groupby("user_id", sort=False)}

    @cached_property
    def test_items(self) -> dict[str, tuple[str, ...]]:
        """user id -> held-out item ids (users without test interactions are absent)."""
        return {u: tuple(g["item_id"]) for u, g in self.test.groupby("user_id", sort=False)}

    @cached_property
    def popularity(self) -> pd.Series:
        """Distinct train users per item, for every catalog item (0 when never seen)."""
        counts = self.train.groupby("item_id")["user_id"].nunique()
        return counts.reindex(list(self.item_ids), fill_value=0).astype(int).rename("popularity")

    @cached_property
    def _user_rows(self) -> dict[str, int]:
        return {u: n for n, u in enumerate(self.users["user_id"])}

    def user_attributes(self, user_id: str) -> dict[str, str]:
        """The user's sensitive attributes as a dict."""
        row = self.users.iloc[self._user_rows[str(user_id)]]
        return {a: str(row[a]) for a in self.sensitive}

    def attribute_values(self, attribute: str) -> list[str]:
        """Sorted distinct values of a sensitive attribute."""
        if attribute not in self.users.columns:
            raise DatasetError(f"no such user attribute; sensitive ones are {list(self.sensitive)}",
                               table="users", column=attribute)
        return sorted(self.users[attribute].astype(str).unique().tolist())

    def request(self, user_id: str, *, profile: dict[str, str] | None = None,
                candidates: Sequence[str] | None = None, max_history: int | None = None,
                **extra: Any):
        """A :class:`~recaudit.Request` for a user from their train history."""
        from ..contract import Request

        hist = self.train_histories[str(user_id)]
        if max_history is not None:
            hist = hist[-max_history:]
        return Request(str(user_id), history=hist, profile=profile or {},
                       candidates=None if candidates is None else tuple(candidates), **extra)

    # ------------------------------------------------------------------ derived datasets
    def with_interactions(self, interactions: pd.DataFrame, *, name: str | None = None,
                          note: str | None = None) -> AuditDataset:
        """A copy with different interactions (users without train history are dropped)."""
        inter = interactions.copy()
        keep = set(inter.loc[inter["split"] == "train", "user_id"].astype(str))
        users = self.users[self.users["user_id"].isin(keep)]
        notes = list(self.notes)
        dropped = len(self.users) - len(users)
        if dropped:
            notes.append(f"{dropped} user(s) without train history dropped")
        if note:
            notes.append(note)
        return AuditDataset(self.items, users, inter, self.sensitive, self.allowed_values,
                            name or self.name, notes, dict(self.meta))

    def subset_users(self, user_ids: Iterable[str], *, name: str | None = None) -> AuditDataset:
        """Only these users (and their interactions); the catalog is unchanged."""
        ids = {str(u) for u in user_ids}
        users = self.users[self.users["user_id"].isin(ids)]
        inter = self.interactions[self.interactions["user_id"].isin(ids)]
        return AuditDataset(self.items, users, inter, self.sensitive, self.allowed_values,
                            name or self.name, list(self.notes), dict(self.meta))

    def fingerprint(self) -> str:
        """A content hash of the three tables and the sensitive list."""
        h = hashlib.sha256()
        for df in (self.items, self.users, self.interactions):
            h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
            h.update(",".join(map(str, df.columns)).encode())
        h.update("|".join(self.sensitive).encode())
        return h.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        pop = self.popularity.to_numpy()
        n_train = int((self.interactions["split"] == "train").sum())
        return {
            "name": self.name,
            "n_users": len(self.users),
            "n_items": len(self.items),
            "n_interactions": len(self.interactions),
            "n_train": n_train,
            "n_test": len(self.interactions) - n_train,
            "sensitive": list(self.sensitive),
            "density": round(n_train / max(1, len(self.users) * len(self.items)), 5),
            "max_popularity": int(pop.max()) if len(pop) else 0,
            "share_items_never_seen": float(np.mean(pop == 0)) if len(pop) else 0.0,
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (f"AuditDataset({s['name']!r}: {s['n_users']} users, {s['n_items']} items, "
                f"{s['n_train']} train / {s['n_test']} test interactions, "
                f"sensitive={list(self.sensitive)})")


def from_frames(items: pd.DataFrame, users: pd.DataFrame, interactions: pd.DataFrame,
                sensitive: Sequence[str] = (), *, name: str = "frames",
                allowed_values: dict[str, Sequence[str]] | None = None) -> AuditDataset:
    """Build an :class:`AuditDataset` from three DataFrames (validated).

    Examples
    --------
    >>> import pandas as pd
    >>> items = pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"],
    ...                       "genres": ["x", "y"], "provider": ["p", "q"]})
    >>> users = pd.DataFrame({"user_id": ["u"], "gender": ["F"]})
    >>> inter = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"],
    ...                       "timestamp": [1, 2], "split": ["train", "test"]})
    >>> from_frames(items, users, inter, sensitive=["gender"]).summary()["n_test"]
    1
    """
    return AuditDataset(items, users, interactions, tuple(sensitive), allowed_values, name)


def leave_last_out(interactions: pd.DataFrame, n_test: int = 1) -> pd.DataFrame:
    """Assign ``split``: each user's last ``n_test`` interactions by timestamp go to test.

    Users with at most ``n_test`` interactions keep them all in train.
    """
    inter = interactions.sort_values(["user_id", "timestamp"], kind="stable")
    counts = inter.groupby("user_id")["item_id"].transform("size")
    order = inter.groupby("user_id").cumcount(ascending=False)
    test = ((order < n_test) & (counts > n_test)).to_numpy()
    inter["split"] = np.array(["train", "test"], dtype=object)[test.astype(np.intp)]
    return inter.reset_index(drop=True)
