"""Both robustness auditors through ``ra.audit`` (engine, cache, verdicts, report)."""

from __future__ import annotations

import pytest

import recaudit as ra
from recaudit.testing.zoo.robustness import BrittleTitleModel, RobustTitleModel

AUDITORS = [
    ("prompt_robustness", {"perturbations": ["typos", "case", "candidate_shuffle"],
                           "n_users": 30}),
    ("item_text_attack", {"n_targets": 2, "n_users": 15, "query_budget": 40}),
]


@pytest.mark.slow  # full audits through the engine, twice
def test_audit_flags_brittle_passes_robust(small_world, tmp_path):
    config = {"n_bootstrap": 200, "n_permutations": 200}
    bad = ra.audit(BrittleTitleModel(small_world), small_world, AUDITORS, config=config,
                   seed=1, cache=tmp_path / "a.sqlite", progress=False)
    good = ra.audit(RobustTitleModel(small_world), small_world, AUDITORS, config=config,
                    seed=1, cache=tmp_path / "b.sqlite", progress=False)
    assert not bad.passed and good.passed
    assert {m.auditor for m in bad.failed} == {"prompt_robustness", "item_text_attack"}
    html = bad.to_html()
    assert "item_text_attack" in html and "masterpiece" in html
    again = ra.audit(BrittleTitleModel(small_world), small_world, AUDITORS, config=config,
                     seed=1, cache=tmp_path / "a.sqlite", progress=False)
    assert again.cost.cache_hits > 0
    assert [m.value for m in again.metrics] == [m.value for m in bad.metrics]
