"""``membership_inference``: can an attacker tell training interactions from unseen ones?

Examples are (history prefix, next item) pairs. For each sampled user with at least two
training items and a held-out item, the *member* example is the user's last training item
given the training items before it, and the *non-member* example is the user's held-out item
given the full training history: one of each per user, so the two classes are balanced and
drawn from the same users.

Attacks (each a metric scope), chosen by the model's capabilities:

- ``loss`` (needs ``nll``; Yeom et al. 2018): score = -NLL of the target item.
- ``reference`` / ``reference_offline`` (needs ``train`` and ``nll``; LiRA, Carlini et al.
  2022): shadow models are re-trained through ``fit`` on data where each user is IN (the whole
  sequence, held-out item included, is training data) in exactly half of the shadows and OUT
  (the last training item and the held-out item removed) in the other half, so both
  examples of a user are IN or OUT together and the training-set size stays that of the
  target. The per-example statistic is the logit of the target item's probability; IN and OUT
  Gaussians have per-example means and a global variance (the fixed-variance variant the paper
  recommends for few shadows). Online: likelihood ratio of IN to OUT; offline: the one-sided
  z-score against OUT only.
- ``rank_only`` (needs only ``rank``; MIARS, Zhang et al. 2021): a user-level black-box
  attack. Half the users present a member record, half a non-member record; the feature is
  mean(record item vectors) - mean(recommended item vectors) (genre one-hot or MiniLM title
  embeddings), with the cosine of the two means and the reciprocal rank of the record's last
  item among the recommendations (a label-only feature, Choquette-Choo et al. 2021). A
  logistic-regression attack model is trained on a shadow model built with ``fit`` when the
  model has ``train``, otherwise with out-of-fold predictions over a split of users; the
  whole threshold sweep is reported, not one operating point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...contract import Request
from ...metrics import privacy as pm
from ...results import Figure
from .._base import AuditContext, Auditor
from .._metric_spec import MetricSpec
from .._registry import register_auditor

ATTACKS = ("loss", "reference", "rank_only")
ITEM_VECTORS = ("genre", "minilm", "both")


@dataclass
class _Examples:
    """Balanced member / non-member examples, two per user."""

    users: list[str]
    requests: list[Request]
    targets: list[str]
    labels: np.ndarray  # 1 member, 0 non-member
    pair: np.ndarray  # user index of each example


def eligible_users(data: Any) -> list[str]:
    """Users with at least two training items and one held-out item."""
    return [u for u in data.user_ids
            if len(data.train_histories.get(u, ())) >= 2 and data.test_items.get(u)]


def membership_examples(data: Any, users: list[str]) -> _Examples:
    """Member = last train item after the rest of the train history; non-member = the first
    held-out item after the full train history."""
    reqs, targets, labels, pair = [], [], [], []
    for n, u in enumerate(users):
        h = data.train_histories[u]
        reqs += [Request(u, history=h[:-1]), Request(u, history=h)]
        targets += [h[-1], data.test_items[u][0]]
        labels += [1, 0]
        pair += [n, n]
    return _Examples(list(users), reqs, targets, np.array(labels), np.array(pair))


def shadow_data(data: Any, users: list[str], inside: set[str]) -> Any:
    """Training data for one LiRA shadow: users in ``inside`` contribute their whole sequence
    (held-out items included) as training data; the other ``users`` lose their last training
    item and their held-out items (moved to test). Everyone else is unchanged."""
    inter = data.interactions.copy()
    chosen = set(users)
    last_train = {u: data.train_histories[u][-1] for u in chosen}
    is_user = inter["user_id"].isin(chosen)
    is_in = inter["user_id"].isin(inside & chosen)
    split = inter["split"].to_numpy(copy=True)
    split[is_in.to_numpy()] = "train"
    out_rows = (is_user & ~is_in).to_numpy()
    drop = out_rows & (inter["item_id"].to_numpy() == inter["user_id"].map(last_train)
                       .to_numpy()) & (split == "train")
    split[drop] = "test"
    inter["split"] = split
    return data.with_interactions(inter, note="LiRA shadow split")


def _summary(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return pm.roc_summary(scores, labels, (0.01, 0.001))


@register_auditor("membership_inference")
class MembershipInference(Auditor):
    """Membership inference: loss, LiRA (reference models) and rank-only attacks.

    Parameters
    ----------
    attacks : sequence of {"loss", "reference", "rank_only"}
        Attacks to try; each runs only when the model declares what it needs (``loss``:
        ``nll``; ``reference``: ``train`` and ``nll``; ``rank_only``: ``rank``).
    n_users : int or None
        Users sampled for the examples (each gives one member and one non-member example);
        ``None`` uses every eligible user.
    n_shadows : int
        Shadow models for ``reference`` (even, >= 2); each user is IN in exactly half.
    k : int
        Recommendation list length for ``rank_only``.
    item_vectors : {"genre", "minilm", "both"}
        Item representation for the ``rank_only`` feature.
    rank_only_shadow : bool
        Train the ``rank_only`` attack model on a shadow model (``fit`` on half of the
        users, one training run) when the model has ``train``; ``False`` (or no ``train``)
        uses out-of-fold predictions over a split of users.
    thresholds : dict, optional
        Override ``default_thresholds`` (``auc`` or ``auc@<attack>``).

    Notes
    -----
    The unit of an attack is the example: ``auc`` has one row per example (per scope), the
    attack's score as ``value`` (higher: more confidently called a member) with ``member``
    (the truth), and for the paired attacks the example's ``user_id`` and target
    ``item_id`` (two rows per user); ``rank_only`` attacks users, one row each. The AUC is
    that of ``value`` against ``member``; the members with the highest scores are the most
    exposed users. The TPR metrics come from the same rows and carry none of their own.

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo.privacy import Memorizer
    >>> data = ra.datasets.synthetic(n_users=60, n_items=40, seed=0)
    >>> res = MembershipInference(attacks=["loss"]).run(
    ...     Memorizer(data), data, ra.AuditContext(show_progress=False, n_bootstrap=50))
    >>> res.metric("auc", "loss").value > 0.9
    True
    """

    family = "privacy"
    requires = frozenset({"rank"})
    method = (
        "Membership inference on (history prefix, next item) examples: for each sampled user "
        "the last training item given the earlier ones is a member, the held-out item given "
        "the full training history a non-member (balanced, same users). Attacks by "
        "capability: the loss attack (Yeom et al. 2018) scores -NLL; LiRA (Carlini et al. "
        "2022) re-trains shadow models on data where each user is IN in half of them, fits "
        "per-example Gaussians to the logit of the target's probability and scores the "
        "likelihood ratio (online) or the z-score against OUT models (offline); a rank-only "
        "user-level attack in the style of MIARS (Zhang et al. 2021) trains a logistic "
        "regression on mean(record item vectors) - mean(recommended item vectors) plus the "
        "rank of the record's last item, using a shadow model when the model can be "
        "re-trained. Each attack reports the full ROC, AUC and TPR at 1% and 0.1% FPR (the "
        "largest TPR among operating points with FPR <= the target, not interpolated; the "
        "LiRA reference code uses a strict FPR < target, which can give a lower TPR when an "
        "operating point sits exactly at the target) with bootstrap CIs over users; the AUC is tested against chance (0.5) with a one-sided "
        "Wilcoxon signed-rank test on paired examples (Mann-Whitney U for the user-level "
        "attack) and fails when it exceeds the threshold.")
    citation = (
        "Yeom et al., Privacy Risk in Machine Learning, CSF 2018; Carlini et al., Membership "
        "Inference Attacks From First Principles, IEEE S&P 2022; Zhang et al., Membership "
        "Inference Attacks Against Recommender Systems, ACM CCS 2021.")
    #: ``auc``: the largest acceptable attack AUC (0.5 = chance), for every attack (the
    #: scope of every metric is the attack: loss, reference, rank_only).
    metrics = (
        MetricSpec("auc", "ROC-AUC of the membership attack (0.5 = chance)",
                   higher_is_better=False, threshold=0.6),
        MetricSpec("tpr_at_1pct_fpr", "true-positive rate of the attack at FPR <= 1%",
                   higher_is_better=False),
        MetricSpec("tpr_at_0.1pct_fpr", "true-positive rate of the attack at FPR <= 0.1%",
                   higher_is_better=False),
    )

    def __init__(self, attacks: tuple[str, ...] | list[str] = ATTACKS, n_users: int | None = 200,
                 n_shadows: int = 4, k: int = 10, item_vectors: str = "genre",
                 rank_only_shadow: bool = True, thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.attacks = attacks
        self.n_users = n_users
        self.n_shadows = n_shadows
        self.k = k
        self.item_vectors = item_vectors
        self.rank_only_shadow = rank_only_shadow

    # ------------------------------------------------------------------ run
    def _validate(self) -> None:
        bad = [a for a in self.attacks if a not in ATTACKS]
        if bad or not self.attacks:
            raise ValueError(f"membership_inference: unknown attack(s) {bad}; choose from "
                             f"{list(ATTACKS)}")
        if self.n_shadows < 2 or self.n_shadows % 2:
            raise ValueError(f"membership_inference: n_shadows must be even and >= 2 (each "
                             f"user is IN in half of them); got {self.n_shadows}")
        if self.item_vectors not in ITEM_VECTORS:
            raise ValueError(f"membership_inference: item_vectors must be one of "
                             f"{list(ITEM_VECTORS)}; got {self.item_vectors!r}")

    def run(self, model: Any, data: Any, ctx: AuditContext):
        self._validate()
        caps = set(getattr(model, "capabilities", ()) or ())
        rng = ctx.rng(self.name, "users")
        pool = eligible_users(data)
        if len(pool) < 10:
            raise ValueError(f"membership_inference needs at least 10 users with >= 2 training "
                             f"items and a held-out item; {data.name!r} has {len(pool)}")
        users = [pool[i] for i in rng.permutation(len(pool))]
        users = users if self.n_users is None else users[:self.n_users]
        ex = membership_examples(data, users)
        notes, scores, keys = [], {}, {}
        paired_keys = {"user_id": [ex.users[int(n)] for n in ex.pair], "item_id": ex.targets}
        need = {"loss": {"nll"}, "reference": {"nll", "train"}, "rank_only": {"rank"}}
        for attack in self.attacks:
            missing = need[attack] - caps
            if missing:
                notes.append(f"{attack} attack skipped: the model does not declare "
                             f"{sorted(missing)}.")
                continue
            if attack == "loss":
                scores["loss"] = self._loss(model, ex)
            elif attack == "reference":
                scores.update(self._lira(model, data, ex, ctx, notes))
            else:
                score, y, pair, who = self._rank_only(model, data, users, ctx, caps, notes)
                scores["rank_only"] = (score, y, pair)
                keys["rank_only"] = {"user_id": who}
        return self._report(scores, ex, data, ctx, notes,
                            {s: keys.get(s, paired_keys) for s in scores})

    # ------------------------------------------------------------------ attacks
    @staticmethod
    def _loss(model: Any, ex: _Examples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nll = np.asarray(model.nll(ex.requests, ex.targets), dtype=float)
        return -nll, ex.labels, ex.pair

    def _lira(self, model: Any, data: Any, ex: _Examples, ctx: AuditContext,
              notes: list[str]) -> dict:
        n_u, n_s = len(ex.users), self.n_shadows
        rng = ctx.rng(self.name, "lira")
        # each user IN in exactly half the shadows (as in the LiRA reference code)
        keep = np.argsort(rng.random((n_u, n_s)), axis=1) < n_s // 2
        phi = np.empty((n_s, len(ex.targets)))
        for s in ctx.progress(range(n_s), desc="membership: shadow models", total=n_s):
            inside = {u for u, k in zip(ex.users, keep[:, s]) if k}
            shadow = model.fit(shadow_data(data, ex.users, inside),
                               seed=ctx.subseed(self.name, "shadow", s))
            phi[s] = pm.logit_confidence(shadow.nll(ex.requests, ex.targets))
        target = pm.logit_confidence(model.nll(ex.requests, ex.targets))
        is_in = keep[ex.pair].T  # (n_shadows, n_examples)
        mu_in = np.nanmean(np.where(is_in, phi, np.nan), axis=0)
        mu_out = np.nanmean(np.where(~is_in, phi, np.nan), axis=0)
        sd_in = max(float(np.std((phi - mu_in)[is_in])), 1e-6)
        sd_out = max(float(np.std((phi - mu_out)[~is_in])), 1e-6)
        online = (stats.norm.logpdf(target, mu_in, sd_in)
                  - stats.norm.logpdf(target, mu_out, sd_out))
        offline = (target - mu_out) / sd_out
        notes.append(f"LiRA: {n_s} shadow models; global sd IN {sd_in:.3g}, OUT {sd_out:.3g}; "
                     f"mean IN-OUT gap of the logit statistic {np.mean(mu_in - mu_out):.3g}.")
        return {"reference": (online, ex.labels, ex.pair),
                "reference_offline": (offline, ex.labels, ex.pair)}

    def _item_matrix(self, data: Any) -> np.ndarray:
        parts = []
        if self.item_vectors in ("genre", "both"):
            genres = sorted({g for i in data.item_ids for g in data.genres(i)})
            gi = {g: n for n, g in enumerate(genres)}
            m = np.zeros((len(data.item_ids), len(genres)))
            for n, i in enumerate(data.item_ids):
                m[n, [gi[g] for g in data.genres(i)]] = 1.0
            parts.append(m)
        if self.item_vectors in ("minilm", "both"):
            from ...models.encoders import encode

            parts.append(encode([data.titles[i] for i in data.item_ids]))
        return np.hstack(parts)

    def _user_features(self, model: Any, data: Any, users: list[str], member: np.ndarray,
                       vectors: np.ndarray) -> np.ndarray:
        reqs, records = [], []
        for u, m in zip(users, member):
            h = data.train_histories[u]
            if m:
                reqs.append(Request(u, history=h[:-1]))
                records.append(h)
            else:
                reqs.append(Request(u, history=h))
                records.append(h + (data.test_items[u][0],))
        ranks = model.rank(reqs, self.k)
        idx = data.item_index
        feats = []
        for rec, r in zip(records, ranks):
            hv = vectors[[idx[i] for i in rec]].mean(axis=0)
            items = [i for i in r.items if i in idx]
            rv = vectors[[idx[i] for i in items]].mean(axis=0) if items else np.zeros_like(hv)
            cos = float(hv @ rv / (np.linalg.norm(hv) * np.linalg.norm(rv) + 1e-12))
            rr = 1.0 / (items.index(rec[-1]) + 1) if rec[-1] in items else 0.0
            feats.append(np.concatenate([hv - rv, [cos, rr]]))
        return np.array(feats)

    def _rank_only(self, model: Any, data: Any, users: list[str], ctx: AuditContext,
                   caps: set[str], notes: list[str]):
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rng = ctx.rng(self.name, "rank_only")
        vectors = self._item_matrix(data)

        def labels_for(n: int) -> np.ndarray:
            y = np.arange(n) % 2
            return rng.permutation(y)

        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        if "train" in caps and self.rank_only_shadow:
            order = rng.permutation(len(users))
            half = len(users) // 2
            shadow_users = [users[i] for i in order[:half]]
            target_users = [users[i] for i in order[half:]]
            shadow = model.fit(data.subset_users(shadow_users),
                               seed=ctx.subseed(self.name, "rank_only_shadow"))
            ys = labels_for(len(shadow_users))
            clf.fit(self._user_features(shadow, data, shadow_users, ys, vectors), ys)
            yt = labels_for(len(target_users))
            xt = self._user_features(model, data, target_users, yt, vectors)
            score = clf.predict_proba(xt)[:, 1]
            notes.append(f"rank_only: attack model trained on a shadow model (fit on "
                         f"{len(shadow_users)} users), evaluated on {len(target_users)} "
                         "other users of the model under test.")
            # one example per user: unpaired
            return score, yt, np.arange(len(yt)), target_users
        y = labels_for(len(users))
        x = self._user_features(model, data, users, y, vectors)
        cv = StratifiedKFold(5, shuffle=True, random_state=ctx.subseed(self.name, "cv"))
        score = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
        why = "rank_only_shadow=False" if "train" in caps else "no 'train' capability"
        notes.append(f"rank_only ({why}): the attack model is trained on a split of users "
                     "(5-fold out-of-fold predictions).")
        return score, y, np.arange(len(y)), list(users)

    # ------------------------------------------------------------------ report
    def _report(self, scores: dict, ex: _Examples, data: Any, ctx: AuditContext,
                notes: list[str], keys: dict[str, dict[str, list]]):
        metrics, rows, evidence, curves = [], [], [], {}
        for scope, (s, y, pair) in scores.items():
            paired = scope != "rank_only"
            value = _summary(s, y)
            boot = pm.grouped_bootstrap(_summary, s, y, groups=pair,
                                        n_resamples=ctx.n_bootstrap,
                                        seed=ctx.subseed(self.name, "boot", scope))
            lo, hi = np.quantile(boot, [0.025, 0.975], axis=0)
            p = pm.auc_p_value(s, y, pairs=pair if paired else None)
            unit = "user pairs" if paired else "users"
            metrics.append(self.metric(
                "auc", value[0], scope=scope, ci=(lo[0], hi[0]), p_value=p,
                higher_is_better=False,
                description=f"ROC-AUC of the {scope} attack (0.5 = chance), CI over {unit}",
                per_user=pd.DataFrame({**keys[scope], "value": np.asarray(s, dtype=float),
                                       "member": np.asarray(y) == 1}),
                per_user_aggregate=None))
            for j, (name, f) in enumerate((("tpr_at_1pct_fpr", "1%"),
                                           ("tpr_at_0.1pct_fpr", "0.1%")), start=1):
                metrics.append(self.metric(
                    name, value[j], scope=scope, ci=(lo[j], hi[j]), higher_is_better=False,
                    description=f"TPR of the {scope} attack at FPR <= {f} (largest TPR "
                                "among operating points, not interpolated)"))
            n0 = int((y == 0).sum())
            rows.append({"attack": scope, "n_members": int((y == 1).sum()),
                         "n_non_members": n0, "auc": value[0], "auc_ci_low": lo[0],
                         "auc_ci_high": hi[0], "tpr_at_1pct_fpr": value[1],
                         "tpr_at_0.1pct_fpr": value[2], "p_value": p,
                         "min_nonzero_fpr": 1.0 / max(n0, 1)})
            fpr, tpr, _ = pm.roc_curve(s, y)
            curves[scope] = {"fpr": fpr, "tpr": tpr, "auc": value[0], "n_non_members": n0}
            if paired:
                for t in np.argsort(-s)[:3]:
                    evidence.append({
                        "attack": scope, "user": ex.users[int(ex.pair[t])],
                        "item": data.titles.get(ex.targets[t], ex.targets[t]),
                        "history_length": len(ex.requests[t].history),
                        "truly_member": bool(ex.labels[t]),
                        "attack_score": round(float(s[t]), 4)})
        figures = {"roc_loglog": Figure("roc_loglog", {"curves": curves})} if curves else {}
        notes.append(f"{len(ex.users)} users; with n non-members the smallest non-zero FPR is "
                     "1/n, so TPR at 0.1% FPR is the TPR at zero false positives when n < 1000.")
        return self.result(metrics=metrics, tables={"attacks": pd.DataFrame(rows)},
                           figures=figures, evidence=evidence, notes=notes)

