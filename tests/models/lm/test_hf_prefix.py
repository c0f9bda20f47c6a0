"""Prompt-prefix sharing: prompts of one batch that share a long prefix encode it once
(a small random GPT-2, no training)."""

from __future__ import annotations

import numpy as np

from recaudit.models import Request
from recaudit.models.lm._hf_scoring import shared_prefix_groups

from .test_hf import _reference_logprob, folder, world  # noqa: F401  (fixtures)
from .test_hf_batching import _CountCalls, lm  # noqa: F401  (fixture)


def test_groups_by_hand():
    a = [1, 2, 3, 4, 5, 6]
    b = [1, 2, 3, 4, 9, 9, 9]
    c = [1, 2, 3, 4, 5, 7]
    d = [8, 8, 8]
    groups = shared_prefix_groups([a, b, c, d], min_shared=4)
    # a, c share 5 tokens, b shares 4 with both: one group whose prefix is 4 tokens
    assert sorted((p, sorted(r)) for p, r in groups) == [(0, [3]), (4, [0, 1, 2])]
    # a prompt that is the whole shared prefix keeps its last token for itself
    groups = shared_prefix_groups([[1, 2, 3], [1, 2, 3, 4]], min_shared=2)
    assert groups == [(2, [0, 1])]
    # below the threshold, or switched off: singletons only
    assert all(p == 0 for p, _ in shared_prefix_groups([a, b, c, d], min_shared=6))
    assert all(p == 0 for p, _ in shared_prefix_groups([a, b, c, d], min_shared=0))


def _variants(world, n_users=3, n_cand=5, seed=0):  # noqa: F811
    """Per user: candidate orders and extra sentences, all after a long shared history."""
    rng = np.random.default_rng(seed)
    out = []
    for u in world.user_ids[:n_users]:
        hist = tuple(world.train_histories[u][:8])
        cand = tuple(rng.choice(world.item_ids, size=n_cand, replace=False))
        for extra in ("", "I like it short.", "Something new, please, something different."):
            out.append(Request(u, history=hist, candidates=cand, prompt_extra=extra))
        out.append(Request(u, history=hist, candidates=cand[::-1]))
    return out


def test_shared_prefixes_are_encoded_once_and_scores_equal_unshared(lm, world,  # noqa: F811
                                                                    monkeypatch):
    reqs = _variants(world)
    prompts = [lm._encode(lm.render(r)) for r in reqs]
    groups = [g for g in shared_prefix_groups(prompts, 32) if g[0] > 0]
    assert len(groups) >= 3  # each user's four prompts share their history at least
    counter = _CountCalls(lm.model)
    try:
        shared = lm.score(reqs)
    finally:
        counter.handle.remove()
    # the prefixes (one row per group or lone prompt), every row's suffix, then the titles
    assert counter.rows[0] < len(reqs) and counter.rows[1] == len(reqs)
    for req, s in zip(reqs, shared):
        ref = [_reference_logprob(lm, req, c)[0] for c in req.candidates]
        np.testing.assert_allclose(s, ref, rtol=0, atol=1e-4)
    monkeypatch.setenv("RECAUDIT_PREFIX_SHARING", "0")
    counter = _CountCalls(lm.model)
    try:
        plain = lm.score(reqs)
    finally:
        counter.handle.remove()
    assert counter.rows[0] == len(reqs)  # one plain prompt pass
    for a, b in zip(shared, plain):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def test_whole_catalog_rankings_agree_with_sharing_off(lm, world, monkeypatch):  # noqa: F811
    reqs = [r.replace(candidates=None) for r in _variants(world, n_users=2)]
    shared = lm.rank(reqs, k=5)
    monkeypatch.setenv("RECAUDIT_PREFIX_SHARING", "0")
    plain = lm.rank(reqs, k=5)
    for a, b in zip(shared, plain):
        np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-4)
