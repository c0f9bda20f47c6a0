"""An audit killed half-way (SIGKILL) re-uses every answer it had already cached."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import recaudit as ra
from recaudit.engine import CachedRecommender, RequestCache
from recaudit.testing.zoo import ScoringModel

N_USERS, BATCH = 40, 5

CHILD = textwrap.dedent("""
    import sys, time
    import recaudit as ra
    from recaudit.engine import CachedRecommender
    from recaudit.testing.zoo import ScoringModel

    class Slow(ScoringModel):
        def rank(self, requests, k):
            out = super().rank(requests, k)
            with open(sys.argv[2], "a") as log:
                log.write(str(len(requests)) + "\\n")
            time.sleep(0.3)
            return out

    data = ra.datasets.synthetic(n_users=NUSERS, n_items=40, seed=7)
    eng = CachedRecommender(Slow(data), cache=sys.argv[1], batch_size=BATCH, progress=False)
    eng.rank([data.request(u) for u in data.user_ids], 10)
    print("finished")
""").replace("NUSERS", str(N_USERS)).replace("BATCH", str(BATCH))


class Slow(ScoringModel):  # same class name, so the same fingerprint as the child's
    def __init__(self, data, **kw):
        super().__init__(data, **kw)
        self.seen = 0

    def rank(self, requests, k):
        self.seen += len(requests)
        return super().rank(requests, k)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_killed_audit_resumes_from_cache(tmp_path):
    script, log, db = tmp_path / "child.py", tmp_path / "batches.log", tmp_path / "c.sqlite"
    script.write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(log)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for 3 batches to reach the model
        if log.exists() and len(log.read_text().split()) >= 3:
            break
        if proc.poll() is not None:
            pytest.fail(f"child exited early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    data = ra.datasets.synthetic(n_users=N_USERS, n_items=40, seed=7)
    model = Slow(data)
    stored = RequestCache(db).count(model.fingerprint(), "rank")
    started = len(log.read_text().split())
    # every batch that returned before the kill was committed; the one running was not
    assert BATCH * 2 <= stored < N_USERS
    assert stored % BATCH == 0 and stored >= BATCH * (started - 1) - BATCH

    eng = CachedRecommender(model, cache=db, batch_size=BATCH, progress=False)
    reqs = [data.request(u) for u in data.user_ids]
    out = eng.rank(reqs, 10)
    assert eng.cost().cache_hits == stored
    assert model.seen == N_USERS - stored
    assert out == ScoringModel(data).rank(reqs, 10)
