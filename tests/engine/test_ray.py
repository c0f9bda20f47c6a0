"""RayExecutor on a local two-worker Ray cluster: same answers as the local executor, one
shared cache, and no answer lost when a worker dies mid-run.

One module-scoped cluster serves every test (Ray takes 10-20 s to start); it is shut down
after the module so no Ray process outlives these tests.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import recaudit as ra
from recaudit.engine import CachedRecommender, RayExecutor, RequestCache
from recaudit.testing.zoo import ScoringModel

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starting Ray alone takes > 5 s


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 ** 2,
             log_to_driver=False, logging_level="error",
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    ex = RayExecutor(num_workers=2).start()
    try:
        yield ex
    finally:
        ex.close()
        ray.shutdown()


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=60, n_items=50, seed=3)


def _requests(data):
    reqs = [data.request(u, max_history=5) for u in data.user_ids]
    scored = [data.request(u, candidates=data.item_ids[:12]) for u in data.user_ids[:30]]
    return reqs, scored


def _answers(engine, data):
    reqs, scored = _requests(data)
    targets = [data.item_ids[n % len(data.item_ids)] for n in range(len(reqs))]
    return (engine.rank(reqs + reqs[:7], 10), engine.score(scored),
            engine.nll(reqs, targets))


def _same(a, b):
    ranks_a, scores_a, nll_a = a
    ranks_b, scores_b, nll_b = b
    assert ranks_a == ranks_b  # items and scores, exactly
    assert all(np.array_equal(x, y) for x, y in zip(scores_a, scores_b))
    assert len(scores_a) == len(scores_b)
    np.testing.assert_array_equal(nll_a, nll_b)


def test_answers_equal_the_local_executor_exactly(cluster, world):
    model = ScoringModel(world)
    local = CachedRecommender(model, cache=False, progress=False, batch_size=8)
    remote = CachedRecommender(model, cache=False, progress=False, batch_size=8,
                               executor=cluster)
    _same(_answers(remote, world), _answers(local, world))
    cost = remote.cost()
    assert cost.unique == 60 + 30 + 60 and cost.model_calls == 8 + 4 + 8
    # every worker loaded the model (once) under its fingerprint
    loaded = ray.get([w.loaded.remote() for w in cluster.workers])
    assert any(model.fingerprint() in names for names in loaded)


def test_audit_metrics_equal_the_local_executor(cluster, world):
    model = ScoringModel(world)
    auditors = [("popularity_bias", {"n_users": 40}), ("provider_fairness", {"n_users": 30})]
    config = {"n_bootstrap": 100, "n_permutations": 100, "batch_size": 16}
    local = ra.audit(model, world, auditors, config, cache=False, progress=False)
    remote = ra.audit(model, world, auditors, config, cache=False, progress=False,
                      executor=cluster)
    got = [(m.auditor, m.name, m.scope, m.value, m.ci_low, m.ci_high, m.p_value)
           for m in remote.metrics]
    want = [(m.auditor, m.name, m.scope, m.value, m.ci_low, m.ci_high, m.p_value)
            for m in local.metrics]
    assert [r.status for r in remote.results] == ["ok", "ok"]
    assert got == want and len(got) > 5
    assert remote.cost.model_calls > 0


def test_cache_is_shared_between_executors(cluster, world, tmp_path):
    model = ScoringModel(world, seed=1)
    path = tmp_path / "answers.sqlite"
    remote = CachedRecommender(model, cache=path, progress=False, batch_size=8,
                               executor=cluster)
    first = _answers(remote, world)
    # a new process-local engine on the same file: everything from cache, no model call
    local = CachedRecommender(model, cache=RequestCache(path), progress=False, batch_size=8)
    again = _answers(local, world)
    _same(again, first)
    assert local.cost().model_calls == 0 and local.cost().cache_hits == local.cost().unique
    # and back: answers the local executor stored serve the Ray one
    other = ScoringModel(world, seed=2)
    CachedRecommender(other, cache=RequestCache(path), progress=False).rank(
        _requests(world)[0], 10)
    back = CachedRecommender(other, cache=RequestCache(path), progress=False,
                             executor=cluster)
    back.rank(_requests(world)[0], 10)
    assert back.cost().model_calls == 0 and back.cost().cache_hits == 60


class CrashOnce(ScoringModel):
    """Kills its own worker process (like an OOM kill) on the first batch it answers after
    the marker file is armed; a restarted worker reloads the model and carries on."""

    def __init__(self, data, marker: str, delay: float = 0.05):
        super().__init__(data)
        self.marker = marker
        self.delay = delay

    def rank(self, requests, k):
        time.sleep(self.delay)
        if os.path.exists(self.marker):
            try:
                os.remove(self.marker)  # only one worker wins the race
            except FileNotFoundError:
                pass
            else:
                os.kill(os.getpid(), 9)
        return super().rank(requests, k)


def test_worker_killed_mid_run_is_replaced_and_no_answer_is_lost(cluster, world, tmp_path):
    marker = tmp_path / "crash"
    marker.write_text("armed")
    model = CrashOnce(world, str(marker))
    reqs = _requests(world)[0]
    pids = set(ray.get([w.pid.remote() for w in cluster.workers]))
    engine = CachedRecommender(model, cache=tmp_path / "c.sqlite", progress=False,
                               batch_size=4, executor=cluster)
    got = engine.rank(reqs, 10)
    assert not marker.exists()  # a worker did die
    want = ScoringModel(world).rank(reqs, 10)
    assert [r.items for r in got] == [r.items for r in want]
    assert engine.cache.count(model.fingerprint(), "rank") == len(reqs)
    assert engine.cost().model_calls == 15  # every batch answered once, none twice
    after = set(ray.get([w.pid.remote() for w in cluster.workers]))
    assert len(after) == 2 and after != pids  # the dead worker was restarted

    # a worker gone for good (no restart) is replaced by a fresh one
    dead = cluster.workers[0]
    ray.kill(dead, no_restart=True)
    again = CachedRecommender(ScoringModel(world, seed=4), cache=False, progress=False,
                              batch_size=4, executor=cluster)
    out = again.rank(reqs, 10)
    assert [r.items for r in out] == [r.items for r in ScoringModel(world, seed=4).rank(
        reqs, 10)]
    assert cluster.workers[0] is not dead and cluster.replaced >= 1


def test_shadow_models_and_plain_functions_run_on_the_workers(cluster, world):
    model = ScoringModel(world, seed=5)
    engine = CachedRecommender(model, cache=False, progress=False, batch_size=8,
                               executor=cluster)
    shadow = engine.fit(world, seed=1)  # a re-trained model: same executor, its own key
    assert shadow.executor is cluster
    reqs = _requests(world)[0]
    assert shadow.rank(reqs, 5) == shadow.model.rank(reqs, 5)
    assert shadow.cost().model_calls >= 8
    # any picklable function runs too (shipped once per run, not per batch)
    out = dict(cluster.run(sum, [[1, 2], [3], [4, 5, 6]]))
    assert out == {0: 3, 1: 3, 2: 15}


def test_a_folder_language_model_travels_as_its_folder(cluster, world, tmp_path):
    # workers load the weights from the folder themselves; answers stay identical
    from recaudit.models import HFRecommender

    from ..models._lm_folder import random_gpt2_folder

    lm = HFRecommender(random_gpt2_folder(world, tmp_path / "gpt2"), world, batch_size=4)
    reqs = [world.request(u, candidates=world.item_ids[:6]) for u in world.user_ids[:12]]
    local = CachedRecommender(lm, cache=False, progress=False, batch_size=4)
    remote = CachedRecommender(lm, cache=False, progress=False, batch_size=4,
                               executor=cluster)
    # a worker runs its own thread count and batch split: log-probabilities agree to the
    # float tolerance of the batching tests, not bitwise
    for a, b in zip(remote.score(reqs), local.score(reqs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
