"""Small helpers shared by auditors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._metric_spec import MetricSpec

#: The metric :func:`hallucination_metric` emits (declared by the auditors that call it).
HALLUCINATION_RATE = MetricSpec(
    "hallucination_rate", "share of generated list entries that matched no catalog item (or "
    "no candidate); generating models only", higher_is_better=False)


def hallucination_metric(auditor, rankings: Sequence, *, n_bootstrap: int, seed: int,
                         owners: Sequence[str] | None = None):
    """``hallucination_rate`` of a generating model (``Ranking.raw`` set, as free-text and
    chat models do): per answer, entries that named no catalog item (or an item outside the
    candidates) over all matched-or-not entries kept, averaged with a bootstrap CI over
    answers. ``None`` for models that do not generate text and never hallucinate.

    ``owners`` (the user of each answer) adds per-user rows: each user's mean rate over
    their answers (the metric is their mean when every user has as many answers)."""
    from ..metrics.statistics import bootstrap_ci

    if not any(r.raw is not None or r.hallucinated for r in rankings):
        return None
    rates = np.array([r.hallucinated / max(1, r.hallucinated + len(r.items))
                      for r in rankings], dtype=float)
    per_user, aggregate = None, "mean"
    if owners is not None:
        by_user: dict[str, list[float]] = {}
        for u, x in zip(owners, rates):
            by_user.setdefault(str(u), []).append(float(x))
        per_user = {u: float(np.mean(x)) for u, x in by_user.items()}
        if len({len(x) for x in by_user.values()}) > 1:
            aggregate = None  # unequal answers per user: the answer-level mean differs
    return auditor.metric(
        HALLUCINATION_RATE.name, float(rates.mean()),
        ci=bootstrap_ci(rates, n_resamples=n_bootstrap, seed=seed), higher_is_better=False,
        description="share of generated list entries that matched no catalog item "
                    "(or no candidate)", per_user=per_user, per_user_aggregate=aggregate)


def unanswered_note(missing: Sequence[str], asked: int, what: str = "users") -> str:
    """The note of an auditor that left out the ``missing`` ones of ``asked`` users because
    the model held no answer for them (``Ranking.answered`` false: a log without their list).

    >>> unanswered_note(["u1", "u7"], 40).split(": ")[-1]
    'u1, u7'
    """
    shown = ", ".join(map(str, sorted(missing)[:10]))
    more = f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
    return (f"{len(missing)} of {asked} {what} were left out: the model holds no answer for "
            f"them (a log without their list): {shown}{more}")


def too_few_answered(auditor, missing: Sequence[str], asked: int, needed: int = 2):
    """A ``skipped`` result for an auditor left with fewer than ``needed`` answered users."""
    return auditor.result(status="skipped", reason=(
        f"the model answered for {asked - len(missing)} of {asked} users, fewer than the "
        f"{needed} needed; {unanswered_note(missing, asked)}"), notes=[
        unanswered_note(missing, asked)])
