"""attribute_inference: GenderLeaky flagged on gender, GenderBlind not, over every seed;
metric checked against scikit-learn; result shape."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from recaudit.auditors import get_auditor_class
from recaudit.report import draw
from recaudit.testing.zoo.privacy import GenderBlind, GenderLeaky

from ...conftest import SEEDS
from ._helpers import RankOnly, context, failed, world

AttributeInference = get_auditor_class("attribute_inference")


@pytest.mark.parametrize("seed", SEEDS)
def test_gender_leaky_flagged_blind_not(seed):
    data = world(seed, n_users=150)  # clean world: histories carry no gender signal
    auditor = AttributeInference()
    bad = auditor.run(RankOnly(GenderLeaky(data, seed=seed)), data, context(seed, 100))
    assert failed(bad) == {("auc", "gender")}
    assert bad.metric("auc", "gender").value > 0.8
    good = auditor.run(RankOnly(GenderBlind(data, seed=seed)), data, context(seed, 100))
    assert failed(good) == set()
    assert good.metric("auc", "gender").value < 0.6


def test_auc_is_sklearn_out_of_fold_auc():
    data = world(1, n_users=120)
    model = GenderLeaky(data, seed=1, strength=0.15)  # partial leakage: AUC inside (0.5, 1)
    ctx = context(1, 50)
    res = AttributeInference(attributes=["gender", "age_group"], k=10).run(model, data, ctx)
    rng = ctx.rng("attribute_inference", "users")
    users = [data.user_ids[i] for i in rng.permutation(len(data.user_ids))]
    ranks = model.rank([data.request(u) for u in users], 10)
    x = np.zeros((len(users), len(data.item_ids)))
    for n, r in enumerate(ranks):
        x[n, [data.item_index[i] for i in r.items]] = 1
    for attr in ("gender", "age_group"):
        labels = data.users.set_index("user_id").loc[users, attr].to_numpy()
        values = np.unique(labels)
        y = np.searchsorted(values, labels)
        cv = StratifiedKFold(5, shuffle=True, random_state=ctx.subseed(
            "attribute_inference", "cv", attr))
        proba = cross_val_predict(LogisticRegression(max_iter=2000), x, y, cv=cv,
                                  method="predict_proba")
        ref = (roc_auc_score(y, proba[:, 1]) if len(values) == 2
               else roc_auc_score(y, proba, multi_class="ovo", average="macro"))
        assert res.metric("auc", attr).value == pytest.approx(ref)
    assert 0.5 < res.metric("auc", "gender").value < 1.0


def test_result_shape_and_history_baseline():
    data = world(2, n_users=120, clean=False)  # planted gender effect in the histories
    res = AttributeInference(n_users=None).run(GenderBlind(data), data, context(2, 50))
    assert {m.scope for m in res.metrics} == {"gender", "age_group"}
    # the data itself reveals gender, and a model that follows histories inherits it
    assert res.metric("history_auc", "gender").value > 0.65
    assert res.metric("auc", "gender").value > 0.6
    assert draw(res.figures["auc_by_attribute"]).startswith("<svg")
    assert res.tables["attributes"].shape[0] == 2
    assert {"attribute", "true_value", "predicted", "top_items"} <= set(res.evidence[0])
    m = res.metric("auc", "age_group")
    assert m.ci_low <= m.value <= m.ci_high and 0 < m.p_value <= 1


def test_errors_and_skips():
    data = world(0, n_users=40, n_items=40)
    with pytest.raises(ValueError, match="unknown attribute"):
        AttributeInference(attributes=["income"]).run(GenderBlind(data), data, context(0))
    res = AttributeInference(n_users=12, n_folds=5).run(GenderBlind(data), data, context(0, 20))
    assert any("skipped" in n for n in res.notes)
