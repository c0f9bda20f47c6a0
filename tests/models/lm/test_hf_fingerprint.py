"""HFRecommender.fingerprint() is the engine's cache key: these values must not change.

A GPT-2 whose weights are set by formula (no random init) and a fixed catalog give the same
fingerprints on every run. A change here means answers cached by earlier versions are no
longer found (or, worse, served for a model that answers differently): change the pins only
on purpose. They hold for the pinned torch/transformers (a new version that changes the
saved weight files or the state-dict names changes the weight hash too).
"""

from __future__ import annotations

import pytest

import recaudit as ra
from recaudit.models import HFRecommender, PromptTemplate

PINNED = {
    "pair": "HFRecommender-e94b95ac78cbf228",
    "pair-generate": "HFRecommender-b5152998ec558e51",
    "pair-length-normalize": "HFRecommender-8e487faca6586aab",
    "pair-max-history-3": "HFRecommender-f6445fc0ca3a8dcd",
    "pair-bf16": "HFRecommender-35e176e712c9e141",
    "folder": "HFRecommender-378ce9047f9d214f",
}


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=10, n_items=20, seed=0)


def _formula_gpt2(tok):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=16,
                                       n_layer=1, n_head=2, eos_token_id=tok.eos_token_id,
                                       bos_token_id=tok.bos_token_id))
    with torch.no_grad():
        for p in model.parameters():
            values = torch.arange(p.numel(), dtype=torch.float32).remainder(7) / 8 - 0.375
            p.copy_(values.reshape(p.shape))
    return model


@pytest.fixture(scope="module")
def tokenizer(world):
    from recaudit.models.lm._tiny_lm import _train_tokenizer

    t = PromptTemplate()
    return _train_tokenizer([t.continuation(x) for x in world.titles.values()], 300)


def test_fingerprints_are_pinned(world, tokenizer, tmp_path):
    got = {
        "pair": HFRecommender((_formula_gpt2(tokenizer), tokenizer), world),
        "pair-generate": HFRecommender((_formula_gpt2(tokenizer), tokenizer), world,
                                       mode="generate", num_beams=3),
        "pair-length-normalize": HFRecommender((_formula_gpt2(tokenizer), tokenizer), world,
                                               length_normalize=True,
                                               exclude_history=False),
        "pair-max-history-3": HFRecommender((_formula_gpt2(tokenizer), tokenizer), world,
                                            template=PromptTemplate(max_history=3)),
        "pair-bf16": HFRecommender((_formula_gpt2(tokenizer), tokenizer), world,
                                   dtype="bfloat16"),
    }
    model = _formula_gpt2(tokenizer)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    got["folder"] = HFRecommender(tmp_path, world)
    assert {name: lm.fingerprint() for name, lm in got.items()} == PINNED
