"""Auditors: the base class, the registry and the built-in families.

Built-in auditors are imported lazily by name; see :func:`available_auditors`.
"""

from ._base import AuditContext, Auditor
from ._metric_spec import MetricSpec
from ._registry import (
    AUDITORS,
    BUILTIN_AUDITORS,
    ENTRY_POINT_GROUP,
    auditor_families,
    available_auditors,
    get_auditor_class,
    make_auditor,
    register_auditor,
)
from ._verdict import assign_verdicts

__all__ = [
    "AUDITORS", "AuditContext", "Auditor", "BUILTIN_AUDITORS", "ENTRY_POINT_GROUP",
    "MetricSpec", "assign_verdicts", "auditor_families", "available_auditors",
    "get_auditor_class", "make_auditor", "register_auditor",
]
