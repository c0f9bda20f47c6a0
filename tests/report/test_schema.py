"""The versioned result JSON: the current version round-trips, older versions are migrated,
newer or unknown versions are refused with a message naming the version."""

from __future__ import annotations

import json
import math

import pytest

import recaudit as ra
from recaudit.audit import AuditReport
from recaudit.errors import SpecError
from recaudit.report._report import MIGRATIONS, SCHEMA_VERSION, migrate
from recaudit.testing.zoo import ScoringModel

# A report as recaudit wrote it under schema 1 (before model descriptions, verdict counts
# and the fairlearn/captum versions): one auditor with a failed and a passed check, one
# skipped auditor.
V1_REPORT = {
    "schema": "recaudit.audit_report", "schema_version": 1,
    "title": "release 1.2 <b>audit</b>", "complete": True, "passed": False,
    "metadata": {
        "model": {"repr": "MyModel()", "type": "MyModel", "fingerprint": "abc123",
                  "capabilities": ["rank"]},
        "dataset": {"name": "synthetic", "n_users": 40, "n_items": 30, "n_train": 300,
                    "n_test": 40, "fingerprint": "d00d"},
        "seed": 3,
        "settings": {"n_bootstrap": 200, "n_permutations": 200, "alpha": 0.05},
        "versions": {"python": "3.11.7", "recaudit": "0.0.9", "numpy": "2.1.0"},
        "started": "2026-01-01T00:00:00+00:00", "ended": "2026-01-01T00:01:00+00:00",
        "wall_seconds": 60.0,
        "cost": {"requests": 10, "unique": 8, "cache_hits": 2, "model_calls": 1,
                 "model_seconds": 1.0, "total_seconds": 2.0, "model_share": 0.5},
    },
    "results": [
        {"auditor": "popularity_bias", "status": "ok", "reason": "", "family": "bias",
         "method": "Average recommendation popularity.", "citation": "Abdollahpouri 2019",
         "params": {"k": 10},
         "metrics": [
             {"name": "aplt_ratio", "value": 0.1, "scope": "all", "ci_low": 0.05,
              "ci_high": 0.15, "higher_is_better": True, "threshold": 0.25,
              "p_value": 0.001, "p_adjusted": 0.002, "verdict": "fail",
              "auditor": "popularity_bias", "description": ""},
             {"name": "popularity_lift", "value": 0.9, "scope": "all", "ci_low": 0.8,
              "ci_high": 1.0, "higher_is_better": False, "threshold": 1.5, "p_value": 1.0,
              "p_adjusted": 1.0, "verdict": "pass", "auditor": "popularity_bias",
              "description": ""}],
         "tables": {}, "figures": {}, "evidence": [{"user_id": "u1", "lift": 1.2}],
         "notes": [], "cost": {"requests": 10, "unique": 8, "cache_hits": 2, "model_calls": 1,
                               "model_seconds": 1.0, "total_seconds": 2.0}},
        {"auditor": "attribution_faithfulness", "status": "skipped",
         "reason": "needs gradients; model declares rank", "metrics": []},
    ],
}


def test_every_older_version_has_a_migration():
    assert SCHEMA_VERSION == 3
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def test_v1_report_is_read_and_migrated(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(V1_REPORT), encoding="utf-8")
    rep = AuditReport.from_json(path)
    assert rep.schema_version == SCHEMA_VERSION
    assert rep.title == "release 1.2 <b>audit</b>" and not rep.passed
    assert rep.metadata["model"]["description"] == ""
    assert rep.metadata["versions"]["fairlearn"] is None
    assert rep.metadata["versions"]["numpy"] == "2.1.0"
    m = rep["popularity_bias"].metric("aplt_ratio")
    assert (m.value, m.ci_low, m.threshold, m.verdict) == (0.1, 0.05, 0.25, "fail")
    assert rep["attribution_faithfulness"].status == "skipped"
    assert rep.counts() == {"fail": 1, "error": 0, "pass": 1, "info": 0, "skipped": 1}
    html = rep.to_html()
    assert "release 1.2 &lt;b&gt;audit&lt;/b&gt;" in html and "aplt_ratio" in html
    # written back in the current version, with the derived counts
    again = json.loads(rep.to_json(tmp_path / "new.json"))
    assert again["schema_version"] == SCHEMA_VERSION
    assert again["counts"]["fail"] == 1
    assert AuditReport.from_json(tmp_path / "new.json").to_dict() == again


def test_migrate_leaves_its_input_alone():
    before = json.dumps(V1_REPORT, sort_keys=True)
    out = migrate(V1_REPORT)
    assert out["schema_version"] == SCHEMA_VERSION
    assert json.dumps(V1_REPORT, sort_keys=True) == before


@pytest.mark.parametrize("version, needle", [
    (SCHEMA_VERSION + 1, f"schema_version {SCHEMA_VERSION + 1} is newer than this recaudit "
                         f"reads (up to {SCHEMA_VERSION}); upgrade recaudit"),
    (99, "schema_version 99 is newer"),
    (0, "schema_version 0 is unknown"),
    (-1, "schema_version -1 is unknown"),
    ("2", "schema_version '2' is unknown"),
    (1.5, "schema_version 1.5 is unknown"),
    (None, "schema_version None is unknown"),
    (True, "schema_version True is unknown"),
])
def test_newer_or_unknown_versions_are_refused(tmp_path, version, needle):
    d = {**V1_REPORT, "schema_version": version}
    if version is None:
        del d["schema_version"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        AuditReport.from_json(path)
    assert needle in str(info.value)


def test_not_a_report_is_refused():
    with pytest.raises(SpecError, match="not a recaudit audit report"):
        migrate({"schema": "something.else", "schema_version": 1})


def test_current_version_round_trip_of_a_real_audit(tmp_path):
    world = ra.datasets.synthetic(n_users=30, n_items=30, seed=4)
    rep = ra.audit(ScoringModel(world), world, ["popularity_bias"], progress=False,
                   cache=False, seed=4, config={"n_bootstrap": 50, "n_permutations": 50})
    d = json.loads(rep.to_json(tmp_path / "r.json"))
    assert d["schema_version"] == SCHEMA_VERSION and d["counts"] == rep.counts()
    meta = d["metadata"]
    assert meta["model"]["description"].startswith("Base of the planted-defect zoo")
    assert {"recaudit", "torch", "transformers", "numpy", "pandas", "fairlearn",
            "captum"} <= set(meta["versions"])
    assert meta["cost"]["requests"] > 0 and meta["seed"] == 4
    back = AuditReport.from_json(tmp_path / "r.json")
    for x, y in zip(rep.metrics, back.metrics):
        assert (x.name, x.scope, x.verdict) == (y.name, y.scope, y.verdict)
        assert x.value == y.value or (math.isnan(x.value) and math.isnan(y.value))
    assert back.to_html() == rep.to_html()
