"""Testing helpers: conformance checks and the planted-defect model zoo.

- :func:`check_recommender` (``._checks``): the protocol a model under test must satisfy;
- :func:`check_auditor` (``._check_auditor``): what every registered auditor must satisfy;
- :func:`check_mitigation` (``._check_mitigation``): what every mitigation must satisfy;
- :func:`assert_rankings_close` (``._rankings``): rankings equal up to float noise (near-ties
  may swap; scores within a stated tolerance), for sides computed under different batch
  shapes, threads or CPU kernels;
- :mod:`recaudit.testing.zoo`: defective models next to their clean twins.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "check_recommender": "._checks",
    "check_auditor": "._check_auditor",
    "check_mitigation": "._check_mitigation",
    "assert_audit_passes": "._pytest",
    "assert_no_regressions": "._pytest",
    "assert_rankings_close": "._rankings",
    "ranking_difference": "._rankings",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'recaudit.testing' has no attribute {name!r}")
