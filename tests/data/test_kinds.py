"""Dataset kinds: the built-in table, and a third-party kind plugged in through the
``recaudit.datasets`` entry points and named in a spec like a built-in."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import recaudit as ra
from recaudit.cli import main
from recaudit.data._kinds import (
    DATASET_KINDS,
    DatasetKind,
    build_dataset,
    dataset_kind,
    dataset_kind_names,
)
from recaudit.errors import SpecError
from recaudit.spec import load_spec


def test_builtin_kinds_and_their_keys():
    assert dataset_kind_names()[:3] == ["synthetic", "movielens_100k", "movielens_1m"]
    assert dataset_kind("synthetic").keys == (
        "kind", "n_users", "n_items", "seed", "effects", "min_interactions",
        "max_interactions", "taste", "name")
    assert dataset_kind("movielens_100k").required == {
        "path": "the folder with the MovieLens files"}
    data = build_dataset({"kind": "synthetic", "n_users": 20, "n_items": 25, "seed": 1,
                          "effects": {"popularity": 0.0}})
    assert len(data.user_ids) == 20 and len(data.item_ids) == 25
    with pytest.raises(ra.UnknownNameError, match="Did you mean 'synthetic'"):
        dataset_kind("synthetik")


def _tiny_world(opts, resolve_path):
    return ra.datasets.synthetic(n_users=opts.get("users", 30), n_items=40, seed=0,
                                 name="tiny_world")


TINY = DatasetKind("tiny_world", "a 30-user synthetic world", _tiny_world, ("kind", "users"),
                   types={"users": (int, 10)})
LOADED: list = []


def folder_loader(path, users: int = 30):
    """Reads nothing: records the resolved path (a third-party loader function)."""
    LOADED.append(path)
    return ra.datasets.synthetic(n_users=users, n_items=40, seed=0)


@pytest.fixture(autouse=True)
def plugged(monkeypatch):
    points = [SimpleNamespace(name="tiny_world", load=lambda: TINY),
              SimpleNamespace(name="folder", load=lambda: folder_loader)]
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: points if group == "recaudit.datasets" else [])
    monkeypatch.setattr(DATASET_KINDS, "_objects", dict(DATASET_KINDS._objects))
    LOADED.clear()


def _spec(dataset):
    return {"dataset": dataset, "model": {"kind": "most_popular"},
            "auditors": [{"name": "popularity_bias", "params": {"n_users": 20}}],
            "run": {"n_bootstrap": 20, "cache": False, "progress": False}}


def test_a_plugged_kind_validates_like_a_builtin():
    assert dataset_kind_names() == ["synthetic", "movielens_100k", "movielens_1m", "folder",
                                    "tiny_world"]
    assert load_spec(_spec({"kind": "tiny_world", "users": 25})).dataset == {
        "kind": "tiny_world", "users": 25}
    with pytest.raises(SpecError, match=r"dataset: unknown key 'dataset\.user'\. Did you "
                                        r"mean 'users'\?"):
        load_spec(_spec({"kind": "tiny_world", "user": 25}))
    with pytest.raises(SpecError, match=r"dataset\.users: must be >= 10, got 5"):
        load_spec(_spec({"kind": "tiny_world", "users": 5}))
    with pytest.raises(SpecError, match=r"dataset\.kind: unknown kind 'tiny_wrld'\. Did you "
                                        r"mean 'tiny_world'\? Allowed: synthetic, "
                                        r"movielens_100k, movielens_1m, folder, tiny_world"):
        load_spec(_spec({"kind": "tiny_wrld"}))
    assert build_dataset({"kind": "tiny_world", "users": 12}).name == "tiny_world"
    assert len(build_dataset({"kind": "tiny_world", "users": 12}).user_ids) == 12


def test_a_loader_function_is_keyed_by_its_signature():
    assert dataset_kind("folder").keys == ("kind", "path", "users")
    assert dataset_kind("folder").description.startswith("Reads nothing")
    with pytest.raises(SpecError, match="unknown key 'dataset.usres'. Did you mean 'users'"):
        load_spec(_spec({"kind": "folder", "path": "x", "usres": 3}))
    build_dataset({"kind": "folder", "path": "data/x", "users": 11},
                  resolve_path=lambda p: Path("/base") / p)
    assert LOADED == [Path("/base/data/x")]


def test_audit_a_plugged_dataset_from_a_spec_file(tmp_path, capsys):
    (tmp_path / "specs").mkdir()
    path = tmp_path / "specs" / "folder.yaml"
    spec = _spec({"kind": "folder", "path": "ml", "users": 25})
    spec["output"] = {"json": str(tmp_path / "out.json")}
    path.write_text(yaml.safe_dump(spec))
    assert main(["audit", str(path), "--no-progress"]) in (0, 1)  # ran: passed or failed
    assert LOADED == [tmp_path / "specs" / "ml"]  # the path is relative to the spec file
    assert (tmp_path / "out.json").exists()
