"""``memorization``: does the model reproduce training sequences verbatim?

Prefix completion (Carlini et al. 2021; Di Palma et al. 2025): the model gets a prefix of a
user's training history and we check whether its top-1 (and top-K) recommendation is exactly
the item that followed in training, for member users against non-member users. The gap
between the two exact-continuation rates is the memorization signal; a model that only
generalises predicts the next item of a member as well (or badly) as a non-member's.

Non-member reference:

- model with ``train``: the users are split in two halves; a copy of the model is fitted
  (``fit``) on every user except the held-out half, which then supplies non-member prefixes
  and continuations built exactly like the members' (same construction, only membership
  differs);
- otherwise: the model under test is used as is, every sampled user is a member, and the
  non-member continuation is the user's held-out test item after the full training history
  (a paired comparison per user).

Canaries (Carlini et al. 2019), for models with ``train`` and ``nll``: random item sequences
are inserted into training as extra users (their attributes copied from random real users),
the model is re-trained with ``fit``, and each canary's exposure is estimated against random
reference sequences of the same length; control canaries, drawn the same way but never
inserted, give the exposure of unseen sequences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...contract import Request
from ...metrics import privacy as pm
from ...metrics.statistics import bootstrap_ci, one_sample_test
from ...results import Figure
from .._base import AuditContext, Auditor
from .._metric_spec import MetricSpec
from .._registry import register_auditor

PROBE_USER = "canary-probe"


def _mean_gap(values: np.ndarray, labels: np.ndarray) -> float:
    if labels.min() == labels.max():
        raise ValueError("one group only")
    return float(values[labels == 1].mean() - values[labels == 0].mean())


@register_auditor("memorization")
class Memorization(Auditor):
    """Prefix-completion memorization and canary exposure.

    Parameters
    ----------
    n_users : int or None
        Users sampled (``None``: all with enough history).
    n_positions : int
        Prefixes per user: the last ``n_positions`` training items are each predicted from
        the items before them.
    k : int
        List length for the top-K exact-continuation rate.
    refit : bool
        For a model with ``train``, re-fit it without half of the users to get true non-
        members (costs one training run); ``False`` uses the paired held-out design.
    canaries : bool
        Insert and measure canaries when the model has ``train`` and ``nll``.
    n_canaries : int
        Inserted canaries (and as many control canaries, never inserted).
    canary_length : int
        Items per canary sequence.
    n_references : int
        Random reference sequences that estimate each canary's rank; exposure is at most
        ``log2(n_references + 1)`` bits.
    thresholds : dict, optional
        Override ``default_thresholds``.

    Notes
    -----
    Per-user rows: ``exact_continuation_rate`` has one row per member (scope ``members``)
    or non-member (``non_members``) user, their share of exactly continued prefixes, and
    is their mean. ``exact_continuation_gap`` in the paired design has one row per user
    (member minus non-member continuation) and is their mean; in the re-fit design it has
    each user's rate with ``member`` (the truth), and is the members' mean minus the
    non-members'. ``canary_exposure`` is per canary (``canary``, the rows of the
    ``canaries`` table), the mean of their exposures.

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo.privacy import Memorizer
    >>> data = ra.datasets.synthetic(n_users=60, n_items=40, seed=0)
    >>> res = Memorization(n_canaries=5).run(Memorizer(data), data,
    ...                                      ra.AuditContext(show_progress=False))
    >>> res.metric("exact_continuation_gap", "top1").value > 0.5
    True
    """

    family = "privacy"
    requires = frozenset({"rank"})
    method = (
        "Prefix completion: for sampled users the model is given a prefix of the training "
        "history and we count how often its top-1 (and top-K) recommendation is exactly the "
        "item that followed in training. Members are compared with non-members: when the "
        "model can be re-trained, a copy is fitted without half of the users, whose prefixes "
        "serve as non-members built the same way; otherwise the non-member continuation is "
        "the user's held-out item after the full training history. The gap in exact-"
        "continuation rate has a bootstrap CI over users and a one-sided test (Mann-Whitney U "
        "for independent halves, Wilcoxon signed-rank for paired users). For models with "
        "`train` and `nll`, random canary sequences are inserted into training as extra users, "
        "the model is re-trained, and each canary's exposure (Carlini et al. 2019: log2 of the "
        "candidate-space size minus log2 of the canary's rank by likelihood, estimated against "
        "random reference sequences) is compared with that of control canaries never inserted.")
    citation = (
        "Carlini et al., The Secret Sharer, USENIX Security 2019; Carlini et al., Extracting "
        "Training Data from Large Language Models, USENIX Security 2021; Di Palma et al., Do "
        "LLMs Memorize Recommendation Datasets?, 2025.")
    #: ``exact_continuation_gap``: largest acceptable member minus non-member exact-
    #: continuation rate (top-1 and top-K). ``canary_exposure``: largest acceptable mean
    #: exposure of inserted canaries, in bits (unseen sequences average ~1.44).
    metrics = (
        MetricSpec("exact_continuation_gap", "member minus non-member rate of exact next-item "
                   "continuation (scopes top1, topk)", higher_is_better=False, threshold=0.1),
        MetricSpec("exact_continuation_rate", "share of prefixes whose top-1 recommendation "
                   "is exactly the next item (scopes members, non_members)",
                   higher_is_better=None),
        MetricSpec("canary_exposure", "mean exposure in bits of canary sequences (scopes "
                   "inserted, control: the reference level)", higher_is_better=False,
                   threshold=3.0),
    )

    def __init__(self, n_users: int | None = 200, n_positions: int = 3, k: int = 10,
                 refit: bool = True, canaries: bool = True, n_canaries: int = 10,
                 canary_length: int = 5, n_references: int = 200, thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.n_users = n_users
        self.n_positions = n_positions
        self.k = k
        self.refit = refit
        self.canaries = canaries
        self.n_canaries = n_canaries
        self.canary_length = canary_length
        self.n_references = n_references

    # ------------------------------------------------------------------ prefix completion
    def _prefixes(self, data: Any, users: list[str]) -> tuple[list[Request], list[str], list]:
        reqs, targets, owner = [], [], []
        for u in users:
            h = data.train_histories[u]
            for j in range(len(h) - self.n_positions, len(h)):
                reqs.append(Request(u, history=h[:j]))
                targets.append(h[j])
                owner.append(u)
        return reqs, targets, owner

    def _hits(self, model: Any, reqs: list[Request], targets: list[str], owner: list[str]
              ) -> tuple[pd.DataFrame, list]:
        ranks = model.rank(reqs, self.k)
        df = pd.DataFrame({
            "user": owner,
            "top1": [float(bool(r.items) and r.items[0] == t) for r, t in zip(ranks, targets)],
            "topk": [float(t in r.items[:self.k]) for r, t in zip(ranks, targets)]})
        return df.groupby("user", sort=False)[["top1", "topk"]].mean(), ranks

    def run(self, model: Any, data: Any, ctx: AuditContext):
        if self.n_positions < 1 or self.k < 1:
            raise ValueError("memorization: n_positions and k must be >= 1")
        caps = set(getattr(model, "capabilities", ()) or ())
        rng = ctx.rng(self.name, "users")
        pool = [u for u in data.user_ids
                if len(data.train_histories.get(u, ())) > self.n_positions]
        split = "train" in caps and self.refit
        if not split:
            pool = [u for u in pool if data.test_items.get(u)]
        if len(pool) < 10:
            raise ValueError(f"memorization needs at least 10 users with more than "
                             f"n_positions={self.n_positions} training items; "
                             f"{data.name!r} has {len(pool)}")
        users = [pool[i] for i in rng.permutation(len(pool))]
        users = users if self.n_users is None else users[:self.n_users]
        notes: list[str] = []
        if split:
            table, evidence = self._split_design(model, data, users, ctx, notes)
        else:
            table, evidence = self._paired_design(model, data, users, ctx, notes)
        metrics = list(table.pop("_metrics"))
        tables = {"continuation": table["summary"]}
        figures = {"continuation": self._rates_figure(table["summary"])}
        if self.canaries and {"train", "nll"} <= caps:
            m, t, fig, ev = self._canaries(model, data, ctx)
            metrics += m
            tables["canaries"] = t
            figures["canary_exposure"] = fig
            evidence += ev
        elif self.canaries:
            notes.append("Canaries skipped: they need the 'train' and 'nll' capabilities "
                         f"(the model has {sorted(caps)}).")
        return self.result(metrics=metrics, tables=tables, figures=figures,
                           evidence=evidence, notes=notes)

    def _gap_metrics(self, values: dict[str, np.ndarray], labels: np.ndarray | None,
                     ctx: AuditContext, paired_diffs: dict[str, np.ndarray] | None,
                     users: list[str]) -> list:
        out = []
        for col, scope in (("top1", "top1"), ("topk", f"top{self.k}")):
            if paired_diffs is not None:
                d = paired_diffs[col]
                value = float(d.mean())
                ci = bootstrap_ci(d, n_resamples=ctx.n_bootstrap,
                                  seed=ctx.subseed(self.name, "boot", col))
                p = one_sample_test(d, null=0.0, alternative="greater")
                rows, aggregate = (users, d), "mean"
            else:
                v = values[col]
                value = _mean_gap(v, labels)
                ci = pm.grouped_bootstrap_ci(_mean_gap, v, labels,
                                             n_resamples=ctx.n_bootstrap,
                                             seed=ctx.subseed(self.name, "boot", col))
                a, b = v[labels == 1], v[labels == 0]
                p = 1.0 if np.all(np.r_[a, b] == a[0]) else float(
                    stats.mannwhitneyu(a, b, alternative="greater").pvalue)
                rows = pd.DataFrame({"user_id": users, "value": v, "member": labels == 1})
                aggregate = None
            out.append(self.metric(
                "exact_continuation_gap", value, scope=scope, ci=ci, p_value=p,
                higher_is_better=False,
                description=f"member minus non-member rate of exact next-item continuation "
                            f"({scope}), CI over users",
                per_user=rows, per_user_aggregate=aggregate))
        return out

    def _split_design(self, model: Any, data: Any, users: list[str], ctx: AuditContext,
                      notes: list[str]):
        half = len(users) // 2
        members, outsiders = users[:half], users[half:]
        keep = set(data.user_ids) - set(outsiders)
        fitted = model.fit(data.subset_users(keep), seed=ctx.subseed(self.name, "fit"))
        reqs, targets, owner = self._prefixes(data, members + outsiders)
        per_user, ranks = self._hits(fitted, reqs, targets, owner)
        per_user = per_user.reindex(members + outsiders)
        labels = np.r_[np.ones(len(members), int), np.zeros(len(outsiders), int)]
        values = {c: per_user[c].to_numpy() for c in ("top1", "topk")}
        metrics = self._gap_metrics(values, labels, ctx, None, members + outsiders)
        metrics += self._rate_metrics(values["top1"][labels == 1],
                                      values["top1"][labels == 0], members, outsiders)
        notes.append(f"Non-members: the model was re-fitted without {len(outsiders)} held-out "
                     f"users; {len(members)} member users; {self.n_positions} prefixes each.")
        summary = self._summary_table(values, labels)
        evidence = self._evidence(data, reqs, targets, ranks, set(members))
        return {"summary": summary, "_metrics": metrics}, evidence

    def _paired_design(self, model: Any, data: Any, users: list[str], ctx: AuditContext,
                       notes: list[str]):
        reqs, targets, owner = self._prefixes(data, users)
        n_mem = len(reqs)
        reqs += [Request(u, history=data.train_histories[u]) for u in users]
        targets += [data.test_items[u][0] for u in users]
        ranks = model.rank(reqs, self.k)
        mem = pd.DataFrame({
            "user": owner,
            "top1": [float(r.items[:1] == (t,)) for r, t in zip(ranks[:n_mem], targets)],
            "topk": [float(t in r.items[:self.k]) for r, t in zip(ranks[:n_mem], targets)],
        }).groupby("user", sort=False)[["top1", "topk"]].mean().reindex(users)
        non = {"top1": np.array([float(r.items[:1] == (t,))
                                 for r, t in zip(ranks[n_mem:], targets[n_mem:])]),
               "topk": np.array([float(t in r.items[:self.k])
                                 for r, t in zip(ranks[n_mem:], targets[n_mem:])])}
        diffs = {c: mem[c].to_numpy() - non[c] for c in ("top1", "topk")}
        metrics = self._gap_metrics({}, None, ctx, diffs, users)
        metrics += self._rate_metrics(mem["top1"].to_numpy(), non["top1"], users, users)
        caps = set(getattr(model, "capabilities", ()) or ())
        why = "refit=False" if "train" in caps else "the model has no 'train' capability"
        notes.append(f"Paired design ({why}): non-member continuations are the "
                     "users' held-out items after their full training history (paired per "
                     f"user; {len(users)} users, {self.n_positions} member prefixes each).")
        values = {c: np.r_[mem[c].to_numpy(), non[c]] for c in ("top1", "topk")}
        labels = np.r_[np.ones(len(users), int), np.zeros(len(users), int)]
        evidence = self._evidence(data, reqs[:n_mem], targets[:n_mem], ranks[:n_mem],
                                  set(users))
        return {"summary": self._summary_table(values, labels), "_metrics": metrics}, evidence

    def _rate_metrics(self, member_top1: np.ndarray, non_top1: np.ndarray,
                      members: list[str], non_members: list[str]) -> list:
        return [self.metric("exact_continuation_rate", float(np.mean(x)), scope=scope,
                            description=f"share of {scope.replace('_', ' ')} prefixes whose "
                                        "top-1 recommendation is exactly the next item",
                            per_user=(who, x))
                for x, scope, who in ((member_top1, "members", members),
                                      (non_top1, "non_members", non_members))]

    def _summary_table(self, values: dict[str, np.ndarray], labels: np.ndarray) -> pd.DataFrame:
        rows = []
        for lab, group in ((1, "members"), (0, "non_members")):
            rows.append({"group": group, "n_users": int((labels == lab).sum()),
                         "top1_rate": float(values["top1"][labels == lab].mean()),
                         f"top{self.k}_rate": float(values["topk"][labels == lab].mean())})
        return pd.DataFrame(rows)

    def _evidence(self, data: Any, reqs: list, targets: list, ranks: list,
                  members: set[str]) -> list[dict]:
        out = []
        for r, t, rk in zip(reqs, targets, ranks):
            if r.user_id in members and rk.items[:1] == (t,):
                out.append({"user": r.user_id, "prefix_length": len(r.history),
                            "last_prefix_item": data.titles.get(r.history[-1], r.history[-1])
                            if r.history else "",
                            "next_training_item": data.titles.get(t, t),
                            "model_top1": data.titles.get(rk.items[0], rk.items[0])})
            if len(out) >= 5:
                break
        return out

    def _rates_figure(self, summary: pd.DataFrame) -> Figure:
        """Top-1 and top-K continuation rates per group (members, non-members)."""
        return Figure("memorization_continuation", {
            "group": summary["group"], "top1_rate": summary["top1_rate"],
            "topk_rate": summary[f"top{self.k}_rate"], "k": self.k})

    # ------------------------------------------------------------------ canaries
    def _canary_data(self, data: Any, seqs: list[tuple[str, ...]], rng: np.random.Generator):
        from ...data import AuditDataset

        ids = [f"canary-{n:03d}" for n in range(len(seqs))]
        donors = rng.integers(0, len(data.users), len(seqs))
        extra_users = data.users.iloc[donors].copy()
        extra_users["user_id"] = ids
        t0 = int(data.interactions["timestamp"].max()) + 1
        rows = []
        rating = (float(data.interactions["rating"].median())
                  if "rating" in data.interactions.columns else None)
        for uid, seq in zip(ids, seqs):
            for pos, item in enumerate(seq):
                row = {"user_id": uid, "item_id": item, "timestamp": t0 + pos, "split": "train"}
                if rating is not None:
                    row["rating"] = rating
                rows.append(row)
        inter = pd.concat([data.interactions, pd.DataFrame(rows)], ignore_index=True)
        users = pd.concat([data.users, extra_users], ignore_index=True)
        notes = [*data.notes, f"{len(seqs)} canary users inserted"]
        return AuditDataset(data.items, users, inter, data.sensitive, data.allowed_values,
                            f"{data.name} + canaries", notes, dict(data.meta))

    def _sequence_nll(self, model: Any, seqs: list[tuple[str, ...]]) -> np.ndarray:
        reqs, targets = [], []
        for seq in seqs:
            for t in range(1, len(seq)):
                reqs.append(Request(PROBE_USER, history=seq[:t]))
                targets.append(seq[t])
        nll = np.asarray(model.nll(reqs, targets), dtype=float)
        return nll.reshape(len(seqs), len(seqs[0]) - 1).sum(axis=1)

    def _canaries(self, model: Any, data: Any, ctx: AuditContext):
        if self.canary_length < 2 or self.canary_length > len(data.item_ids):
            raise ValueError(f"memorization: canary_length must be in [2, n_items]; got "
                             f"{self.canary_length}")
        rng = ctx.rng(self.name, "canaries")
        items = np.array(data.item_ids)
        n_all = 2 * self.n_canaries + self.n_references
        seqs = [tuple(rng.choice(items, self.canary_length, replace=False)) for _ in range(n_all)]
        inserted = seqs[:self.n_canaries]
        control = seqs[self.n_canaries:2 * self.n_canaries]
        fitted = model.fit(self._canary_data(data, inserted, rng),
                           seed=ctx.subseed(self.name, "canary_fit"))
        nll = self._sequence_nll(fitted, seqs)
        ref = nll[2 * self.n_canaries:]
        exp_in = pm.canary_exposure(nll[:self.n_canaries], ref)
        exp_ctl = pm.canary_exposure(nll[self.n_canaries:2 * self.n_canaries], ref)
        p = float(stats.mannwhitneyu(exp_in, exp_ctl, alternative="greater").pvalue)
        ci = bootstrap_ci(exp_in, n_resamples=ctx.n_bootstrap,
                          seed=ctx.subseed(self.name, "canary_boot"))
        ci_ctl = bootstrap_ci(exp_ctl, n_resamples=ctx.n_bootstrap,
                              seed=ctx.subseed(self.name, "canary_boot_ctl"))
        max_bits = float(np.log2(self.n_references + 1))
        metrics = [
            self.metric("canary_exposure", float(exp_in.mean()), scope="inserted", ci=ci,
                        p_value=p, higher_is_better=False,
                        description=f"mean exposure (bits, max {max_bits:.2f}) of canaries "
                                    "inserted into training; p-value against control "
                                    "canaries (Mann-Whitney U)",
                        per_user=pd.DataFrame({
                            "canary": [f"inserted-{n}" for n in range(self.n_canaries)],
                            "value": exp_in})),
            self.metric("canary_exposure", float(exp_ctl.mean()), scope="control", ci=ci_ctl,
                        description="mean exposure of control canaries never inserted",
                        per_user=pd.DataFrame({
                            "canary": [f"control-{n}" for n in range(self.n_canaries)],
                            "value": exp_ctl})),
        ]
        metrics[1].threshold = None  # the reference level, not a tested effect
        table = pd.DataFrame({
            "canary": [f"inserted-{n}" for n in range(self.n_canaries)]
            + [f"control-{n}" for n in range(self.n_canaries)],
            "kind": ["inserted"] * self.n_canaries + ["control"] * self.n_canaries,
            "items": [" > ".join(s) for s in inserted + control],
            "nll": nll[:2 * self.n_canaries],
            "exposure_bits": np.r_[exp_in, exp_ctl]})
        top = int(np.argmax(exp_in))
        evidence = [{"canary": " > ".join(data.titles.get(i, i) for i in inserted[top]),
                     "exposure_bits": round(float(exp_in[top]), 3),
                     "max_bits": round(max_bits, 3)}]
        fig = Figure("canary_exposure", {"inserted": exp_in, "control": exp_ctl,
                                         "max_bits": max_bits})
        return metrics, table, fig, evidence
