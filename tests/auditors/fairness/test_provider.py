"""provider_fairness: planted defects over seeds, exposure recomputed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts, get_auditor_class
from recaudit.auditors.fairness.provider import ProviderFairness
from recaudit.models import CallableRecommender
from recaudit.report import draw
from recaudit.testing.zoo.fairness import ProviderNeutral, ProviderSuppressor

from ...conftest import SEEDS


def _ctx(seed: int) -> AuditContext:
    return AuditContext(seed=seed, n_bootstrap=200, n_permutations=200, show_progress=False)


def _failed(res) -> list[tuple[str, str]]:
    assign_verdicts([res])
    return [(m.name, m.scope) for m in res.metrics if m.verdict == "fail"]


def test_registered_with_design_name():
    cls = get_auditor_class("provider_fairness")
    assert cls is ProviderFairness
    assert cls.family == "fairness" and cls.requires == frozenset({"rank"})
    assert "1/log2(1 + r)" in cls.method


@pytest.mark.parametrize("seed", SEEDS)
def test_flags_suppressor_not_neutral(seed):
    data = ra.datasets.synthetic(n_users=120, n_items=60, seed=seed)
    auditor = ProviderFairness(n_users=100, n_candidates=None, plots=False)
    bad = auditor.run(ProviderSuppressor(data, penalty=0.5, seed=seed), data, _ctx(seed))
    clean = auditor.run(ProviderNeutral(data, seed=seed), data, _ctx(seed))
    assert _failed(bad) == [("min_max_exposure_ratio", "all")]
    assert _failed(clean) == []
    # the suppressed group is the under-exposed one
    assert bad.metric("disparate_exposure", "indie").value < clean.metric(
        "disparate_exposure", "indie").value


def _world():
    """Six items (a, c, e major; b, d, f indie), three users with one held-out item each."""
    items = pd.DataFrame({"item_id": list("abcdef"), "title": list("ABCDEF"),
                          "genres": ["x"] * 6, "provider": ["major", "indie"] * 3})
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "gender": ["f", "m", "f"]})
    rows = [("u1", "a", 1, "train"), ("u1", "b", 2, "test"),
            ("u2", "c", 1, "train"), ("u2", "d", 2, "test"),
            ("u3", "e", 1, "train"), ("u3", "a", 2, "test")]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "split"])
    return ra.datasets.from_frames(items, users, inter, sensitive=["gender"])


def test_exposure_by_hand():
    data = _world()
    # every user gets the same list a, c, b (ranks 1..3): major = 1 + 1/log2(3), indie = 0.5
    model = CallableRecommender(lambda req, k: ["a", "c", "b", "d", "e", "f"][:k], data)
    ctx = AuditContext(seed=0, n_bootstrap=100, n_permutations=100, show_progress=False)
    res = ProviderFairness(k=3, n_users=None, n_candidates=None).run(model, data, ctx)
    major = 1 + 1 / np.log2(3)
    share_major = major / (major + 0.5)
    assert res.metric("exposure_share", "major").value == pytest.approx(share_major)
    assert res.metric("exposure_share", "indie").value == pytest.approx(0.5 / (major + 0.5))
    assert res.metric("catalog_share", "indie").value == 0.5
    # held-out items b, d (indie) and a (major): relevant share indie = 2/3
    assert res.metric("relevant_share", "indie").value == pytest.approx(2 / 3)
    de_indie = (0.5 / (major + 0.5)) / (2 / 3)
    de_major = share_major / (1 / 3)
    assert res.metric("disparate_exposure", "indie").value == pytest.approx(de_indie)
    assert res.metric("min_max_exposure_ratio").value == pytest.approx(de_indie / de_major)
    table = res.tables["exposure_by_group"].set_index("group")
    assert table.loc["indie", "exposure_to_catalog"] == pytest.approx(
        (0.5 / (major + 0.5)) / 0.5)
    assert draw(res.figures["exposure_vs_share"]).startswith("<svg")
    assert res.evidence and res.evidence[0]["under_exposed_group"] == "indie"
    cat = ProviderFairness(k=3, n_users=None, n_candidates=None, reference="catalog",
                           plots=False).run(
        model, data, ctx)
    assert cat.metric("disparate_exposure", "indie").value == pytest.approx(
        (0.5 / (major + 0.5)) / 0.5)


def test_clear_errors(small_world, ctx):
    model = ProviderNeutral(small_world)
    with pytest.raises(ValueError, match="reference"):
        ProviderFairness(reference="users").run(model, small_world, ctx)
    with pytest.raises(ra.DatasetError, match="studio"):
        ProviderFairness(group_column="studio").run(model, small_world, ctx)
    with pytest.raises(ValueError, match="n_candidates"):
        ProviderFairness(k=10, n_candidates=5).run(model, small_world, ctx)


def test_candidates_option(small_world, ctx):
    res = ProviderFairness(n_users=30, n_candidates=20, plots=False).run(
        ProviderNeutral(small_world), small_world, ctx)
    assert 0 < res.metric("min_max_exposure_ratio").value <= 1
    shares = [res.metric("exposure_share", g).value for g in ("indie", "major")]
    assert sum(shares) == pytest.approx(1.0)


@pytest.mark.slow
def test_runs_on_tiny_lm(tiny_lm, tiny_lm_world):
    ctx = AuditContext(seed=0, n_bootstrap=100, n_permutations=100, show_progress=False)
    res = ProviderFairness(n_users=20, k=10, n_candidates=30).run(tiny_lm, tiny_lm_world, ctx)
    m = res.metric("min_max_exposure_ratio")
    assert 0.0 <= m.value <= 1.0 and 0 < m.p_value <= 1
