"""HFRecommender batching: padded prompts of different lengths in one pass, packed titles,
out-of-memory back-off, device and dtype (a small random GPT-2, no training)."""

from __future__ import annotations

import numpy as np
import pytest

from recaudit.models import HFRecommender, Request
from recaudit.models.lm import _hf as hf_mod
from recaudit.testing import assert_rankings_close

from .test_hf import _reference_logprob, folder, world  # noqa: F401  (fixtures)


def _mixed_requests(world, n=6, n_cand=7, seed=0):  # noqa: F811
    """Requests whose prompts all differ in length (history 1..n items, some profiles)."""
    rng = np.random.default_rng(seed)
    out = []
    for j, u in enumerate(world.user_ids[:n]):
        cand = tuple(rng.choice(world.item_ids, size=n_cand, replace=False))
        profile = world.user_attributes(u) if j % 2 else {}
        out.append(Request(u, history=world.train_histories[u][: j + 1], profile=profile,
                           candidates=cand))
    return out


class _CountCalls:
    """Counts the model's forward passes and the largest batch among them."""

    def __init__(self, model):
        self.calls, self.rows = 0, []
        self.handle = model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        self.calls += 1
        self.rows.append(int(kwargs["input_ids"].shape[0]))


@pytest.fixture(scope="module")
def lm(folder, world):  # noqa: F811
    return HFRecommender(folder, world, batch_size=64, device="cpu")


def test_prompts_of_different_lengths_share_one_pass_and_equal_unpadded(lm, world,  # noqa: F811
                                                                        monkeypatch):
    from recaudit.models.lm import _hf as _hf

    reqs = _mixed_requests(world)
    lengths = {len(lm.tokenizer(lm.render(r))["input_ids"]) for r in reqs}
    assert len(lengths) == len(reqs)  # every prompt has its own length
    monkeypatch.setattr(_hf, "_PACKED_LENGTH", 10**6)  # rows as long as the titles need
    counter = _CountCalls(lm.model)
    try:
        scores = lm.score(reqs)
    finally:
        counter.handle.remove()
    # one prompt pass over all requests, one pass for the packed titles
    assert counter.calls == 2 and counter.rows == [len(reqs), len(reqs)]
    for req, s in zip(reqs, scores):
        ref = [_reference_logprob(lm, req, c)[0] for c in req.candidates]
        np.testing.assert_allclose(s, ref, rtol=0, atol=1e-4)
    # rows capped at a few title tokens: more passes, the same scores
    monkeypatch.setattr(_hf, "_PACKED_LENGTH", 8)
    counter = _CountCalls(lm.model)
    try:
        capped = lm.score(reqs)
    finally:
        counter.handle.remove()
    assert counter.calls > 2  # the prompt pass, then several packed passes
    for a, b in zip(capped, scores):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_whole_catalog_and_nll_equal_unpadded(lm, world):  # noqa: F811
    reqs = [r.replace(candidates=None) for r in _mixed_requests(world, n=3, seed=1)]
    ranks = lm.rank(reqs, k=len(world.item_ids))
    for req, r in zip(reqs, ranks):
        assert set(r.items) == set(world.item_ids) - set(req.history)
        ref = np.array([_reference_logprob(lm, req, i)[0] for i in r.items])
        np.testing.assert_allclose(r.scores, ref, rtol=0, atol=1e-4)
    targets = [world.item_ids[5], world.item_ids[17], world.item_ids[30]]
    nll = lm.nll(reqs, targets)
    ref = [-_reference_logprob(lm, q, t)[0] for q, t in zip(reqs, targets)]
    np.testing.assert_allclose(nll, ref, rtol=0, atol=1e-4)


