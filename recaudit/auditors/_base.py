"""The ``Auditor`` base class and the ``AuditContext`` every auditor receives."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..params import Params
from ..results import AuditResult, Metric


@dataclass
class AuditContext:
    """Run-wide settings handed to :meth:`Auditor.run`.

    Randomness comes only from :meth:`rng`, derived from ``seed`` and a name, so each auditor
    is reproducible on its own and independent of the order auditors run in.
    """

    seed: int = 0
    n_bootstrap: int = 1000
    n_permutations: int = 1000
    alpha: float = 0.05
    show_progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def rng(self, *names: Any) -> np.random.Generator:
        """A generator seeded by (seed, names): same names, same stream."""
        key = zlib.crc32("/".join(map(str, names)).encode("utf-8"))
        return np.random.default_rng([self.seed, key])

    def subseed(self, *names: Any) -> int:
        """An integer seed derived from (seed, names), for libraries that take an int."""
        return int(self.rng(*names).integers(0, 2**31 - 1))

    def progress(self, iterable: Iterable, *, desc: str = "", total: int | None = None,
                 leave: bool = False) -> Iterable:
        """Wrap ``iterable`` in a progress bar unless progress is switched off."""
        if not self.show_progress:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=leave, dynamic_ncols=True)


class Auditor(Params):
    """Base class of every auditor.

    Subclasses declare ``name`` (set by :func:`register_auditor`), ``family``, ``requires``
    (capabilities the model must declare), ``method`` and ``citation`` (shown in reports),
    ``default_thresholds`` (metric name, or ``name@scope``, to the largest acceptable
    effect), take their parameters as keyword arguments in ``__init__`` (stored, nothing
    else, as in scikit-learn: :class:`~recaudit.params.Params` reads them back for
    ``get_params()`` and the repr) and implement :meth:`run`.

    Examples
    --------
    >>> from recaudit import Auditor, register_auditor
    >>> @register_auditor("mean_list_length_demo")
    ... class MeanListLength(Auditor):
    ...     def __init__(self, k=10, thresholds=None):
    ...         super().__init__(thresholds=thresholds)
    ...         self.k = k
    ...     def run(self, model, data, ctx):
    ...         reqs = [data.request(u) for u in data.user_ids[:20]]
    ...         lengths = [len(r.items) for r in model.rank(reqs, self.k)]
    ...         return self.result(metrics=[self.metric("mean_length", np.mean(lengths))])
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = "custom"
    requires: ClassVar[frozenset[str]] = frozenset({"rank"})
    method: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    default_thresholds: ClassVar[dict[str, float]] = {}

    def __init__(self, *, thresholds: dict[str, float] | None = None) -> None:
        self.thresholds = dict(thresholds or {})

    # -------------------------------------------------------------- thresholds
    def threshold_for(self, name: str, scope: str = "all") -> float | None:
        merged = {**self.default_thresholds, **self.thresholds}
        for key in (f"{name}@{scope}", name):
            if key in merged and merged[key] is not None:
                return float(merged[key])
        return None

    def missing_requirements(self, model: Any) -> set[str]:
        declared = set(getattr(model, "capabilities", ()) or ())
        return set(self.requires) - declared

    # -------------------------------------------------------------- building results
    def metric(self, name: str, value: float, *, scope: str = "all",
               ci: Sequence[float] | None = None, p_value: float | None = None,
               higher_is_better: bool | None = None, description: str = "",
               threshold: float | None = None) -> Metric:
        """A :class:`Metric` with this auditor's threshold for (name, scope) filled in."""
        lo, hi = (ci if ci is not None else (None, None))
        return Metric(name=name, value=value, scope=str(scope), ci_low=lo, ci_high=hi,
                      higher_is_better=higher_is_better,
                      threshold=threshold if threshold is not None
                      else self.threshold_for(name, str(scope)),
                      p_value=p_value, auditor=self.name, description=description)

    def result(self, **fields: Any) -> AuditResult:
        """An :class:`AuditResult` pre-filled with this auditor's identity and parameters."""
        return AuditResult(auditor=self.name, family=self.family, method=self.method,
                           citation=self.citation, params=self.get_params(), **fields)

    def run(self, model: Any, data: Any, ctx: AuditContext) -> AuditResult:
        raise NotImplementedError
