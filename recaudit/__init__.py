"""recaudit: audit LLM-based recommender systems for trustworthiness.

>>> import recaudit as ra
>>> data = ra.datasets.synthetic(seed=0)                      # doctest: +SKIP
>>> model = ra.models.train_tiny_lm(data, seed=0)             # doctest: +SKIP
>>> report = ra.audit(model, data, auditors=["popularity_bias"])  # doctest: +SKIP
>>> report.to_html("reports/audit.html")                      # doctest: +SKIP
"""

from importlib import import_module
from typing import Any

from . import datasets, metrics, models  # noqa: F401

# Eager: once imported, the submodule ``recaudit.audit`` would shadow a lazy ``audit``.
from .audit import AuditReport, audit, estimate_audit  # noqa: F401
from .auditors import AuditContext, Auditor, MetricSpec, register_auditor
from .compare import ComparisonResult, compare  # noqa: F401  (eager, like audit)
from .errors import (
    CapabilityError,
    DatasetError,
    RecauditError,
    RequestError,
    SpecError,
    UnknownNameError,
)
from .models import Ranking, Recommender, Request
from .results import AuditResult, Cost, Figure, Metric
from .study import StudyResult, study  # noqa: F401  (eager: compare imports recaudit.study)

__version__ = "0.1.0"

_LAZY = {
    "audit": ".audit",
    "AuditReport": ".audit",
    "ablate": ".ablation",
    "AblationResult": ".ablation",
    "mitigations": None,
    "testing": None,
    "engine": None,
    "report": None,
    "runner": None,
    "tracking": None,
}

__all__ = [
    "AuditContext", "AuditResult", "Auditor", "CapabilityError", "Cost", "DatasetError",
    "Figure", "Metric", "MetricSpec", "Ranking", "RecauditError", "Recommender", "Request", "RequestError",
    "SpecError", "UnknownNameError", "datasets", "metrics", "models", "register_auditor",
    "compare", "ComparisonResult", "estimate_audit", "study", "StudyResult",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        target = _LAZY[name]
        if target is None:
            return import_module(f".{name}", __name__)
        return getattr(import_module(target, __name__), name)
    raise AttributeError(f"module 'recaudit' has no attribute {name!r}")
