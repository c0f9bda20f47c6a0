"""A random-weight GPT-2 model folder, shared by the HFRecommender and executor tests."""

from __future__ import annotations

from pathlib import Path

from recaudit.models import PromptTemplate


def random_gpt2_folder(world, path: Path) -> Path:
    """A random-weight GPT-2 with a locally trained BPE tokenizer, saved as a model folder."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from recaudit.models.lm._tiny_lm import _train_tokenizer

    t = PromptTemplate()
    texts = [t.render(world.request(u), world.titles) for u in world.user_ids]
    texts += [t.continuation(x) for x in world.titles.values()]
    tok = _train_tokenizer(texts, 400)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=512, n_embd=32,
                                       n_layer=2, n_head=2, eos_token_id=tok.eos_token_id,
                                       bos_token_id=tok.bos_token_id))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
