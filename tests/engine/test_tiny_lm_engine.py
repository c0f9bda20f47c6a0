"""The engine in front of the real adapter path: the tiny GPT-2 (slow: trains once)."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.engine import CachedRecommender


@pytest.mark.slow
def test_engine_is_transparent_on_the_tiny_lm(tiny_lm, tiny_lm_world, tmp_path):
    data = tiny_lm_world
    users = list(data.user_ids[:6])
    reqs = [data.request(u, max_history=8) for u in users]
    cands = tuple(data.item_ids[:8])
    creqs = [r.replace(candidates=cands) for r in reqs]
    targets = [data.test_items[u][0] for u in users]

    eng = CachedRecommender(tiny_lm, cache=tmp_path / "c.sqlite", batch_size=4, progress=False)
    assert eng.fingerprint() == tiny_lm.fingerprint()
    assert eng.capabilities == tiny_lm.capabilities
    got = eng.rank(reqs + reqs[:2], 5)
    direct = tiny_lm.rank(reqs, 5)
    assert got[6:] == got[:2]
    for a, b in zip(got[:6], direct):  # other batch-mates move float scores by ~1e-6
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-5)
        assert len(set(a.items) & set(b.items)) >= 4
    if "score" in eng.capabilities:
        for a, b in zip(eng.score(creqs), tiny_lm.score(creqs)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    if "nll" in eng.capabilities:
        np.testing.assert_allclose(eng.nll(reqs, targets), tiny_lm.nll(reqs, targets),
                                   rtol=1e-4, atol=1e-5)
    first = eng.cost()
    assert first.unique < first.requests  # the two repeated requests were de-duplicated

    again = CachedRecommender(tiny_lm, cache=tmp_path / "c.sqlite", progress=False)
    assert again.rank(reqs, 5) == got[:6]
    assert again.cost().cache_hits == 6 and again.cost().model_calls == 0

    report = ra.audit(tiny_lm, data, [("popularity_bias", {"n_users": 40})],
                      cache=tmp_path / "c.sqlite", progress=False, config={"n_bootstrap": 100})
    res = report["popularity_bias"]
    assert res.status == "ok", res.reason
    assert res.cost.model_seconds > 0 and res.cost.requests >= 40
    assert "<svg" in report.to_html()
