"""A third-party executor plugs in through the ``recaudit.executors`` entry points and is
named in a spec (``executor: {kind: ...}``) like a built-in: validated key by key, built by
``make_executor``, used by the engine."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import recaudit as ra
from recaudit.engine import (
    EXECUTOR_KINDS,
    ExecutorKind,
    executor_kind,
    make_executor,
    validate_executor_spec,
)
from recaudit.errors import SpecError
from recaudit.spec import load_spec
from recaudit.testing.zoo import ScoringModel


class LastFirstExecutor:
    """Runs the batches in this process, the last one first (a third-party executor)."""

    def __init__(self, label: str = "", *, log: list | None = None) -> None:
        self.label = label
        self.log = log if log is not None else []

    def run(self, fn, batches):
        for n in reversed(range(len(batches))):
            self.log.append(n)
            yield n, fn(batches[n])

    def close(self):
        self.log.append("closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"LastFirstExecutor({self.label!r})"


def _check_pool(spec, path):
    if not isinstance(spec.get("size", 1), int) or spec.get("size", 1) < 1:
        raise SpecError(f"{path}.size: expected an integer >= 1, got {spec['size']!r}")


POOL = ExecutorKind("pool", "a pool of LastFirst executors", lambda size=1: LastFirstExecutor(
    f"pool of {size}"), ("kind", "size"), _check_pool)


@pytest.fixture(autouse=True)
def plugged(monkeypatch):
    points = [SimpleNamespace(name="last_first", load=lambda: LastFirstExecutor),
              SimpleNamespace(name="pool", load=lambda: POOL),
              SimpleNamespace(name="broken", load=lambda: 42)]
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: points if group == "recaudit.executors" else [])
    monkeypatch.setattr(EXECUTOR_KINDS, "_objects", dict(EXECUTOR_KINDS._objects))


BASE = {"dataset": {"kind": "synthetic", "n_users": 30, "n_items": 40},
        "model": {"kind": "most_popular"}, "auditors": ["popularity_bias"]}


def test_plugged_kinds_are_listed_and_keyed_by_their_signature():
    assert {"local", "ray", "last_first", "pool"} <= set(EXECUTOR_KINDS)
    assert executor_kind("last_first").keys == ("kind", "label", "log")
    assert executor_kind("last_first").description.startswith("Runs the batches")
    assert executor_kind("pool") is POOL


def test_spec_names_the_plugged_executor():
    spec = load_spec({**BASE, "executor": {"kind": "last_first", "label": "mine"}})
    assert spec.executor == {"kind": "last_first", "label": "mine"}
    assert validate_executor_spec("pool") == {"kind": "pool"}
    with pytest.raises(SpecError, match=r"unknown key 'executor\.lable'\. Did you mean "
                                        r"'label'\? Allowed keys for kind 'last_first': "
                                        r"kind, label, log"):
        load_spec({**BASE, "executor": {"kind": "last_first", "lable": "mine"}})
    with pytest.raises(SpecError, match=r"executor\.kind: unknown executor 'last_frist'\. "
                                        r"Did you mean 'last_first'\?"):
        validate_executor_spec({"kind": "last_frist"})
    with pytest.raises(SpecError, match=r"executor\.size: expected an integer >= 1"):
        validate_executor_spec({"kind": "pool", "size": 0})


def test_make_executor_builds_it_and_the_engine_uses_it():
    ex = make_executor({"kind": "last_first", "label": "mine"})
    assert isinstance(ex, LastFirstExecutor) and ex.label == "mine"
    assert make_executor({"kind": "pool", "size": 3}).label == "pool of 3"
    data = ra.datasets.synthetic(n_users=30, n_items=40, seed=2)
    log: list = []
    rep = ra.audit(ScoringModel(data), data, ["popularity_bias"], cache=False,
                   progress=False, config={"n_bootstrap": 20, "batch_size": 8},
                   executor={"kind": "last_first", "label": "audit", "log": log})
    assert rep["popularity_bias"].status == "ok"
    assert rep.metadata["settings"]["executor"] == "LastFirstExecutor('audit')"
    assert len(log) > 2 and log[0] > 0 and log[-1] == "closed"  # batches ran, last first


def test_an_entry_point_that_is_no_executor_is_refused():
    with pytest.raises(TypeError, match="executor kind 'broken' is registered as 42"):
        validate_executor_spec({"kind": "broken"})
