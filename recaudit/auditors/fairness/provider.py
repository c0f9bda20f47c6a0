"""``provider_fairness``: position-discounted exposure of provider groups (disparate exposure)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ...data import candidate_pool, sample_users
from ...engine import chunked
from ...errors import DatasetError
from ...metrics import fairness as fm
from ...results import Figure
from .._base import AuditContext, Auditor
from .._common import too_few_answered, unanswered_note
from .._metric_spec import MetricSpec
from .._registry import register_auditor
from .consumer import PROFILE_KINDS, ProfileKind, build_history


@register_auditor("provider_fairness")
class ProviderFairness(Auditor):
    """Do provider groups get exposure in proportion to their share of the catalog or of
    what users actually want?

    Parameters
    ----------
    k : int
        List length (top-K).
    n_users : int or None
        Users sampled (with held-out items); ``None`` = all.
    reference : {"relevant", "catalog"}
        The share that ``disparate_exposure`` and ``min_max_exposure_ratio`` compare the
        exposure share with: the group's share of relevant (held-out) items of the sampled
        users (merit-based: equal exposure per unit of relevance), or its share of the
        catalog (equal exposure per item). Both are always reported.
    group_column : str
        Item column holding the provider group.
    profile, max_history : see :class:`~recaudit.auditors.fairness.consumer.ConsumerFairness`
    n_candidates : int or None
        An int (default 50) ranks each user's held-out items plus uniformly sampled unseen
        items (bounded cost for language models; the sampled part mirrors the catalog's
        group shares, so exposure is compared on a representative pool). ``None`` ranks the
        whole catalog.
    plots : bool
        Attach the figure data to the result (kept for old specs; figure data is cheap:
        drawing happens in the report).
    n_evidence : int
        Users shown as evidence.
    thresholds : dict, optional
        Overrides of :attr:`default_thresholds`.

    Notes
    -----
    The unit of provider fairness is the item, not the user: ``exposure_share`` has one row
    per catalog item of the group (the scope), keyed by ``item_id``, with the item's share
    of all exposure (0 for an item no list shows); the metric is their sum, and the items
    at 0 are the providers' unseen catalog. ``disparate_exposure`` and
    ``min_max_exposure_ratio`` divide these group sums by reference shares, and
    ``catalog_share`` and ``relevant_share`` count items: none carries rows of its own.
    """

    family = "fairness"
    requires = frozenset({"rank"})
    citation = ("Singh and Joachims, Fairness of Exposure in Rankings, KDD 2018; Deldjoo, "
                "Understanding Biases in ChatGPT-based Recommender Systems: Provider "
                "Fairness, Temporal Stability, and Recency, 2024.")
    method = (
        "Each sampled user's neutral top-K list gives an item at 1-based rank r the exposure "
        "1/log2(1 + r). A provider group's exposure share is its total exposure over all "
        "lists divided by the total. It is compared with the group's share of the catalog "
        "and with its share of relevant items (the sampled users' held-out items): "
        "disparate_exposure = exposure share / reference share (1 = proportional, < 1 = "
        "under-exposed), and min_max_exposure_ratio = min over groups / max over groups of "
        "disparate_exposure (1 = every group alike; the four-fifths rule flags < 0.8). CIs "
        "resample users (percentile bootstrap, exposure and relevance resampled together). "
        "The p-value behind the verdict permutes provider labels among catalog items (group "
        "sizes kept) and recomputes 1 - min_max_exposure_ratio: under the null 'the provider "
        "plays no part in exposure beyond the reference', any regrouping of items is as "
        "likely; items' own popularity stays with them, so concentration on a few items is "
        "part of the null. Permutations are drawn sequentially (more while the observed "
        "value is rarely reached) so a strong effect survives Holm's correction.")
    #: Per-group metrics have the provider group as scope. ``min_max_exposure_ratio``: the
    #: smallest acceptable min/max ratio of exposure-to-reference across provider groups.
    metrics = (
        MetricSpec("exposure_share", "share of position-discounted exposure in top-K lists",
                   higher_is_better=None),
        MetricSpec("catalog_share", "share of catalog items", higher_is_better=None),
        MetricSpec("relevant_share", "share of the sampled users' held-out items",
                   higher_is_better=None),
        MetricSpec("disparate_exposure", "exposure share / reference share (1 = "
                   "proportional)", higher_is_better=None),
        MetricSpec("min_max_exposure_ratio", "min / max over provider groups of exposure "
                   "share / reference share", higher_is_better=True, threshold=0.8),
    )

    def __init__(self, *, k: int = 10, n_users: int | None = 100,
                 reference: Literal["relevant", "catalog"] = "relevant",
                 group_column: str = "provider", profile: ProfileKind = "recent",
                 max_history: int | None = 20, n_candidates: int | None = 50,
                 plots: bool = True, n_evidence: int = 3,
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.plots = plots
        self.k = k
        self.n_users = n_users
        self.reference = reference
        self.group_column = group_column
        self.profile = profile
        self.max_history = max_history
        self.n_candidates = n_candidates
        self.n_evidence = n_evidence

    def _check(self, data) -> None:
        if self.reference not in ("relevant", "catalog"):
            raise ValueError(f"reference={self.reference!r}; use 'relevant' or 'catalog'")
        if self.profile not in PROFILE_KINDS:
            raise ValueError(f"profile={self.profile!r}; use one of {PROFILE_KINDS}")
        if self.group_column not in data.items.columns:
            raise DatasetError(f"no item column {self.group_column!r} to group providers by",
                               table="items", column=self.group_column)
        if self.k < 1 or (self.n_candidates is not None and self.n_candidates < self.k):
            raise ValueError(f"need 1 <= k <= n_candidates; got k={self.k}, "
                             f"n_candidates={self.n_candidates}")

    def run(self, model: Any, data: Any, ctx: AuditContext) -> Any:
        self._check(data)
        item_group = dict(zip(data.items["item_id"], data.items[self.group_column].astype(str)))
        groups = sorted(set(item_group.values()))
        if len(groups) < 2:
            raise DatasetError(f"only one provider group {groups}; nothing to compare",
                               table="items", column=self.group_column)
        users = sample_users(data, self.n_users, ctx.rng(self.name, "users"))
        if len(users) < 2:
            raise DatasetError("need at least 2 users with held-out items", table="interactions")
        hist_rng, neg_rng = ctx.rng(self.name, "profile"), ctx.rng(self.name, "candidates")
        notes = []
        lists, unknown, missing = [], 0, []
        ids = {i: i for i in item_group}  # the lists share the catalog's id strings
        for chunk in chunked(users):  # one chunk's requests and answers held at a time
            requests = []
            for u in chunk:
                hist = build_history(data, u, self.profile, self.max_history, hist_rng)
                cands = (None if self.n_candidates is None
                         else candidate_pool(data, u, self.n_candidates, neg_rng))
                requests.append(data.request(u).replace(history=hist, candidates=cands))
            for u, r in zip(chunk, model.rank(requests, self.k)):
                if not r.answered:  # no answer held (a log without this list): left out
                    missing.append(u)
                    continue
                top = [ids[i] for i in r.items[: self.k] if i in item_group]
                unknown += len(r.items[: self.k]) - len(top)
                lists.append(top)
        if unknown:
            notes.append(f"{unknown} recommended id(s) not in the catalog were left out")
        if missing:
            if len(users) - len(missing) < 2:
                return too_few_answered(self, missing, len(users))
            notes.append(unanswered_note(missing, len(users)))
            gone = set(missing)
            users = [u for u in users if u not in gone]

        n_g = len(groups)
        expo = fm.exposure_by_group(lists, item_group, groups)  # (users, groups)
        rel = np.array([[sum(item_group[i] == g for i in data.test_items[u]) for g in groups]
                        for u in users], dtype=float)
        catalog = fm.share_by_group(list(data.item_ids), item_group, groups)

        @np.errstate(divide="ignore", invalid="ignore")
        def stats(cols: np.ndarray) -> np.ndarray:
            e, r = cols[:, :n_g], cols[:, n_g:]
            es = e / e.sum(axis=1, keepdims=True)
            rs = r / r.sum(axis=1, keepdims=True)
            ref = rs if self.reference == "relevant" else np.broadcast_to(catalog, es.shape)
            de = es / ref
            mm = np.nanmin(de, axis=1) / np.nanmax(de, axis=1)
            out = np.column_stack([es, rs, de, es / catalog, es / rs, mm])
            return np.where(np.isfinite(out), out, np.nan)

        point = stats(np.r_[expo.sum(axis=0), rel.sum(axis=0)][None, :])[0]
        lo, hi = fm.bootstrap_rows(np.c_[expo, rel], stats, n_resamples=ctx.n_bootstrap,
                                   seed=ctx.subseed(self.name, "bootstrap"))
        p = self._permutation_p(lists, data, users, item_group, groups, point[-1], ctx)

        item_expo = fm.item_exposure(lists)
        total = sum(item_expo.values())
        item_share = {i: (item_expo.get(i, 0.0) / total if total > 0 else float("nan"))
                      for i in data.item_ids}
        metrics, rows = [], []
        for j, g in enumerate(groups):
            def at(block: int, j: int = j) -> tuple[float, tuple[float, float]]:
                col = block * n_g + j
                return float(point[col]), (float(lo[col]), float(hi[col]))

            v, ci = at(0)
            mine = [i for i in data.item_ids if item_group[i] == g]
            metrics.append(self.metric("exposure_share", v, scope=g, ci=ci,
                                       description=f"share of position-discounted exposure "
                                                   f"in top-{self.k} lists",
                                       per_user=pd.DataFrame({
                                           "item_id": mine,
                                           "value": [item_share[i] for i in mine]}),
                                       per_user_aggregate="sum"))
            metrics.append(self.metric("catalog_share", float(catalog[j]), scope=g,
                                       description="share of catalog items"))
            v, ci = at(1)
            metrics.append(self.metric("relevant_share", v, scope=g, ci=ci,
                                       description="share of the sampled users' held-out items"))
            v, ci = at(2)
            metrics.append(self.metric(
                "disparate_exposure", v, scope=g, ci=ci,
                description=f"exposure share / {self.reference} share (1 = proportional)"))
            rows.append({"group": g, "catalog_share": float(catalog[j]),
                         "relevant_share": float(point[n_g + j]),
                         "exposure_share": float(point[j]),
                         "exposure_ci_low": float(lo[j]), "exposure_ci_high": float(hi[j]),
                         "exposure_to_catalog": float(point[3 * n_g + j]),
                         "exposure_to_relevant": float(point[4 * n_g + j]),
                         "n_catalog_items": int(sum(1 for x in item_group.values() if x == g))})
        metrics.append(self.metric(
            "min_max_exposure_ratio", float(point[-1]), ci=(float(lo[-1]), float(hi[-1])),
            p_value=p, higher_is_better=True,
            description=f"min / max over provider groups of exposure share / {self.reference} "
                        "share (1 = every group exposed in proportion)"))
        table = pd.DataFrame(rows)
        notes.append(f"{len(users)} users, top-{self.k} lists, reference={self.reference!r}, "
                     f"candidates={'whole catalog' if self.n_candidates is None else self.n_candidates}")
        return self.result(metrics=metrics, tables={"exposure_by_group": table},
                           figures={"exposure_vs_share": _figure(table, self.k)}
                           if self.plots else {},
                           evidence=self._evidence(data, users, lists, item_group, groups,
                                                   point[2 * n_g: 3 * n_g]),
                           notes=notes)

    def _permutation_p(self, lists, data, users, item_group, groups, observed, ctx) -> float:
        """Permute provider labels among catalog items; statistic 1 - min_max ratio."""
        ids = list(data.item_ids)
        index = {i: n for n, i in enumerate(ids)}
        x = np.zeros(len(ids))
        for lst in lists:
            for i, w in zip(lst, fm.position_discount(len(lst))):
                x[index[i]] += w
        r = np.zeros(len(ids))
        for u in users:
            for i in data.test_items[u]:
                r[index[i]] += 1
        codes = np.array([groups.index(item_group[i]) for i in ids])
        n_g = len(groups)
        counts = np.bincount(codes, minlength=n_g).astype(float)
        onehot = np.eye(n_g)[codes]  # (items, groups)

        def draw(n: int, rng: np.random.Generator) -> np.ndarray:
            perm = np.argsort(rng.random((n, len(ids))), axis=1)
            e = x[perm] @ onehot  # (n, groups): exposure of each permuted group
            ref = (r[perm] @ onehot) if self.reference == "relevant" else np.broadcast_to(
                counts, e.shape)
            with np.errstate(divide="ignore", invalid="ignore"):
                de = (e / e.sum(axis=1, keepdims=True)) / (ref / ref.sum(axis=1, keepdims=True))
                null = 1 - np.nanmin(de, axis=1) / np.nanmax(de, axis=1)
            return np.where(np.isfinite(null), null, np.nan)

        return fm.sequential_permutation_pvalue(
            1 - observed, draw, n_permutations=ctx.n_permutations,
            seed=ctx.subseed(self.name, "permutation"))

    def _evidence(self, data, users, lists, item_group, groups, de) -> list[dict[str, Any]]:
        """Users whose wanted (held-out) item is from the most under-exposed group while
        their list shows that group least."""
        worst = groups[int(np.nanargmin(de))]
        cand = []
        for n, u in enumerate(users):
            wanted = [i for i in data.test_items[u] if item_group[i] == worst]
            if wanted:
                share = np.mean([item_group[i] == worst for i in lists[n]]) if lists[n] else 0.0
                missed = wanted[0] not in lists[n]
                cand.append((not missed, share, n, wanted[0]))
        cand.sort(key=lambda t: (t[0], t[1], t[2]))
        titles = data.titles
        return [{"user": users[n], "under_exposed_group": worst,
                 "held_out_item": titles.get(item, item),
                 "share_of_group_in_list": round(float(share), 3),
                 "list": "; ".join(f"{titles.get(i, i)} [{item_group[i]}]"
                                   for i in lists[n][:10])}
                for _, share, n, item in cand[: self.n_evidence]]


def _figure(table: pd.DataFrame, k: int) -> Figure:
    """Exposure share with its CI beside the catalog and relevant shares, per group."""
    return Figure("exposure_vs_share", {
        "by_group": table[["group", "catalog_share", "relevant_share", "exposure_share",
                           "exposure_ci_low", "exposure_ci_high"]],
        "k": k})