def test_titles_spread_over_passes_and_fallback_agree(lm, folder, world, monkeypatch):  # noqa: F811
    reqs = _mixed_requests(world, n=5, n_cand=9, seed=2)
    expected = lm.score(reqs)
    # a tiny logit budget: the titles of each request need several passes
    monkeypatch.setattr(hf_mod, "_LOGIT_BUDGET", 3 * 64 * len(lm.tokenizer))
    counter = _CountCalls(lm.model)
    try:
        spread = lm.score(reqs)
    finally:
        counter.handle.remove()
    assert counter.calls > 3
    # the fallback for attention without custom masks: the prompt cache copied per title
    copy = HFRecommender((lm.model, lm.tokenizer), world, device="cpu")
    copy._packed = False
    fallback = copy.score(reqs)
    # eager attention takes the additive float mask
    eager = HFRecommender(folder, world, device="cpu")
    eager.model.config._attn_implementation = "eager"
    eager_scores = eager.score(reqs)
    for e, a, b, c in zip(expected, spread, fallback, eager_scores):
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-5)
        np.testing.assert_allclose(b, e, rtol=0, atol=1e-5)
        np.testing.assert_allclose(c, e, rtol=0, atol=1e-5)


def _fake_oom(model, limit, error):
    """Make ``model`` raise ``error`` for any forward pass over more than ``limit`` rows."""
    real = model.forward
    raised = []

    def forward(*args, **kwargs):
        rows = kwargs["input_ids"].shape[0] if "input_ids" in kwargs else args[0].shape[0]
        if rows > limit:
            raised.append(rows)
            raise error
        return real(*args, **kwargs)

    model.forward = forward
    return raised


