"""Ablations and comparisons reach the model through the spec's executor with the run's
batch size, as an audit does (one engine factory: ``recaudit.engine._factory``).

Before the factory, ``study`` built its engine without them: a spec's ``executor:`` and
``run.batch_size`` were silently ignored by ``recaudit ablate`` and ``recaudit compare``.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from recaudit import runner
from recaudit.engine import EXECUTOR_KINDS
from recaudit.spec import load_spec

LOG: list = []


class RecordingExecutor:
    """Runs batches in this process and logs each batch's size (and when it is closed)."""

    def __init__(self, tag: str = "") -> None:
        self.tag = tag

    def run(self, fn, batches):
        for n, batch in enumerate(batches):
            LOG.append(("batch", self.tag, len(batch[0])))
            yield n, fn(batch)

    def close(self):
        LOG.append(("closed", self.tag, 0))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture(autouse=True)
def plugged(monkeypatch):
    LOG.clear()
    points = [SimpleNamespace(name="recording", load=lambda: RecordingExecutor)]
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: points if group == "recaudit.executors" else [])
    monkeypatch.setattr(EXECUTOR_KINDS, "_objects", dict(EXECUTOR_KINDS._objects))


BASE = {"dataset": {"kind": "synthetic", "n_users": 40, "n_items": 30, "seed": 0},
        "auditors": [{"name": "popularity_bias", "params": {"n_users": 10}}],
        "run": {"batch_size": 3, "n_bootstrap": 50, "n_permutations": 50, "cache": False,
                "progress": False},
        "executor": {"kind": "recording", "tag": "spec"}}


def _batches() -> list[int]:
    return [size for what, tag, size in LOG if what == "batch" and tag == "spec"]


def test_ablation_runs_through_the_specs_executor_with_its_batch_size():
    spec = load_spec({**BASE, "model": {"kind": "most_popular"},
                      "ablation": {"seeds": [0, 1], "utility_users": 7,
                                   "mitigations": {"none": None}}})
    result = runner.run_ablation(spec, progress=False)
    sizes = _batches()
    assert sizes, "no batch reached the spec's executor"
    assert max(sizes) == 3 and min(sizes) >= 1
    # 2 seeds x (10 audited users + 7 utility users), all through the spec's executor
    assert sum(sizes) >= 2 * (10 + 7) - 2  # the same user may be asked twice in one seed
    assert LOG[-1][0] == "closed" and [w for w, *_ in LOG].count("closed") == 1
    assert set(result.table["seed"]) == {0, 1}


def test_comparison_runs_through_the_specs_executor_with_its_batch_size():
    spec = load_spec({**BASE, "models": {"pop": {"kind": "most_popular"},
                                         "rnd": {"kind": "random", "seed": 1}},
                      "compare": {"seeds": [0], "utility_users": 5}})
    result = runner.run_compare(spec, progress=False)
    sizes = _batches()
    assert sizes and max(sizes) == 3
    assert [w for w, *_ in LOG].count("closed") == 1  # one executor for every arm, closed once
    assert set(result.table["model"]) == {"pop", "rnd"}


def test_an_executor_object_is_used_as_given_and_not_closed_by_the_study():
    import recaudit as ra

    data = ra.datasets.synthetic(n_users=30, n_items=20, seed=0)
    mine = RecordingExecutor("mine")
    ra.study({"pop": ra.models.MostPopular(data)}, data,
             [{"name": "popularity_bias", "params": {"n_users": 5}}], seeds=[0],
             config={"batch_size": 2, "n_bootstrap": 20, "n_permutations": 20},
             utility_users=4, cache=False, progress=False, executor=mine)
    sizes = [size for what, tag, size in LOG if tag == "mine" and what == "batch"]
    assert sizes and max(sizes) == 2
    assert ("closed", "mine", 0) not in LOG
