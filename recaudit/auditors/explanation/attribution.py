"""``attribution_faithfulness``: do feature attributions over the prompt's parts beat random?

Attributions (Captum: FeatureAblation, ShapleyValueSampling, LayerIntegratedGradients) of
the probability of each user's top recommendation over the parts of the request (history
items, profile attributes) are checked with ERASER's comprehensiveness, sufficiency and
AOPC (DeYoung et al. 2020), deletion/insertion areas (Petsiuk et al. 2018) and CountER's
PN/PS/FNS (Tan et al. 2021), each against a random attribution.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...data import sample_users
from ...explain import (
    GRADIENT_METHODS,
    METHODS,
    PERTURBATION_METHODS,
    AttributionProblem,
    MaskEvaluator,
    PromptFeatures,
    TargetFunction,
    attribution_table,
    curve_table,
    gradient_attributions,
    mean_curves,
    perturbation_attributions,
)
from ...metrics import faithfulness as fm
from ...metrics.statistics import bootstrap_ci, one_sample_test
from ...results import Figure
from .._base import AuditContext, Auditor
from .._common import too_few_answered, unanswered_note
from .._metric_spec import MetricSpec
from .._registry import register_auditor

_PER_USER = ("comprehensiveness", "sufficiency", "aopc", "aopc_sufficiency", "deletion_auc",
             "insertion_auc")
_LOWER_BETTER = {"sufficiency", "aopc_sufficiency", "deletion_auc"}


@register_auditor("attribution_faithfulness")
class AttributionFaithfulness(Auditor):
    """Faithfulness of attributions over history items and profile attributes.

    Requires only ``rank``: the attributed output is the top item's log-likelihood when the
    model declares ``nll``, else its (standardised) score when it declares ``score``, else
    its normalised rank among the candidates (see :class:`recaudit.explain.TargetFunction`).
    LayerIntegratedGradients additionally needs ``gradients`` and ``prompt``.

    Parameters
    ----------
    n_users : int
        Users sampled (seeded); users with fewer than 2 parts are skipped.
    methods : sequence of str
        Among ``feature_ablation``, ``shapley_sampling``, ``integrated_gradients`` (the last
        only for models with ``gradients`` and ``prompt``; skipped with a note otherwise).
    max_history : int
        Most recent history items in each request (each one is a part).
    include_profile : bool
        State the user's sensitive attributes in the request (each one is a part).
    n_candidates : int
        Size of the candidate set: the model's own top list for the unperturbed request.
    k : int
        CountER's top-K (the model's ranking of the candidate set).
    explanation_size : int
        Number of top-attributed parts forming the explanation (comprehensiveness,
        sufficiency, PN, PS).
    aopc_steps : int
        Removal steps ``k = 1..L`` averaged by AOPC (ERASER's bins, no ``k = 0`` term;
        capped at the number of parts).
    shapley_samples : int
        Permutations sampled by ShapleyValueSampling.
    ig_steps : int
        Integration steps of LayerIntegratedGradients.
    n_random : int
        Random attributions per user for the baseline.
    output, temperature
        What is attributed; see :class:`recaudit.explain.TargetFunction`.
    thresholds : dict, optional
        Override ``default_thresholds``.

    Notes
    -----
    Per-user rows: every metric but ``fns`` has one row per audited user (per method, the
    scope; ``pn`` and ``ps`` NaN where the item was not in the top-K, ``method_agreement``
    only users whose two attributions are not constant) and is their mean. ``fns`` is the
    harmonic mean of the ``pn`` and ``ps`` means: no rows of its own.

    Examples
    --------
    >>> from recaudit.testing.zoo.explanation import LastItemRecommender  # doctest: +SKIP
    >>> res = AttributionFaithfulness(n_users=20).run(model, data, ctx)    # doctest: +SKIP
    >>> res.metric("faithfulness_margin", "feature_ablation").value        # doctest: +SKIP
    """

    family = "explanation"
    requires = frozenset({"rank"})
    method = (
        "For each sampled user the model ranks the catalog; its top item is the target and "
        "its top list the candidate set. The request is cut into parts (each history item, "
        "each stated profile attribute) and the model's output for the target (its "
        "log-likelihood log p(item | request) for models with nll; its score in units of the "
        "candidate scores' SD for score-only models; its normalised rank among the "
        "candidates for rank-only models) is attributed to the parts with Captum's FeatureAblation and ShapleyValueSampling on a binary "
        "presence mask (baseline: part removed), and with LayerIntegratedGradients over the "
        "prompt tokens, summed per part, for models with gradients. Parts are then removed "
        "(or kept) most-important-first: comprehensiveness and sufficiency (ERASER) for the "
        "top parts, AOPC (ERASER's: the mean over removal steps k = 1..L, no k = 0 term), "
        "areas under the deletion and insertion curves, "
        "and CountER's probability of necessity (removing the explanation drops the item "
        "out of the top-K) and sufficiency (keeping only it keeps the item). Every quantity "
        "is also computed for random attributions; faithfulness_margin is the method's AOPC "
        "minus the random AOPC per user, with a bootstrap CI over users. A method fails when "
        "the margin is below the threshold with a one-sided Wilcoxon signed-rank test over "
        "users (H1: margin < threshold). Agreement between methods is the mean per-user "
        "Spearman correlation of their attributions.")
    citation = (
        "DeYoung et al., ERASER: A Benchmark to Evaluate Rationalized NLP Models, ACL 2020; "
        "Petsiuk et al., RISE, BMVC 2018; Tan et al., Counterfactual Explainable "
        "Recommendation (CountER), CIKM 2021; Kokhlikyan et al., Captum, 2020.")
    #: The scope is the attribution method (``a~b`` for method_agreement).
    #: ``faithfulness_margin``: the smallest acceptable AOPC gain over a random attribution,
    #: in output units (nats of the top item's log-likelihood for models with nll).
    metrics = (
        MetricSpec("comprehensiveness", "mean output drop when the top parts are removed "
                   "(ERASER)", higher_is_better=True),
        MetricSpec("sufficiency", "mean output drop when only the top parts are kept "
                   "(ERASER)", higher_is_better=False),
        MetricSpec("aopc", "area over the perturbation curve, removing parts most-important-"
                   "first", higher_is_better=True),
        MetricSpec("deletion_auc", "area under the deletion curve", higher_is_better=False),
        MetricSpec("insertion_auc", "area under the insertion curve", higher_is_better=True),
        MetricSpec("pn", "CountER probability of necessity: removing the explanation drops "
                   "the item out of the top-K", higher_is_better=True),
        MetricSpec("ps", "CountER probability of sufficiency: keeping only the explanation "
                   "keeps the item in the top-K", higher_is_better=True),
        MetricSpec("fns", "CountER F_NS: harmonic mean of PN and PS", higher_is_better=True),
        MetricSpec("faithfulness_margin", "AOPC minus the AOPC of a random attribution (per "
                   "user)", higher_is_better=True, threshold=0.05),
        MetricSpec("recency_top_share", "share of users whose top attribution is the most "
                   "recent history item", higher_is_better=None),
        MetricSpec("method_agreement", "mean per-user Spearman correlation of two methods' "
                   "attributions", higher_is_better=None),
    )

    def __init__(self, *, n_users: int = 20,
                 methods: tuple[str, ...] = METHODS, max_history: int = 10,
                 include_profile: bool = True, n_candidates: int = 10, k: int = 3,
                 explanation_size: int = 1, aopc_steps: int = 5, shapley_samples: int = 5,
                 ig_steps: int = 16, n_random: int = 2, output: str = "auto",
                 temperature: float | str = "auto",
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.n_users = n_users
        self.methods = methods
        self.max_history = max_history
        self.include_profile = include_profile
        self.n_candidates = n_candidates
        self.k = k
        self.explanation_size = explanation_size
        self.aopc_steps = aopc_steps
        self.shapley_samples = shapley_samples
        self.ig_steps = ig_steps
        self.n_random = n_random
        self.output = output
        self.temperature = temperature

    # ------------------------------------------------------------------ set-up
    def _check(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown attribution method(s) {unknown}; choose from {METHODS}")
        if not self.methods:
            raise ValueError("methods is empty; choose from " + ", ".join(METHODS))
        for name in ("n_users", "n_candidates", "k", "explanation_size", "aopc_steps",
                     "shapley_samples", "ig_steps", "n_random", "max_history"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_candidates < 2:
            raise ValueError(f"n_candidates must be >= 2, got {self.n_candidates}")

    def _problems(self, model: Any, data: Any, fn: TargetFunction, ctx: AuditContext,
                  ) -> tuple[list[AttributionProblem], int]:
        users = sample_users(data, self.n_users, ctx.rng(self.name, "users"),
                             require_test=False)
        reqs = []
        for u in users:
            prof = data.user_attributes(u) if self.include_profile else None
            req = data.request(u, profile=prof, max_history=self.max_history)
            if PromptFeatures(req).n_features >= 2:
                reqs.append(req)
        skipped = len(users) - len(reqs)
        rankings = model.rank(reqs, self.n_candidates)
        rng = ctx.rng(self.name, "candidate-order")
        problems = []
        self._missing = [r.user_id for r, a in zip(reqs, rankings) if not a.answered]
        for req, ranking in zip(reqs, rankings):
            if not ranking.answered:  # no answer held (a log without this list)
                continue
            if len(ranking.items) < 2:
                skipped += 1
                continue
            cands = list(ranking.items[:self.n_candidates])
            cands = tuple(cands[i] for i in rng.permutation(len(cands)))
            problems.append(AttributionProblem(PromptFeatures(req), cands, ranking.items[0]))
        scales = fn.scales([p.features.request for p in problems],
                           [p.candidates for p in problems])
        for p, sc in zip(problems, scales):
            p.scale = sc
        return problems, skipped

    # ------------------------------------------------------------------ run
    def run(self, model: Any, data: Any, ctx: AuditContext):
        self._check()
        fn = TargetFunction(model, output=self.output, temperature=self.temperature)
        notes = [f"attributed output ({fn.output}): {fn.units}"]
        problems, skipped = self._problems(model, data, fn, ctx)
        if skipped:
            notes.append(f"{skipped} sampled user(s) skipped (fewer than 2 parts or items)")
        if self._missing:
            asked = len(problems) + len(self._missing)
            if len(problems) < 3:
                return too_few_answered(self, self._missing, asked, needed=3)
            notes.append(unanswered_note(self._missing, asked))
        if len(problems) < 3:
            raise ValueError(f"only {len(problems)} usable users; attribution faithfulness "
                             "needs at least 3 (raise n_users or check the data)")
        ev = MaskEvaluator(fn, problems)
        attributions: dict[str, list[np.ndarray]] = {}
        caps = set(model.capabilities)
        for m in self.methods:
            if m in PERTURBATION_METHODS:
                attributions[m] = perturbation_attributions(
                    m, ev, n_samples=self.shapley_samples, seed=ctx.subseed(self.name, m),
                    progress=ctx.progress)
            elif m in GRADIENT_METHODS:
                missing = {"gradients", "prompt"} - caps
                if missing:
                    notes.append(f"{m} skipped: the model does not declare "
                                 f"{sorted(missing)}")
                    continue
                attributions[m] = gradient_attributions(
                    model, problems, data.titles, n_steps=self.ig_steps,
                    with_candidates=fn.output != "nll", progress=ctx.progress)
        if not attributions:
            raise ValueError("no attribution method could run on this model")
        orders = self._orders(attributions, problems, ctx)
        curves = self._curves(ev, problems, orders)
        notes.append(f"{len(problems)} users; {fn.n_requests} distinct perturbed requests "
                     "sent to the model")
        self._units = fn.units
        return self._build(model, data, ctx, problems, attributions, orders, curves, notes)

    def _orders(self, attributions, problems, ctx) -> dict[str, list[list[np.ndarray]]]:
        """Per method (and ``random``), per user, the feature orders to evaluate."""
        orders: dict[str, list[list[np.ndarray]]] = {}
        for m, attrs in attributions.items():
            rng = ctx.rng(self.name, "ties", m)
            orders[m] = [[fm.attribution_order(a, rng)] for a in attrs]
        rng = ctx.rng(self.name, "random-attribution")
        orders["random"] = [[fm.attribution_order(fm.random_attribution(
            p.features.n_features, rng)) for _ in range(self.n_random)] for p in problems]
        return orders

    def _curves(self, ev: MaskEvaluator, problems, orders) -> dict[str, list[list[tuple]]]:
        """Deletion and insertion curves, and CountER's top-K checks, for every order.

        Each entry is ``(deletion, insertion, in_top_k(all), in_top_k(without explanation),
        in_top_k(explanation only))``.
        """
        pairs, top_pairs = [], []
        s = self.explanation_size
        for per_user in orders.values():
            for i, olist in enumerate(per_user):
                d = problems[i].features.n_features
                kk = min(s, d)
                top_pairs.append((i, np.ones(d)))
                for o in olist:
                    dm, im = fm.deletion_masks(o, d), fm.insertion_masks(o, d)
                    pairs += [(i, m) for m in dm] + [(i, m) for m in im]
                    top_pairs += [(i, dm[kk]), (i, im[kk])]
        ev.evaluate(pairs)
        ev.evaluate_top_k(top_pairs, self.k)
        out: dict[str, list[list[tuple]]] = {}
        for name, per_user in orders.items():
            out[name] = []
            for i, olist in enumerate(per_user):
                d = problems[i].features.n_features
                kk = min(s, d)
                entry = []
                for o in olist:
                    dm, im = fm.deletion_masks(o, d), fm.insertion_masks(o, d)
                    entry.append((np.array([ev.value(i, m) for m in dm]),
                                  np.array([ev.value(i, m) for m in im]),
                                  ev.in_top_k(i, np.ones(d), self.k),
                                  ev.in_top_k(i, dm[kk], self.k),
                                  ev.in_top_k(i, im[kk], self.k)))
                out[name].append(entry)
        return out

    def _per_user(self, entry) -> dict[str, float]:
        """Faithfulness of one user's orders (averaged over the orders, e.g. random ones)."""
        s = self.explanation_size
        rows = []
        for dele, ins, top_all, top_without, top_only in entry:
            kk = min(s, dele.size - 1)
            row = {"comprehensiveness": fm.comprehensiveness(dele[0], dele[kk]),
                   "sufficiency": fm.sufficiency(dele[0], ins[kk]),
                   "aopc": fm.aopc(dele, self.aopc_steps),
                   "aopc_sufficiency": fm.aopc_sufficiency(dele[0], ins, self.aopc_steps),
                   "deletion_auc": fm.deletion_auc(dele),
                   "insertion_auc": fm.insertion_auc(ins)}
            if top_all:  # CountER explains items in the top-K
                row["pn"] = float(not top_without)
                row["ps"] = float(top_only)
            rows.append(row)
        return pd.DataFrame(rows).mean(numeric_only=True).to_dict()

    # ------------------------------------------------------------------ results
    def _ci(self, values, ctx, *tags) -> tuple[float, float]:
        return bootstrap_ci(values, n_resamples=ctx.n_bootstrap,
                            seed=ctx.subseed(self.name, "bootstrap", *tags))

    def _fns_ci(self, pn, ps, ctx, scope) -> tuple[float, float]:
        from ...metrics.statistics import paired_bootstrap_ci

        ok = ~(np.isnan(pn) | np.isnan(ps))
        if ok.sum() < 2:
            return (float("nan"), float("nan"))
        return paired_bootstrap_ci(lambda a, b: fm.fns(float(np.mean(a)), float(np.mean(b))),
                                   pn[ok], ps[ok], n_resamples=ctx.n_bootstrap,
                                   seed=ctx.subseed(self.name, "bootstrap", "fns", scope))

    def _build(self, model, data, ctx, problems, attributions, orders, curves, notes):
        per = {name: pd.DataFrame([self._per_user(e) for e in entries])
               for name, entries in curves.items()}
        for df in per.values():
            for col in ("pn", "ps"):
                if col not in df:
                    df[col] = np.nan
        metrics, rows = [], []
        thr = self.threshold_for("faithfulness_margin")
        uids = [p.features.request.user_id for p in problems]
        for name, df in per.items():
            scope = name
            for col in _PER_USER[:3] + ("deletion_auc", "insertion_auc"):
                metrics.append(self.metric(
                    col, float(df[col].mean()), scope=scope, ci=self._ci(df[col], ctx, col, scope),
                    higher_is_better=col not in _LOWER_BETTER,
                    description=f"mean over users of {col} ({name} attribution)",
                    per_user=(uids, df[col].to_numpy(float))))
            pn, ps = df["pn"].to_numpy(float), df["ps"].to_numpy(float)
            pn_m = float(np.nanmean(pn)) if np.isfinite(pn).any() else float("nan")
            ps_m = float(np.nanmean(ps)) if np.isfinite(ps).any() else float("nan")
            metrics += [
                self.metric("pn", pn_m, scope=scope, ci=self._ci(pn, ctx, "pn", scope),
                            higher_is_better=True,
                            description=f"CountER PN: removing the top {self.explanation_size}"
                            f" part(s) drops the item out of the top-{self.k}",
                            per_user=(uids, pn)),
                self.metric("ps", ps_m, scope=scope, ci=self._ci(ps, ctx, "ps", scope),
                            higher_is_better=True,
                            description=f"CountER PS: keeping only the top "
                            f"{self.explanation_size} part(s) keeps the item in the top-{self.k}",
                            per_user=(uids, ps)),
                self.metric("fns", fm.fns(pn_m, ps_m), scope=scope,
                            ci=self._fns_ci(pn, ps, ctx, scope), higher_is_better=True,
                            description="CountER F_NS: harmonic mean of PN and PS")]
            row = {"method": name, **df.mean(numeric_only=True).to_dict(),
                   "n_users": len(df), "n_pn_users": int(np.isfinite(pn).sum())}
            if name != "random":
                margin = (df["aopc"] - per["random"]["aopc"]).to_numpy(float)
                p_beats = one_sample_test(margin, null=0.0, alternative="greater")
                p_fail = (one_sample_test(margin, null=thr, alternative="less")
                          if thr is not None else None)
                metrics.append(self.metric(
                    "faithfulness_margin", float(np.mean(margin)), scope=scope,
                    ci=self._ci(margin, ctx, "margin", scope), p_value=p_fail,
                    higher_is_better=True,
                    description=f"AOPC minus random AOPC (per user); one-sided Wilcoxon p "
                    f"that it beats random = {p_beats:.3g}", per_user=(uids, margin)))
                last = [a.size and int(np.argmax(a)) == p.features.n_history - 1
                        for a, p in zip(attributions[name], problems)]
                metrics.append(self.metric(
                    "recency_top_share", float(np.mean(last)), scope=scope,
                    ci=self._ci(np.asarray(last, float), ctx, "recency", scope),
                    description="share of users whose top attribution is the most recent "
                    "history item", per_user=(uids, np.asarray(last, float))))
                row.update(faithfulness_margin=float(np.mean(margin)),
                           p_beats_random=p_beats, p_margin_below_threshold=p_fail)
            rows.append(row)
        metrics += self._agreement(attributions, ctx, uids)
        return self.result(
            metrics=metrics,
            tables={"faithfulness": pd.DataFrame(rows),
                    "attributions": attribution_table(data, problems, attributions),
                    "curves": curve_table(curves)},
            figures=self._figures(data, problems, attributions, curves, metrics, thr, model),
            evidence=self._evidence(data, problems, attributions, per),
            notes=notes)

    def _agreement(self, attributions, ctx, uids: list[str]) -> list:
        out = []
        for a, b in combinations(sorted(attributions), 2):
            rho, who = [], []
            for u, x, y in zip(uids, attributions[a], attributions[b]):
                if np.ptp(x) > 0 and np.ptp(y) > 0:
                    rho.append(stats.spearmanr(x, y).statistic)
                    who.append(u)
            rho = np.asarray(rho, dtype=float)
            out.append(self.metric(
                "method_agreement", float(np.nanmean(rho)) if rho.size else float("nan"),
                scope=f"{a}~{b}", ci=self._ci(rho, ctx, "agreement", a, b),
                description=f"mean per-user Spearman correlation of {a} and {b} attributions "
                f"({rho.size} users with non-constant attributions)", per_user=(who, rho)))
        return out

    def _figures(self, data, problems, attributions, curves, metrics, thr, model) -> dict:
        p = problems[0]
        strip = Figure("attribution_heat_strip", {
            "labels": p.features.labels(data.titles),
            "attributions": {m: a[0] for m, a in attributions.items()},
            "title": f"user {p.features.request.user_id}: why "
                     f"{data.titles.get(p.target, p.target)!r}?"})
        grid = np.linspace(0, 1, 11)
        mean = {n: mean_curves(e, grid) for n, e in curves.items()}
        curve_fig = Figure("deletion_insertion_curves", {
            "curves": {n: {"deletion": dele, "insertion": ins}
                       for n, (dele, ins) in mean.items()},
            "ylabel": getattr(self, "_units", "output")})
        ms = [m for m in metrics if m.name == "faithfulness_margin"]
        bars = Figure("bars", {
            "labels": [m.scope for m in ms], "values": [m.value for m in ms],
            "ci_low": [m.ci_low for m in ms], "ci_high": [m.ci_high for m in ms],
            "threshold": thr, "ylabel": "AOPC gain over random"})
        return {"attribution_heat_strip": strip, "deletion_insertion_curves": curve_fig,
                "faithfulness_margin": bars}

    def _evidence(self, data, problems, attributions, per) -> list[dict]:
        out = []
        for i, p in enumerate(problems[:3]):
            labels = p.features.labels(data.titles)
            for m, attrs in attributions.items():
                a = attrs[i]
                top = int(np.argmax(a))
                out.append({
                    "user": p.features.request.user_id, "method": m,
                    "recommended": data.titles.get(p.target, p.target),
                    "top_part": labels[top], "top_attribution": round(float(a[top]), 4),
                    "comprehensiveness": round(float(per[m]["comprehensiveness"].iloc[i]), 4),
                    "parts": "; ".join(f"{lab}: {v:.3g}" for lab, v in zip(labels, a))})
        return out

