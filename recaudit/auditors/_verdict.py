"""The verdict rule: ``fail`` only when an effect is beyond its threshold *and* significant
after Holm correction across every tested metric of one audit."""

from __future__ import annotations

from collections.abc import Iterable

from ..metrics.statistics import holm
from ..results import AuditResult, Metric


def assign_verdicts(results: Iterable[AuditResult], alpha: float = 0.05) -> None:
    """Set ``verdict`` (and ``p_adjusted``) on every metric of ``results`` in place.

    - auditor skipped / errored: its metrics get that status;
    - no threshold: ``info``;
    - threshold and p-value: ``fail`` when beyond the threshold and Holm-adjusted p < alpha,
      else ``pass``;
    - threshold without a p-value (a deterministic quantity): ``fail`` when beyond it.
    """
    results = list(results)
    tested: list[Metric] = []
    for res in results:
        for m in res.metrics:
            if res.status in ("skipped", "error"):
                m.verdict = res.status
            elif m.verdict in ("skipped", "error"):
                continue
            elif m.threshold is None or m.higher_is_better is None:
                m.verdict = "info"
            elif m.p_value is None:
                m.verdict = "fail" if m.beyond_threshold else "pass"
            else:
                tested.append(m)
    adjusted = holm([m.p_value for m in tested])
    for m, p_adj in zip(tested, adjusted):
        m.p_adjusted = float(p_adj)
        m.verdict = "fail" if (m.beyond_threshold and p_adj < alpha) else "pass"
