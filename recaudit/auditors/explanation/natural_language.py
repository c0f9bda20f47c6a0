"""``explanation_faithfulness``: do the history items an explanation cites drive the
recommendation?

For models with an ``explain`` capability: remove the cited history items, re-rank, and
check whether the explained item leaves the top-k, against removing as many random history
items (the counterfactual test of natural-language explanations in REFERENCE.md, in the
spirit of CountER's probability of necessity).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...data import sample_users
from ...metrics.statistics import bootstrap_ci, one_sample_test
from ...results import Figure
from .._base import AuditContext, Auditor
from .._metric_spec import MetricSpec
from .._registry import register_auditor


def cited_items(explanation: Any, titles: dict[str, str], *,
                match_titles: bool = True) -> tuple[str, ...]:
    """Item ids an explanation cites: its ``cited`` field, else catalog titles in its text.

    Title matching is case-insensitive, longest title first (so "Alien" inside "Aliens"
    is not double-counted) and ignores the explained item's own title.

    Examples
    --------
    >>> from recaudit.models import Explanation
    >>> e = Explanation("i2", "Because you watched Heat (1995), try Up (2009).")
    >>> cited_items(e, {"i1": "Heat (1995)", "i2": "Up (2009)"})
    ('i1',)
    """
    if explanation.cited:
        return tuple(str(c) for c in explanation.cited)
    if not match_titles:
        return ()
    text = explanation.text.casefold()
    found: list[tuple[int, str]] = []
    taken = np.zeros(len(text) + 1, dtype=bool)
    for item, title in sorted(titles.items(), key=lambda kv: -len(kv[1])):
        if item == explanation.item or not title.strip():
            continue
        for m in re.finditer(re.escape(title.casefold()), text):
            if not taken[m.start():m.end()].any():
                taken[m.start():m.end()] = True
                found.append((m.start(), item))
    return tuple(dict.fromkeys(i for _, i in sorted(found)))


@register_auditor("explanation_faithfulness")
class ExplanationFaithfulness(Auditor):
    """Counterfactual faithfulness of natural-language explanations that cite history items.

    Parameters
    ----------
    n_users : int
        Users sampled (seeded).
    k : int
        The recommendation "changes" when the explained item leaves the top-``k``.
    max_history : int or None
        Most recent history items in each request.
    n_random : int
        Random removals per user (same number of items as cited).
    match_titles : bool
        When an explanation has no ``cited`` ids, find catalog titles in its text.
    thresholds : dict, optional
        Override ``default_thresholds``.

    Notes
    -----
    Every metric has one row per user and is their mean: the counterfactual ones over the
    users whose explanation could be tested (cited history items that can be removed), the
    citation rates over every sampled user.

    Examples
    --------
    >>> from recaudit.testing.zoo.explanation import HonestExplainer  # doctest: +SKIP
    >>> res = ExplanationFaithfulness().run(model, data, ctx)          # doctest: +SKIP
    >>> res.metric("citation_effect").value                            # doctest: +SKIP
    """

    family = "explanation"
    requires = frozenset({"rank", "explain"})
    method = (
        "Each sampled user's request is sent to the model's explain capability, which returns "
        "the recommended item and a natural-language explanation. The history items it cites "
        "are read from the explanation's cited ids or, failing that, by matching catalog "
        "titles in its text; citations outside the user's history are hallucinated. The "
        "cited history items are removed and the request re-ranked: the recommendation "
        "changed when the explained item leaves the top-k (counterfactual_change_rate). As a "
        "control, the same number of random uncited history items is removed "
        "(random_change_rate, averaged over several draws). citation_effect is the per-user "
        "difference, with a bootstrap CI over users; an explainer fails when it is below the "
        "threshold with a one-sided Wilcoxon signed-rank test (H1: effect < threshold), i.e. "
        "its citations matter no more than random history items. hallucinated_citation_rate "
        "fails when significantly above its threshold (one-sided binomial test).")
    citation = (
        "Tan et al., Counterfactual Explainable Recommendation (CountER), CIKM 2021; "
        "DeYoung et al., ERASER, ACL 2020; Jacovi and Goldberg, Towards Faithfully "
        "Interpretable NLP Systems, ACL 2020.")
    #: ``citation_effect``: the smallest acceptable gain in change rate of cited over
    #: random removals. ``hallucinated_citation_rate``: the largest acceptable share of
    #: explanations citing items outside the history.
    metrics = (
        MetricSpec("counterfactual_change_rate", "share whose explained item leaves the top-K "
                   "when the cited items are removed", higher_is_better=True),
        MetricSpec("random_change_rate", "the same after removing as many random uncited "
                   "history items", higher_is_better=None),
        MetricSpec("citation_effect", "counterfactual minus random change rate (paired over "
                   "users)", higher_is_better=True, threshold=0.1),
        MetricSpec("hallucinated_citation_rate", "share of explanations citing an item not in "
                   "the user's history", higher_is_better=False, threshold=0.05),
        MetricSpec("citation_rate", "share of explanations citing at least one item",
                   higher_is_better=None),
    )

    def __init__(self, *, n_users: int = 50, k: int = 1, max_history: int | None = 10,
                 n_random: int = 3, match_titles: bool = True,
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.n_users = n_users
        self.k = k
        self.max_history = max_history
        self.n_random = n_random
        self.match_titles = match_titles

    def run(self, model: Any, data: Any, ctx: AuditContext):
        for name in ("n_users", "k", "n_random"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        users = sample_users(data, self.n_users, ctx.rng(self.name, "users"),
                             require_test=False)
        reqs = [data.request(u, max_history=self.max_history) for u in users]
        explanations = model.explain(reqs, self.k)
        if len(explanations) != len(reqs):
            raise ValueError(f"explain() returned {len(explanations)} explanations for "
                             f"{len(reqs)} requests")
        rng = ctx.rng(self.name, "random-removal")
        rows, cf_reqs, owners = [], [], []
        for n, (req, exp) in enumerate(zip(reqs, explanations)):
            cited = cited_items(exp, data.titles, match_titles=self.match_titles)
            hist = set(req.history)
            valid = [c for c in cited if c in hist]
            row = {"user_id": req.user_id, "item": exp.item, "text": exp.text,
                   "cited": ", ".join(cited), "n_cited": len(cited), "n_valid": len(valid),
                   "hallucinated": float(any(c not in hist for c in cited))}
            rows.append(row)
            others = [i for i in req.history if i not in set(valid)]
            if not valid or len(others) < len(valid) or not exp.item:
                continue
            cf_reqs.append(req.replace(history=tuple(i for i in req.history if i not in valid)))
            owners.append((n, "cited"))
            for _ in range(self.n_random):
                drop = set(rng.choice(others, size=len(valid), replace=False).tolist())
                cf_reqs.append(req.replace(history=tuple(i for i in req.history
                                                         if i not in drop)))
                owners.append((n, "random"))
        df = pd.DataFrame(rows)
        notes = []
        if cf_reqs:
            rankings = model.rank(cf_reqs, self.k)
            changed: dict[int, dict[str, list[float]]] = {}
            for (n, kind), rk in zip(owners, rankings):
                moved = float(explanations[n].item not in rk.items[:self.k])
                changed.setdefault(n, {"cited": [], "random": []})[kind].append(moved)
                if kind == "cited":
                    rows[n]["new_top"] = rk.items[0] if rk.items else ""
            for n, c in changed.items():
                rows[n]["cf_changed"] = float(np.mean(c["cited"]))
                rows[n]["random_changed"] = float(np.mean(c["random"]))
            df = pd.DataFrame(rows)
        for col in ("cf_changed", "random_changed", "new_top"):
            if col not in df:
                df[col] = np.nan
        tested = df.dropna(subset=["cf_changed"])
        skipped = len(df) - len(tested)
        if skipped:
            notes.append(f"{skipped} of {len(df)} explanations cite no history item that can "
                         "be removed (or no random control is possible): not in the "
                         "counterfactual test")
        return self._build(df, tested, data, ctx, notes)

    def _build(self, df, tested, data, ctx, notes):
        def ci(x, tag):
            return bootstrap_ci(x, n_resamples=ctx.n_bootstrap,
                                seed=ctx.subseed(self.name, "bootstrap", tag))

        cf = tested["cf_changed"].to_numpy(float)
        rnd = tested["random_changed"].to_numpy(float)
        diff = cf - rnd
        tested_ids, all_ids = tested["user_id"].tolist(), df["user_id"].tolist()
        thr = self.threshold_for("citation_effect")
        metrics = []
        if len(tested):
            p_beats = one_sample_test(diff, null=0.0, alternative="greater")
            metrics += [
                self.metric("counterfactual_change_rate", float(cf.mean()), ci=ci(cf, "cf"),
                            higher_is_better=True,
                            description=f"share whose explained item leaves the top-{self.k} "
                            "when the cited items are removed", per_user=(tested_ids, cf)),
                self.metric("random_change_rate", float(rnd.mean()), ci=ci(rnd, "rnd"),
                            description="the same after removing as many random uncited "
                            "history items", per_user=(tested_ids, rnd)),
                self.metric("citation_effect", float(diff.mean()), ci=ci(diff, "diff"),
                            p_value=(one_sample_test(diff, null=thr, alternative="less")
                                     if thr is not None else None),
                            higher_is_better=True,
                            description="counterfactual minus random change rate (paired "
                            f"over users); one-sided Wilcoxon p that it beats random = "
                            f"{p_beats:.3g}", per_user=(tested_ids, diff))]
        else:
            notes.append("no explanation could be tested counterfactually: no metric for "
                         "the citation effect")
        hall = df["hallucinated"].to_numpy(float)
        thr_h = self.threshold_for("hallucinated_citation_rate")
        cited_any = df["n_cited"].to_numpy() > 0
        p_h = (float(stats.binomtest(int(hall.sum()), len(hall), thr_h,
                                     alternative="greater").pvalue)
               if thr_h is not None and len(hall) else None)
        metrics += [
            self.metric("hallucinated_citation_rate", float(hall.mean()), ci=ci(hall, "hall"),
                        p_value=p_h, higher_is_better=False,
                        description="share of explanations citing an item not in the "
                        "user's history", per_user=(all_ids, hall)),
            self.metric("citation_rate", float(cited_any.mean()),
                        ci=ci(cited_any.astype(float), "cited"),
                        description="share of explanations citing at least one item",
                        per_user=(all_ids, cited_any.astype(float)))]
        figures = {}
        if len(tested):
            cis = [ci(cf, "cf"), ci(rnd, "rnd"), ci(diff, "diff")]
            figures["change_rates"] = Figure("bars", {
                "labels": ["cited removed", "random removed", "citation effect"],
                "values": [cf.mean(), rnd.mean(), diff.mean()],
                "ci_low": [c[0] for c in cis], "ci_high": [c[1] for c in cis],
                "threshold": thr, "ylabel": f"share leaving the top-{self.k}"})
        evidence = []
        for _, r in df.head(4).iterrows():
            evidence.append({
                "user": r["user_id"], "recommended": data.titles.get(r["item"], r["item"]),
                "explanation": r["text"], "cited": r["cited"],
                "hallucinated": bool(r["hallucinated"]),
                "changed_when_cited_removed": (None if pd.isna(r["cf_changed"])
                                               else bool(r["cf_changed"])),
                "random_change_rate": (None if pd.isna(r["random_changed"])
                                       else round(float(r["random_changed"]), 3))})
        notes.append(f"{len(df)} explanations, {len(tested)} tested counterfactually, "
                     f"{self.n_random} random removals each")
        return self.result(metrics=metrics, tables={"explanations": df}, figures=figures,
                           evidence=evidence, notes=notes)
