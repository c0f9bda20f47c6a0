"""Small helpers shared by auditors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._metric_spec import MetricSpec

#: The metric :func:`hallucination_metric` emits (declared by the auditors that call it).
HALLUCINATION_RATE = MetricSpec(
    "hallucination_rate", "share of generated list entries that matched no catalog item (or "
    "no candidate); generating models only", higher_is_better=False)


def hallucination_metric(auditor, rankings: Sequence, *, n_bootstrap: int, seed: int):
    """``hallucination_rate`` of a generating model (``Ranking.raw`` set, as free-text and
    chat models do): per answer, entries that named no catalog item (or an item outside the
    candidates) over all matched-or-not entries kept, averaged with a bootstrap CI over
    answers. ``None`` for models that do not generate text and never hallucinate."""
    from ..metrics.statistics import bootstrap_ci

    if not any(r.raw is not None or r.hallucinated for r in rankings):
        return None
    rates = np.array([r.hallucinated / max(1, r.hallucinated + len(r.items))
                      for r in rankings], dtype=float)
    return auditor.metric(
        HALLUCINATION_RATE.name, float(rates.mean()),
        ci=bootstrap_ci(rates, n_resamples=n_bootstrap, seed=seed), higher_is_better=False,
        description="share of generated list entries that matched no catalog item "
                    "(or no candidate)")
