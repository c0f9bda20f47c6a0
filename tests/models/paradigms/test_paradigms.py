"""The built-in paradigms: item kNN, SASRec, the builders and the user split (fast tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics.pairwise import cosine_similarity

import recaudit as ra
from recaudit.errors import RequestError
from recaudit.models import ItemKNN, SASRec, SASRecConfig, build_paradigm, split_users
from recaudit.testing import check_recommender

QUICK_SASREC = SASRecConfig(epochs=3, dim=16, n_blocks=1, n_heads=1)


def _frames(histories: dict[str, list[str]], n_items: int, *, test: dict | None = None):
    items = pd.DataFrame({"item_id": [f"i{n}" for n in range(n_items)],
                          "title": [f"Movie {n}" for n in range(n_items)],
                          "genres": ["Drama"] * n_items,
                          "provider": ["p"] * n_items})
    users = pd.DataFrame({"user_id": list(histories),
                          "gender": ["female", "male"] * (len(histories) // 2)
                          + ["female"] * (len(histories) % 2)})
    rows = []
    for u, hist in histories.items():
        rows += [(u, i, t, "train") for t, i in enumerate(hist)]
        for j, i in enumerate((test or {}).get(u, ())):
            rows.append((u, i, len(hist) + j, "test"))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "split"])
    return ra.datasets.from_frames(items, users, inter, sensitive=["gender"])


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=60, n_items=40, seed=0)


@pytest.mark.parametrize("make", [
    lambda d: ItemKNN(d),
    lambda d: ItemKNN(d, n_neighbors=3, shrink=0.0),
    lambda d: SASRec(d, config=QUICK_SASREC),
    lambda d: SASRec(d, 1, config=SASRecConfig(epochs=2, dim=16, n_blocks=1, n_heads=2,
                                               loss="bce")),
], ids=["knn", "knn-k3", "sasrec-ce", "sasrec-bce"])
def test_conformance(world, make):
    model = make(world)
    report = check_recommender(model, world, seed=2)
    assert "score_consistent_with_rank" in report["passed"]
    assert model.capabilities == {"rank", "score", "train"}  # no prompt, no profile


def test_item_knn_matches_hand_computed_cosine():
    # u1: a b c ; u2: a b ; u3: b d  -> binary item x user matrix
    data = _frames({"u1": ["i0", "i1", "i2"], "u2": ["i0", "i1"], "u3": ["i1", "i3"]}, 5)
    knn = ItemKNN(data, shrink=0.0)
    x = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=float)
    sim = cosine_similarity(x)
    np.fill_diagonal(sim, 0.0)
    req = ra.Request("u9", history=("i0", "i3"), candidates=("i1", "i2", "i4"))
    got = knn.score([req])[0]
    want = sim[[0, 3]].sum(0)[[1, 2, 4]]
    np.testing.assert_allclose(got, want, atol=1e-8)
    # i1 co-occurs with both history items: (2/sqrt(6)) + (1/sqrt(3)) by hand
    assert got[0] == pytest.approx(2 / np.sqrt(2 * 3) + 1 / np.sqrt(3), abs=1e-8)
    # the profile is ignored
    assert np.array_equal(knn.score([req.replace(profile={"gender": "male"})])[0], got)


def test_item_knn_keeps_only_neighbours_and_breaks_ties_by_popularity():
    data = _frames({"u1": ["i0", "i1", "i2"], "u2": ["i0", "i1"], "u3": ["i1", "i3"]}, 5)
    knn = ItemKNN(data, n_neighbors=1, shrink=0.0)
    assert (knn._sim > 0).sum(axis=1).max() == 1
    cold = knn.rank([ra.Request("new")], 5)[0].items
    assert cold[0] == "i1"  # most popular first for a user with no history


def test_sasrec_learns_a_sequential_pattern():
    """Every user walks the catalog in order (i -> i+1): the next item must be ranked first."""
    n_items = 12
    hists = {f"u{n}": [f"i{(n + t) % n_items}" for t in range(6)] for n in range(36)}
    data = _frames(hists, n_items)
    model = SASRec(data, seed=0, config=SASRecConfig(epochs=40, dim=32, n_blocks=1,
                                                     n_heads=1, dropout=0.0, lr=5e-3))
    hits = 0
    for start in range(n_items):
        hist = tuple(f"i{(start + t) % n_items}" for t in range(4))
        top = model.rank([ra.Request("x", history=hist)], 1)[0].items[0]
        hits += top == f"i{(start + 4) % n_items}"
    assert hits >= 10, f"next item ranked first for only {hits}/{n_items} histories"


def test_sasrec_fit_returns_new_model_and_checks_weights(world):
    model = SASRec(world, config=QUICK_SASREC)
    fp = model.fingerprint()
    other = model.fit(world, seed=1)
    assert other is not model and other.fingerprint() != fp
    assert model.fingerprint() == fp
    assert SASRec(world, config=QUICK_SASREC).fingerprint() == fp  # deterministic by seed
    with pytest.raises(ValueError, match="sample_weight has 3 entries"):
        SASRec(world, config=QUICK_SASREC, sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="loss"):
        SASRec(world, config=SASRecConfig(loss="hinge"))


def test_unknown_items_raise_clearly(world):
    for model in (ItemKNN(world), SASRec(world, config=QUICK_SASREC)):
        with pytest.raises(RequestError, match="not in the catalog"):
            model.rank([ra.Request("u", history=("nope",))], 3)
        with pytest.raises(RequestError, match="candidates"):
            model.score([ra.Request("u")])


def test_item_knn_sample_weight_changes_the_model(world):
    w = np.ones(len(world.train))
    w[: len(w) // 2] = 5.0
    assert ItemKNN(world).fit(world, sample_weight=w).fingerprint() != \
        ItemKNN(world).fingerprint()


def test_split_users_is_disjoint_seeded_and_complete(world):
    a, b = split_users(world, 0.5, seed=3)
    assert not set(a.user_ids) & set(b.user_ids)
    assert set(a.user_ids) | set(b.user_ids) == set(world.user_ids)
    assert a.item_ids == world.item_ids
    assert split_users(world, 0.5, seed=3)[0].user_ids == a.user_ids
    assert split_users(world, 0.5, seed=4)[0].user_ids != a.user_ids
    with pytest.raises(ValueError, match="pretrain_share"):
        split_users(world, 1.0)


def test_build_paradigm_kinds(world):
    assert isinstance(build_paradigm({"kind": "item_knn"}, world), ItemKNN)
    assert isinstance(build_paradigm({"kind": "most_popular"}, world), ra.models.MostPopular)
    model = build_paradigm({"kind": "sasrec", "epochs": 1, "dim": 8, "n_heads": 1}, world,
                           seed=2)
    assert isinstance(model, SASRec) and model.seed == 2 and model.config.dim == 8
    for kind in ("prompt_tuning", "pretrain_fine_tune"):
        with pytest.raises(ValueError, match=f"{kind} needs pretrain_data"):
            build_paradigm({"kind": kind}, world)
    with pytest.raises(ValueError, match="unknown model kind"):
        build_paradigm({"kind": "sasrek"}, world)


@pytest.mark.slow
def test_pretrain_fine_tune_paradigm(world, tmp_path):
    from recaudit.models import split_users

    others, audited = split_users(world, 0.5, seed=0)
    lm = {"n_layer": 1, "n_head": 2, "n_embd": 32, "vocab_size": 400, "epochs": 1}
    model = build_paradigm({"kind": "pretrain_fine_tune", "lm": lm, "epochs": 1,
                            "cache_dir": str(tmp_path), "progress": False},
                           audited, pretrain_data=others)
    base = ra.models.train_tiny_lm(others, 0, config=ra.models.TinyLMConfig(**lm),
                                   cache_dir=tmp_path, progress=False)
    assert model.tokenizer.get_vocab() == base.tokenizer.get_vocab()  # started from the base
    assert model.path != base.path and model.data is audited
    ra.testing.check_recommender(model)
