"""``prompt_robustness``: do recommendations survive meaning-preserving prompt noise?

CheckList-style invariance tests (Ribeiro et al. 2020) for recommenders: each sampled
user's request is ranked as is and under every perturbation of
:mod:`recaudit.perturbations` (typos, case, whitespace, MiniLM neighbour word swaps, history
shuffle and truncation, an irrelevant sentence, candidate shuffle); the two top-K lists are
compared with Jaccard@K, rank-biased overlap and Kendall's tau, and utility on the user's
held-out items with NDCG@K and HR@K.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...contract import Request
from ...data import sample_negatives, sample_users
from ...metrics.agreement import jaccard_at_k, kendall_tau, rbo
from ...metrics.ranking import hit_at_k, ndcg_at_k
from ...metrics.statistics import bootstrap_ci, one_sample_test
from ...perturbations import Perturbation, as_perturbations
from ...results import AuditResult, Figure
from .._base import AuditContext, Auditor
from .._metric_spec import MetricSpec
from .._registry import register_auditor

#: The default perturbation set and strengths (see each class for what strength means).
DEFAULT_PERTURBATIONS: dict[str, dict[str, Any]] = {
    "typos": {"strength": 0.25},
    "case": {"strength": 0.5},
    "whitespace": {"strength": 0.5},
    "word_swap": {"strength": 0.25},
    "history_shuffle": {"strength": 1.0},
    "history_truncation": {"strength": 0.25},
    "irrelevant_sentence": {"strength": 0.34},
    "candidate_shuffle": {"strength": 1.0},
}


@register_auditor("prompt_robustness")
class PromptRobustness(Auditor):
    """Stability of top-K lists and utility under prompt perturbations.

    Parameters
    ----------
    perturbations : list of str, dict of name to params, or list of Perturbation, optional
        What to apply; default :data:`DEFAULT_PERTURBATIONS`. A perturbation's ``seed``
        defaults to one derived from the audit seed.
    k : int
        List length compared (top-K).
    n_users : int or None
        Users sampled (seeded), among users with held-out items; ``None``: all.
    n_candidates : int or None
        Candidate list per user: the held-out items plus random unseen items up to this size,
        in a random order (the LLMRank protocol, and what ``candidate_shuffle`` needs).
        ``None`` ranks the whole catalog.
    max_history : int or None
        Most recent history items put in each request (``None``: all).
    persistence : float
        RBO persistence p (0.9: a user looks about 10 items deep).
    kendall_over : {"union", "intersection"}
        Items Kendall's tau is computed over (see :func:`recaudit.metrics.agreement.kendall_tau`).
    n_evidence : int
        Worst-case examples kept (lowest RBO, one per perturbation).
    thresholds : dict, optional
        Overrides of :attr:`default_thresholds` (``"rbo@typos": 0.7``, say).

    Notes
    -----
    Every metric has per-user rows (``report.per_user("prompt_robustness", "rbo",
    "typos")``): one per sampled user and perturbation (the scope), the metric their mean
    (missing values, such as an undefined Kendall tau, left out).

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo.robustness import BrittleTitleModel
    >>> data = ra.datasets.synthetic(n_users=100, n_items=80, seed=0)
    >>> res = PromptRobustness(perturbations=["case"], n_users=40).run(
    ...     BrittleTitleModel(data), data, ra.AuditContext(show_progress=False))
    >>> res.metric("rbo", "case").value < 0.9
    True
    """

    family = "robustness"
    requires = frozenset({"rank"})
    citation = (
        "Ribeiro, Wu, Guestrin, Singh. Beyond Accuracy: Behavioral Testing of NLP Models with "
        "CheckList (ACL 2020); Webber, Moffat, Zobel. A Similarity Measure for Indefinite "
        "Rankings (ACM TOIS 2010) [RBO]; Zhang et al. Is ChatGPT Fair for Recommendation? "
        "(FaiRLLM, RecSys 2023) [prompt sensitivity]; Hou et al. Large Language Models are "
        "Zero-Shot Rankers for Recommender Systems (LLMRank, ECIR 2024) [candidate order].")
    method = (
        "For each sampled user the request (history, and a candidate list of the held-out "
        "items plus random unseen items) is ranked once as is and once under each "
        "perturbation. Text perturbations (typos, case, whitespace, nearest-neighbour word "
        "swaps in MiniLM space) edit only the history titles the model reads, through item "
        "text overrides; item ids are unchanged, so utility stays measurable. Structural "
        "perturbations shuffle or truncate the history, append an irrelevant sentence, or "
        "shuffle the candidate order. Per user and perturbation the original and perturbed "
        "top-K lists are compared by Jaccard@K, extrapolated rank-biased overlap (RBO_ext, "
        "persistence p) and Kendall's tau-b, and utility by the drop in NDCG@K and HR@K on the "
        "held-out items. Means carry percentile-bootstrap CIs over users. RBO is tested "
        "against 'no change' (RBO = 1) and the NDCG drop against 'no drop' with one-sided "
        "Wilcoxon signed-rank tests over users; a perturbation fails when its mean is beyond "
        "the threshold and the Holm-adjusted p-value is significant. History truncation "
        "removes information, so it has a looser RBO threshold.")
    #: The scope of every metric is the perturbation. A mean RBO below 0.5 (lists share
    #: little of their top) or a mean NDCG@K drop above 0.1 fails; history truncation
    #: legitimately changes the answer, so only a collapse fails there.
    metrics = (
        MetricSpec("jaccard_at_k", "mean Jaccard of the original and perturbed top-K lists",
                   higher_is_better=True),
        MetricSpec("rbo", "mean extrapolated rank-biased overlap of the original and "
                   "perturbed top-K lists", higher_is_better=True, threshold=0.5,
                   scope_thresholds={"history_truncation": 0.3}),
        MetricSpec("kendall_tau", "mean Kendall tau-b of the original and perturbed lists",
                   higher_is_better=True),
        MetricSpec("ndcg_drop", "mean NDCG@K on held-out items, original minus perturbed",
                   higher_is_better=False, threshold=0.1,
                   scope_thresholds={"history_truncation": 0.2}),
        MetricSpec("hr_drop", "mean HR@K on held-out items, original minus perturbed",
                   higher_is_better=False),
    )

    def __init__(self, perturbations: Any = None, k: int = 10, n_users: int | None = 60,
                 n_candidates: int | None = 20, max_history: int | None = None,
                 persistence: float = 0.9, kendall_over: str = "union", n_evidence: int = 4,
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.perturbations = perturbations
        self.k = k
        self.n_users = n_users
        self.n_candidates = n_candidates
        self.max_history = max_history
        self.persistence = persistence
        self.kendall_over = kendall_over
        self.n_evidence = n_evidence

    # ------------------------------------------------------------------ run
    def run(self, model: Any, data: Any, ctx: AuditContext) -> AuditResult:
        if self.k < 1:
            raise ValueError(f"prompt_robustness: k must be >= 1, got {self.k}")
        if self.kendall_over not in ("union", "intersection"):
            raise ValueError("prompt_robustness: kendall_over must be 'union' or "
                             f"'intersection', got {self.kendall_over!r}")
        spec = DEFAULT_PERTURBATIONS if self.perturbations is None else self.perturbations
        perts = as_perturbations(spec, seed=ctx.subseed(self.name, "perturbations"))
        if not perts:
            raise ValueError("prompt_robustness: no perturbations given")
        users = sample_users(data, self.n_users, ctx.rng(self.name, "users"))
        if not users:
            raise ValueError("prompt_robustness: no user has held-out items to audit")
        base = self._base_requests(data, users, ctx)

        perturbed: dict[str, list[Request]] = {}
        for p in ctx.progress(perts, desc="prompt_robustness: perturbing"):
            perturbed[p.name] = [p.apply(r, data) for r in base]

        unique: dict[Request, int] = {}
        for req in [*base, *(r for rs in perturbed.values() for r in rs)]:
            unique.setdefault(req, len(unique))
        answers = model.rank(list(unique), self.k)
        lists = {req: answers[n].top(self.k) for req, n in unique.items()}

        per_user = self._per_user(data, users, base, perturbed, lists)
        metrics, table = self._metrics(perts, per_user, ctx)
        notes = [f"{len(users)} users, top-{self.k}, "
                 + (f"{self.n_candidates} candidates per user (held-out items + random "
                    "unseen items, shuffled)" if self.n_candidates else "whole catalog")
                 + f"; {len(unique)} distinct requests in one batch."]
        for p in perts:
            changed = float(np.mean([a != b for a, b in zip(base, perturbed[p.name])]))
            if changed == 0.0:
                notes.append(f"{p.name} changed no request (e.g. candidate_shuffle without "
                             "candidates): its metrics are trivially perfect.")
        return self.result(
            metrics=metrics,
            tables={"per_perturbation": table},
            figures={"stability_by_perturbation": Figure("stability_by_perturbation", {
                "by_perturbation": table[["perturbation", "rbo", "rbo_ci_low", "rbo_ci_high",
                                          "ndcg_drop", "ndcg_drop_ci_low",
                                          "ndcg_drop_ci_high"]],
                "thresholds": {col: [self.threshold_for(col, p) for p in table["perturbation"]]
                               for col in ("rbo", "ndcg_drop")},
                "k": self.k})},
            evidence=self._evidence(model, data, perts, base, perturbed, lists, per_user),
            notes=notes,
        )

    def _base_requests(self, data: Any, users: list[str], ctx: AuditContext) -> list[Request]:
        rng = ctx.rng(self.name, "candidates")
        out = []
        for u in users:
            cands = None
            if self.n_candidates is not None:
                held = list(dict.fromkeys(data.test_items[u]))
                n_neg = max(0, self.n_candidates - len(held))
                cands = held + sample_negatives(data, u, n_neg, rng)
                cands = [cands[i] for i in rng.permutation(len(cands))]
            out.append(data.request(u, candidates=cands, max_history=self.max_history))
        return out

    def _per_user(self, data, users, base, perturbed, lists) -> dict[str, pd.DataFrame]:
        k, out = self.k, {}
        for name, reqs in perturbed.items():
            rows = []
            for u, b, r in zip(users, base, reqs):
                la, lb = lists[b], lists[r]
                rel = data.test_items[u]
                rows.append({
                    "user_id": u,
                    "changed": b != r,
                    "jaccard_at_k": jaccard_at_k(la, lb, k),
                    "rbo": rbo(la, lb, p=self.persistence),
                    "kendall_tau": kendall_tau(la, lb, over=self.kendall_over),
                    "ndcg_original": ndcg_at_k(la, rel, k),
                    "ndcg_perturbed": ndcg_at_k(lb, rel, k),
                    "hr_original": hit_at_k(la, rel, k),
                    "hr_perturbed": hit_at_k(lb, rel, k),
                })
            df = pd.DataFrame(rows)
            df["ndcg_drop"] = df["ndcg_original"] - df["ndcg_perturbed"]
            df["hr_drop"] = df["hr_original"] - df["hr_perturbed"]
            out[name] = df
        return out

    def _metrics(self, perts: list[Perturbation], per_user: dict[str, pd.DataFrame],
                 ctx: AuditContext):
        B = ctx.n_bootstrap
        metrics, rows = [], []
        for p in perts:
            df = per_user[p.name]
            row: dict[str, Any] = {"perturbation": p.name, "kind": p.kind,
                                   "strength": p.strength,
                                   "preserves_meaning": p.preserves_meaning,
                                   "changed_share": float(df["changed"].mean())}
            for col, hib, desc in (
                ("jaccard_at_k", True, f"mean Jaccard of the top-{self.k} lists"),
                ("rbo", True, f"mean RBO_ext (p={self.persistence}) of the top-{self.k} "
                              "lists"),
                ("kendall_tau", True, f"mean Kendall tau-b over the {self.kendall_over} of "
                                      "the two lists"),
                ("ndcg_drop", False, f"mean NDCG@{self.k} on held-out items, original "
                                     "minus perturbed"),
                ("hr_drop", False, f"mean HR@{self.k} on held-out items, original minus "
                                   "perturbed"),
            ):
                x = df[col].to_numpy(float)
                value = float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")
                ci = bootstrap_ci(x, n_resamples=B, seed=ctx.subseed(self.name, p.name, col))
                p_value = None
                if col == "rbo":
                    p_value = one_sample_test(1.0 - x, null=0.0, alternative="greater")
                elif col == "ndcg_drop":
                    p_value = one_sample_test(x, null=0.0, alternative="greater")
                metrics.append(self.metric(col, value, scope=p.name, ci=ci, p_value=p_value,
                                           higher_is_better=hib, description=desc,
                                           per_user=(df["user_id"].tolist(), x)))
                row[col] = value
                row[f"{col}_ci_low"], row[f"{col}_ci_high"] = ci
            row["ndcg_original"] = float(df["ndcg_original"].mean())
            row["ndcg_perturbed"] = float(df["ndcg_perturbed"].mean())
            row["rbo_threshold"] = self.threshold_for("rbo", p.name)
            rows.append(row)
        return metrics, pd.DataFrame(rows)

    # ------------------------------------------------------------------ report pieces
    def _evidence(self, model, data, perts, base, perturbed, lists, per_user) -> list[dict]:
        has_prompt = "prompt" in set(getattr(model, "capabilities", ()) or ())
        titles = data.titles

        def show(req: Request) -> str:
            if has_prompt:
                try:
                    return model.render(req)[:1500]
                except Exception as exc:  # noqa: BLE001 - evidence must not sink the audit
                    return f"(render failed: {exc})"
            d = req.to_dict()
            d.pop("user_id")
            return str(d)[:1500]

        def fmt(items) -> str:
            return "; ".join(f"{n + 1}. {titles.get(i, i)}" for n, i in enumerate(items))

        cases = []
        for p in perts:
            df = per_user[p.name]
            changed = df[df["changed"]]
            if changed.empty:
                continue
            n = int(changed["rbo"].idxmin())
            cases.append((float(df.at[n, "rbo"]), p, n))
        cases.sort(key=lambda c: c[0])
        out = []
        for value, p, n in cases[:self.n_evidence]:
            b, r = base[n], perturbed[p.name][n]
            out.append({
                "perturbation": p.name,
                "user_id": b.user_id,
                "rbo": round(value, 4),
                "original_prompt": show(b),
                "perturbed_prompt": show(r),
                "original_top": fmt(lists[b]),
                "perturbed_top": fmt(lists[r]),
                "held_out": fmt(data.test_items[b.user_id]),
            })
        return out
