"""Perturbations: determinism, what each one may touch, strength semantics, the registry."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import recaudit as ra
from recaudit.errors import UnknownNameError
from recaudit.perturbations import (
    CharTypos,
    HistoryShuffle,
    HistoryTruncation,
    Vocabulary,
    as_perturbations,
    available_perturbations,
    get_perturbation,
    typo,
)
from recaudit.perturbations.typos import KEYBOARD

#: word_swap loads the MiniLM encoder (a cold start takes several seconds): marked slow.
WORD_SWAP = pytest.param("word_swap", marks=pytest.mark.slow)
TEXT = ["typos", "case", "whitespace", WORD_SWAP]
ALL = ["typos", "case", "whitespace", WORD_SWAP, "history_shuffle",
       "history_truncation", "irrelevant_sentence", "candidate_shuffle"]


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=30, n_items=60, seed=3)


@pytest.fixture(scope="module")
def req(world):
    u = world.user_ids[0]
    return world.request(u, candidates=world.item_ids[:12])


def test_registry_lists_every_kind():
    assert {*TEXT[:3], "word_swap", *ALL[4:]} <= set(available_perturbations())


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'typos'"):
        get_perturbation("typo")
    with pytest.raises(UnknownNameError, match="bad parameter"):
        get_perturbation("case", colour="red")


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_strength_out_of_range(bad):
    with pytest.raises(ValueError, match="strength"):
        get_perturbation("typos", strength=bad)


@pytest.mark.parametrize("name", ALL)
def test_deterministic_by_seed_and_zero_strength_is_identity(name, world, req):
    p = get_perturbation(name, strength=1.0, seed=7)
    assert p.apply(req, world) == get_perturbation(name, strength=1.0, seed=7).apply(req, world)
    assert p.apply(req, world) != req
    assert get_perturbation(name, strength=0.0).apply(req, world) == req
    assert p.apply(req, world).user_id == req.user_id


@pytest.mark.parametrize("name", TEXT)
def test_text_perturbations_keep_ids(name, world, req):
    out = get_perturbation(name, strength=1.0, seed=1).apply(req, world)
    assert out.history == req.history and out.candidates == req.candidates
    assert out.profile == req.profile and out.prompt_extra == req.prompt_extra
    assert set(out.item_text_dict) <= set(req.history)
    assert any(out.item_text_dict[i] != world.titles[i] for i in out.item_text_dict)
    everything = get_perturbation(name, strength=1.0, seed=1, target="all").apply(req, world)
    assert set(everything.item_text_dict) - set(req.history)


def test_text_perturbation_builds_on_existing_override(world, req):
    item = req.history[0]
    start = req.replace(item_text={item: "Zzzz Qqqq Wwww"})
    out = get_perturbation("case", strength=1.0, mode="upper").apply(start, world)
    assert out.item_text_dict[item] == "ZZZZ QQQQ WWWW"


def test_different_seeds_differ(world, req):
    outs = {get_perturbation("typos", strength=0.5, seed=s).apply(req, world) for s in range(5)}
    assert len(outs) > 1


def test_typo_ops_by_hand():
    rng = np.random.default_rng(0)
    for _ in range(50):
        s = typo("Horizon", "swap", rng)
        assert Counter(s) == Counter("Horizon") and s != "Horizon" and s[0] == "H"
        d = typo("Horizon", "drop", rng)
        assert len(d) == 6 and d[0] == "H"
        i = typo("Horizon", "insert", rng)
        assert len(i) == 8 and i[0] == "H"
        pos = next(n for n in range(1, 8) if i[:n] + i[n + 1:] == "Horizon")
        assert i[pos] in KEYBOARD[i[pos - 1].lower()]
    assert typo("of", "drop", rng) == "of"
    with pytest.raises(ValueError, match="unknown typo op"):
        typo("River", "flip", rng)


def test_typos_touch_only_long_words_and_keep_years(world, req):
    out = CharTypos(strength=1.0, ops=("drop",)).apply(req, world)
    for item, text in out.item_text_dict.items():
        title = world.titles[item]
        assert text[-6:] == title[-6:]  # "(1994)"
        assert len(text) < len(title)


def test_case_and_whitespace_preserve_normalised_text(world, req):
    for name in ("case", "whitespace"):
        out = get_perturbation(name, strength=1.0, seed=2).apply(req, world)
        for item, text in out.item_text_dict.items():
            assert " ".join(text.lower().split()) == " ".join(world.titles[item].lower().split())


def test_history_shuffle_is_a_permutation(world, req):
    out = HistoryShuffle(strength=1.0, seed=4).apply(req, world)
    assert sorted(out.history) == sorted(req.history) and out.history != req.history
    half = HistoryShuffle(strength=0.5, seed=4).apply(req, world)
    moved = sum(a != b for a, b in zip(half.history, req.history))
    assert moved <= round(0.5 * len(req.history))


def test_history_truncation_keeps_recent(world, req):
    n = len(req.history)
    out = HistoryTruncation(strength=0.5).apply(req, world)
    assert out.history == req.history[-(n - round(0.5 * n)):]
    rand = HistoryTruncation(strength=0.5, keep="random", seed=1).apply(req, world)
    assert len(rand.history) == len(out.history)
    assert [req.history.index(i) for i in rand.history] == sorted(
        req.history.index(i) for i in rand.history)
    assert len(HistoryTruncation(strength=1.0).apply(req, world).history) == 1


def test_irrelevant_sentence_and_candidate_shuffle(world, req):
    out = get_perturbation("irrelevant_sentence", strength=1.0, seed=0).apply(req, world)
    assert out.prompt_extra.count(".") == 3 and out.history == req.history
    shuf = get_perturbation("candidate_shuffle", seed=0).apply(req, world)
    assert sorted(shuf.candidates) == sorted(req.candidates) and shuf.candidates != req.candidates
    whole = req.replace(candidates=None)
    assert get_perturbation("candidate_shuffle").apply(whole, world) == whole


def test_as_perturbations_spec_forms():
    ps = as_perturbations({"typos": {"strength": 0.1}, "case": {}}, seed=5)
    assert [p.name for p in ps] == ["typos", "case"] and ps[0].strength == 0.1
    assert ps[1].seed == 5
    assert [p.name for p in as_perturbations(["case", CharTypos()])] == ["case", "typos"]
    with pytest.raises(ValueError, match="twice"):
        as_perturbations(["case", "case"])


@pytest.mark.slow
def test_word_swap_uses_minilm_neighbours(world, req):
    vocab = Vocabulary.from_data(world)
    assert "king" in vocab and len(vocab) > 300
    near = vocab.neighbours("king", 3)
    assert "king" not in near and len(near) == 3
    # MiniLM puts royal words next to "king" (it is a real encoder, not a hash)
    assert {"queen", "royal", "prince", "kingdom", "lord"} & set(near)
    assert {"ocean", "boat", "ship", "sail", "fish", "water"} & set(vocab.neighbours("sea", 3))
    out = get_perturbation("word_swap", strength=1.0, seed=0).apply(req, world)
    for item, text in out.item_text_dict.items():
        old = world.titles[item].replace("(", " ").replace(")", " ").split()
        new = text.replace("(", " ").replace(")", " ").split()
        assert len(old) == len(new)
        for a, b in zip(old, new):
            if a != b:
                assert b.lower() in vocab.neighbours(a, 1)
