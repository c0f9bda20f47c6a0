"""Executor choice without a Ray cluster: specs validated key by key, the local executor,
the engine's ModelCall task, and a clear error when Ray is not installed."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import recaudit as ra
from recaudit import runner
from recaudit.engine import (
    CachedRecommender,
    LocalExecutor,
    MissingDependencyError,
    ModelCall,
    RayExecutor,
    make_executor,
    validate_executor_spec,
)
from recaudit.errors import SpecError
from recaudit.spec import load_spec
from recaudit.testing.zoo import ScoringModel


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=40, n_items=40, seed=5)


def test_make_executor_forms():
    assert isinstance(make_executor(None), LocalExecutor)
    assert isinstance(make_executor("local"), LocalExecutor)
    assert isinstance(make_executor({"kind": "local"}), LocalExecutor)
    ex = LocalExecutor()
    assert make_executor(ex) is ex
    ray_ex = make_executor({"kind": "ray", "address": "auto", "num_workers": 3,
                            "gpus_per_worker": 0.5})
    assert isinstance(ray_ex, RayExecutor)  # built, not started: nothing imported yet
    assert (ray_ex.address, ray_ex.num_workers, ray_ex.gpus_per_worker) == ("auto", 3, 0.5)
    assert ray_ex.workers == []


@pytest.mark.parametrize("spec, message", [
    ({"kind": "dask"}, "executor.kind: unknown executor 'dask'"),
    ({"kind": "rya"}, "Did you mean 'ray'"),
    ({"kind": "ray", "workers": 2}, "unknown key 'executor.workers'. Did you mean"),
    ({"kind": "local", "num_workers": 2}, "unknown key 'executor.num_workers'"),
    ({"kind": "ray", "num_workers": 0}, "executor.num_workers: expected an integer >= 1"),
    ({"kind": "ray", "num_workers": True}, "executor.num_workers"),
    ({"kind": "ray", "gpus_per_worker": -1}, "executor.gpus_per_worker: expected a number"),
    ({"kind": "ray", "address": "somewhere"}, "executor.address"),
    ({"kind": "ray", "init": 3}, "executor.init"),
    (["ray"], "executor: expected a mapping"),
])
def test_executor_specs_are_checked_key_by_key(spec, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate_executor_spec(spec)


def test_spec_file_executor_section(tmp_path):
    base = {"dataset": {"kind": "synthetic", "n_users": 30, "n_items": 40},
            "model": {"kind": "most_popular"}, "auditors": ["popularity_bias"]}
    assert load_spec(base).executor is None
    spec = load_spec({**base, "executor": {"kind": "ray", "address": "ray://head:10001",
                                           "num_workers": 4, "gpus_per_worker": 1}})
    assert spec.executor == {"kind": "ray", "address": "ray://head:10001", "num_workers": 4,
                             "gpus_per_worker": 1}
    assert spec.to_dict()["executor"]["num_workers"] == 4
    path = tmp_path / "s.yaml"
    path.write_text("model: {kind: most_popular}\nexecutor: {kind: ray, num_worker: 2}\n")
    with pytest.raises(SpecError, match="unknown key 'executor.num_worker'. Did you mean "
                                        "'num_workers'"):
        load_spec(path)


def test_spec_with_local_executor_runs(tmp_path):
    spec = load_spec({"dataset": {"kind": "synthetic", "n_users": 40, "n_items": 40},
                      "model": {"kind": "most_popular"}, "executor": {"kind": "local"},
                      "auditors": [{"name": "popularity_bias", "params": {"n_users": 30}}],
                      "run": {"n_bootstrap": 50, "cache": False, "progress": False}})
    report = runner.run_audit(spec, progress=False)
    assert report.results[0].status == "ok"
    assert report.metadata["settings"]["executor"] == "LocalExecutor()"


def test_asking_for_ray_without_ray_names_the_extra(monkeypatch, world):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    ex = make_executor({"kind": "ray"})
    with pytest.raises(MissingDependencyError, match=r"pip install 'recaudit\[ray\]'"):
        ex.start()
    engine = CachedRecommender(ScoringModel(world), cache=False, progress=False,
                               executor="ray")
    with pytest.raises(ImportError, match=r"recaudit\[ray\]"):
        engine.rank([world.request("u0001")], 5)
    with pytest.raises(MissingDependencyError):
        ra.audit(ScoringModel(world), world, ["popularity_bias"], cache=False,
                 progress=False, executor={"kind": "ray", "num_workers": 2})


def test_model_call_answers_like_the_model(world):
    model = ScoringModel(world)
    reqs = [world.request(u, candidates=world.item_ids[:6]) for u in world.user_ids[:5]]
    ranks, seconds = ModelCall(model, "rank", "fp")((reqs, [4] * 5))
    assert ranks == model.rank(reqs, 4) and seconds >= 0
    scores, _ = ModelCall(model, "score", "fp")((reqs, [""] * 5))
    assert all(np.array_equal(a, b) for a, b in zip(scores, model.score(reqs)))
    targets = world.item_ids[:5]
    nll, _ = ModelCall(model, "nll", "fp")((reqs, list(targets)))
    np.testing.assert_array_equal(nll, model.nll(reqs, targets))
    with pytest.raises(ValueError, match="unknown model method 'predict'"):
        ModelCall(model, "predict", "fp")((reqs, [1] * 5))


class _Recording:
    """A local executor that records what the engine sends it."""

    def __init__(self):
        self.tasks, self.sizes = [], []

    def run(self, fn, batches):
        self.tasks.append(fn)
        self.sizes.append([len(b[0]) for b in batches])
        yield from LocalExecutor().run(fn, batches)


def test_engine_sends_executors_a_model_call_over_unique_misses(world):
    rec = _Recording()
    model = ScoringModel(world)
    engine = CachedRecommender(model, cache=False, progress=False, batch_size=4,
                               executor=rec)
    reqs = [world.request(u) for u in world.user_ids[:10]]
    first = engine.rank(reqs + reqs, 5)  # 20 requests, 10 unique
    engine.rank(reqs, 5)  # all cached: nothing reaches the executor
    assert all(isinstance(t, ModelCall) for t in rec.tasks)
    assert rec.tasks[0].model is model and rec.tasks[0].key == model.fingerprint()
    assert [s for s in rec.sizes if s] == [[4, 4, 2]]
    assert first == model.rank(reqs + reqs, 5)
