"""membership_inference: the Memorizer is flagged by every attack, the Generalizer by none,
over every seed; attacks follow capabilities; wiring and result shape."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from recaudit.auditors import get_auditor_class
from recaudit.auditors.privacy.membership import (
    eligible_users,
    membership_examples,
    shadow_data,
)
from recaudit.report import draw
from recaudit.testing.zoo.privacy import Generalizer, Memorizer

from ...conftest import SEEDS
from ._helpers import NoTrain, RankOnly, context, failed, verdicts, world

MembershipInference = get_auditor_class("membership_inference")
SCOPES = {"loss", "reference", "reference_offline", "rank_only"}


@pytest.mark.parametrize("seed", SEEDS)
def test_memorizer_flagged_generalizer_not(seed):
    data = world(seed)
    auditor = MembershipInference(n_users=80, n_shadows=2)
    bad = auditor.run(Memorizer(data, seed=seed), data, context(seed, 100))
    assert failed(bad) == {("auc", s) for s in SCOPES}
    assert bad.metric("auc", "loss").value > 0.95
    good = auditor.run(Generalizer(data, seed=seed), data, context(seed, 100))
    assert failed(good) == set()
    for scope in ("loss", "reference", "reference_offline"):
        assert good.metric("auc", scope).value < 0.6


@pytest.mark.parametrize("seed", SEEDS)
def test_rank_only_model_gets_rank_only_attack(seed):
    data = world(seed)
    auditor = MembershipInference(n_users=80)
    bad = auditor.run(RankOnly(Memorizer(data, seed=seed)), data, context(seed))
    assert {m.scope for m in bad.metrics} == {"rank_only"}
    assert any("loss attack skipped" in n and "nll" in n for n in bad.notes)
    assert any("reference attack skipped" in n for n in bad.notes)
    assert failed(bad) == {("auc", "rank_only")}
    good = auditor.run(RankOnly(Generalizer(data, seed=seed)), data, context(seed, 100))
    assert failed(good) == set()


def test_model_without_train_gets_loss_but_no_reference():
    data = world(0)
    res = MembershipInference(n_users=80).run(NoTrain(Memorizer(data)), data, context(0))
    assert {m.scope for m in res.metrics} == {"loss", "rank_only"}
    assert any("reference attack skipped" in n and "train" in n for n in res.notes)
    assert any("split of users" in n for n in res.notes)


def test_examples_are_balanced_member_and_held_out_pairs():
    data = world(0, n_users=40, n_items=40)
    users = eligible_users(data)[:10]
    ex = membership_examples(data, users)
    assert ex.labels.tolist() == [1, 0] * 10
    for n, u in enumerate(users):
        h = data.train_histories[u]
        mem, non = ex.requests[2 * n], ex.requests[2 * n + 1]
        assert mem.history == h[:-1] and ex.targets[2 * n] == h[-1]
        assert non.history == h and ex.targets[2 * n + 1] == data.test_items[u][0]


def test_shadow_data_in_users_keep_everything_out_users_lose_the_examples():
    data = world(0, n_users=40, n_items=40)
    users = eligible_users(data)[:10]
    inside = set(users[:5])
    sh = shadow_data(data, users, inside)
    assert len(sh.users) == len(data.users)
    for u in users[:5]:
        assert sh.train_histories[u] == data.train_histories[u] + data.test_items[u]
    for u in users[5:]:
        assert sh.train_histories[u] == data.train_histories[u][:-1]
    other = [u for u in data.user_ids if u not in set(users)]
    assert all(sh.train_histories[u] == data.train_histories[u] for u in other)


def test_reported_numbers_match_sklearn_on_the_same_scores():
    data = world(1)
    model = Memorizer(data, seed=1, strength=0.05)  # a weak defect: an informative ROC
    res = MembershipInference(attacks=["loss"], n_users=100).run(model, data, context(1, 50))
    ex = membership_examples(data, _sampled_users(data))
    scores = -model.nll(ex.requests, ex.targets)
    fpr, tpr, _ = skm.roc_curve(ex.labels, scores, drop_intermediate=False)
    assert res.metric("auc", "loss").value == pytest.approx(skm.roc_auc_score(ex.labels, scores))
    assert res.metric("tpr_at_1pct_fpr", "loss").value == pytest.approx(tpr[fpr <= 0.01].max())
    assert res.metric("tpr_at_0.1pct_fpr", "loss").value == pytest.approx(
        tpr[fpr <= 0.001].max())


def _sampled_users(data):
    """The users the auditor sampled (same seed-derived order as inside ``run``)."""
    ctx = context(1, 50)
    pool = eligible_users(data)
    rng = ctx.rng("membership_inference", "users")
    return [pool[i] for i in rng.permutation(len(pool))][:100]


def test_result_shape_figure_evidence_and_json_roundtrip():
    from recaudit.results import AuditResult

    data = world(2)
    res = MembershipInference(n_users=60).run(Memorizer(data), data, context(2))
    assert res.family == "privacy" and res.citation and res.method
    assert draw(res.figures["roc_loglog"]).startswith("<svg")
    assert len(res.evidence) >= 3 and {"user", "item", "attack_score"} <= set(res.evidence[0])
    table = res.tables["attacks"]
    assert set(table["attack"]) == SCOPES
    for m in res.metrics:
        assert m.ci_low <= m.value + 1e-9 and m.value <= m.ci_high + 1e-9
    v = verdicts(res)
    assert v[("tpr_at_1pct_fpr", "loss")] == "info"
    back = AuditResult.from_dict(res.to_dict())
    assert back.metric("auc", "loss").value == res.metric("auc", "loss").value


@pytest.mark.parametrize("params, match", [
    ({"attacks": ["lira"]}, "unknown attack"),
    ({"n_shadows": 3}, "even"),
    ({"item_vectors": "bert"}, "item_vectors"),
])
def test_bad_parameters_raise_clear_errors(params, match):
    data = world(0, n_users=30, n_items=40)
    with pytest.raises(ValueError, match=match):
        MembershipInference(**params).run(Generalizer(data), data, context(0))


def test_thresholds_override_per_scope():
    data = world(3)
    res = MembershipInference(attacks=["loss"], n_users=60,
                              thresholds={"auc@loss": 0.99}).run(Generalizer(data), data,
                                                                 context(3))
    assert res.metric("auc", "loss").threshold == 0.99
    assert np.isfinite(res.metric("auc", "loss").p_value)


@pytest.mark.slow
def test_minilm_item_vectors_work():
    data = world(4, n_users=60, n_items=40)
    res = MembershipInference(attacks=["rank_only"], item_vectors="both",
                              n_users=60).run(RankOnly(Memorizer(data)), data, context(4))
    assert failed(res) == {("auc", "rank_only")}
