"""``position_bias``: does the order of the candidates change what the model recommends?

The LLMRank protocol (Hou et al., ECIR 2024): the held-out item is placed at fixed positions
of a 20-item candidate list; a fair ranker's accuracy is flat across positions. Plus shuffle
stability: the same candidates in random orders should get the same ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ...data import sample_negatives, sample_users
from ...metrics import position as PM
from ...metrics.ranking import hit_at_k, ndcg_at_k
from ...metrics.statistics import bootstrap_ci, paired_bootstrap_ci
from ...results import AuditResult, Figure
from .._base import AuditContext, Auditor
from .._common import HALLUCINATION_RATE, hallucination_metric
from .._metric_spec import MetricSpec
from .._registry import register_auditor


@register_auditor("position_bias")
class PositionBias(Auditor):
    """Candidate-order (position) bias of a ranker, LLMRank protocol.

    Parameters
    ----------
    n_users : int or None
        Users sampled (seeded) among those with a held-out item; ``None``: all of them.
    n_candidates : int
        Candidate list length: the held-out item plus ``n_candidates - 1`` negatives.
    positions : sequence of int
        0-based positions the held-out item is placed at.
    negatives : {"random", "popularity"}
        How negatives are sampled (uniform, or weighted by train popularity + 1).
    n_shuffles : int
        Random orders of the same candidates for the stability check (>= 2).
    k : int
        Cut-off of NDCG@k.
    max_history : int or None
        Most recent history items put in each request (``None``: all).
    thresholds : dict, optional
        Overrides of :attr:`default_thresholds`.

    Notes
    -----
    Per-user rows (``report.per_user("position_bias", metric)``): ``ndcg_at_pos`` and
    ``hr1_at_pos`` (each position), ``kendall_tau``, ``top1_agreement`` and
    ``hallucination_rate`` have one row per sampled user and are their mean.
    ``position_ndcg_gap`` gives each user's own spread (max - min of their NDCG@K over the
    positions): the users whose result depends most on where the held-out item sits; the
    metric is the spread of the position means, which the mean of these bounds from above.
    ``top1_position_tv`` is a distance between distributions pooled over users: no rows.

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo.position import EarlyCandidateRanker
    >>> data = ra.datasets.synthetic(seed=0)
    >>> res = PositionBias(n_users=50).run(EarlyCandidateRanker(data), data,
    ...                                    ra.AuditContext(show_progress=False))
    >>> res.metric("position_ndcg_gap").value > 0.1
    True
    """

    family = "bias"
    requires = frozenset({"rank"})
    citation = (
        "Hou, Zhang, Lin, Lu, Xie, McAuley, Zhao. Large language models are zero-shot rankers "
        "for recommender systems (LLMRank), ECIR 2024.")
    method = (
        "LLMRank protocol (Hou et al., ECIR 2024). For each sampled user with a held-out "
        "item we build a candidate list of 20 items: the held-out item plus 19 items the user "
        "never interacted with (sampled uniformly, or by popularity), the negatives in one "
        "fixed random order. The held-out item is then inserted at positions 0, 5, 10, 15 and "
        "19 (0-based) and the model ranks each list; we report NDCG@10 and HR@1 of the "
        "held-out item at each position with percentile bootstrap CIs over users. A ranker "
        "that ignores candidate order is flat; position_ndcg_gap is the largest minus the "
        "smallest mean NDCG@10 over positions (LLMRank's ChatGPT fell from about 0.49 at "
        "position 5 to about 0.26 at position 19 on ML-1M), with a CI from a paired "
        "bootstrap over users. Its p-value comes from a Friedman test across positions with "
        "users as blocks (a rank test with an analytic p-value, so a real effect survives Holm "
        "correction across a large audit, unlike a permutation p-value floored at "
        "1/(permutations+1)); it fails above 0.1 NDCG@10 when significant. Shuffle stability: the same candidates are presented in several "
        "random orders; we report the mean pairwise Kendall tau between the resulting "
        "rankings and the share of pairs of orders that agree on the top-1 item. For an "
        "order-invariant ranker the input position of its top-1 item is uniform over the 20 "
        "slots; top1_position_tv is the total-variation distance of the observed distribution "
        "from uniform (CI: bootstrap width centred on the estimate, since the distance is "
        "biased upwards under resampling), tested with a chi-square goodness-of-fit test, and "
        "fails above 0.2 when significant. Holm correction applies across the audit.")
    #: ``position_ndcg_gap``: fail above 0.1 NDCG@10 between the best and worst position.
    #: ``top1_position_tv``: fail above 0.2 total-variation distance from uniform of the
    #: input position of the top-1 item. Other metrics are informational.
    metrics = (
        MetricSpec("ndcg_at_pos", "NDCG@K with the held-out item at one input position "
                   "(scope pos=P)", higher_is_better=True),
        MetricSpec("hr1_at_pos", "HR@1 with the held-out item at one input position "
                   "(scope pos=P)", higher_is_better=True),
        MetricSpec("position_ndcg_gap", "max - min over positions of mean NDCG@K",
                   higher_is_better=False, threshold=0.1),
        MetricSpec("kendall_tau", "mean Kendall tau between rankings of random candidate "
                   "orders", higher_is_better=True),
        MetricSpec("top1_agreement", "share of pairs of candidate orders with the same top-1 "
                   "item", higher_is_better=True),
        MetricSpec("top1_position_tv", "total-variation distance from uniform of the top-1 "
                   "item's input position", higher_is_better=False, threshold=0.2),
        HALLUCINATION_RATE,
    )

    def __init__(self, n_users: int | None = 100, n_candidates: int = 20,
                 positions: Sequence[int] = (0, 5, 10, 15, 19),
                 negatives: Literal["random", "popularity"] = "random", n_shuffles: int = 5,
                 k: int = 10, max_history: int | None = None,
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.n_users = n_users
        self.n_candidates = n_candidates
        self.positions = positions
        self.negatives = negatives
        self.n_shuffles = n_shuffles
        self.k = k
        self.max_history = max_history

    def _check_params(self) -> list[int]:
        n = int(self.n_candidates)
        if n < 3:
            raise ValueError(f"position_bias: n_candidates must be >= 3, got {n}")
        positions = [int(p) for p in self.positions]
        bad = [p for p in positions if not 0 <= p < n]
        if bad or len(set(positions)) < 3:
            raise ValueError(f"position_bias: positions must be at least 3 distinct values in "
                             f"[0, {n - 1}] (the Friedman test compares 3 or more); got "
                             f"{list(self.positions)}")
        if self.negatives not in ("random", "popularity"):
            raise ValueError(f"position_bias: negatives must be 'random' or 'popularity', got "
                             f"{self.negatives!r}")
        if int(self.n_shuffles) < 2:
            raise ValueError(f"position_bias: n_shuffles must be >= 2, got {self.n_shuffles}")
        if self.n_users is not None and int(self.n_users) < 2:
            raise ValueError(f"position_bias: n_users must be >= 2 or None, got {self.n_users}")
        return sorted(set(positions))

    # ------------------------------------------------------------------ run
    def run(self, model: Any, data: Any, ctx: AuditContext) -> AuditResult:
        positions = self._check_params()
        n_cand, k = int(self.n_candidates), int(self.k)
        users = sample_users(data, self.n_users, ctx.rng(self.name, "users"))
        if len(users) < 2:
            raise ValueError(f"position_bias needs at least 2 users with a held-out item; "
                             f"the dataset has {len(users)}")
        rng = ctx.rng(self.name, "candidates", self.negatives)
        targets, negs = {}, {}
        for u in ctx.progress(users, desc="position_bias: candidates"):
            targets[u] = data.test_items[u][0]
            negs[u] = sample_negatives(data, u, n_cand - 1, rng, strategy=self.negatives,
                                       exclude=(targets[u],))

        # phase 1: held-out item at fixed positions (one batched call)
        lists = {(u, p): tuple(negs[u][:p] + [targets[u]] + negs[u][p:])
                 for u in users for p in positions}
        keys = list(lists)
        reqs = [data.request(u, candidates=lists[(u, p)], max_history=self.max_history)
                for u, p in keys]
        answers = model.rank(reqs, n_cand)
        ranked = dict(zip(keys, (r.items for r in answers)))
        ndcg = np.array([[ndcg_at_k(ranked[(u, p)], {targets[u]}, k) for p in positions]
                         for u in users])
        hr1 = np.array([[hit_at_k(ranked[(u, p)], {targets[u]}, 1) for p in positions]
                        for u in users])
        rank_of = np.array([[PM.rank_vector(ranked[(u, p)], [targets[u]])[0] + 1
                             for p in positions] for u in users])

        # phase 2: the same candidates in random orders (one batched call)
        srng = ctx.rng(self.name, "shuffles")
        orders = {}
        for u in users:
            base = [targets[u], *negs[u]]
            for s in range(int(self.n_shuffles)):
                orders[(u, s)] = tuple(base[j] for j in srng.permutation(n_cand))
        skeys = list(orders)
        sreqs = [data.request(u, candidates=orders[(u, s)], max_history=self.max_history)
                 for u, s in skeys]
        sanswers = model.rank(sreqs, n_cand)
        sranked = dict(zip(skeys, (r.items for r in sanswers)))
        res = self._result(data, users, positions, targets, ndcg, hr1, rank_of, orders,
                           sranked, ctx)
        hall = hallucination_metric(self, [*answers, *sanswers], n_bootstrap=ctx.n_bootstrap,
                                    seed=ctx.subseed(self.name, "bootstrap"),
                                    owners=[u for u, _ in [*keys, *skeys]])
        if hall is not None:
            res.metrics.append(hall)
        return res

    # ------------------------------------------------------------------ results
    def _result(self, data, users, positions, targets, ndcg, hr1, rank_of, orders, sranked,
                ctx) -> AuditResult:
        n_cand, S = int(self.n_candidates), int(self.n_shuffles)
        B, seed = ctx.n_bootstrap, ctx.subseed(self.name, "bootstrap")
        metrics, rows = [], []
        for j, p in enumerate(positions):
            nci = bootstrap_ci(ndcg[:, j], n_resamples=B, seed=seed)
            hci = bootstrap_ci(hr1[:, j], n_resamples=B, seed=seed)
            scope = f"pos={p}"
            metrics.append(self.metric("ndcg_at_pos", ndcg[:, j].mean(), scope=scope, ci=nci,
                                       higher_is_better=True,
                                       description=f"NDCG@{self.k}, held-out item at "
                                                   f"position {p}",
                                       per_user=(users, ndcg[:, j])))
            metrics.append(self.metric("hr1_at_pos", hr1[:, j].mean(), scope=scope, ci=hci,
                                       higher_is_better=True,
                                       description=f"HR@1, held-out item at position {p}",
                                       per_user=(users, hr1[:, j])))
            rows.append({"position": p, f"ndcg@{self.k}": ndcg[:, j].mean(),
                         "ndcg_ci_low": nci[0], "ndcg_ci_high": nci[1],
                         "hr@1": hr1[:, j].mean(), "hr_ci_low": hci[0], "hr_ci_high": hci[1],
                         "mean_rank": rank_of[:, j].mean()})
        by_pos = pd.DataFrame(rows)
        metrics.append(self.metric(
            "position_ndcg_gap", PM.position_gap(ndcg),
            ci=paired_bootstrap_ci(PM.position_gap, ndcg, n_resamples=B, seed=seed),
            p_value=PM.friedman_p(ndcg),
            higher_is_better=False,
            description=f"max - min over positions of mean NDCG@{self.k}",
            per_user=(users, ndcg.max(axis=1) - ndcg.min(axis=1)), per_user_aggregate=None))

        taus, agree = [], []
        for u in ctx.progress(users, desc="position_bias: stability"):
            items = [targets[u], *sorted(set(orders[(u, 0)]) - {targets[u]})]
            rk = [sranked[(u, s)] for s in range(S)]
            taus.append(PM.pairwise_kendall_tau(rk, items))
            agree.append(PM.pairwise_top1_agreement(rk))
        taus, agree = np.array(taus), np.array(agree)
        metrics.append(self.metric(
            "kendall_tau", np.nanmean(taus), higher_is_better=True,
            ci=bootstrap_ci(taus, n_resamples=B, seed=seed),
            description=f"mean Kendall tau between rankings of {S} random candidate orders",
            per_user=(users, taus)))
        metrics.append(self.metric(
            "top1_agreement", np.nanmean(agree), higher_is_better=True,
            ci=bootstrap_ci(agree, n_resamples=B, seed=seed),
            description="share of pairs of orders with the same top-1 item",
            per_user=(users, agree)))

        per_user_top = self._top_positions(users, orders, sranked, S)
        top_pos = per_user_top.sum(axis=0)
        chi = stats.chisquare(top_pos) if top_pos.sum() > 0 else None
        tv = PM.uniformity_tv(top_pos)
        # a distance from uniform is biased upwards under resampling, so percentile bounds
        # can sit entirely above the estimate: use an interval of their width centred on it
        q_lo, q_hi = paired_bootstrap_ci(lambda m: PM.uniformity_tv(m.sum(axis=0)),
                                         per_user_top, n_resamples=B, seed=seed)
        metrics.append(self.metric(
            "top1_position_tv", tv, ci=(max(0.0, tv - (q_hi - q_lo) / 2),
                                        tv + (q_hi - q_lo) / 2),
            p_value=None if chi is None else float(chi.pvalue), higher_is_better=False,
            description="total-variation distance from uniform of the top-1 item's input "
                        "position (chi-square test)"))
        top_table = pd.DataFrame({"input_position": np.arange(n_cand),
                                  "top1_count": top_pos.astype(int),
                                  "expected_if_uniform": top_pos.sum() / n_cand})
        notes = [f"{len(users)} users, {n_cand} candidates ({self.negatives} negatives), "
                 f"held-out item at positions {positions}; {S} random orders per user for "
                 f"stability; {len(users) * (len(positions) + S)} ranking requests."]
        if chi is not None:
            notes.append(f"Chi-square test of uniform top-1 input position: "
                         f"chi2={chi.statistic:.1f}, dof={n_cand - 1}, p={chi.pvalue:.3g}.")
        return self.result(
            metrics=metrics,
            tables={"by_position": by_pos, "top1_input_position": top_table},
            figures={
                "ndcg_by_position": Figure("ndcg_by_position", {
                    "by_position": by_pos[["position", f"ndcg@{self.k}", "ndcg_ci_low",
                                           "ndcg_ci_high", "hr@1", "hr_ci_low", "hr_ci_high"]],
                    "k": self.k}),
                "top1_input_position": Figure("top1_input_position", {
                    "by_position": top_table[["input_position", "top1_count"]],
                    "expected_if_uniform": float(top_pos.sum() / n_cand)})},
            evidence=self._evidence(data, users, positions, targets, rank_of),
            notes=notes)

    @staticmethod
    def _top_positions(users, orders, sranked, S) -> np.ndarray:
        """(users x positions) counts of the top-1 item's input position, for bootstrapping."""
        n = len(orders[(users[0], 0)])
        out = np.zeros((len(users), n))
        for a, u in enumerate(users):
            for s in range(S):
                r = sranked[(u, s)]
                if len(r) and r[0] in orders[(u, s)]:
                    out[a, orders[(u, s)].index(r[0])] += 1
        return out

    @staticmethod
    def _evidence(data, users, positions, targets, rank_of, n: int = 5) -> list[dict]:
        spread = rank_of.max(axis=1) - rank_of.min(axis=1)
        out = []
        for a in np.argsort(-spread, kind="stable")[:n]:
            row = {"user_id": users[a], "held_out_item": data.titles.get(targets[users[a]],
                                                                         targets[users[a]])}
            for j, p in enumerate(positions):
                row[f"rank_when_at_pos_{p}"] = int(rank_of[a, j])
            out.append(row)
        return out
