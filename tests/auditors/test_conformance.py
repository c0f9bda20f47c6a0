"""Every registered auditor honours the auditor contract (``recaudit.testing.check_auditor``)."""

from __future__ import annotations

import importlib

import pytest

from recaudit.auditors import BUILTIN_AUDITORS, available_auditors
from recaudit.testing import check_auditor


def _importable(name: str) -> str | None:
    """None when the auditor's module imports, else the reason it does not."""
    target = BUILTIN_AUDITORS.get(name)
    if target is None:
        return None
    module = target.split(":")[0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return f"{module} is not written yet"
        raise
    return None


@pytest.mark.parametrize("name", available_auditors())
def test_auditor_declarations(name):
    """Identity (metric declarations included) and parameters: instant, so in the fast
    suite."""
    reason = _importable(name)
    if reason:
        pytest.skip(reason)
    assert check_auditor(name, run=False) == ["identity", "params"]


@pytest.mark.slow  # runs each auditor three times: 2-20 s per auditor
@pytest.mark.parametrize("name", available_auditors())
def test_auditor_conformance(name):
    reason = _importable(name)
    if reason:
        pytest.skip(reason)
    done = check_auditor(name, seed=0)
    assert done[:2] == ["identity", "params"] and done[-1] == "skip"
    # every metric name it emitted is declared in its `metrics` (MetricSpec), or the check
    # was skipped because the zoo model lacks a capability it needs
    assert "declared" in done or any(d.startswith("run checks skipped") for d in done)
