"""``from_frames`` validation (one test per case), ``leave_last_out`` and ``popularity``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recaudit as ra
from recaudit.errors import DatasetError


def frames():
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"],
                          "title": ["Alpha (1990)", "Beta (1991)", "Gamma (1992)", "Delta (1993)"],
                          "genres": ["Drama", "Comedy|Drama", "Action", ""],
                          "provider": ["p", "q", "p", "q"]})
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "gender": ["female", "male", "male"]})
    inter = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3", "u1", "u3"],
                          "item_id": ["a", "b", "a", "c", "b", "c", "a"],
                          "timestamp": [1, 2, 5, 3, 9, 3, 10],
                          "split": ["train", "train", "train", "test", "train", "test", "test"]})
    return items, users, inter


def build(items=None, users=None, inter=None, **kw):
    i, u, x = frames()
    return ra.datasets.from_frames(items if items is not None else i,
                                   users if users is not None else u,
                                   inter if inter is not None else x,
                                   sensitive=kw.pop("sensitive", ["gender"]), **kw)


def where(exc):
    return exc.value.table, exc.value.column, exc.value.rows


def test_from_frames_builds_and_converts_ids():
    items, users, inter = frames()
    items["item_id"] = [10, 11, 12, 13]
    inter["item_id"] = [10, 11, 10, 12, 11, 12, 10]
    data = build(items=items, inter=inter)
    assert data.item_ids == ("10", "11", "12", "13")
    assert data.train_histories == {"u1": ("10", "11"), "u2": ("10",), "u3": ("11",)}
    assert data.test_items == {"u1": ("12",), "u2": ("12",), "u3": ("10",)}
    assert data.user_attributes("u2") == {"gender": "male"}
    assert data.genres("11") == ("Comedy", "Drama") and data.genres("13") == ()
    assert data.summary()["n_test"] == 3
    assert data.request("u1", candidates=["12", "13"]).history == ("10", "11")


def test_from_frames_leaves_the_callers_frames_as_they_were():
    items, users, inter = frames()
    items["item_id"] = [10, 11, 12, 13]  # ints: the dataset converts its own copy to str
    inter["item_id"] = [10, 11, 10, 12, 11, 12, 10]
    before = [df.copy() for df in (items, users, inter)]
    data = build(items=items, users=users, inter=inter)
    for df, old in zip((items, users, inter), before):
        pd.testing.assert_frame_equal(df, old)
    # the dataset sorted its own copy by user, then time
    assert data.interactions["user_id"].tolist() == ["u1", "u1", "u1", "u2", "u2", "u3", "u3"]
    assert data.interactions["timestamp"].tolist() == [1, 2, 3, 3, 5, 9, 10]


def test_popularity_counts_distinct_train_users_only():
    items, users, inter = frames()
    # u1 interacts with "a" twice in train: counted once; test interactions never count
    inter = pd.concat([inter, pd.DataFrame({"user_id": ["u1"], "item_id": ["a"],
                                            "timestamp": [0], "split": ["train"]})])
    data = build(inter=inter)
    assert data.popularity.to_dict() == {"a": 2, "b": 2, "c": 0, "d": 0}
    assert list(data.popularity.index) == list(data.item_ids)


def test_leave_last_out_by_timestamp():
    inter = pd.DataFrame({"user_id": ["x", "x", "x", "y", "z", "z"],
                          "item_id": ["1", "2", "3", "4", "5", "6"],
                          "timestamp": [30, 10, 20, 5, 7, 7]})
    out = ra.datasets.leave_last_out(inter)
    split = dict(zip(out["item_id"], out["split"]))
    # x's latest (t=30) is test; y has one interaction and keeps it in train;
    # z's tie at t=7 keeps file order, so the later row ("6") is held out
    assert split == {"1": "test", "2": "train", "3": "train", "4": "train", "5": "train",
                     "6": "test"}
    out2 = ra.datasets.leave_last_out(inter, n_test=2)
    assert sorted(out2.loc[out2["split"] == "test", "item_id"]) == ["1", "3"]


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("table,column", [("items", "title"), ("items", "provider"),
                                          ("users", "gender"), ("interactions", "timestamp"),
                                          ("interactions", "split")])
def test_missing_column(table, column):
    parts = dict(zip(("items", "users", "inter"), frames()))
    key = "inter" if table == "interactions" else table
    parts[key] = parts[key].drop(columns=[column])
    with pytest.raises(DatasetError, match="missing required column") as exc:
        build(parts["items"], parts["users"], parts["inter"])
    assert where(exc)[:2] == (table, column)


def test_duplicate_item_id():
    items, _, _ = frames()
    items.loc[3, "item_id"] = "b"
    with pytest.raises(DatasetError, match="duplicate") as exc:
        build(items=items)
    assert where(exc) == ("items", "item_id", [3])


def test_duplicate_user_id():
    _, users, _ = frames()
    users.loc[2, "user_id"] = "u1"
    with pytest.raises(DatasetError, match="duplicate") as exc:
        build(users=users)
    assert where(exc) == ("users", "user_id", [2])


def test_interaction_with_unknown_user():
    _, _, inter = frames()
    inter.loc[4, "user_id"] = "ghost"
    with pytest.raises(DatasetError, match="unknown user") as exc:
        build(inter=inter)
    assert where(exc) == ("interactions", "user_id", [4])
    assert "ghost" in str(exc.value)


def test_interaction_with_unknown_item():
    _, _, inter = frames()
    inter.loc[[1, 6], "item_id"] = "zzz"
    with pytest.raises(DatasetError, match="unknown item") as exc:
        build(inter=inter)
    assert where(exc) == ("interactions", "item_id", [1, 6])


def test_user_with_no_train_history():
    _, _, inter = frames()
    inter.loc[4, "split"] = "test"  # u3 then only has test interactions
    with pytest.raises(DatasetError, match="no train history") as exc:
        build(inter=inter)
    assert where(exc) == ("users", "user_id", [2])
    assert "u3" in str(exc.value)


@pytest.mark.parametrize("table,column,row", [("items", "title", 1), ("users", "gender", 0),
                                              ("interactions", "timestamp", 5),
                                              ("interactions", "item_id", 2)])
def test_nan(table, column, row):
    parts = dict(zip(("items", "users", "inter"), frames()))
    key = "inter" if table == "interactions" else table
    parts[key].loc[row, column] = np.nan
    with pytest.raises(DatasetError, match="NaN") as exc:
        build(parts["items"], parts["users"], parts["inter"])
    assert where(exc) == (table, column, [row])


def test_nan_rating():
    _, _, inter = frames()
    inter["rating"] = [5.0, 4.0, np.nan, 3.0, 2.0, 1.0, 4.0]
    with pytest.raises(DatasetError, match="NaN") as exc:
        build(inter=inter)
    assert where(exc) == ("interactions", "rating", [2])


def test_unknown_code_in_sensitive_column():
    _, users, _ = frames()
    users.loc[1, "gender"] = "D"
    with pytest.raises(DatasetError, match="unknown code") as exc:
        build(users=users, allowed_values={"gender": ["female", "male"]})
    assert where(exc) == ("users", "gender", [1])
    assert "['D']" in str(exc.value)


def test_bad_split_value():
    _, _, inter = frames()
    inter.loc[0, "split"] = "valid"
    with pytest.raises(DatasetError, match="split") as exc:
        build(inter=inter)
    assert where(exc) == ("interactions", "split", [0])


def test_empty_title():
    items, _, _ = frames()
    items.loc[2, "title"] = "  "
    with pytest.raises(DatasetError, match="empty title") as exc:
        build(items=items)
    assert where(exc) == ("items", "title", [2])


def test_not_a_dataframe():
    with pytest.raises(DatasetError, match="DataFrame"):
        build(items=[{"item_id": "a"}])


def test_error_message_names_table_column_rows():
    _, users, _ = frames()
    users.loc[1, "gender"] = None
    with pytest.raises(DatasetError) as exc:
        build(users=users)
    assert str(exc.value).startswith("table 'users', column 'gender', rows [1]:")
