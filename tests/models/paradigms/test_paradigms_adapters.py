"""Adapter fine-tuning (LoRA) and prompt + LM tuning on a tiny LM pre-trained on other users."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import recaudit as ra
from recaudit.models import (
    LoRAConfig,
    PromptLMConfig,
    train_lora,
    train_prompt_lm_tuning,
)
from recaudit.models.paradigms import _lora as lora_mod
from recaudit.models.paradigms import _prompt_lm_tuning as plm_mod
from recaudit.models.paradigms import _shared as shared
from recaudit.testing import check_recommender

from .._pretrained_arms import FakeBase, gain_over_random, split_world

LM = ra.models.TinyLMConfig(epochs=2, n_embd=32, n_head=2, vocab_size=800)
LORA = LoRAConfig(epochs=2, lr=1e-2)
PLM = PromptLMConfig(num_virtual_tokens=4, epochs=2)
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def world():
    return split_world(120, 60)


@pytest.fixture(scope="module")
def trained(world, tmp_path_factory):
    """Both kinds for both seeds, trained once; the LoRA peft models kept for inspection."""
    _full, others, audited = world
    cache = tmp_path_factory.mktemp("adapters_cache")
    peft_models = {}
    real = lora_mod._train_lora

    def keep(base, *args, **kwargs):
        out = real(base, *args, **kwargs)
        peft_models[args[2]] = out[0]  # by seed
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lora_mod, "_train_lora", keep)
        lora = {s: train_lora(audited, others, s, config=LORA, lm_config=LM, cache_dir=cache,
                              progress=False) for s in SEEDS}
    plm = {s: train_prompt_lm_tuning(audited, others, s, config=PLM, lm_config=LM,
                                     cache_dir=cache, progress=False) for s in SEEDS}
    return {"cache": cache, "lora": lora, "plm": plm, "peft": peft_models}


def _base(world, trained, seed=0):
    _full, others, _audited = world
    return ra.models.train_tiny_lm(others, seed, config=LM, cache_dir=trained["cache"],
                                   progress=False)


# ---------------------------------------------------------------------- cheap: no training
def test_configs_validate_and_normalise():
    assert LoRAConfig(target_modules=["c_attn"]).target_modules == ("c_attn",)
    assert LoRAConfig(target_modules="c_fc").target_modules == ("c_fc",)
    with pytest.raises(ValueError, match="target_modules"):
        LoRAConfig(target_modules=())
    with pytest.raises(ValueError, match="r must be"):
        LoRAConfig(r=0)
    with pytest.raises(ValueError, match="epochs"):
        PromptLMConfig(epochs=0)
    with pytest.raises(ValueError, match="profile_share"):
        LoRAConfig(profile_share=2.0)


@pytest.mark.parametrize("kind, cls", [("lora", LoRAConfig),
                                       ("prompt_lm_tuning", PromptLMConfig)])
def test_cache_folder_has_every_setting(world, tmp_path, kind, cls):
    """Each config field, the seed, the base LM (its fingerprint: weights and so its
    recipe), the data and the sample weights change the folder."""
    _full, others, audited = world
    base = FakeBase("HFRecommender-aaaa")
    ref = shared.arm_folder(tmp_path, kind, audited, base, cls(), 0, None)
    assert ref.parent == tmp_path / kind
    changed = {"r": 4, "alpha": 8.0, "dropout": 0.1, "target_modules": ("c_attn",),
               "epochs": 7, "batch_size": 16, "lr": 1e-4, "profile_share": 0.25,
               "num_virtual_tokens": 3, "init": "random", "init_text": "other",
               "lm_lr": 1e-5, "weight_decay": 0.1}
    names = [f.name for f in dataclasses.fields(cls)]
    assert set(names) <= set(changed)
    folders = {ref}
    for name in names:
        cfg = dataclasses.replace(cls(), **{name: changed[name]})
        folders.add(shared.arm_folder(tmp_path, kind, audited, base, cfg, 0, None))
    folders.add(shared.arm_folder(tmp_path, kind, audited, base, cls(), 1, None))
    folders.add(shared.arm_folder(tmp_path, kind, audited, FakeBase("HFRecommender-bbbb"), cls(),
                                 0, None))
    folders.add(shared.arm_folder(tmp_path, kind, others, base, cls(), 0, None))
    weights = np.ones(len(audited.train))
    folders.add(shared.arm_folder(tmp_path, kind, audited, base, cls(), 0, weights))
    assert len(folders) == len(names) + 5
    assert shared.arm_folder(tmp_path, kind, audited, base, cls(), 0, None) == ref


def test_spec_keys_and_typos():
    from recaudit.models._kinds import model_kind
    from recaudit.spec import load_spec

    for kind, cls in (("lora", LoRAConfig), ("prompt_lm_tuning", PromptLMConfig)):
        entry = model_kind(kind)
        assert entry.needs_pretrain and not entry.in_audit_spec and "lm" in entry.nested
        keys = entry.keys()
        assert {f.name for f in dataclasses.fields(cls)} <= set(keys) and "lm" in keys
        with pytest.raises(ra.SpecError, match="typo_key"):
            load_spec({"models": {"x": {"kind": kind, "typo_key": 1}}})
        with pytest.raises(ra.SpecError, match="epoch"):
            load_spec({"models": {"x": {"kind": kind, "lm": {"epoch": 2}}}})
        load_spec({"models": {"x": {"kind": kind, "epochs": 1, "lm": {"epochs": 2}}}})


def test_needs_pretrain_data(world):
    _full, _others, audited = world
    for kind in ("lora", "prompt_lm_tuning"):
        with pytest.raises(ValueError, match=f"{kind} needs pretrain_data"):
            ra.models.build_paradigm({"kind": kind}, audited)


# ---------------------------------------------------------------------- LoRA
@pytest.mark.slow
def test_lora_trains_only_the_adapter_on_a_frozen_base(world, trained):
    import torch

    for seed in SEEDS:
        model = trained["lora"][seed]
        meta = json.loads((model.adapter_path.parent / "recaudit_lora.json").read_text())
        assert len(meta["epoch_losses"]) == LORA.epochs
        assert meta["epoch_losses"][-1] < meta["epoch_losses"][0]  # it trains
        assert meta["config"]["target_modules"] == list(LORA.target_modules)
        peft_model = trained["peft"][seed]
        grads = [n for n, p in peft_model.named_parameters() if p.requires_grad]
        assert grads and all("lora_" in n for n in grads)
        assert meta["trainable_parameters"] == sum(
            p.numel() for p in peft_model.parameters() if p.requires_grad)
        # the wrapped base's own weights are bitwise the pre-trained ones
        fresh = _base(world, trained, seed)
        assert model.base_path == fresh.path
        inner = {n.replace(".base_layer", ""): t
                 for n, t in peft_model.get_base_model().state_dict().items()
                 if "lora_" not in n}
        for name, tensor in fresh.model.state_dict().items():
            assert torch.equal(inner[name], tensor), name
        # ... while the merged model differs from the base where the adapters sit
        merged = model.model.state_dict()
        assert not torch.equal(merged["transformer.h.0.attn.c_attn.weight"],
                               fresh.model.state_dict()["transformer.h.0.attn.c_attn.weight"])
        assert torch.equal(merged["transformer.wte.weight"],
                           fresh.model.state_dict()["transformer.wte.weight"])


@pytest.mark.slow
def test_lora_merged_scores_equal_the_unmerged_peft_model(world, trained):
    import torch
    from peft import PeftModel

    _full, _others, audited = world
    model = trained["lora"][0]
    base = _base(world, trained, 0)
    unmerged = PeftModel.from_pretrained(base.model, model.adapter_path).eval()
    users = list(audited.user_ids[:5])
    reqs = [audited.request(u, max_history=n + 1) for n, u in enumerate(users)]
    items = [audited.test_items[u][0] for u in users]
    want = []
    for req, item in zip(reqs, items):
        prompt = model.tokenizer(model.render(req), add_special_tokens=False)["input_ids"]
        title = model.tokenizer(model.template.continuation(audited.titles[item]),
                                add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = unmerged(input_ids=torch.tensor([prompt + title])).logits[0]
        lp = torch.log_softmax(logits, -1)
        want.append(-sum(float(lp[len(prompt) - 1 + j, t]) for j, t in enumerate(title)))
    np.testing.assert_allclose(model.nll(reqs, items), want, rtol=1e-5)
    cands = [r.replace(candidates=tuple(audited.item_ids[:12])) for r in reqs]
    assert all(np.isfinite(s).all() for s in model.score(cands))


# ---------------------------------------------------------------------- prompt + LM tuning
@pytest.mark.slow
def test_prompt_lm_tuning_changes_prompt_and_lm(world, trained):
    import torch
    from peft import get_peft_model

    from recaudit.models.paradigms._prompt_tuning import _peft_config

    for seed in SEEDS:
        model = trained["plm"][seed]
        meta = json.loads((model.adapter_path.parent /
                           "recaudit_prompt_lm_tuning.json").read_text())
        assert len(meta["epoch_losses"]) == PLM.epochs
        assert meta["epoch_losses"][-1] < meta["epoch_losses"][0]  # it trains
        fresh = _base(world, trained, seed)
        assert model.pretrained_path == fresh.path and model.base_path != fresh.path
        assert model.model.n_virtual == PLM.num_virtual_tokens
        tuned = model.model.peft_model.get_base_model().state_dict()
        before = fresh.model.state_dict()
        moved = [n for n, t in before.items() if not torch.equal(tuned[n], t)]
        assert len(moved) >= 0.9 * len(before), "the LM's weights should be tuned"
        torch.manual_seed(seed)  # the soft prompt as it was initialised
        init = get_peft_model(fresh.model, _peft_config(PLM, fresh.path))
        start = init.prompt_encoder["default"].embedding.weight
        learnt = model.model.peft_model.prompt_encoder["default"].embedding.weight
        assert start.shape == learnt.shape and not torch.allclose(start, learnt)


@pytest.mark.slow
def test_prompt_lm_tuning_is_score_only(world, trained):
    _full, others, audited = world
    with pytest.raises(ValueError, match="mode='score'"):
        train_prompt_lm_tuning(audited, others, 0, config=PLM, lm_config=LM,
                               cache_dir=trained["cache"], progress=False, mode="generate")


# ---------------------------------------------------------------------- both kinds
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lora", "plm"])
def test_conformance(world, trained, kind):
    _full, _others, audited = world
    model = trained[kind][0]
    report = check_recommender(model, audited, seed=1)
    assert {"batch_equals_single", "nll", "prompt"} <= set(report["passed"])
    assert {"rank", "score", "nll", "prompt", "train"} <= model.capabilities


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lora", "plm"])
def test_beats_random_on_held_out_items(world, trained, kind):
    _full, _others, audited = world
    gains = []
    for seed in SEEDS:
        gain, hr, hr_random = gain_over_random(trained[kind][seed], audited, seed)
        assert hr > hr_random, seed
        gains.append(gain)
    assert min(gains) > 0.05, gains


@pytest.mark.slow
def test_cached_seeded_and_refit(world, trained, monkeypatch):
    _full, others, audited = world

    def boom(*a, **k):
        raise AssertionError("re-trained although the model is cached")

    monkeypatch.setattr(lora_mod, "_train_lora", boom)
    monkeypatch.setattr(plm_mod, "_train_prompt_lm", boom)
    for kind, train, cfg in (("lora", train_lora, LORA), ("plm", train_prompt_lm_tuning, PLM)):
        models = trained[kind]
        again = train(audited, others, 0, config=cfg, lm_config=LM, cache_dir=trained["cache"],
                      progress=False)
        assert again.fingerprint() == models[0].fingerprint()
        assert again.adapter_path == models[0].adapter_path
        assert models[1].fingerprint() != models[0].fingerprint()  # the seed
        assert models[1].adapter_path != models[0].adapter_path
        assert models[0].fit(audited, seed=1).fingerprint() == models[1].fingerprint()
        with pytest.raises(ValueError, match="share .* user"):
            train(_full, others, 0, config=cfg, lm_config=LM, cache_dir=trained["cache"])


@pytest.mark.slow
def test_a_config_change_changes_the_model(world, trained):
    _full, others, audited = world
    lora = train_lora(audited, others, 0, config=dataclasses.replace(LORA, r=4, epochs=1),
                      lm_config=LM, cache_dir=trained["cache"], progress=False)
    assert lora.fingerprint() != trained["lora"][0].fingerprint()
    plm = train_prompt_lm_tuning(audited, others, 0,
                                 config=dataclasses.replace(PLM, lm_lr=1e-4, epochs=1),
                                 lm_config=LM, cache_dir=trained["cache"], progress=False)
    assert plm.fingerprint() != trained["plm"][0].fingerprint()


@pytest.mark.slow
def test_compare_builds_both_kinds_from_a_spec(world, trained):
    from recaudit import runner
    from recaudit.spec import load_spec

    lm = {"epochs": LM.epochs, "n_embd": LM.n_embd, "n_head": LM.n_head,
          "vocab_size": LM.vocab_size}
    cache = str(trained["cache"])
    spec = load_spec({
        "dataset": {"kind": "synthetic", "n_users": 120, "n_items": 60, "seed": 0},
        "models": {"lora": {"kind": "lora", "lm": lm, "epochs": LORA.epochs, "lr": LORA.lr,
                            "cache_dir": cache},
                   "plm": {"kind": "prompt_lm_tuning", "lm": lm, "epochs": PLM.epochs,
                           "num_virtual_tokens": PLM.num_virtual_tokens, "cache_dir": cache}},
        "auditors": [{"name": "popularity_bias", "params": {"n_users": 10}}],
        "compare": {"seeds": [0], "utility_users": 10, "pretrain_share": 0.5},
        "run": {"n_bootstrap": 50, "n_permutations": 50, "cache": False}})
    result = runner.run_compare(spec, progress=False)
    models = result.metadata["models"]
    assert models["lora"]["description"].startswith("adapter fine-tuning")
    assert models["plm"]["description"].startswith("prompt + LM tuning")
    assert set(result.table["model"]) >= {"lora", "plm"}
