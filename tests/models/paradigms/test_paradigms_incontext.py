"""Tuning-free prompting: the pre-trained tiny LM zero-shot and with in-context
demonstrations of other users (no weight is updated)."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

import recaudit as ra
from recaudit import runner
from recaudit.models import (
    FewShotConfig,
    RandomRecommender,
    split_users,
    train_few_shot_lm,
    train_zero_shot_lm,
)
from recaudit.models._kinds import model_kind
from recaudit.models.paradigms._shared import manifest_name
from recaudit.spec import load_spec
from recaudit.study import measure_utility
from recaudit.testing import check_recommender

LM_KW = {"epochs": 2, "n_layer": 1, "n_embd": 32, "n_head": 2, "vocab_size": 1024}
LM = ra.models.TinyLMConfig(**LM_KW)
DATA = {"kind": "synthetic", "n_users": 120, "n_items": 60, "seed": 0}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    world = ra.datasets.synthetic(n_users=120, n_items=60, seed=0)
    others, audited = split_users(world, 0.5)
    cache = tmp_path_factory.mktemp("icl_cache")
    zero = train_zero_shot_lm(audited, others, 0, lm_config=LM, cache_dir=cache,
                              progress=False)
    few = train_few_shot_lm(audited, others, 0, lm_config=LM, cache_dir=cache, progress=False)
    return world, others, audited, cache, zero, few


# ---------------------------------------------------------------------- fast (no LM)
def test_the_kinds_are_in_the_table():
    for name in ("zero_shot_lm", "few_shot_lm"):
        kind = model_kind(name)
        assert kind.needs_pretrain and not kind.in_audit_spec and "lm" in kind.nested
        assert "epochs" in kind.nested["lm"]()
    keys = model_kind("few_shot_lm").keys()
    assert {"n_demonstrations", "selection", "prompt_budget", "max_demo_history", "lm",
            "cache_dir", "seed"} <= set(keys)
    assert "n_demonstrations" not in model_kind("zero_shot_lm").keys()


def test_spec_names_a_typo_and_the_config_checks_values():
    for name in ("zero_shot_lm", "few_shot_lm"):
        with pytest.raises(ra.SpecError, match=r"unknown key 'models\.x\.typo_key'"):
            load_spec({"models": {"x": {"kind": name, "typo_key": 1}}})
        with pytest.raises(ra.SpecError, match=r"models\.x\.lm\.epoch"):
            load_spec({"models": {"x": {"kind": name, "lm": {"epoch": 1}}}})
    with pytest.raises(ra.SpecError, match="n_demonstration"):
        load_spec({"models": {"x": {"kind": "few_shot_lm", "n_demonstration": 1}}})
    for bad in ({"selection": "best"}, {"n_demonstrations": -1}, {"prompt_budget": 0},
                {"max_demo_history": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FewShotConfig(**bad)
    with pytest.raises(ValueError, match="few_shot_lm needs pretrain_data"):
        ra.models.build_paradigm({"kind": "few_shot_lm"},
                                 ra.datasets.synthetic(n_users=20, n_items=20))


# ---------------------------------------------------------------------- with the tiny LM
@pytest.mark.slow
def test_zero_shot_is_the_base_unchanged(setup):
    import torch

    _world, others, audited, cache, zero, _few = setup
    base = ra.models.train_tiny_lm(others, 0, config=LM, cache_dir=cache, progress=False)
    assert zero.path == base.path and zero.data is audited
    assert zero._weights_hash == base._weights_hash  # the folder's weight files, unchanged
    mine = zero.model.state_dict()
    for name, tensor in base.model.state_dict().items():
        assert torch.equal(mine[name], tensor), name
    # building trained nothing: one LM folder (the base), the arm's folder holds no weights
    assert [p.name for p in (cache / "tiny_lm").iterdir() if not p.name.startswith(".")] == [
        base.path.name]
    manifest = manifest_name("zero_shot_lm")
    assert [p.name for p in zero.folder.iterdir()] == [manifest]
    assert json.loads((zero.folder / manifest).read_text())["trained"] is False
    # the same weights bound to the pre-training users are another model for every cache
    assert zero.fingerprint() != base.fingerprint()
    assert zero.fingerprint().startswith("ZeroShotLM-")
    req = audited.request(audited.user_ids[0])
    assert zero.render(req) == base.render(req)  # the very prompt the base was trained on
    np.testing.assert_allclose(zero.nll([req], [audited.test_items[req.user_id][0]]),
                               base.nll([req], [audited.test_items[req.user_id][0]]))


@pytest.mark.slow
def test_conformance(setup):
    _world, _others, audited, _cache, zero, few = setup
    for model in (zero, few):
        report = check_recommender(model, audited, seed=1)
        assert {"batch_equals_single", "nll", "prompt", "score"} <= set(report["passed"])
        assert {"rank", "score", "nll", "prompt", "train"} <= model.capabilities


@pytest.mark.slow
def test_rendered_prompt_holds_the_demonstrations_and_the_query(setup):
    _world, others, audited, _cache, zero, few = setup
    reqs = [audited.request(u) for u in audited.user_ids[:8]]
    for req in reqs:
        text, demos = few.render(req), few.demonstrations(req)
        assert len(demos) == 2
        assert text.endswith(zero.render(req))  # the query, as zero-shot renders it
        assert text.count(few.template.answer_cue) == 3
        for demo in demos:  # other users' history -> next item, never the audited user's
            assert demo.user_id in others.user_ids
            assert demo.user_id not in audited.user_ids
            assert demo.history == others.train_histories[demo.user_id][:-1][-10:]
            assert demo.answer == others.train_histories[demo.user_id][-1]
            shown = few._demo_text(demo, demo.history)
            assert shown in text and shown.endswith(
                few.template.continuation(audited.titles[demo.answer]))
        # the nearest demonstration sits next to the query
        assert text.index(few._demo_text(demos[0], demos[0].history)) > text.index(
            few._demo_text(demos[1], demos[1].history))
    # deterministic per (seed, user): a profile or other candidates keep them
    req = reqs[0]
    assert few.demonstrations(req.replace(profile={"gender": "female"})) == \
        few.demonstrations(req)
    assert len({few.demonstrations(r) for r in reqs}) > 1  # drawn per user
    # scores differ from zero-shot (the demonstrations are read)
    cands = tuple(audited.item_ids[:20])
    got = few.score([req.replace(candidates=cands)])[0]
    want = zero.score([req.replace(candidates=cands)])[0]
    assert not np.allclose(got, want)
    # pickled (as a folder, for executors' workers) it renders and scores the same
    item = audited.test_items[req.user_id][0]
    shipped = copy.copy(few)
    shipped.recipe = None  # the recipe closure does not pickle (as for train_tiny_lm's)
    again = pickle.loads(pickle.dumps(shipped))
    assert again.model is not few.model and again._memo == {}
    assert again.render(req) == few.render(req)
    np.testing.assert_allclose(again.nll([req], [item]), few.nll([req], [item]), rtol=1e-5)
    # and the score is the LM's own log-probability of the title after exactly that text
    np.testing.assert_allclose(few.nll([req], [item]), [_reference_nll(few, req, item)],
                               rtol=1e-4, atol=1e-4)


def _reference_nll(model, request, item):
    """-log p(title | render(request)) from one un-cached forward pass of the LM."""
    import torch

    prompt = model.tokenizer(model.render(request), add_special_tokens=False)["input_ids"]
    title = model.tokenizer(model.template.continuation(model.data.titles[item]),
                            add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model.model(input_ids=torch.tensor([prompt + title])).logits[0]
    lp = torch.log_softmax(logits.float(), -1)
    return -sum(float(lp[len(prompt) - 1 + j, t]) for j, t in enumerate(title))


@pytest.mark.slow
def test_similar_selection_picks_the_most_overlapping_users(setup):
    _world, others, audited, cache, _zero, few = setup
    sim = train_few_shot_lm(audited, others, 0, config=FewShotConfig(
        n_demonstrations=2, selection="similar"), lm_config=LM, cache_dir=cache,
        progress=False)
    req = audited.request(audited.user_ids[3])
    shown = set(req.history[-10:])

    def jaccard(d):
        s = set(d.history) | {d.answer}
        return len(shown & s) / len(shown | s)

    best = max(jaccard(d) for d in sim.demo_pool)
    demos = sim.demonstrations(req)
    assert jaccard(demos[0]) == best >= jaccard(demos[1])
    assert demos != few.demonstrations(req)


@pytest.mark.slow
def test_prompt_budget_drops_and_cuts_demonstrations(setup):
    _world, others, audited, cache, zero, few = setup
    tok = few.tokenizer

    def n_tokens(text):
        return len(tok(text, add_special_tokens=False)["input_ids"])

    req = audited.request(audited.user_ids[1])
    full = few.demonstrations(req)
    query = n_tokens(zero.render(req))
    one = n_tokens(few._demo_text(full[0], full[0].history))
    # room for the query, the longest continuation and most of one demonstration
    budget = query + few._longest + one - 8
    tight = train_few_shot_lm(audited, others, 0, config=FewShotConfig(
        n_demonstrations=3, prompt_budget=budget), lm_config=LM, cache_dir=cache,
        progress=False)
    assert tight.budget == budget and tight.folder != few.folder
    demos = tight.demonstrations(req)
    assert len(demos) == 1 and demos[0].user_id == full[0].user_id
    assert demos[0].history == full[0].history[-len(demos[0].history):]  # oldest cut
    assert len(demos[0].history) < len(full[0].history)
    for r in [audited.request(u) for u in audited.user_ids[:20]]:
        assert n_tokens(tight.render(r)) <= budget - tight._longest
        assert len(tight.demonstrations(r)) < 3
        assert tight.render(r).endswith(zero.render(r))
    # a budget the query alone exceeds: no demonstration, the zero-shot prompt
    none = train_few_shot_lm(audited, others, 0, config=FewShotConfig(prompt_budget=10),
                             lm_config=LM, cache_dir=cache, progress=False)
    assert none.demonstrations(req) == () and none.render(req) == zero.render(req)
    # the full default budget is the LM's n_positions
    assert few.budget == LM.n_positions == 512


@pytest.mark.slow
def test_every_setting_is_in_the_key_and_a_rebuild_trains_nothing(setup, monkeypatch):
    from recaudit.models.lm import _tiny_lm as _tiny_lm

    world, others, audited, cache, zero, few = setup
    variants = {"n_demonstrations": 3, "selection": "similar", "prompt_budget": 300,
                "max_demo_history": 4}
    assert set(variants) == {f for f in FewShotConfig.__dataclass_fields__}
    folders, prints = {few.folder}, {few.fingerprint(), zero.fingerprint()}
    for field, value in variants.items():
        m = train_few_shot_lm(audited, others, 0, config=FewShotConfig(**{field: value}),
                              lm_config=LM, cache_dir=cache, progress=False)
        folders.add(m.folder)
        prints.add(m.fingerprint())
    lm2 = ra.models.TinyLMConfig(**{**LM_KW, "epochs": 1})
    for seed, lm in ((1, LM), (0, lm2)):
        for make in (train_zero_shot_lm, train_few_shot_lm):
            m = make(audited, others, seed, lm_config=lm, cache_dir=cache, progress=False)
            folders.add(m.folder)
            prints.add(m.fingerprint())
    assert len(folders) == 1 + 4 + 4 and len(prints) == 2 + 4 + 4
    # the same settings: the same folder and fingerprint, and nothing is trained
    monkeypatch.setattr(_tiny_lm, "_train_to_folder", lambda *a, **k: pytest.fail("trained"))
    again = train_few_shot_lm(audited, others, 0, lm_config=LM, cache_dir=cache,
                              progress=False)
    assert (again.folder, again.fingerprint()) == (few.folder, few.fingerprint())
    zero_again = train_zero_shot_lm(audited, others, 0, lm_config=LM, cache_dir=cache,
                                    progress=False)
    assert (zero_again.folder, zero_again.fingerprint()) == (zero.folder, zero.fingerprint())
    # other audited users: another arm, on the same base
    refit = few.fit(audited.subset_users(audited.user_ids[:30]), seed=0)
    assert refit.path == few.path and refit.fingerprint() != few.fingerprint()
    with pytest.raises(ValueError, match="sample_weight has no loss"):
        zero.fit(audited, sample_weight=np.ones(len(audited.train)))
    with pytest.raises(ValueError, match="share .* user"):
        train_zero_shot_lm(world, others, 0, lm_config=LM, cache_dir=cache)


@pytest.mark.slow
def test_above_random_over_two_seeds(setup):
    _world, others, audited, cache, zero, few = setup
    models = {0: (zero, few)}
    models[1] = tuple(make(audited, others, 1, lm_config=LM, cache_dir=cache, progress=False)
                      for make in (train_zero_shot_lm, train_few_shot_lm))
    for seed, arms in models.items():
        _u, rnd = measure_utility(RandomRecommender(audited, seed), audited, k=10, n_users=60)
        for model in arms:
            _u, got = measure_utility(model, audited, k=10, n_users=60)
            assert got["hr_at_10"].mean() > rnd["hr_at_10"].mean() + 0.1, (seed, model)
            assert got["ndcg_at_10"].mean() > rnd["ndcg_at_10"].mean() + 0.05, (seed, model)


@pytest.mark.slow
def test_a_models_entry_builds_through_run_compare(setup):
    _world, _others, _audited, cache, _zero, _few = setup
    arms = {"zs": {"kind": "zero_shot_lm", "lm": LM_KW, "cache_dir": str(cache)},
            "fs": {"kind": "few_shot_lm", "n_demonstrations": 1, "lm": LM_KW,
                   "cache_dir": str(cache)}}
    result = runner.run_compare(load_spec({
        "dataset": DATA, "models": arms,
        "auditors": [{"name": "popularity_bias", "params": {"n_users": 10}}],
        "compare": {"seeds": [0], "utility_users": 10, "pretrain_share": 0.5},
        "run": {"n_bootstrap": 50, "n_permutations": 50, "cache": False}}), progress=False)
    assert set(result.table["model"]) == {"zs", "fs"}
    assert "demonstrations" in result.metadata["models"]["fs"]["description"]
