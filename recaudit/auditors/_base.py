"""The ``Auditor`` base class and the ``AuditContext`` every auditor receives."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..params import Params
from ..results import AuditResult, Metric
from ._metric_spec import MetricSpec, check_threshold_keys, find_metric_spec, thresholds_from


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
    ``metrics`` (a :class:`MetricSpec` for every metric name :meth:`run` can emit: its
    description, direction and default threshold), take their parameters as keyword
    arguments in ``__init__`` (stored, nothing else, as in scikit-learn:
    :class:`~recaudit.params.Params` reads them back for ``get_params()`` and the repr) and
    implement :meth:`run`.

    ``default_thresholds`` (metric name, or ``name@scope``, to the largest acceptable effect)
    is derived from ``metrics`` when a class declares them; a subclass may still set it
    directly (it then wins over the declarations' thresholds). A threshold key (in
    ``thresholds=``, ``config`` or a spec) that names no declared metric is a
    :class:`~recaudit.errors.SpecError` before the audit calls the model; an auditor that
    declares nothing still runs, unchecked (:func:`recaudit.testing.check_auditor` asks it to
    declare).

    Examples
    --------
    >>> from recaudit import Auditor, MetricSpec, register_auditor
    >>> @register_auditor("mean_list_length_demo")
    ... class MeanListLength(Auditor):
    ...     metrics = (MetricSpec("mean_length", "mean length of the top-k lists",
    ...                           higher_is_better=True),)
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
    #: Every metric :meth:`run` can emit (see :class:`MetricSpec`; patterns allowed).
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    default_thresholds: ClassVar[dict[str, float]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "metrics" not in cls.__dict__:
            return
        specs = tuple(cls.__dict__["metrics"])
        wrong = [s for s in specs if not isinstance(s, MetricSpec)]
        if wrong:
            raise TypeError(f"{cls.__name__}.metrics must hold MetricSpec values, got "
                            f"{wrong[0]!r}")
        names = [s.name for s in specs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise TypeError(f"{cls.__name__}.metrics declares {twice} more than once")
        cls.metrics = specs
        if "default_thresholds" not in cls.__dict__:
            cls.default_thresholds = thresholds_from(specs)

    def __init__(self, *, thresholds: dict[str, float] | None = None) -> None:
        self.thresholds = dict(thresholds or {})

    # -------------------------------------------------------------- declarations
    @classmethod
    def metric_spec(cls, name: str) -> MetricSpec | None:
        """The declaration of metric ``name`` (exact, else a matching pattern), or None."""
        return find_metric_spec(cls.metrics, name)

    @classmethod
    def check_thresholds(cls, thresholds: dict[str, Any] | None, *, where: str = "") -> None:
        """Raise :class:`~recaudit.errors.SpecError` for a threshold naming no declared
        metric (with a did-you-mean) or a value that is not a finite number."""
        check_threshold_keys(cls.name or cls.__name__, cls.metrics, thresholds, where=where)

    # -------------------------------------------------------------- thresholds
    def threshold_for(self, name: str, scope: str = "all") -> float | None:
        merged = {**self.default_thresholds, **self.thresholds}
        keys = [f"{name}@{scope}", name]
        spec = self.metric_spec(name)
        if spec is not None and spec.is_pattern:
            keys += [f"{spec.name}@{scope}", spec.name]
        for key in keys:
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
               threshold: float | None = None, per_user: Any = None,
               per_user_aggregate: str | None = "mean") -> Metric:
        """A :class:`Metric` with this auditor's threshold for (name, scope) filled in, and
        its direction and description from the declaration when not given.

        ``per_user`` holds the rows behind the value, so a reader can find who is worst
        served (``report.per_user(auditor, name)``): a mapping ``user_id -> value``, an
        aligned pair ``(user_ids, values)``, or a DataFrame with a ``value`` column keyed by
        ``user_id`` (or by another unit, such as ``item_id``, in its first column) and any
        extra columns (see :func:`recaudit.results.per_user_frame`). ``per_user_aggregate``
        says how ``value`` follows from them: ``"mean"`` (the mean of the non-missing
        values; :func:`recaudit.testing.check_auditor` checks it), ``"sum"``, or ``None``
        (a ratio, gap or AUC computed from the rows: say how in the auditor's docstring).
        """
        lo, hi = (ci if ci is not None else (None, None))
        spec = self.metric_spec(name)
        if spec is not None:
            if higher_is_better is None:
                higher_is_better = spec.higher_is_better
            description = description or spec.description
        return Metric(name=name, value=value, scope=str(scope), ci_low=lo, ci_high=hi,
                      higher_is_better=higher_is_better,
                      threshold=threshold if threshold is not None
                      else self.threshold_for(name, str(scope)),
                      p_value=p_value, auditor=self.name, description=description,
                      per_user=per_user, per_user_aggregate=per_user_aggregate)

    def result(self, **fields: Any) -> AuditResult:
        """An :class:`AuditResult` pre-filled with this auditor's identity and parameters."""
        return AuditResult(auditor=self.name, family=self.family, method=self.method,
                           citation=self.citation, params=self.get_params(), **fields)

    def run(self, model: Any, data: Any, ctx: AuditContext) -> AuditResult:
        raise NotImplementedError