@pytest.mark.parametrize("error", [
    "torch.cuda.OutOfMemoryError",
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
])
def test_batch_size_backs_off_on_out_of_memory(folder, world, error):  # noqa: F811
    import torch

    exc = (torch.cuda.OutOfMemoryError("CUDA out of memory") if error.startswith("torch")
           else RuntimeError(error.split(": ", 1)[1]))
    reqs = _mixed_requests(world, n=9, n_cand=6, seed=3)
    free = HFRecommender(folder, world, batch_size=8, device="cpu")
    expected = free.score(reqs) + [r.scores for r in free.rank(
        [r.replace(candidates=None) for r in reqs], 5)]
    tight = HFRecommender(folder, world, batch_size=8, device="cpu")
    raised = _fake_oom(tight.model, 2, exc)
    got = tight.score(reqs)
    assert raised == [8, 4]  # 8 -> 4 -> 2, then it fits
    assert tight.effective_batch_size == 2 and tight.oom_backoffs == 2
    got += [r.scores for r in tight.rank([r.replace(candidates=None) for r in reqs], 5)]
    assert raised == [8, 4]  # the size that fitted is remembered: no new failure
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_back_off_gives_up_and_other_errors_pass_through(folder, world):  # noqa: F811
    import torch

    reqs = _mixed_requests(world, n=3, seed=4)
    never = HFRecommender(folder, world, batch_size=4, device="cpu")
    _fake_oom(never.model, 0, torch.cuda.OutOfMemoryError("CUDA out of memory"))
    with pytest.raises(torch.cuda.OutOfMemoryError):
        never.score(reqs)
    assert never.effective_batch_size == 1
    other = HFRecommender(folder, world, batch_size=4, device="cpu")
    _fake_oom(other.model, 0, RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        other.score(reqs)
    assert other.oom_backoffs == 0 and other.effective_batch_size == 4


def test_generate_backs_off_too(folder, world):  # noqa: F811
    import torch

    reqs = [world.request(u) for u in world.user_ids[:4]]
    free = HFRecommender(folder, world, mode="generate", batch_size=4, device="cpu")
    tight = HFRecommender(folder, world, mode="generate", batch_size=4, device="cpu")
    _fake_oom(tight.model, 2 * 2, torch.cuda.OutOfMemoryError("out of memory"))  # 2 beams
    a, b = free.rank(reqs, 2), tight.rank(reqs, 2)
    assert tight.effective_batch_size == 2
    assert_rankings_close(b, a, atol=1e-4)  # batches of 4 and of 2: equal up to near-ties


def test_device_and_dtype_options(folder, world):  # noqa: F811
    import torch

    base = HFRecommender(folder, world, device="cpu")
    assert base.device == "cpu" and base.dtype == "float32"
    assert base.batch_size == "auto" and base.effective_batch_size == hf_mod._AUTO_BATCH["cpu"]
    if not torch.cuda.is_available():
        assert HFRecommender(folder, world).device == "cpu"
        assert HFRecommender(folder, world, device="auto").device == "cpu"
        with pytest.raises(ValueError, match="no CUDA GPU"):
            HFRecommender(folder, world, device="cuda:1")
    with pytest.raises(ValueError, match="device"):
        HFRecommender(folder, world, device="toaster")
    with pytest.raises(ValueError, match="dtype"):
        HFRecommender(folder, world, dtype="int3")
    for bad in (0, -2, 2.5, "big", True):
        with pytest.raises(ValueError, match="batch_size"):
            HFRecommender(folder, world, batch_size=bad)
    # float32 is the reference: naming it keeps the fingerprint; bf16 changes scores and key
    f32 = HFRecommender(folder, world, dtype="float32", device="cpu")
    assert f32.fingerprint() == base.fingerprint()
    bf16 = HFRecommender(folder, world, dtype="bfloat16", device="cpu")
    assert bf16.dtype == "bfloat16"
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    assert bf16.fingerprint() != base.fingerprint()
    assert "bfloat16" in repr(bf16)
    reqs = _mixed_requests(world, n=3, seed=5)
    for a, b in zip(base.score(reqs), bf16.score(reqs)):
        assert not np.array_equal(a, b)
        np.testing.assert_allclose(b, a, rtol=0, atol=0.25)
        assert np.corrcoef(a, b)[0, 1] > 0.9


def test_next_tokens_after_each_title_equal_a_direct_forward(lm, folder, world,  # noqa: F811
                                                            monkeypatch):
    """score_batch(next_tokens=) reads the distribution after each continuation: equal to
    a forward pass over prompt + continuation, on the packed path (one or several passes),
    the expanded fallback and eager attention; the sums are those of the plain call."""
    import dataclasses

    import torch

    from recaudit.models.lm._hf_scoring import score_batch

    reqs = _mixed_requests(world, n=4, n_cand=5, seed=3)
    prompts = [lm._encode(lm.render(r)) for r in reqs]
    conts = [[lm._encode(" " + world.titles[i]) for i in r.candidates] for r in reqs]
    conts[1][2] = []  # an empty continuation: the prompt's own next-token distribution
    conts[2][0] = conts[2][0][:1]  # a one-token continuation
    wanted = (3, 11, 42)
    want = []
    for p, rows in zip(prompts, conts):
        block = []
        for c in rows:
            with torch.no_grad():
                lp = torch.log_softmax(lm.model(input_ids=torch.tensor([p + c])).logits[0]
                                       .float(), -1)
            total = sum(float(lp[len(p) - 1 + j, t]) for j, t in enumerate(c))
            block.append([total, *(float(lp[len(p) + len(c) - 1, t]) for t in wanted)])
        want.append(np.array(block))
    with torch.inference_mode():  # as score_prompts calls it
        plain = score_batch(lm._kernel(), prompts, conts)
    kern = lm._kernel()
    copy = HFRecommender((lm.model, lm.tokenizer), world, device="cpu")
    copy._packed = False
    eager = HFRecommender(folder, world, device="cpu")
    eager.model.config._attn_implementation = "eager"
    for name, k in (("packed", kern), ("several passes", dataclasses.replace(
            kern, packed_length=2)), ("expanded", copy._kernel()), ("eager", eager._kernel())):
        with torch.inference_mode():
            got = score_batch(k, prompts, conts, next_tokens=wanted)
        for g, w, s in zip(got, want, plain):
            assert g.shape == (len(w), 1 + len(wanted)), name
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-4, err_msg=name)
            np.testing.assert_allclose(g[:, 0], s, rtol=0, atol=1e-5, err_msg=name)
