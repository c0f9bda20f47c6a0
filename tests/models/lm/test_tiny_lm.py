"""train_tiny_lm: a real transformers folder, cached, seeded, weighted, and a real recommender."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import recaudit as ra
from recaudit.metrics.ranking import hit_at_k
from recaudit.models import (
    HFRecommender,
    MostPopular,
    RandomRecommender,
    TinyLMConfig,
    train_tiny_lm,
)
from recaudit.models.lm import _tiny_lm as tiny_mod

#: A very small recipe for the mechanics tests (seconds, not minutes).
MICRO = TinyLMConfig(n_layer=1, n_head=2, n_embd=32, vocab_size=400, epochs=1, batch_size=32)


@pytest.fixture(scope="module")
def micro_world():
    return ra.datasets.synthetic(n_users=24, n_items=30, seed=5)


@pytest.fixture(scope="module")
def micro_lm(micro_world, tmp_path_factory):
    cache = tmp_path_factory.mktemp("micro_cache")
    return train_tiny_lm(micro_world, seed=0, config=MICRO, cache_dir=cache, progress=False)


def _state(model):
    return {k: v.detach().clone() for k, v in model.model.state_dict().items()}


@pytest.mark.slow
def test_folder_is_a_standard_transformers_model(micro_lm, micro_world):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel

    folder = micro_lm.path
    assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()
    model = AutoModelForCausalLM.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    assert isinstance(model, GPT2LMHeadModel)
    assert model.config.n_layer == MICRO.n_layer and model.config.n_embd == MICRO.n_embd
    title = next(iter(micro_world.titles.values()))
    assert tok.decode(tok(" " + title)["input_ids"]).strip() == title
    meta = json.loads((folder / "recaudit_tiny_lm.json").read_text())
    assert meta["seed"] == 0 and meta["data_fingerprint"] == micro_world.fingerprint()
    assert isinstance(micro_lm, HFRecommender)
    assert {"rank", "score", "nll", "prompt", "gradients", "train"} <= micro_lm.capabilities


@pytest.mark.slow
def test_cache_is_reused(micro_lm, micro_world, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("retrained although the model folder exists")

    monkeypatch.setattr(tiny_mod, "_train_to_folder", boom)
    again = train_tiny_lm(micro_world, seed=0, config=MICRO,
                          cache_dir=micro_lm.path.parent.parent, progress=False)
    assert again.path == micro_lm.path
    assert again.fingerprint() == micro_lm.fingerprint()


@pytest.mark.slow
def test_cache_dir_from_environment(micro_world, micro_lm, monkeypatch):
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(micro_lm.path.parent.parent))
    monkeypatch.setattr(tiny_mod, "_train_to_folder", lambda *a, **k: 1 / 0)
    assert train_tiny_lm(micro_world, seed=0, config=MICRO, progress=False).path == micro_lm.path


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_differs(micro_lm, micro_world, tmp_path):
    fresh = train_tiny_lm(micro_world, seed=0, config=MICRO, cache_dir=tmp_path, progress=False)
    a, b = _state(micro_lm), _state(fresh)
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    other = micro_lm.fit(micro_world, seed=1)
    c = _state(other)
    assert other.path != micro_lm.path
    assert any(not np.array_equal(a[k].numpy(), c[k].numpy()) for k in a)


@pytest.mark.slow
def test_sample_weight_changes_the_weights(micro_lm, micro_world):
    w = np.ones(len(micro_world.train))
    w[: len(w) // 2] = 5.0
    weighted = micro_lm.fit(micro_world, sample_weight=w, seed=0)
    a, b = _state(micro_lm), _state(weighted)
    assert weighted.path != micro_lm.path
    assert any(not np.allclose(a[k].numpy(), b[k].numpy()) for k in a)
    # uniform weights are normalised to mean 1: same training as no weights
    uniform = micro_lm.fit(micro_world, sample_weight=np.full(len(w), 3.0), seed=0)
    c = _state(uniform)
    assert all(np.allclose(a[k].numpy(), c[k].numpy(), atol=1e-6) for k in a)


@pytest.mark.slow
def test_fine_tuning_starts_from_the_pre_trained_model(micro_lm, micro_world, tmp_path):
    # pre-train and fine-tune: other users' LM, then the audited users' histories
    from recaudit.models import split_users

    others, audited = split_users(micro_world, 0.5, seed=0)
    base = train_tiny_lm(others, seed=0, config=MICRO, cache_dir=tmp_path, progress=False)
    still = train_tiny_lm(audited, seed=0, config=dataclasses.replace(MICRO, lr=1e-12),
                          cache_dir=tmp_path, progress=False, init_from=base)
    a, b = _state(base), _state(still)
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-8) for k in a)  # base weights
    assert still.tokenizer.get_vocab() == base.tokenizer.get_vocab()  # and its tokenizer
    tuned = train_tiny_lm(audited, seed=0, config=MICRO, cache_dir=tmp_path, progress=False,
                          init_from=base.path)
    scratch = train_tiny_lm(audited, seed=0, config=MICRO, cache_dir=tmp_path, progress=False)
    assert len({tuned.path, scratch.path, base.path}) == 3
    c = _state(tuned)
    assert any(not np.allclose(a[k].numpy(), c[k].numpy()) for k in a)
    # fine-tuning lowers the loss of the audited users' last training item below the base's
    hist = audited.train_histories
    reqs = [audited.request(u).replace(history=hist[u][:-1]) for u in audited.user_ids]
    targets = [hist[u][-1] for u in audited.user_ids]
    assert tuned.nll(reqs, targets).mean() < base.nll(reqs, targets).mean()
    assert tuned.fit(audited, seed=0).path == tuned.path  # fit keeps the starting point
    with pytest.raises(FileNotFoundError, match="init_from"):
        train_tiny_lm(audited, seed=0, config=MICRO, cache_dir=tmp_path, init_from=tmp_path)


def test_sample_weight_validation(micro_world, tmp_path):
    with pytest.raises(ValueError, match="one weight per train interaction"):
        train_tiny_lm(micro_world, config=MICRO, sample_weight=[1.0, 2.0], cache_dir=tmp_path,
                      progress=False)
    with pytest.raises(ValueError, match=">= 0"):
        train_tiny_lm(micro_world, config=MICRO, cache_dir=tmp_path, progress=False,
                      sample_weight=-np.ones(len(micro_world.train)))


def test_training_examples_follow_the_template(micro_world):
    prompts, answers, w = tiny_mod._examples(
        micro_world, TinyLMConfig(profile_share=0.5, short_history_share=0.0), 0, None)
    hist = micro_world.train_histories
    # cloze (default): one example per train item, context = other train items of the user
    assert len(prompts) == sum(len(h) for h in hist.values())
    assert np.allclose(w, 1.0)
    assert all(p.endswith("Next I will watch:") for p in prompts)
    assert all(a.startswith(" ") and a.endswith("\n") for a in answers)
    assert not any(a.strip() in p for p, a in zip(prompts, answers))  # the target is hidden
    assert all("nothing yet" not in p for p in prompts)
    stated = np.mean(["user." in p for p in prompts])
    assert 0.35 < stated < 0.65
    none = tiny_mod._examples(micro_world, TinyLMConfig(profile_share=0.0), 0, None)[0]
    assert not any("user." in p for p in none)


def test_prefix_context_shows_only_earlier_items(micro_world):
    config = TinyLMConfig(context="prefix", short_history_share=0.0, profile_share=0.0)
    prompts, answers, _ = tiny_mod._examples(micro_world, config, 0, None)
    hist = micro_world.train_histories
    assert len(prompts) == sum(len(h) - 1 for h in hist.values())
    first = hist[next(iter(hist))]
    titles = micro_world.titles
    assert prompts[0] == f"I have watched: {titles[first[0]]}, " \
        f"{micro_world.items.set_index('item_id').at[first[0], 'genres']}.\nNext I will watch:"
    assert answers[0] == f" {titles[first[1]]}\n"


def test_short_history_share_cuts_histories(micro_world):
    full = tiny_mod._examples(micro_world, TinyLMConfig(short_history_share=0.0), 0, None)[0]
    short = tiny_mod._examples(micro_world, TinyLMConfig(short_history_share=1.0), 0, None)[0]
    assert np.mean([len(p) for p in short]) < 0.8 * np.mean([len(p) for p in full])
    assert any("nothing yet" in p for p in short)


def test_config_validation(micro_world):
    with pytest.raises(ValueError, match="context"):
        tiny_mod._examples(micro_world, TinyLMConfig(context="sliding"), 0, None)
    with pytest.raises(ValueError, match="short_history_share"):
        tiny_mod._examples(micro_world, TinyLMConfig(short_history_share=1.5), 0, None)


def test_max_examples_caps_the_steps():
    cfg = TinyLMConfig()  # batch 32, 12 epochs, at most 100,000 examples
    assert cfg.steps(99_057) == (3096, 3125) and cfg.caps(99_057)  # MovieLens-100K: 1 pass
    assert cfg.steps(5_000) == (157, 157 * 12) and not cfg.caps(5_000)  # a synthetic world
    assert TinyLMConfig(max_examples=None).steps(99_057) == (3096, 3096 * 12)
    with pytest.raises(ValueError, match="max_examples"):
        TinyLMConfig(max_examples=0).steps(10)


def test_a_cap_that_does_not_bind_keeps_the_folder_key(micro_world):
    n = tiny_mod._n_examples(micro_world, MICRO)
    assert n == len(tiny_mod._examples(micro_world, MICRO, 0, None)[0])
    key = tiny_mod._folder_key
    loose = dataclasses.replace(MICRO, max_examples=n * MICRO.epochs)
    assert key(micro_world, loose, 0, None) == key(
        micro_world, dataclasses.replace(MICRO, max_examples=None), 0, None)
    tight = dataclasses.replace(MICRO, max_examples=n // 2)
    assert key(micro_world, tight, 0, None) != key(micro_world, loose, 0, None)
    prefix = dataclasses.replace(MICRO, context="prefix")
    assert tiny_mod._n_examples(micro_world, prefix) == len(
        tiny_mod._examples(micro_world, prefix, 0, None)[0])


@pytest.mark.slow
def test_a_binding_cap_trains_that_many_steps(micro_world, tmp_path):
    n = tiny_mod._n_examples(micro_world, MICRO)
    cfg = dataclasses.replace(MICRO, epochs=3, max_examples=n + 40)  # 1 pass + 2 batches
    lm = train_tiny_lm(micro_world, seed=0, config=cfg, cache_dir=tmp_path, progress=False)
    meta = json.loads((lm.path / "recaudit_tiny_lm.json").read_text())
    per_epoch = -(-n // MICRO.batch_size)
    assert meta["steps"] == -(-(n + 40) // MICRO.batch_size) < 3 * per_epoch
    assert meta["epochs_run"] == pytest.approx(meta["steps"] / per_epoch, abs=1e-3)


def _hr_at_10(model, data):
    users = sorted(data.test_items)
    ranks = model.rank([data.request(u) for u in users], 10)
    return float(np.mean([hit_at_k(r.items, data.test_items[u], 10)
                          for r, u in zip(ranks, users)]))


@pytest.mark.slow
def test_tiny_lm_recommends_far_better_than_random(tiny_lm, tiny_lm_world):
    """HR@10 over the whole catalog on held-out items, against the random floor."""
    lm = _hr_at_10(tiny_lm, tiny_lm_world)
    rnd = _hr_at_10(RandomRecommender(tiny_lm_world, seed=0), tiny_lm_world)
    assert lm > rnd + 0.1, (lm, rnd)


@pytest.mark.slow
def test_tiny_lm_reaches_most_popular(tiny_lm, tiny_lm_world):
    """The LM learns at least the popularity prior over the whole catalog (HR@10 within 0.05
    of MostPopular; the random floor is ~0.2 lower on this world)."""
    lm = _hr_at_10(tiny_lm, tiny_lm_world)
    assert lm > _hr_at_10(MostPopular(tiny_lm_world), tiny_lm_world) - 0.05, lm


@pytest.mark.slow
def test_tiny_lm_beats_most_popular(tiny_lm, tiny_lm_world):
    """The issue's quality bar: the LM recommends beyond popularity (HR@10, whole catalog,
    held-out items), by a margin.

    Measured with the fixture's recipe (64 wide, 8 epochs) on this world over 3 training
    seeds: HR@10 0.450 / 0.435 / 0.435 against MostPopular's 0.415 (+0.035, +0.020, +0.020);
    the margin asserted here (0.01, two users of 200) is cleared by every seed. On
    ``synthetic(seed=0)`` with the default recipe see ``benchmarks/bench_models.py``.
    """
    lm = _hr_at_10(tiny_lm, tiny_lm_world)
    popular = _hr_at_10(MostPopular(tiny_lm_world), tiny_lm_world)
    assert lm > popular + 0.01, (lm, popular)


@pytest.mark.slow
def test_tiny_lm_uses_the_profile(tiny_lm, tiny_lm_world):
    """Stating the user's attributes changes the scores (the model learned the dependence)."""
    data = tiny_lm_world
    u = data.user_ids[0]
    neutral = data.request(u, candidates=data.item_ids[:20])
    stated = neutral.replace(profile=data.user_attributes(u))
    a, b = tiny_lm.score([neutral, stated])
    assert not np.allclose(a, b)
