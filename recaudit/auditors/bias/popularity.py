"""``popularity_bias``: does the model over-recommend popular items?

Top-K lists over the whole catalog for sampled users, scored with the popularity metrics of
Elliot / RecBole (ARP, APLT, ACLT, PopRSP, PopREO, Gini, coverage) and the popularity lift of
Abdollahpouri et al. (recommended vs. own-history popularity) per user group.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ...contract import Request
from ...data import sample_users
from ...engine import chunked
from ...metrics import popularity as P
from ...metrics.statistics import bootstrap_ci, one_sample_test, paired_bootstrap_ci
from ...results import AuditResult, Figure
from .._base import AuditContext, Auditor
from .._common import (
    HALLUCINATION_RATE,
    hallucination_metric,
    too_few_answered,
    unanswered_note,
)
from .._metric_spec import MetricSpec
from .._registry import register_auditor


class _Answer(NamedTuple):
    """What ``hallucination_metric`` reads of a Ranking: a streamed run keeps only this."""

    raw: str | None
    hallucinated: int
    items: range


@register_auditor("popularity_bias")
class PopularityBias(Auditor):
    """Popularity bias of top-K recommendation lists.

    Parameters
    ----------
    k : int
        List length audited (top-K).
    n_users : int or None
        Users sampled (seeded); ``None`` audits every user.
    head_share : float
        Share of training interactions the short head covers (0.8 in Elliot and RecBole).
    exclude_seen : bool
        Drop items from the user's training history before cutting the list at K (the usual
        evaluation protocol; PopRSP's denominator assumes it).
    max_history : int or None
        Most recent history items put in each request (``None``: all of them).
    thresholds : dict, optional
        Overrides of :attr:`default_thresholds`.

    Notes
    -----
    Per-user rows (``report.per_user("popularity_bias", metric)``): ``arp``, ``aplt``,
    ``aclt``, ``popularity_lift`` (each scope; NaN where a user's lift is undefined) and
    ``hallucination_rate`` have one row per sampled user and are their mean. ``aplt_ratio``
    has the user's long-tail share as ``value`` and the popularity-blind share as
    ``reference``: the metric is mean(value) / mean(reference) over users with a list.
    ``gini`` and ``coverage`` are per catalog item (``item_id``): the number of lists that
    hold it (the Gini index of these counts) and whether any list does (their mean).
    ``pop_rsp`` and ``pop_reo`` compare head and tail counts summed over users: no rows.

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo.popularity import PopularityPusher
    >>> data = ra.datasets.synthetic(seed=0)
    >>> res = PopularityBias(n_users=100).run(PopularityPusher(data), data,
    ...                                       ra.AuditContext(show_progress=False))
    >>> res.metric("aplt_ratio").value < 0.25
    True
    """

    family = "bias"
    requires = frozenset({"rank"})
    citation = (
        "Abdollahpouri, Burke, Mobasher. Managing popularity bias in recommender systems with "
        "personalized re-ranking (FLAIRS 2019) [APLT, ACLT]; Abdollahpouri, Mansoury, Burke, "
        "Mobasher. The unfairness of popularity bias in recommendation (RMSE 2019) and The "
        "connection between popularity bias, calibration, and fairness in recommendation "
        "(RecSys 2020) [popularity lift]; Zhu, Wang, Caverlee. Popularity-opportunity bias in "
        "collaborative filtering (WSDM 2021) [PopRSP, PopREO]; Anelli et al. Elliot (SIGIR "
        "2021); Zhao et al. RecBole (CIKM 2021).")
    method = (
        "For a seeded sample of users the model ranks the whole catalog and we keep the top K "
        "items the user has not already interacted with. Item popularity phi(i) is the number "
        "of distinct training users of i; the short head is the smallest set of most popular "
        "items covering 80% of training interactions (Elliot's rule) and the long tail is the "
        "rest of the catalog. We report ARP (mean popularity of listed items), APLT (share of "
        "long-tail items per list) and ACLT (their count), PopRSP and PopREO (std/mean of the "
        "head and tail recommendation rates, over all or only relevant test items), the Gini "
        "index G of recommendation counts over every catalog item (inequality, 0 = equal "
        "exposure, 1 = one item gets every slot: G = sum_j (2j - n - 1) x_(j) / ((n - 1) "
        "sum x) over the n catalog items sorted by count; RecBole divides by n instead of "
        "n - 1, Elliot reports 1 - G) and item coverage, each with a bootstrap CI over users "
        "(percentile; for Gini "
        "and coverage, which resampling biases, an interval of the same width centred on the "
        "estimate). Two "
        "metrics carry verdicts. popularity_lift is, per user, the mean popularity of the "
        "recommended items divided by the mean popularity of the user's own training history "
        "(1 = calibrated to the user's taste for popularity), averaged over each user group "
        "of each sensitive attribute and over all users; it fails above 1.5 (recommended items "
        "50% more popular than the user's history) when a one-sided Wilcoxon signed-rank test "
        "finds lift > 1. aplt_ratio divides APLT by a popularity-blind reference: for each "
        "user, the long-tail share of the items they have not seen (what a list drawn "
        "uniformly from those items would contain); it fails below 0.25 (the long tail gets "
        "under a quarter of the exposure a popularity-blind ranker would give it) when a "
        "one-sided Wilcoxon test finds the per-user tail share below the reference. "
        "Significance is Holm-corrected across the audit. Mean popularity by output rank is "
        "tabulated and plotted.")
    #: ``popularity_lift`` (every scope): fail above 1.5, i.e. recommended items 50% more
    #: popular than the user's own history. ``aplt_ratio``: fail below 0.25, i.e. long-tail
    #: items get under a quarter of their popularity-blind share. Other metrics are
    #: informational (override to threshold them; they then have no p-value).
    metrics = (
        MetricSpec("arp", "average recommendation popularity (distinct train users)",
                   higher_is_better=False),
        MetricSpec("aplt", "average share of long-tail items per list", higher_is_better=True),
        MetricSpec("aclt", "average count of long-tail items per list", higher_is_better=True),
        MetricSpec("aplt_ratio", "APLT / long-tail share of each user's unseen items",
                   higher_is_better=True, threshold=0.25),
        MetricSpec("pop_rsp", "std/mean of head and tail recommendation rates",
                   higher_is_better=False),
        MetricSpec("pop_reo", "as pop_rsp, over relevant (test) items only",
                   higher_is_better=False),
        MetricSpec("gini", "Gini index of recommendation counts over the catalog "
                   "(0 = equal exposure)", higher_is_better=False),
        MetricSpec("coverage", "distinct recommended items / catalog size",
                   higher_is_better=True),
        HALLUCINATION_RATE,
        MetricSpec("popularity_lift", "mean popularity of recommended items / of the "
                   "user's history, per user group (scope) and overall",
                   higher_is_better=False, threshold=1.5),
    )

    def __init__(self, k: int = 10, n_users: int | None = 200, head_share: float = 0.8,
                 exclude_seen: bool = True, max_history: int | None = None,
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.k = k
        self.n_users = n_users
        self.head_share = head_share
        self.exclude_seen = exclude_seen
        self.max_history = max_history

    # ------------------------------------------------------------------ run
    def _check_params(self) -> None:
        if int(self.k) < 1:
            raise ValueError(f"popularity_bias: k must be >= 1, got {self.k}")
        if self.n_users is not None and int(self.n_users) < 2:
            raise ValueError(f"popularity_bias: n_users must be >= 2 or None, got "
                             f"{self.n_users}")
        if not 0 < float(self.head_share) < 1:
            raise ValueError(f"popularity_bias: head_share must be in (0, 1), got "
                             f"{self.head_share}")

    def _lists(self, model: Any, data: Any, users: list[str], ctx: AuditContext
               ) -> tuple[list[tuple[str, ...]], int, int]:
        """Top-K lists (seen items removed): batched ``rank`` calls over chunks of users, so
        only one chunk's answers are held at once (the lists share the catalog's id strings).
        """
        k = int(self.k)
        hist = data.train_histories
        extra = max(len(hist[u]) for u in users) if self.exclude_seen else 0
        depth = min(k + extra, len(data.item_ids))
        catalog, ids = data.item_index, data.item_ids
        lists, unknown, short = [], 0, 0
        self._rankings = []  # what hallucination_metric reads, without the items
        self._unanswered = []  # users the model holds no answer for (a log without them)
        for chunk in ctx.progress(list(chunked(users)), desc="popularity_bias: lists"):
            requests: list[Request] = [data.request(u, max_history=self.max_history)
                                       for u in chunk]
            for u, r in zip(chunk, model.rank(requests, depth)):
                if not r.answered:
                    self._unanswered.append(u)
                    continue
                self._rankings.append(_Answer(None if r.raw is None else "", r.hallucinated,
                                              range(len(r.items))))
                seen = set(hist[u]) if self.exclude_seen else set()
                out: list[str] = []
                for i in r.items:
                    if i not in catalog:
                        unknown += 1
                    elif i not in seen and i not in out:
                        out.append(ids[catalog[i]])
                    if len(out) == k:
                        break
                short += len(out) < k
                lists.append(tuple(out))
        return lists, unknown, short

    def run(self, model: Any, data: Any, ctx: AuditContext) -> AuditResult:
        self._check_params()
        rng = ctx.rng(self.name, "users")
        users = sample_users(data, self.n_users, rng, require_test=False)
        if len(users) < 2:
            raise ValueError(f"popularity_bias needs at least 2 users; the dataset has "
                             f"{len(users)}")
        lists, unknown, short = self._lists(model, data, users, ctx)
        missing, asked = self._unanswered, len(users)
        if missing:  # left out, and said so: never read as an empty list
            if asked - len(missing) < 2:
                return too_few_answered(self, missing, asked)
            gone = set(missing)
            users = [u for u in users if u not in gone]
        if not any(lists):
            hall = hallucination_metric(self, self._rankings, n_bootstrap=ctx.n_bootstrap,
                                        seed=ctx.subseed(self.name, "bootstrap"), owners=users)
            if hall is None:  # not a generating model: its ids are wrong, not hallucinated
                raise ValueError("popularity_bias: the model returned no catalog item for any "
                                 "user; check that rank() returns catalog item ids")
            # a generating model whose lists name no unseen catalog item: that is the finding
            return self.result(metrics=[hall], notes=[
                f"{len(users)} users: no generated list named an unseen catalog item "
                f"(hallucination rate {hall.value:.2f}), so the popularity metrics are "
                "undefined; the lists say nothing about popularity."])

        pop_series = data.popularity
        pop = pop_series.to_dict()
        head, tail = P.short_head_split(pop_series, self.head_share)
        catalog = list(data.item_ids)
        histories = [data.train_histories[u] for u in users]
        relevant = [data.test_items.get(u, ()) for u in users]

        ua = P.user_average_popularity(lists, pop)
        ts = P.user_tail_share(lists, tail)
        tc = P.user_tail_count(lists, tail)
        lift = P.user_popularity_lift(lists, histories, pop)
        tail_ref = np.array([len(tail - set(h)) / max(1, len(catalog) - len(set(h)))
                             for h in histories])
        rh, ah = P.user_group_counts(lists, head, histories)
        rt, at = P.user_group_counts(lists, tail, histories)
        eh, eah = P.user_group_counts(lists, head, histories, relevant)
        et, eat = P.user_group_counts(lists, tail, histories, relevant)
        index = data.item_index
        incidence = np.zeros((len(users), len(catalog)), dtype=np.uint8)  # 0/1: 8x less RAM
        for n, lst in enumerate(lists):
            incidence[n, [index[i] for i in lst]] = 1.0

        B, seed = ctx.n_bootstrap, ctx.subseed(self.name, "bootstrap")

        def ci(values: np.ndarray) -> tuple[float, float]:
            return bootstrap_ci(values, n_resamples=B, seed=seed)

        def pci(stat, *arrays) -> tuple[float, float]:
            return paired_bootstrap_ci(stat, *arrays, n_resamples=B, seed=seed)

        def centred_ci(stat, *arrays) -> tuple[float, float]:
            """Bootstrap interval centred on the estimate (width of the percentile interval),
            clipped to [0, 1]: resampling users with repeats biases catalog-level statistics
            (fewer distinct items, more concentration), so percentile bounds can miss the
            estimate entirely."""
            v = stat(*arrays)
            lo, hi = pci(stat, *arrays)
            return (max(0.0, v - (hi - lo) / 2), min(1.0, v + (hi - lo) / 2))

        def rsp(a, b, c, d) -> float:
            return P.rsp_from_counts(a.sum(), b.sum(), c.sum(), d.sum())

        def gini_rows(m: np.ndarray) -> float:
            return P.gini(m.sum(axis=0))

        def coverage_rows(m: np.ndarray) -> float:
            return float(np.mean(m.sum(axis=0) > 0))

        ok = ~np.isnan(ts)
        aplt_ratio = float(np.nanmean(ts) / tail_ref[ok].mean()) if tail_ref[ok].mean() > 0 \
            else float("nan")
        recommended = incidence.sum(axis=0)  # lists holding each catalog item
        metrics = [
            self.metric("arp", np.nanmean(ua), ci=ci(ua), higher_is_better=False,
                        description="average recommendation popularity (distinct train users)",
                        per_user=(users, ua)),
            self.metric("aplt", np.nanmean(ts), ci=ci(ts), higher_is_better=True,
                        description="average share of long-tail items per list",
                        per_user=(users, ts)),
            self.metric("aclt", tc.mean(), ci=ci(tc), higher_is_better=True,
                        description="average count of long-tail items per list",
                        per_user=(users, tc)),
            self.metric("aplt_ratio", aplt_ratio,
                        ci=pci(lambda a, b: np.mean(a) / np.mean(b), ts[ok], tail_ref[ok]),
                        p_value=one_sample_test(ts[ok] - tail_ref[ok], null=0.0,
                                                alternative="less"),
                        higher_is_better=True,
                        description="APLT / long-tail share of each user's unseen items",
                        per_user=pd.DataFrame({"user_id": users, "value": ts,
                                               "reference": tail_ref}),
                        per_user_aggregate=None),
            self.metric("pop_rsp", rsp(rh, ah, rt, at), ci=pci(rsp, rh, ah, rt, at),
                        higher_is_better=False,
                        description="std/mean of head and tail recommendation rates"),
            self.metric("pop_reo", rsp(eh, eah, et, eat), ci=pci(rsp, eh, eah, et, eat),
                        higher_is_better=False,
                        description="as pop_rsp, over relevant (test) items only"),
            self.metric("gini", gini_rows(incidence), ci=centred_ci(gini_rows, incidence),
                        higher_is_better=False,
                        description="Gini index of recommendation counts, all catalog items "
                        "(n - 1 normalisation; 0 = equal exposure)",
                        per_user=pd.DataFrame({"item_id": catalog, "value": recommended}),
                        per_user_aggregate=None),
            self.metric("coverage", coverage_rows(incidence),
                        ci=centred_ci(coverage_rows, incidence),
                        higher_is_better=True,
                        description="distinct recommended items / catalog size",
                        per_user=pd.DataFrame({"item_id": catalog,
                                               "value": (recommended > 0).astype(float)})),
        ]

        hall = hallucination_metric(self, self._rankings, n_bootstrap=B, seed=seed,
                                    owners=users)
        if hall is not None:
            metrics.append(hall)
        groups = self._groups(data, users)
        group_rows = []
        for scope, mask in ctx.progress(groups.items(), desc="popularity_bias: groups",
                                        total=len(groups)):
            x = lift[mask]
            x = x[~np.isnan(x)]
            if x.size == 0:
                continue
            m = self.metric("popularity_lift", float(x.mean()), scope=scope, ci=ci(x),
                            p_value=one_sample_test(x, null=1.0, alternative="greater"),
                            higher_is_better=False,
                            description="mean popularity of recommended items / of history",
                            per_user=([users[n] for n in np.flatnonzero(mask)], lift[mask]))
            metrics.append(m)
            group_rows.append({
                "scope": scope, "n_users": int(x.size), "popularity_lift": m.value,
                "ci_low": m.ci_low, "ci_high": m.ci_high,
                "recommended_popularity": float(np.nanmean(ua[mask])),
                "history_popularity": float(np.mean(
                    P.user_average_popularity([histories[n] for n in np.flatnonzero(mask)],
                                              pop))),
                "p_value": m.p_value})
        by_group = pd.DataFrame(group_rows, columns=[
            "scope", "n_users", "popularity_lift", "ci_low", "ci_high",
            "recommended_popularity", "history_popularity", "p_value"])
        by_rank = self._by_rank(lists, pop, tail, ci)
        hist_pop = float(np.mean(P.user_average_popularity(histories, pop)))

        notes = [f"{len(users)} users, top-{self.k} lists over {len(catalog)} catalog items; "
                 f"short head = {len(head)} items covering {self.head_share:.0%} of training "
                 f"interactions, long tail = {len(tail)} items "
                 f"({len(tail) / len(catalog):.0%} of the catalog)."]
        if unknown:
            notes.append(f"{unknown} returned id(s) were not catalog items and were ignored.")
        if short:
            notes.append(f"{short} list(s) had fewer than {self.k} unseen catalog items.")
        if missing:
            notes.append(unanswered_note(missing, asked))
        return self.result(
            metrics=metrics,
            tables={"popularity_by_rank": by_rank, "popularity_lift_by_group": by_group},
            figures={
                "popularity_by_rank": Figure("popularity_by_rank", {
                    "by_rank": by_rank[["rank", "mean_popularity", "ci_low", "ci_high"]],
                    "history_mean": hist_pop, "catalog_mean": float(pop_series.mean())}),
                "popularity_lift_by_group": Figure("popularity_lift_by_group", {
                    "by_group": by_group[["scope", "popularity_lift", "ci_low", "ci_high"]],
                    "threshold": self.threshold_for("popularity_lift")})},
            evidence=self._evidence(data, users, lists, histories, lift, ua, pop),
            notes=notes)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _groups(data: Any, users: list[str]) -> dict[str, np.ndarray]:
        """``all`` plus one boolean mask per ``attribute=value`` of each sensitive attribute."""
        out = {"all": np.ones(len(users), dtype=bool)}
        if not data.sensitive:
            return out
        attrs = [data.user_attributes(u) for u in users]
        for a in data.sensitive:
            for v in data.attribute_values(a):
                mask = np.array([x[a] == v for x in attrs])
                if mask.any():
                    out[f"{a}={v}"] = mask
        return out

    @staticmethod
    def _by_rank(lists, pop, tail, ci) -> pd.DataFrame:
        width = max(len(lst) for lst in lists)
        rows = []
        for r in range(width):
            vals = np.array([pop.get(lst[r], 0) for lst in lists if len(lst) > r], dtype=float)
            in_tail = np.array([lst[r] in tail for lst in lists if len(lst) > r], dtype=float)
            lo, hi = ci(vals)
            rows.append({"rank": r + 1, "mean_popularity": float(vals.mean()), "ci_low": lo,
                         "ci_high": hi, "tail_share": float(in_tail.mean()),
                         "n_users": int(vals.size)})
        return pd.DataFrame(rows)

    @staticmethod
    def _evidence(data, users, lists, histories, lift, ua, pop, n: int = 5) -> list[dict]:
        order = np.argsort(-np.nan_to_num(lift, nan=-np.inf), kind="stable")[:n]
        out = []
        for j in order:
            out.append({
                "user_id": users[j],
                "popularity_lift": round(float(lift[j]), 3),
                "history_mean_popularity": round(float(np.mean(
                    [pop.get(i, 0) for i in histories[j]])), 2),
                "recommended_mean_popularity": round(float(ua[j]), 2),
                "top_recommendations": "; ".join(
                    f"{data.titles.get(i, i)} (pop {pop.get(i, 0)})" for i in lists[j][:5]),
            })
        return out
