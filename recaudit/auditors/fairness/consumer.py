"""``consumer_fairness``: counterfactual prompts (FaiRLLM, CFaiRLLM) and group utility."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ...data import candidate_pool, sample_users
from ...errors import DatasetError
from ...metrics import fairness as fm
from ...metrics.ranking import hit_at_k, ndcg_at_k
from ...metrics.similarity import SIMILARITIES, snsr, snsv
from ...results import Figure
from .._base import AuditContext, Auditor
from .._common import too_few_answered, unanswered_note
from .._metric_spec import MetricSpec
from .._registry import register_auditor
from .vocabulary import FAIRLLM_VOCABULARY, fairllm_values

ProfileKind = Literal["recent", "random", "top_rated"]
PROFILE_KINDS = ("recent", "random", "top_rated")
PAIR_SEP = "×"
#: Similarities whose SNSR carries a verdict; ``serp_released`` is reported for comparison.
TESTED_SIMILARITIES = ("jaccard", "serp", "prag")


def build_history(data, user_id: str, kind: ProfileKind, max_history: int | None,
                  rng: np.random.Generator) -> tuple[str, ...]:
    """The train items that go into a user's prompt, oldest first (CFaiRLLM's profile
    construction): the ``recent`` last ``max_history``, a ``random`` sample of that size,
    or the ``top_rated`` ones (highest rating, ties broken towards the more recent)."""
    hist = data.train_histories[user_id]
    if kind not in PROFILE_KINDS:
        raise ValueError(f"unknown profile construction {kind!r}; use one of {PROFILE_KINDS}")
    if max_history is not None and max_history <= 0:
        return ()  # cold start: the prompt states only the profile
    if max_history is None or len(hist) <= max_history:
        return tuple(hist)
    if kind == "recent":
        return tuple(hist[-max_history:])
    if kind == "random":
        keep = np.sort(rng.choice(len(hist), size=max_history, replace=False))
        return tuple(hist[i] for i in keep)
    rows = data.train[data.train["user_id"] == user_id]
    ratings = rows["rating"].to_numpy(float)
    order = np.lexsort((-np.arange(len(ratings)), -ratings))[:max_history]
    return tuple(rows["item_id"].iloc[np.sort(order)])


@register_auditor("consumer_fairness")
class ConsumerFairness(Auditor):
    """Does stating a user's sensitive attribute in the prompt change what they are shown,
    and do user groups get equally useful lists?

    Parameters
    ----------
    attributes : sequence of str, optional
        Attributes to probe. Default: the dataset's sensitive columns (``vocabulary=
        "dataset"``) or FaiRLLM's eight (``vocabulary="fairllm"``).
    vocabulary : {"dataset", "fairllm"}
        Where the stated values come from: the values present in the dataset's sensitive
        columns, or FaiRLLM's released vocabularies (prompt-only probing).
    k : int
        List length K (FaiRLLM uses 20).
    n_users : int or None
        Users sampled (with held-out items); ``None`` = all.
    intersectional : bool or sequence of pairs
        CFaiRLLM's intersectional probes. ``True``: every pair of dataset attributes
        (``vocabulary="dataset"``) or gender x age (``"fairllm"``); a list names the pairs.
    profile : {"recent", "random", "top_rated"}
        Which train items go into the prompt (CFaiRLLM's profile construction).
    max_history : int or None
        History items in the prompt (0 = cold start, profile only). A long history can
        make a stated attribute redundant (the history already reveals the taste it
        predicts); FaiRLLM's prompts carry almost none.
    n_candidates : int or None
        An int (default 40) gives each user a fixed candidate list (held-out items plus
        uniformly sampled unseen items), shared by the neutral and every counterfactual
        request, which bounds the cost for language models that score every candidate
        (about n_users x 12 x n_candidates scorings on the synthetic world). ``None`` ranks
        the whole catalog, as FaiRLLM's free generation does.
    group_utility : bool
        Also compare NDCG@K / HR@K across users' real attribute groups (neutral prompts).
    plots : bool
        Attach the figure data to the result (kept for old specs; figure data is cheap:
        drawing happens in the report).
    n_evidence : int
        Users shown as evidence (those whose lists changed most).
    thresholds : dict, optional
        Overrides of :attr:`default_thresholds`.

    Notes
    -----
    Per-user rows (``report.per_user("consumer_fairness", "snsr_jaccard", "gender")``):
    ``snsr_*`` and ``alignment_gap_*`` have one row per user and stated value (column
    ``stated``): the similarity of that counterfactual list to the user's neutral list, or
    its NDCG@K / HR@K on the held-out items. The metric is the max - min over ``stated`` of
    the mean ``value``; the lowest similarity names the user whose list a stated attribute
    changed most (the evidence). ``utility_gap_*`` has one row per user: the neutral list's
    NDCG@K / HR@K and the user's real ``group``; the metric is the max - min of the group
    means. ``snsv_*`` and ``utility_ratio_*`` come from the same rows as ``snsr_*`` and
    ``utility_gap_*`` and carry none of their own.
    """

    family = "fairness"
    requires = frozenset({"rank"})
    citation = ("Zhang et al., Is ChatGPT Fair for Recommendation? Evaluating Fairness in "
                "Large Language Model Recommendation (FaiRLLM), RecSys 2023; Deldjoo and "
                "Di Noia, CFaiRLLM: Consumer Fairness Evaluation in Large-Language Model "
                "Recommender System, 2024; Weerts et al., Fairlearn, JMLR 2023.")
    method = (
        "FaiRLLM counterfactual probing. For each sampled user the model ranks a neutral "
        "request (no attribute in the prompt) and one request per value of each sensitive "
        "attribute (and per pair of values for intersectional attributes), with the same "
        "history. Each counterfactual top-K list R^a is compared with the neutral list R by "
        "Jaccard, SERP* (normalised to [0, 1] by K(K+1)/2; FaiRLLM's released 2K(K+1) scale "
        "is reported as serp_released; K is the length of the neutral list, len(R), as in "
        "FaiRLLM's released code, so a model that returns fewer than K items is compared at "
        "that length and identical lists score 1 at any length) and PRAG*; Sim(a) is the "
        "mean over users, SNSR = "
        "max_a Sim(a) - min_a Sim(a) and SNSV = the population std of Sim(a). CIs resample "
        "users (percentile bootstrap). The p-value behind SNSR is a within-user permutation "
        "test: each user's similarities are shuffled across the attribute's values (what "
        "the null 'the stated value does not matter' allows) and SNSR recomputed; "
        "permutations are drawn sequentially (more while the observed SNSR is rarely "
        "reached, up to 20,000) so a strong effect survives Holm's correction. CFaiRLLM "
        "additions: true-preference alignment (NDCG@K / HR@K of each counterfactual list on "
        "the user's held-out items; alignment_gap = max - min over values, same tests) and "
        "profile construction (recent, random or top-rated history). Group utility: NDCG@K "
        "and HR@K of the neutral lists disaggregated by the users' real attributes with "
        "fairlearn's MetricFrame; utility_gap = max - min of group means (ratio = min / "
        "max), bootstrap CI over users and a group-label permutation p-value.")
    #: Scopes are attributes (``gender``) and attribute pairs (``gender×age``). SNSR
    #: thresholds: the largest acceptable range of mean similarity across values (0 = lists
    #: never depend on the stated value; FaiRLLM's largest ChatGPT gap was PRAG*@20 SNSR ~
    #: 0.22). One SNSR/SNSV pair per similarity of ``metrics.similarity.SIMILARITIES``.
    metrics = (
        MetricSpec("snsr_jaccard", "max - min over stated values of mean Jaccard@K between "
                   "counterfactual and neutral lists", higher_is_better=False, threshold=0.05),
        MetricSpec("snsr_serp", "max - min over stated values of mean normalised SERP*",
                   higher_is_better=False, threshold=0.05),
        MetricSpec("snsr_serp_released", "max - min over stated values of mean SERP* on "
                   "FaiRLLM's released scale (untested, for comparison)",
                   higher_is_better=None),
        MetricSpec("snsr_prag", "max - min over stated values of mean PRAG*",
                   higher_is_better=False, threshold=0.05),
        MetricSpec("snsv_jaccard", "population std over stated values of mean Jaccard@K",
                   higher_is_better=None),
        MetricSpec("snsv_serp", "population std over stated values of mean normalised SERP*",
                   higher_is_better=None),
        MetricSpec("snsv_serp_released", "population std over stated values of mean "
                   "released-scale SERP*", higher_is_better=None),
        MetricSpec("snsv_prag", "population std over stated values of mean PRAG*",
                   higher_is_better=None),
        MetricSpec("alignment_gap_ndcg", "max - min over stated values of NDCG@K of the "
                   "counterfactual lists on held-out items", higher_is_better=False,
                   threshold=0.05),
        MetricSpec("alignment_gap_hr", "max - min over stated values of HR@K of the "
                   "counterfactual lists on held-out items", higher_is_better=False),
        MetricSpec("utility_gap_ndcg", "max - min over real user groups of NDCG@K (neutral "
                   "prompts)", higher_is_better=False, threshold=0.05),
        MetricSpec("utility_gap_hr", "max - min over real user groups of HR@K (neutral "
                   "prompts)", higher_is_better=False, threshold=0.10),
        MetricSpec("utility_ratio_ndcg", "min / max over real user groups of NDCG@K",
                   higher_is_better=None),
        MetricSpec("utility_ratio_hr", "min / max over real user groups of HR@K",
                   higher_is_better=None),
    )

    def __init__(self, *, attributes: Sequence[str] | None = None,
                 vocabulary: Literal["dataset", "fairllm"] = "dataset", k: int = 20,
                 n_users: int | None = 40,
                 intersectional: bool | Sequence[Sequence[str]] = True,
                 profile: ProfileKind = "recent", max_history: int | None = 20,
                 n_candidates: int | None = 40, group_utility: bool = True,
                 plots: bool = True, n_evidence: int = 3,
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.plots = plots
        self.attributes = attributes
        self.vocabulary = vocabulary
        self.k = k
        self.n_users = n_users
        self.intersectional = intersectional
        self.profile = profile
        self.max_history = max_history
        self.n_candidates = n_candidates
        self.group_utility = group_utility
        self.n_evidence = n_evidence

    # ------------------------------------------------------------------ set-up
    def _scopes(self, data) -> dict[str, list[dict[str, str]]]:
        """scope name -> the stated profiles to probe (one dict per value or value pair)."""
        if self.vocabulary == "dataset":
            attrs = list(self.attributes) if self.attributes is not None else list(
                data.sensitive)
            values = {a: data.attribute_values(a) for a in attrs}
            default_pairs = list(itertools.combinations(attrs, 2))
        elif self.vocabulary == "fairllm":
            attrs = list(self.attributes) if self.attributes is not None else list(
                FAIRLLM_VOCABULARY)
            values = {a: list(fairllm_values(a)) for a in attrs}
            default_pairs = [("gender", "age")] if {"gender", "age"} <= set(attrs) else []
        else:
            raise ValueError(f"vocabulary={self.vocabulary!r}; use 'dataset' or 'fairllm'")
        if not attrs:
            raise DatasetError("no sensitive attribute to probe: the dataset declares none; "
                               "pass attributes=[...] or vocabulary='fairllm'", table="users")
        scopes = {a: [{a: v} for v in values[a]] for a in attrs}
        pairs = (default_pairs if self.intersectional is True
                 else [] if not self.intersectional else [tuple(p) for p in self.intersectional])
        for a, b in pairs:
            if a not in values or b not in values:
                raise ValueError(f"intersectional pair ({a!r}, {b!r}) uses an attribute that "
                                 f"is not probed; probed attributes are {attrs}")
            scopes[f"{a}{PAIR_SEP}{b}"] = [{a: x, b: y} for x in values[a] for y in values[b]]
        for name, profiles in scopes.items():
            if len(profiles) < 2:
                raise ValueError(f"attribute {name!r} has a single value; SNSR needs two")
        return scopes

    def _check(self, data) -> None:
        if self.profile not in PROFILE_KINDS:
            raise ValueError(f"profile={self.profile!r}; use one of {PROFILE_KINDS}")
        if self.profile == "top_rated" and "rating" not in data.interactions.columns:
            raise DatasetError("profile='top_rated' needs ratings; use 'recent' or 'random'",
                               table="interactions", column="rating")
        if self.k < 1 or (self.n_candidates is not None and self.n_candidates < self.k):
            raise ValueError(f"need 1 <= k <= n_candidates; got k={self.k}, "
                             f"n_candidates={self.n_candidates}")

    # ------------------------------------------------------------------ run
    def run(self, model: Any, data: Any, ctx: AuditContext) -> Any:
        self._check(data)
        scopes = self._scopes(data)
        users = sample_users(data, self.n_users, ctx.rng(self.name, "users"))
        if len(users) < 2:
            raise DatasetError("need at least 2 users with held-out items", table="interactions")
        hist_rng = ctx.rng(self.name, "profile")
        neg_rng = ctx.rng(self.name, "candidates")
        neutral, counterfactual = [], {s: [] for s in scopes}
        for u in users:
            hist = build_history(data, u, self.profile, self.max_history, hist_rng)
            cands = (None if self.n_candidates is None
                     else candidate_pool(data, u, self.n_candidates, neg_rng))
            base = data.request(u).replace(history=hist, candidates=cands)
            neutral.append(base)
            for s, profiles in scopes.items():
                counterfactual[s].append([base.replace(profile=p) for p in profiles])
        batch = list(neutral) + [r for s in scopes for row in counterfactual[s] for r in row]
        ranked = model.rank(batch, self.k)
        lists = [tuple(r.items[: self.k]) for r in ranked]
        ref = lists[: len(users)]
        short = sum(len(x) < self.k for x, r in zip(lists, ranked) if r.answered)
        pos = len(users)
        cf_lists: dict[str, list[list[tuple[str, ...]]]] = {}
        for s, profiles in scopes.items():
            n_v = len(profiles)
            cf_lists[s] = [lists[pos + i * n_v: pos + (i + 1) * n_v] for i in range(len(users))]
            pos += n_v * len(users)
        asked = len(users)
        kept = _answered_only(users, ranked, scopes, ref, cf_lists)
        if kept is None:
            return too_few_answered(self, [u for u, r in zip(users, ranked) if not r.answered],
                                    asked)
        (util_users, util_ref), (users, ref, cf_lists), scopes, answer_notes = kept

        metrics, tables, figures, evidence, notes = [], {}, {}, [], list(answer_notes)
        held = [set(data.test_items[u]) for u in users]
        sim_rows, align_rows = [], []
        for s, profiles in ctx.progress(scopes.items(), desc="consumer_fairness",
                                        total=len(scopes)):
            labels = [_label(p, s) for p in profiles]
            mats = {name: np.array([[SIMILARITIES[name](cf, ref[u], self.k)
                                     for cf in cf_lists[s][u]] for u in range(len(users))])
                    for name in SIMILARITIES}
            for name, mat in mats.items():
                metrics += self._range_metrics(name, mat, s, labels, ctx, sim_rows, users)
            nd = np.array([[ndcg_at_k(cf, held[u], self.k) for cf in cf_lists[s][u]]
                           for u in range(len(users))])
            hr = np.array([[hit_at_k(cf, held[u], self.k) for cf in cf_lists[s][u]]
                           for u in range(len(users))])
            metrics += self._alignment_metrics(nd, hr, s, labels, ctx, align_rows, users)
            evidence += self._evidence(data, users, s, labels, ref, cf_lists[s],
                                       mats["jaccard"])
        if sim_rows:  # none when the model answered no counterfactual request
            tables["similarity_by_value"] = pd.DataFrame(sim_rows)
            tables["alignment_by_value"] = pd.DataFrame(align_rows)
            if self.plots:
                figures["similarity_by_value"] = _similarity_figure(
                    tables["similarity_by_value"])
        seen: set[str] = set()
        evidence = [e for e in sorted(evidence, key=lambda e: e["jaccard"])
                    if not (e["user"] in seen or seen.add(e["user"]))][: self.n_evidence]
        if not evidence and scopes:
            notes.append("no counterfactual list differed from its neutral list")

        # group utility reads only the neutral lists: every user the model answered for
        users, ref = util_users, util_ref
        held = [set(data.test_items[u]) for u in users]

        nd0 = np.array([ndcg_at_k(ref[u], held[u], self.k) for u in range(len(users))])
        hr0 = np.array([hit_at_k(ref[u], held[u], self.k) for u in range(len(users))])
        per_user = pd.DataFrame({"user_id": users})
        for attr in data.sensitive:
            per_user[attr] = [data.user_attributes(u)[attr] for u in users]
        per_user[f"ndcg@{self.k}"], per_user[f"hr@{self.k}"] = nd0, hr0
        tables["neutral_utility_per_user"] = per_user
        if self.group_utility and data.sensitive:
            m, t, fig = self._group_utility(data, users, nd0, hr0, ctx)
            metrics += m
            tables["utility_by_group"] = t
            if fig is not None:
                figures["utility_by_group"] = fig
        elif self.group_utility:
            notes.append("group utility skipped: the dataset declares no sensitive attribute")
        notes.append(f"{len(users)} users, {len(batch)} requests in one batch "
                     f"({len(batch) // asked} per user), K={self.k}, "
                     f"profile={self.profile!r}, max_history={self.max_history}, "
                     f"vocabulary={self.vocabulary!r}, candidates="
                     f"{'whole catalog' if self.n_candidates is None else self.n_candidates}")
        notes.append(f"neutral lists: NDCG@{self.k} = {nd0.mean():.3f}, HR@{self.k} = "
                     f"{hr0.mean():.3f} on held-out items")
        if short:
            notes.append(f"{short} of {len(lists)} lists had fewer than K={self.k} items; "
                         "SERP* compares each list with its neutral list R at K = len(R)")
        return self.result(metrics=metrics, tables=tables, figures=figures, evidence=evidence,
                           notes=notes)

    # ------------------------------------------------------------------ pieces
    def _range_metrics(self, name: str, mat: np.ndarray, scope: str, labels: list[str],
                       ctx: AuditContext, rows: list[dict[str, Any]],
                       users: list[str]) -> list:
        sims = mat.mean(axis=0)
        seed = ctx.subseed(self.name, "bootstrap", scope, name)
        lo, hi = fm.bootstrap_rows(mat, lambda c: np.column_stack(
            [c, c.max(axis=1) - c.min(axis=1), c.std(axis=1)]),
            n_resamples=ctx.n_bootstrap, seed=seed)
        n_v = len(labels)
        for j, lab in enumerate(labels):
            rows.append({"scope": scope, "value": lab, "similarity": name,
                         "sim": float(sims[j]), "ci_low": float(lo[j]),
                         "ci_high": float(hi[j]), "n_users": mat.shape[0]})
        tested = name in TESTED_SIMILARITIES
        p = (fm.snsr_permutation_test(mat, n_permutations=ctx.n_permutations,
                                      seed=ctx.subseed(self.name, "permutation", scope, name))
             if tested else None)
        what = "normalised" if name == "serp" else "released-scale" if "released" in name else ""
        return [
            self.metric(f"snsr_{name}", snsr(sims), scope=scope, ci=(lo[n_v], hi[n_v]),
                        p_value=p, higher_is_better=False if tested else None,
                        description=f"max - min over values of mean {what} {name} similarity "
                                    "between counterfactual and neutral top-K lists",
                        per_user=_by_stated(users, labels, mat), per_user_aggregate=None),
            self.metric(f"snsv_{name}", snsv(sims), scope=scope, ci=(lo[n_v + 1], hi[n_v + 1]),
                        description=f"population std over values of mean {what} {name} "
                                    "similarity"),
        ]

    def _alignment_metrics(self, nd: np.ndarray, hr: np.ndarray, scope: str,
                           labels: list[str], ctx: AuditContext,
                           rows: list[dict[str, Any]], users: list[str]) -> list:
        out = []
        for key, mat in (("ndcg", nd), ("hr", hr)):
            means = mat.mean(axis=0)
            lo, hi = fm.bootstrap_rows(mat, lambda c: np.column_stack(
                [c, c.max(axis=1) - c.min(axis=1)]), n_resamples=ctx.n_bootstrap,
                seed=ctx.subseed(self.name, "align", scope, key))
            for j, lab in enumerate(labels):
                rows.append({"scope": scope, "value": lab, "metric": f"{key}@{self.k}",
                             "mean": float(means[j]), "ci_low": float(lo[j]),
                             "ci_high": float(hi[j])})
            p = fm.snsr_permutation_test(mat, n_permutations=ctx.n_permutations,
                                         seed=ctx.subseed(self.name, "align-perm", scope, key))
            n_v = len(labels)
            out.append(self.metric(
                f"alignment_gap_{key}", float(means.max() - means.min()), scope=scope,
                ci=(lo[n_v], hi[n_v]), p_value=p, higher_is_better=False,
                description=f"max - min over values of {key.upper()}@{self.k} of the "
                            "counterfactual lists on held-out items",
                per_user=_by_stated(users, labels, mat), per_user_aggregate=None))
        return out

    def _evidence(self, data, users, scope, labels, ref, cf, jac) -> list[dict[str, Any]]:
        out = []
        worst = np.argsort(jac.min(axis=1), kind="stable")[: self.n_evidence]
        titles = data.titles
        for u in worst:
            j = int(np.argmin(jac[u]))
            if jac[u, j] >= 1.0:  # the list did not change at all: nothing to show
                continue
            out.append({"user": users[u], "scope": scope, "stated": labels[j],
                        "jaccard": round(float(jac[u, j]), 3),
                        "neutral": "; ".join(titles.get(i, i) for i in ref[u][:10]),
                        "counterfactual": "; ".join(titles.get(i, i) for i in cf[u][j][:10])})
        return out

    def _group_utility(self, data, users, nd0, hr0, ctx):
        metrics, rows, per_attr = [], [], {}
        for attr in data.sensitive:
            groups = np.array([data.user_attributes(u)[attr] for u in users])
            mf = fm.utility_frame({"ndcg": nd0, "hr": hr0}, groups, name=attr)
            diff, ratio = mf.difference(), mf.ratio()
            per_attr[attr] = mf.by_group
            for key, vals in (("ndcg", nd0), ("hr", hr0)):
                seed = ctx.subseed(self.name, "utility", attr, key)
                for g, v in mf.by_group[key].items():
                    sel = vals[groups == g]
                    lo, hi = fm.bootstrap_rows(sel[:, None], lambda c: c,
                                               n_resamples=ctx.n_bootstrap, seed=seed)
                    rows.append({"attribute": attr, "group": g, "metric": f"{key}@{self.k}",
                                 "mean": float(v), "ci_low": float(lo[0]),
                                 "ci_high": float(hi[0]), "n_users": int(sel.size)})
                ci_d, ci_r = fm.group_gap_bootstrap_ci(vals, groups,
                                                       n_resamples=ctx.n_bootstrap, seed=seed)
                p = fm.group_gap_permutation_test(vals, groups,
                                                  n_permutations=ctx.n_permutations, seed=seed)
                metrics.append(self.metric(
                    f"utility_gap_{key}", float(diff[key]), scope=attr, ci=ci_d, p_value=p,
                    higher_is_better=False,
                    description=f"max - min over real {attr} groups of {key.upper()}@{self.k} "
                                "(neutral prompts; fairlearn MetricFrame.difference)",
                    per_user=pd.DataFrame({"user_id": users, "value": vals,
                                           "group": [str(g) for g in groups]}),
                    per_user_aggregate=None))
                metrics.append(self.metric(
                    f"utility_ratio_{key}", float(ratio[key]), scope=attr, ci=ci_r,
                    description=f"min / max over real {attr} groups of {key.upper()}@{self.k} "
                                "(fairlearn MetricFrame.ratio)"))
        table = pd.DataFrame(rows)
        return metrics, table, _utility_figure(table) if self.plots else None


def _by_stated(users: list[str], labels: list[str], mat: np.ndarray) -> pd.DataFrame:
    """Long per-user rows of a (users x stated values) matrix: one row per user and value."""
    return pd.DataFrame({"user_id": np.repeat(np.asarray(users, dtype=object), len(labels)),
                         "value": mat.reshape(-1),
                         "stated": np.tile(np.asarray(labels, dtype=object), len(users))})


def _answered_only(users: list[str], ranked: Sequence[Any], scopes: dict[str, list],
                   ref: list, cf_lists: dict[str, list]) -> Any:
    """Leave out what the model holds no answer for (``Ranking.answered`` false: a log
    without that list), and say so. ``None`` when fewer than 2 users have a neutral list;
    else ``((users, ref) with a neutral list, (users, ref, cf_lists) with every kept
    counterfactual list, the kept scopes, notes)``. A scope (attribute) whose stated-value
    lists fewer than 2 of those users have is dropped."""
    n = len(users)
    has_ref = [r.answered for r in ranked[:n]]
    if all(r.answered for r in ranked):
        return (users, ref), (users, ref, cf_lists), scopes, []
    notes = []
    missing = [u for u, a in zip(users, has_ref) if not a]
    if n - len(missing) < 2:
        return None
    if missing:
        notes.append(unanswered_note(missing, n))
    pos, full = n, {}
    for s, profiles in scopes.items():
        n_v = len(profiles)
        full[s] = [has_ref[i] and all(r.answered for r in ranked[pos + i * n_v:
                                                                pos + (i + 1) * n_v])
                   for i in range(n)]
        pos += n_v * n
    kept = {}
    for s, profiles in scopes.items():
        if sum(full[s]) < 2:
            notes.append(f"{s}: counterfactual part skipped: the model holds the lists for "
                         f"every stated value ({', '.join(_label(p, s) for p in profiles)}) "
                         f"of {sum(full[s])} of {n} users (a log without these conditions)")
        else:
            kept[s] = profiles
    keep = [i for i in range(n) if has_ref[i] and all(full[s][i] for s in kept)]
    dropped = [users[i] for i in sorted(set(range(n)) - set(keep)) if has_ref[i]]
    if kept and dropped:
        notes.append(f"counterfactual part: {len(dropped)} user(s) with a neutral list "
                     "but no list for some stated value were left out: "
                     + ", ".join(dropped[:10]) + (" ..." if len(dropped) > 10 else ""))
    util = [i for i in range(n) if has_ref[i]]
    cf_keep = keep if kept else []
    return (([users[i] for i in util], [ref[i] for i in util]),
            ([users[i] for i in cf_keep], [ref[i] for i in cf_keep],
             {s: [cf_lists[s][i] for i in cf_keep] for s in kept}), kept, notes)


def _label(profile: dict[str, str], scope: str) -> str:
    if PAIR_SEP not in scope:
        return next(iter(profile.values()))
    a, b = scope.split(PAIR_SEP)
    return f"{profile[a]}{PAIR_SEP}{profile[b]}"


# ---------------------------------------------------------------------- figures
def _similarity_figure(table: pd.DataFrame) -> Figure:
    """Mean similarity per stated value with its CI, for the similarities that are tested."""
    names = [n for n in TESTED_SIMILARITIES if n in set(table["similarity"])]
    rows = table[table["similarity"].isin(names)]
    return Figure("similarity_by_value", {
        "by_value": rows[["scope", "value", "similarity", "sim", "ci_low", "ci_high"]],
        "similarities": names})


def _utility_figure(table: pd.DataFrame) -> Figure:
    """Utility of the neutral lists per real group with its CI and group size."""
    return Figure("utility_by_group", {
        "by_group": table[["attribute", "group", "metric", "mean", "ci_low", "ci_high",
                           "n_users"]]})
