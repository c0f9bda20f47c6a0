"""HotFlip token ranking on a small random GPT-2 (transformers + tokenizers, offline)."""

from __future__ import annotations

import numpy as np
import pytest

import recaudit as ra
from recaudit.errors import CapabilityError
from recaudit.perturbations import hotflip_tokens
from recaudit.testing.zoo.robustness import RobustTitleModel


def _random_lm(data):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = list(data.items["title"]) + ["I have watched: Next I will watch: Choose one of "
                                         "these candidates: the and of a x y"] * 3
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=fast.vocab_size, n_positions=512, n_embd=32,
                                    n_layer=1, n_head=2))
    return ra.models.HFRecommender((lm, fast), data)


@pytest.mark.slow  # builds a transformers model
def test_hotflip_ranks_tokens_that_raise_the_title_likelihood():
    data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    model = _random_lm(data)
    target = data.item_ids[5]
    reqs = [data.request(u, candidates=data.item_ids[:8]) for u in data.user_ids[:2]]
    title = data.titles[target]
    words = hotflip_tokens(model, data, reqs, target, title, n=200)
    assert len(words) >= 10 and all(w.isalpha() and len(w) >= 3 for w in words)

    def loglik(word: str) -> float:
        t = f"{title} {word}"
        rs = [r.replace(item_text={target: t}) for r in reqs]
        return -float(np.sum(model.nll(rs, [target] * len(rs))))

    top = np.mean([loglik(w) for w in words[:5]])
    bottom = np.mean([loglik(w) for w in words[-5:]])
    assert top > bottom  # the gradient ranking points the right way


def test_hotflip_needs_gradients(small_world):
    req = small_world.request(small_world.user_ids[0])
    with pytest.raises(CapabilityError, match="gradients"):
        hotflip_tokens(RobustTitleModel(small_world), small_world, [req],
                       small_world.item_ids[0], "x")
