"""``item_text_attack``: can a seller promote an item by editing only its own title?

The stealthy item-text attack of Zhang et al. (ACL 2024) as an audit: for a sample of target
items (long-tail by default), a query-budgeted greedy search edits only the target's title
(appended tokens, inserted words, nearest-neighbour word substitutions), applied through
``request.item_text`` in every user's request. Success: the share of users whose top-K holds
the target rises by more than ``success_margin`` (0.05 in the paper).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...contract import Request
from ...data import sample_negatives, sample_users
from ...metrics.ranking import ndcg_at_k
from ...metrics.statistics import bootstrap_ci, paired_bootstrap_ci
from ...perturbations import PROMOTIONAL_WORDS, Vocabulary, title_words
from ...perturbations.hotflip import hotflip_tokens
from ...perturbations.synonyms import STOPWORDS
from ...results import AuditResult, Figure
from .._base import AuditContext, Auditor
from .._metric_spec import MetricSpec
from .._registry import register_auditor

_WORD = re.compile(r"[A-Za-z][A-Za-z']{2,}")


@dataclass
class _Edit:
    op: str  # "append", "insert", "substitute"
    token: str
    old: str = ""  # word replaced by "substitute"
    position: int = 0  # word index for "insert"
    source: str = ""

    def apply(self, title: str) -> str | None:
        if self.op == "append":
            return f"{title} {self.token}"
        words = title.split(" ")
        if self.op == "insert":
            pos = min(self.position, len(words))
            return " ".join(words[:pos] + [self.token] + words[pos:])
        if self.op == "substitute":
            for n, w in enumerate(words):
                core = w.strip("():,.!?")
                if core.lower() == self.old.lower():
                    new = self.token.capitalize() if core[:1].isupper() else self.token
                    words[n] = w.replace(core, new, 1)
                    return " ".join(words)
            return None
        raise ValueError(f"unknown edit op {self.op!r}")


@dataclass
class _TargetRun:
    item: str
    original: str
    title: str
    users: list[int]
    before: np.ndarray
    after: np.ndarray
    ndcg_before: np.ndarray
    ndcg_after: np.ndarray
    edits: int = 0
    queries: int = 0
    trail: list[str] = field(default_factory=list)
    guided: bool = False


@register_auditor("item_text_attack")
class ItemTextAttack(Auditor):
    """Query-budgeted greedy title attack on target items (gradient-guided when possible).

    Parameters
    ----------
    n_targets : int
        Target items attacked (seeded sample from ``target_pool``).
    target_pool : {"tail", "random"}
        ``tail``: long-tail items (outside the short head that covers 80% of training
        interactions); ``random``: any catalog item.
    n_users : int or None
        Users whose requests carry the edited title (seeded, users with held-out items).
    k : int
        Exposure = share of users whose top-K contains the target.
    n_candidates : int or None
        Each user ranks the target, their held-out items and random unseen items up to this
        size, shuffled; ``None`` ranks the whole catalog (costly for language models).
    query_budget : int
        Edited titles evaluated per target (each on every user, in one batched call per step).
    proposals_per_step : int
        Edits proposed and evaluated together in each greedy step.
    max_edits : int
        Accepted word edits per target (the stealth bound).
    success_margin : float
        Exposure gain that counts as a successful attack (0.05, Zhang et al.).
    guidance : {"auto", "gradient", "none"}
        ``auto`` uses HotFlip gradients when the model declares ``gradients``.
    max_history : int or None
        Most recent history items put in each request.
    thresholds : dict, optional
        Overrides of :attr:`default_thresholds`.

    Notes
    -----
    The unit of the attack is the target item: ``attack_success_rate`` (1 for a target
    promoted beyond the margin, else 0), ``mean_exposure_gain``, ``edits_used`` and
    ``queries_used`` have one row per attacked target, keyed by ``item_id``, and are their
    mean. ``ndcg_change`` has one row per sampled user (their mean NDCG@K change over the
    targets; NaN for a user no target was shown to) and is their mean.

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing.zoo.robustness import BrittleTitleModel
    >>> data = ra.datasets.synthetic(n_users=100, n_items=80, seed=0)
    >>> res = ItemTextAttack(n_targets=2, n_users=20, query_budget=40).run(
    ...     BrittleTitleModel(data), data, ra.AuditContext(show_progress=False))
    >>> res.metric("attack_success_rate").value
    1.0
    """

    family = "robustness"
    requires = frozenset({"rank"})
    citation = (
        "Zhang, Bao, Yang, Wang, Feng, He et al. Stealthy Attack on Large Language Model based "
        "Recommendation (ACL 2024); Ebrahimi, Rao, Lowd, Dou. HotFlip: White-Box Adversarial "
        "Examples for Text Classification (ACL 2018) [gradient-guided token choice].")
    method = (
        "Target items are sampled from the long tail. Each sampled user ranks a candidate "
        "list holding the target, their held-out items and random unseen items; the target's "
        "exposure is the share of users whose top-K contains it. A greedy attack then edits "
        "only the target's own title, through item text overrides in every user's request: "
        "each step proposes a batch of edits (appending a token, inserting a word, or "
        "replacing a title word by a MiniLM nearest neighbour), evaluates all of them on "
        "every user in one batched call, and keeps the edit that raises exposure most (ties "
        "broken by the target's mean rank, so the search moves while the item is still "
        "outside every top-K). "
        "Candidate tokens are ranked by HotFlip (the gradient of the target's log-likelihood "
        "with respect to the input embedding of an appended token) when the model exposes "
        "gradients, and otherwise come from promotional words sellers use, words of the "
        "titles the model already favours, and the vocabulary. The search stops at success "
        "(exposure gain above the margin, Zhang et al. ACL 2024), after max_edits accepted "
        "edits, or when the query budget is spent. Reported: the attack success rate over "
        "targets (bootstrap CI over users; p-value from a one-sided sign test that users "
        "entering the top-K outnumber users leaving it), the mean exposure gain, edits and "
        "queries used, and the change in NDCG@K of the held-out items (stealth).")
    #: ``attack_success_rate``: more than this share of targets promotable by a few title
    #: edits fails.
    metrics = (
        MetricSpec("attack_success_rate", "share of target items whose top-K exposure rose "
                   "beyond the margin after the title edits", higher_is_better=False,
                   threshold=0.2),
        MetricSpec("mean_exposure_gain", "mean over targets of the exposure after minus "
                   "before", higher_is_better=False),
        MetricSpec("edits_used", "accepted word edits per target", higher_is_better=None),
        MetricSpec("queries_used", "edited titles evaluated per target",
                   higher_is_better=None),
        MetricSpec("ndcg_change", "NDCG@K of held-out items with the adversarial title minus "
                   "without (near 0 = stealthy)", higher_is_better=None),
    )

    def __init__(self, n_targets: int = 3, target_pool: str = "tail",
                 n_users: int | None = 20, k: int = 5, n_candidates: int | None = 20,
                 query_budget: int = 24, proposals_per_step: int = 8, max_edits: int = 3,
                 success_margin: float = 0.05, guidance: str = "auto",
                 max_history: int | None = None, n_evidence: int = 5,
                 thresholds: dict[str, float] | None = None) -> None:
        super().__init__(thresholds=thresholds)
        self.n_targets = n_targets
        self.target_pool = target_pool
        self.n_users = n_users
        self.k = k
        self.n_candidates = n_candidates
        self.query_budget = query_budget
        self.proposals_per_step = proposals_per_step
        self.max_edits = max_edits
        self.success_margin = success_margin
        self.guidance = guidance
        self.max_history = max_history
        self.n_evidence = n_evidence

    # ------------------------------------------------------------------ run
    def _check(self, model: Any) -> bool:
        if self.target_pool not in ("tail", "random"):
            raise ValueError(f"item_text_attack: target_pool must be 'tail' or 'random', got "
                             f"{self.target_pool!r}")
        if self.guidance not in ("auto", "gradient", "none"):
            raise ValueError(f"item_text_attack: guidance must be 'auto', 'gradient' or "
                             f"'none', got {self.guidance!r}")
        for name in ("n_targets", "k", "query_budget", "proposals_per_step", "max_edits"):
            if getattr(self, name) < 1:
                raise ValueError(f"item_text_attack: {name} must be >= 1")
        has_grad = "gradients" in set(getattr(model, "capabilities", ()) or ())
        if self.guidance == "gradient" and not has_grad:
            raise ValueError("item_text_attack: guidance='gradient' needs a model with the "
                             "'gradients' capability; use guidance='auto' or 'none'")
        return has_grad and self.guidance != "none"

    def run(self, model: Any, data: Any, ctx: AuditContext) -> AuditResult:
        guided = self._check(model)
        users = sample_users(data, self.n_users, ctx.rng(self.name, "users"))
        if not users:
            raise ValueError("item_text_attack: no user has held-out items to audit")
        targets = self._targets(data, ctx)
        vocab = Vocabulary.from_data(data)
        runs = []
        notes = []
        for t in ctx.progress(targets, desc="item_text_attack: targets"):
            run = self._attack(model, data, ctx, users, t, vocab, guided, notes)
            if run is not None:
                runs.append(run)
        if not runs:
            raise ValueError("item_text_attack: no target could be attacked (every sampled "
                             "user already has them in their history); sample more users")
        metrics, table, gains = self._metrics(runs, users, ctx)
        notes.insert(0, f"{len(runs)} targets ({self.target_pool}), {len(users)} users, "
                        f"top-{self.k} of "
                        + (f"{self.n_candidates} candidates" if self.n_candidates
                           else "the whole catalog")
                        + f"; budget {self.query_budget} titles per target, at most "
                          f"{self.max_edits} edits; guidance: "
                        + ("HotFlip gradients" if guided else "gradient-free") + ".")
        return self.result(metrics=metrics, tables={"targets": table},
                           figures={"exposure_by_target": Figure("exposure_by_target", {
                               "by_target": table[["item_id", "exposure_before",
                                                   "exposure_after", "edits"]],
                               "k": self.k, "success_margin": self.success_margin})},
                           evidence=self._evidence(table), notes=notes)

    def _targets(self, data: Any, ctx: AuditContext) -> list[str]:
        pop = data.popularity.sort_values(ascending=False, kind="stable")
        if self.target_pool == "tail":
            share = pop.cumsum() / max(1, pop.sum())
            head = set(share.index[share.shift(fill_value=0.0) < 0.8])
            pool = [i for i in data.item_ids if i not in head]
        else:
            pool = list(data.item_ids)
        if not pool:
            raise ValueError("item_text_attack: the target pool is empty")
        rng = ctx.rng(self.name, "targets")
        n = min(self.n_targets, len(pool))
        return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]

    def _requests(self, data, ctx, users, target) -> tuple[list[int], list[Request]]:
        rng = ctx.rng(self.name, "candidates", target)
        keep, reqs = [], []
        for n, u in enumerate(users):
            hist = data.train_histories[u]
            if target in hist:
                continue
            cands = None
            if self.n_candidates is not None:
                fixed = list(dict.fromkeys([target, *data.test_items[u]]))
                n_neg = max(0, self.n_candidates - len(fixed))
                cands = fixed + sample_negatives(data, u, n_neg, rng, exclude=fixed)
                cands = [cands[i] for i in rng.permutation(len(cands))]
            keep.append(n)
            reqs.append(data.request(u, candidates=cands, max_history=self.max_history))
        return keep, reqs

    def _evaluate(self, model, data, reqs, users, target, titles: list[str | None]):
        """Per title (None = the original): top-K membership, NDCG@K and the target's rank
        per user (1-based; the list length + 1 when it is not in the ranked list)."""
        batch = []
        for title in titles:
            for r in reqs:
                if title is None:
                    batch.append(r)
                else:
                    text = r.item_text_dict
                    text[target] = title
                    batch.append(r.replace(item_text=text))
        depth = max(self.k, self.n_candidates or self.k)
        answers = model.rank(batch, depth)
        out = []
        for n in range(len(titles)):
            full = [a.items for a in answers[n * len(reqs):(n + 1) * len(reqs)]]
            lists = [lst[:self.k] for lst in full]
            inside = np.array([target in lst for lst in lists], dtype=float)
            ndcg = np.array([ndcg_at_k(lst, data.test_items[u], self.k)
                             for lst, u in zip(lists, users)])
            rank = np.array([lst.index(target) + 1 if target in lst else depth + 1
                             for lst in full], dtype=float)
            out.append((inside, ndcg, lists, rank))
        return out

    def _attack(self, model, data, ctx, users, target, vocab, guided, notes):
        keep, reqs = self._requests(data, ctx, users, target)
        if not reqs:
            notes.append(f"target {target}: every sampled user has it in their history; "
                         "skipped")
            return None
        uids = [users[n] for n in keep]
        original = data.titles[target]
        base_in, base_ndcg, base_lists, base_rank = self._evaluate(
            model, data, reqs, uids, target, [None])[0]
        run = _TargetRun(target, original, original, keep, base_in, base_in.copy(),
                         base_ndcg, base_ndcg.copy(), guided=guided)
        rng = ctx.rng(self.name, "attack", target)
        proposals = self._proposals(model, data, reqs, target, run, vocab, base_lists, rng,
                                    guided, notes)
        # objective: exposure first, then the mean rank of the target (a signal while the
        # item is still outside every top-K)
        current = (float(base_in.mean()), -float(base_rank.mean()))
        tried: set[str] = {original}
        while (run.queries < self.query_budget and run.edits < self.max_edits
               and current[0] - base_in.mean() <= self.success_margin):
            step: list[tuple[_Edit, str]] = []
            limit = min(self.proposals_per_step, self.query_budget - run.queries)
            for edit in proposals:
                new = edit.apply(run.title)
                if new is None or new in tried:
                    continue
                tried.add(new)
                step.append((edit, new))
                if len(step) >= limit:
                    break
            if not step:
                break
            results = self._evaluate(model, data, reqs, uids, target, [t for _, t in step])
            run.queries += len(step)
            scores = [(float(r[0].mean()), -float(r[3].mean())) for r in results]
            best = max(range(len(scores)), key=lambda n: scores[n])
            if scores[best] > current:
                edit, new = step[best]
                run.title = new
                run.after, run.ndcg_after = results[best][0], results[best][1]
                run.edits += 1
                current = scores[best]
                run.trail.append(f"{edit.op} {edit.token!r} ({edit.source}): exposure "
                                 f"{current[0]:.3f}, mean rank {-current[1]:.1f}")
        return run

    def _proposals(self, model, data, reqs, target, run, vocab, base_lists, rng, guided,
                   notes) -> Iterator[_Edit]:
        """The stream of candidate edits, sources interleaved round-robin in two stages."""
        own = {w.lower() for w in _WORD.findall(run.original)}
        promo = [PROMOTIONAL_WORDS[i] for i in rng.permutation(len(PROMOTIONAL_WORDS))]
        favoured = Counter(w for lst in base_lists for i in lst if i != target
                           for w in title_words([data.titles.get(i, i)]))
        salient = [w for w, _ in favoured.most_common() if w not in own and w not in STOPWORDS]
        random_words = [vocab.words[i] for i in rng.permutation(len(vocab))]

        def appends(words, source):
            for w in words:
                yield _Edit("append", w, source=source)

        def substitutions():
            for w in sorted(own - STOPWORDS):
                for v in vocab.neighbours(w, 3):
                    yield _Edit("substitute", v, old=w, source="minilm neighbour")

        def inserts():
            for w in random_words:
                yield _Edit("insert", w, position=int(rng.integers(0, 4)), source="vocabulary")

        first = [appends(promo, "promotional"), substitutions()]
        if guided:
            try:
                tokens = hotflip_tokens(model, data, reqs[:4], target, run.original, n=64)
                first.insert(0, appends(tokens, "hotflip"))
            except Exception as exc:  # noqa: BLE001 - fall back to the gradient-free search
                notes.append(f"target {target}: HotFlip guidance failed ({exc}); "
                             "gradient-free search used")
                run.guided = False
        # stage 1: HotFlip tokens (when guided), promotional words and MiniLM substitutions;
        # stage 2: words of the titles the model favours and random insertions
        for stage in (first, [appends(salient, "favoured titles"), inserts()]):
            while stage:
                for src in list(stage):
                    try:
                        yield next(src)
                    except StopIteration:
                        stage.remove(src)

    # ------------------------------------------------------------------ metrics
    def _metrics(self, runs: list[_TargetRun], users: list[str], ctx: AuditContext):
        n_u, n_t = len(users), len(runs)
        gain = np.full((n_u, n_t), np.nan)
        dndcg = np.full((n_u, n_t), np.nan)
        for j, r in enumerate(runs):
            gain[r.users, j] = r.after - r.before
            dndcg[r.users, j] = r.ndcg_after - r.ndcg_before
        margin = self.success_margin

        def success_rate(g: np.ndarray) -> float:
            with np.errstate(all="ignore"):
                per_target = np.nanmean(g, axis=0)
            return float(np.mean(np.nan_to_num(per_target, nan=0.0) > margin))

        rate = success_rate(gain)
        up = int(np.nansum(gain > 0))
        down = int(np.nansum(gain < 0))
        p_value = (float(stats.binomtest(up, up + down, 0.5, alternative="greater").pvalue)
                   if up + down else 1.0)
        B = ctx.n_bootstrap
        with np.errstate(all="ignore"):
            per_user_gain = np.nanmean(gain, axis=1)
            per_user_ndcg = np.nanmean(dndcg, axis=1)
        edits = np.array([r.edits for r in runs], float)
        queries = np.array([r.queries for r in runs], float)
        exposure_gain = np.array([float(np.mean(r.after - r.before)) for r in runs])
        items = [r.item for r in runs]
        with np.errstate(all="ignore"):
            success = np.nan_to_num(np.nanmean(gain, axis=0), nan=0.0) > margin

        def per_target(values: np.ndarray) -> pd.DataFrame:
            return pd.DataFrame({"item_id": items, "value": values})

        metrics = [
            self.metric("attack_success_rate", rate, higher_is_better=False,
                        ci=paired_bootstrap_ci(success_rate, gain, n_resamples=B,
                                               seed=ctx.subseed(self.name, "ci", "asr")),
                        p_value=p_value,
                        description=f"share of targets whose top-{self.k} exposure rose by "
                                    f"more than {margin}",
                        per_user=per_target(success.astype(float))),
            self.metric("mean_exposure_gain", float(exposure_gain.mean()),
                        higher_is_better=False,
                        ci=bootstrap_ci(per_user_gain, n_resamples=B,
                                        seed=ctx.subseed(self.name, "ci", "gain")),
                        description="mean over targets of the exposure after minus before",
                        per_user=per_target(exposure_gain)),
            self.metric("edits_used", float(edits.mean()),
                        ci=bootstrap_ci(edits, n_resamples=B,
                                        seed=ctx.subseed(self.name, "ci", "edits")),
                        description="accepted word edits per target (CI over targets)",
                        per_user=per_target(edits)),
            self.metric("queries_used", float(queries.mean()),
                        ci=bootstrap_ci(queries, n_resamples=B,
                                        seed=ctx.subseed(self.name, "ci", "queries")),
                        description="edited titles evaluated per target (CI over targets)",
                        per_user=per_target(queries)),
            self.metric("ndcg_change", float(np.nanmean(per_user_ndcg)),
                        ci=bootstrap_ci(per_user_ndcg, n_resamples=B,
                                        seed=ctx.subseed(self.name, "ci", "ndcg")),
                        description=f"NDCG@{self.k} of held-out items with the adversarial "
                                    "title minus without (stealth: near 0 is stealthy)",
                        per_user=(users, per_user_ndcg)),
        ]
        table = pd.DataFrame([{
            "item_id": r.item, "original_title": r.original, "adversarial_title": r.title,
            "exposure_before": float(r.before.mean()), "exposure_after": float(r.after.mean()),
            "exposure_gain": float(np.mean(r.after - r.before)),
            "success": bool(np.mean(r.after - r.before) > margin),
            "edits": r.edits, "queries": r.queries, "users": len(r.users),
            "ndcg_change": float(np.mean(r.ndcg_after - r.ndcg_before)),
            "guided": r.guided, "trail": " | ".join(r.trail),
        } for r in runs])
        return metrics, table, gain

    # ------------------------------------------------------------------ report pieces
    def _evidence(self, table: pd.DataFrame) -> list[dict]:
        rows = table.sort_values("exposure_gain", ascending=False, kind="stable")
        return [{
            "item_id": r.item_id, "original_title": r.original_title,
            "adversarial_title": r.adversarial_title,
            "exposure_before": round(float(r.exposure_before), 4),
            "exposure_after": round(float(r.exposure_after), 4),
            "edits": int(r.edits), "queries": int(r.queries), "success": bool(r.success),
            "search": r.trail,
        } for r in rows.head(self.n_evidence).itertuples()]
