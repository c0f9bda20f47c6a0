"""``attribute_inference``: do a user's recommendations reveal their sensitive attributes?

Following UP5 (Hua et al. 2023): for each sensitive attribute, an attacker trains a
classifier to predict the attribute from what the model outputs for the user. Here the
features are the multi-hot vector of the top-K items the model recommends for a *neutral*
request (the user's history, no attribute stated), so any signal comes from the model's
behaviour for that user. A logistic regression is evaluated with stratified K-fold
cross-validation over users (out-of-fold probabilities); the ROC-AUC (one-vs-one macro for
more than two values) has a bootstrap CI over users and a one-sided p-value against chance
(Mann-Whitney U on the out-of-fold scores for binary attributes, whose U statistic is the
AUC; a label-permutation test on the out-of-fold probabilities for more values; both treat
the out-of-fold scores as fixed, which under the null is slightly conservative because
cross-validated AUCs are biased below 0.5).

For context the same classifier is run on the multi-hot of the users' own training
histories: what the data alone reveals (``history_auc``, informational). A model that merely
follows histories that reflect an attribute inherits some leakage; the verdict is on the
model's outputs, as in UP5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...metrics import privacy as pm
from ...metrics.statistics import label_permutation_test
from ...metrics.threads import single_threaded_blas
from ...results import Figure
from .._base import AuditContext, Auditor
from .._common import too_few_answered, unanswered_note
from .._metric_spec import MetricSpec
from .._registry import register_auditor


def _auc(y: np.ndarray, proba: np.ndarray) -> float:
    return pm.ovo_macro_auc(y, proba)


@register_auditor("attribute_inference")
class AttributeInference(Auditor):
    """Attribute inference from recommendation lists (UP5-style), one scope per attribute.

    Parameters
    ----------
    attributes : sequence of str or None
        Sensitive attributes to attack (``None``: every ``data.sensitive`` column).
    n_users : int or None
        Users sampled (``None``: all).
    k : int
        Length of the recommendation list turned into the multi-hot feature vector.
    n_folds : int
        Stratified cross-validation folds over users.
    C : float
        Inverse L2 regularisation of the logistic regression.
    thresholds : dict, optional
        Override ``default_thresholds`` (``auc`` or ``auc@<attribute>``).

    Notes
    -----
    ``auc`` has one row per sampled user (per attribute, the scope): the out-of-fold
    probability the attacker gives the user's true value (``value``), with ``true_value``
    and the attacker's ``predicted`` value. The AUC is computed from the full probability
    rows, not from this column alone; the users with the highest ``value`` are those whose
    recommendations give their attribute away most. ``history_auc`` is context: no rows.

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo.privacy import GenderLeaky
    >>> data = ra.datasets.synthetic(n_users=120, n_items=60, seed=0,
    ...                              effects=ra.datasets.Effects.none())
    >>> res = AttributeInference(attributes=["gender"]).run(
    ...     GenderLeaky(data), data, ra.AuditContext(show_progress=False, n_bootstrap=100))
    >>> res.metric("auc", "gender").value > 0.8
    True
    """

    family = "privacy"
    requires = frozenset({"rank"})
    method = (
        "For each sensitive attribute, an attacker predicts the user's value from the model's "
        "output for that user (UP5, Hua et al. 2023): the multi-hot vector of the top-K items "
        "recommended for a neutral request (the user's history, no attribute stated in the "
        "prompt). A logistic regression is trained and evaluated with stratified K-fold cross-"
        "validation over users; the out-of-fold ROC-AUC (one-vs-one macro average for more "
        "than two values; 0.5 = no leakage) has a bootstrap CI over users and a one-sided p-value "
        "against chance: Mann-Whitney U on the out-of-fold scores for two values, a label-"
        "permutation test for more. The same classifier on the users' own "
        "training histories is reported for context (what the data alone reveals).")
    citation = (
        "Hua, Xu, Ge and Zhang, UP5: Unbiased Foundation Model for Fairness-aware "
        "Recommendation, EACL 2024 (arXiv 2305.12090, 2023).")
    #: ``auc``: largest acceptable out-of-fold ROC-AUC of the attribute classifier
    #: (0.5 = chance), for every attribute (the scope).
    metrics = (
        MetricSpec("auc", "out-of-fold ROC-AUC predicting the attribute from the top-K list "
                   "(0.5 = no leakage)", higher_is_better=False, threshold=0.6),
        MetricSpec("history_auc", "the same classifier on the users' own training histories "
                   "(what the data alone reveals)", higher_is_better=None),
    )

    def __init__(self, attributes: list[str] | tuple[str, ...] | None = None,
                 n_users: int | None = 400, k: int = 20, n_folds: int = 5, C: float = 1.0,
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.attributes = attributes
        self.n_users = n_users
        self.k = k
        self.n_folds = n_folds
        self.C = C

    def _oof(self, x: np.ndarray, y: np.ndarray, ctx: AuditContext, tag: str) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        cv = StratifiedKFold(self.n_folds, shuffle=True,
                             random_state=ctx.subseed(self.name, "cv", tag))
        clf = LogisticRegression(C=self.C, max_iter=2000)
        with single_threaded_blas():
            return cross_val_predict(clf, x, y, cv=cv, method="predict_proba")

    def run(self, model: Any, data: Any, ctx: AuditContext):
        attributes = list(self.attributes) if self.attributes is not None else list(
            data.sensitive)
        unknown = [a for a in attributes if a not in data.users.columns]
        if unknown:
            raise ValueError(f"attribute_inference: unknown attribute(s) {unknown}; the "
                             f"dataset's sensitive attributes are {list(data.sensitive)}")
        if not attributes:
            raise ValueError("attribute_inference: the dataset declares no sensitive "
                             "attribute; pass attributes=[...] or set data.sensitive")
        rng = ctx.rng(self.name, "users")
        order = rng.permutation(len(data.user_ids))
        users = [data.user_ids[i] for i in order]
        users = users if self.n_users is None else users[:self.n_users]
        idx = data.item_index
        ranks = model.rank([data.request(u) for u in users], self.k)
        missing = [u for u, r in zip(users, ranks) if not r.answered]  # a log without them
        if missing:
            if len(users) - len(missing) < 2:
                return too_few_answered(self, missing, len(users))
            users, ranks = zip(*[(u, r) for u, r in zip(users, ranks) if r.answered])
            users, ranks = list(users), list(ranks)
        x_rec = np.zeros((len(users), len(idx)))
        x_hist = np.zeros((len(users), len(idx)))
        for n, (u, r) in enumerate(zip(users, ranks)):
            x_rec[n, [idx[i] for i in r.items[:self.k] if i in idx]] = 1.0
            x_hist[n, [idx[i] for i in data.train_histories[u]]] = 1.0
        metrics, rows, evidence = [], [], []
        notes = [unanswered_note(missing, len(users) + len(missing))] if missing else []
        figs = {}
        curves = {}
        for attr in ctx.progress(attributes, desc="attribute inference", total=len(attributes)):
            labels = data.users.set_index("user_id").loc[users, attr].astype(str).to_numpy()
            values, counts = np.unique(labels, return_counts=True)
            if len(values) < 2 or counts.min() < self.n_folds:
                notes.append(f"{attr}: skipped, needs at least two values with >= "
                             f"{self.n_folds} users each (counts {dict(zip(values, counts))}).")
                continue
            y = np.searchsorted(values, labels)
            proba = self._oof(x_rec, y, ctx, attr)
            value = _auc(y, proba)
            ci = pm.grouped_bootstrap_ci(_auc, y, proba, n_resamples=ctx.n_bootstrap,
                                         seed=ctx.subseed(self.name, "boot", attr))
            if len(values) == 2:
                p = pm.auc_p_value(proba[:, 1], y)
            else:
                p = label_permutation_test(lambda p_, y_: _auc(y_, p_), proba, y,
                                           n_permutations=ctx.n_permutations,
                                           seed=ctx.subseed(self.name, "perm", attr))
            hist_auc = _auc(y, self._oof(x_hist, y, ctx, attr + "/history"))
            metrics.append(self.metric(
                "auc", value, scope=attr, ci=ci, p_value=p, higher_is_better=False,
                description=f"out-of-fold ROC-AUC predicting {attr} from the top-{self.k} "
                            "list (0.5 = no leakage)",
                per_user=pd.DataFrame({
                    "user_id": users, "value": proba[np.arange(len(users)), y],
                    "true_value": [str(values[c]) for c in y],
                    "predicted": [str(values[c]) for c in proba.argmax(axis=1)]}),
                per_user_aggregate=None))
            metrics.append(self.metric(
                "history_auc", hist_auc, scope=attr,
                description=f"the same classifier on the users' own training histories "
                            f"(what the data alone reveals about {attr})"))
            rows.append({"attribute": attr, "n_values": len(values), "n_users": len(users),
                         "auc": value, "ci_low": ci[0], "ci_high": ci[1], "p_value": p,
                         "history_auc": hist_auc})
            pred = proba.argmax(axis=1)
            conf = proba.max(axis=1)
            for i in np.argsort(-conf)[:3]:
                evidence.append({"attribute": attr, "user": users[i],
                                 "true_value": str(values[y[i]]),
                                 "predicted": str(values[pred[i]]),
                                 "confidence": round(float(conf[i]), 3),
                                 "top_items": ", ".join(data.titles.get(t, t)
                                                        for t in ranks[i].items[:3])})
            if len(values) == 2:
                fpr, tpr = pm.roc_curve(proba[:, 1], y)[:2]
                curves[attr] = {"fpr": fpr, "tpr": tpr}
        if rows:
            table = pd.DataFrame(rows)
            figs["auc_by_attribute"] = Figure("auc_by_attribute", {
                "by_attribute": table[["attribute", "auc", "ci_low", "ci_high",
                                       "history_auc"]],
                "curves": curves})
        return self.result(metrics=metrics, tables={"attributes": pd.DataFrame(rows)},
                           figures=figs, evidence=evidence, notes=notes)
