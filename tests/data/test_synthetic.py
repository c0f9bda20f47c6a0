"""The synthetic world: sizes, determinism, and planted effects that are measurable (and
absent in the clean control)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, mannwhitneyu

import recaudit as ra
from recaudit.data._synthetic import AGE_GENRES, GENDER_GENRES
from recaudit.metrics.statistics import holm

from ..conftest import SEEDS


@pytest.fixture(scope="module")
def worlds():
    """Default-size worlds (the size the effects are calibrated for), with and without
    effects, for every seed; built once."""
    out = {}
    for seed in SEEDS:
        out[seed, "planted"] = ra.datasets.synthetic(seed=seed)
        out[seed, "clean"] = ra.datasets.synthetic(seed=seed,
                                                   effects=ra.datasets.Effects.none())
    return out


def gini(x) -> float:
    """Gini coefficient of non-negative values (mean absolute difference form)."""
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    return float(2 * np.sum(np.arange(1, n + 1) * x) / (n * x.sum()) - (n + 1) / n)


def dominant_genre(data) -> pd.Series:
    """Each user's most frequent train genre: one observation per user, so a chi-square
    test of independence is valid (interactions of one user are not independent)."""
    g = data.items.set_index("item_id")["genres"].str.split("|")
    tr = data.train.assign(genre=data.train["item_id"].map(g)).explode("genre")
    return tr.groupby("user_id")["genre"].agg(lambda s: s.value_counts().index[0])


def independence_p(data, attribute: str) -> float:
    dom = dominant_genre(data)
    attr = data.users.set_index("user_id")[attribute].loc[dom.index]
    return float(chi2_contingency(pd.crosstab(attr, dom))[1])


def lean_share(data, table: dict, value: str) -> pd.Series:
    """Per user: share of train interactions on the genres ``value`` leans towards."""
    lean = set(table[value])
    g = data.items.set_index("item_id")["genres"].str.split("|")
    hit = data.train["item_id"].map(g).map(lambda s: bool(lean & set(s)))
    return hit.astype(float).groupby(data.train["user_id"]).mean()


def test_gini_hand_computed():
    assert gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)
    assert gini([1, 2, 3]) == pytest.approx(2 / 9)  # sum|xi-xj| / (2 n^2 mean) = 8/36


def test_sizes_and_split():
    data = ra.datasets.synthetic(n_users=60, n_items=50, seed=3, min_interactions=5,
                                 max_interactions=9)
    assert len(data.users) == 60 and len(data.items) == 50
    per_user = data.interactions.groupby("user_id").size()
    assert per_user.between(5, 9).all()
    assert (data.test.groupby("user_id").size() == 1).all()
    assert len(data.test) == 60
    last = data.interactions.groupby("user_id")["timestamp"].max()
    assert (data.test.set_index("user_id")["timestamp"] == last.loc[data.test["user_id"]]).all()
    assert data.titles["i0000"].endswith(")") and len(set(data.titles.values())) == 50
    assert set(data.users["gender"]) <= {"female", "male"}
    with pytest.raises(ValueError, match="n_items"):
        ra.datasets.synthetic(n_users=5, n_items=10, seed=0)


def test_deterministic_by_seed():
    a = ra.datasets.synthetic(n_users=40, n_items=40, seed=7)
    b = ra.datasets.synthetic(n_users=40, n_items=40, seed=7)
    c = ra.datasets.synthetic(n_users=40, n_items=40, seed=8)
    assert a.fingerprint() == b.fingerprint()
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    assert a.fingerprint() != c.fingerprint()


@pytest.mark.parametrize("seed", SEEDS)
def test_gender_and_age_effects_planted(worlds, seed):
    data = worlds[seed, "planted"]
    for attr, table in (("gender", GENDER_GENRES), ("age_group", AGE_GENRES)):
        assert independence_p(data, attr) < 1e-6
        values = data.users.set_index("user_id")[attr]
        for value in table:
            share = lean_share(data, table, value)
            own = values.loc[share.index] == value
            assert share[own].mean() - share[~own].mean() > 0.1, (attr, value)
    share = lean_share(data, GENDER_GENRES, "female")
    gender = data.users.set_index("user_id")["gender"].loc[share.index]
    gap = share[gender == "female"].mean() - share[gender == "male"].mean()
    assert gap > 0.2  # female users put >20 points more of their history on "female" genres
    assert mannwhitneyu(share[gender == "female"], share[gender == "male"]).pvalue < 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_clean_control_has_no_gender_dependence(worlds, seed):
    data = worlds[seed, "clean"]
    assert independence_p(data, "gender") > 0.01
    share = lean_share(data, GENDER_GENRES, "female")
    gender = data.users.set_index("user_id")["gender"].loc[share.index]
    assert abs(share[gender == "female"].mean() - share[gender == "male"].mean()) < 0.05


def test_clean_control_has_no_age_dependence(worlds):
    """Holm-corrected across the seeds: under the null each p-value is uniform, so one of
    several worlds may dip below 0.01 by chance (seed 2 gives 0.005 uncorrected)."""
    p = [independence_p(worlds[seed, "clean"], "age_group") for seed in SEEDS]
    assert min(holm(p)) > 0.01, p


@pytest.mark.parametrize("seed", SEEDS)
def test_popularity_and_provider_effects(worlds, seed):
    planted, clean = worlds[seed, "planted"], worlds[seed, "clean"]
    assert gini(planted.popularity) > gini(clean.popularity) + 0.2
    for data, lo, hi in ((planted, 0.05, 1.0), (clean, -0.05, 0.05)):
        major = set(data.items.loc[data.items["provider"] == "major", "item_id"])
        excess = data.train["item_id"].isin(major).mean() - len(major) / len(data.items)
        assert lo < excess < hi


def test_each_effect_is_independent():
    """Switching on only the popularity effect skews popularity but plants no gender link."""
    only_pop = ra.datasets.Effects(popularity=1.0, gender=0.0, age=0.0, provider=0.0)
    data = ra.datasets.synthetic(seed=0, effects=only_pop)
    clean = ra.datasets.synthetic(seed=0, effects=ra.datasets.Effects.none())
    assert gini(data.popularity) > gini(clean.popularity) + 0.2
    assert independence_p(data, "gender") > 0.01
