"""Prompt tuning with peft: a soft prompt on a frozen tiny LM pre-trained on other users."""

from __future__ import annotations

import json

import numpy as np
import pytest

import recaudit as ra
from recaudit.models import SoftPromptConfig, split_users, train_prompt_tuning
from recaudit.testing import check_recommender

pytestmark = pytest.mark.slow

LM = ra.models.TinyLMConfig(epochs=2)
SOFT = SoftPromptConfig(num_virtual_tokens=4, epochs=2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    world = ra.datasets.synthetic(n_users=120, n_items=50, seed=0)
    others, audited = split_users(world, 0.5)
    cache = tmp_path_factory.mktemp("pt_cache")
    model = train_prompt_tuning(audited, others, 0, config=SOFT, lm_config=LM,
                                cache_dir=cache, progress=False)
    return world, others, audited, cache, model


def _reference_nll(model, request, item):
    """-log p(title | prompt) from one un-cached forward pass of the peft model."""
    import torch

    prompt = model.tokenizer(model.render(request), add_special_tokens=False)["input_ids"]
    title = model.tokenizer(model.template.continuation(model.data.titles[item]),
                            add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model.model.peft_model(input_ids=torch.tensor([prompt + title])).logits[0]
    lp = torch.log_softmax(logits[model.model.n_virtual:], -1)
    return -sum(float(lp[len(prompt) - 1 + j, t]) for j, t in enumerate(title))


def test_conformance_and_capabilities(setup):
    _world, _others, audited, _cache, model = setup
    report = check_recommender(model, audited, seed=1)
    assert {"batch_equals_single", "nll", "prompt"} <= set(report["passed"])
    assert {"rank", "score", "nll", "prompt", "train"} <= model.capabilities


def test_scores_are_the_peft_models(setup):
    """Batched, cached scoring (prompts of different lengths, left-padded) equals the peft
    model's own forward pass over prompt + title."""
    _world, _others, audited, _cache, model = setup
    users = list(audited.user_ids[:5])
    reqs = [audited.request(u, max_history=n + 1) for n, u in enumerate(users)]
    items = [audited.test_items[u][0] for u in users]
    got = model.nll(reqs, items)
    want = [_reference_nll(model, r, i) for r, i in zip(reqs, items)]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_lm_is_frozen_and_pretrained_on_the_other_users(setup):
    import torch

    _world, others, _audited, cache, model = setup
    base = ra.models.train_tiny_lm(others, 0, config=LM, cache_dir=cache, progress=False)
    assert model.base_path == base.path
    frozen = model.model.peft_model.get_base_model().state_dict()
    for name, tensor in base.model.state_dict().items():
        assert torch.equal(frozen[name], tensor), name
    meta = json.loads((model.adapter_path / "recaudit_prompt_tuning.json").read_text())
    assert meta["final_loss"] < meta["first_loss"]  # the soft prompt learnt something
    trainable = [n for n, p in model.model.peft_model.named_parameters()
                 if "prompt_encoder" in n]
    assert trainable and model.model.n_virtual == 4


def test_cached_and_guarded(setup, monkeypatch):
    from recaudit.models.paradigms import _prompt_tuning as _prompt_tuning

    world, others, audited, cache, model = setup

    def boom(*a, **k):
        raise AssertionError("re-trained although the adapter is cached")

    monkeypatch.setattr(_prompt_tuning, "_train_soft_prompt", boom)
    again = train_prompt_tuning(audited, others, 0, config=SOFT, lm_config=LM,
                                cache_dir=cache, progress=False)
    assert again.fingerprint() == model.fingerprint()
    with pytest.raises(ValueError, match="share .* user"):
        train_prompt_tuning(world, others, 0, config=SOFT, lm_config=LM, cache_dir=cache)
    with pytest.raises(ValueError, match="mode='score'"):
        train_prompt_tuning(audited, others, 0, config=SOFT, lm_config=LM,
                            cache_dir=cache, progress=False, mode="generate")


def test_auditors_run_on_it(setup):
    _world, _others, audited, _cache, model = setup
    report = ra.audit(model, audited, [{"name": "popularity_bias", "params": {"n_users": 20}},
                                       {"name": "consumer_fairness",
                                        "params": {"n_users": 10, "attributes": ["gender"],
                                                   "intersectional": False}}],
                      config={"n_bootstrap": 100, "n_permutations": 100}, cache=False,
                      progress=False)
    assert [r.status for r in report.results] == ["ok", "ok"]
