"""``recaudit diff`` and ``recaudit audit --fail-on``: outputs and exit codes."""

from __future__ import annotations

import json

import pytest
import yaml

from recaudit.audit import AuditReport
from recaudit.cli import _verdict_code, main
from recaudit.results import AuditResult, Metric


def _spec(path, model, *, dataset_seed=0) -> str:
    spec = {"dataset": {"kind": "synthetic", "n_users": 60, "n_items": 40,
                        "seed": dataset_seed},
            "model": model, "auditors": ["popularity_bias"], "seed": 0,
            "run": {"n_bootstrap": 100, "n_permutations": 100, "cache": False}}
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two audited runs: a random model (passes) and most-popular (fails popularity_bias)."""
    d = tmp_path_factory.mktemp("runs")
    out = {}
    for name, model in (("random", {"kind": "random", "seed": 0}),
                        ("popular", {"kind": "most_popular"})):
        code = main(["audit", _spec(d / f"{name}.yaml", model), "--no-progress",
                     "--out", str(d / f"{name}.html"), "--json", str(d / f"{name}.json")])
        assert code == (0 if name == "random" else 1)
        out[name] = d / f"{name}.json"
    out["dir"] = d
    return out


def test_audit_fail_on(runs, capsys):
    spec = str(runs["dir"] / "popular.yaml")
    args = ["audit", spec, "--no-progress", "--out", str(runs["dir"] / "x.html")]
    assert main(args) == 1
    assert main([*args, "--fail-on", "fail"]) == 1
    assert main([*args, "--fail-on", "error"]) == 0  # failed checks, nothing errored
    assert main([*args, "--fail-on", "never"]) == 0
    capsys.readouterr()
    assert main([*args, "--fail-on", "sometimes"]) == 2
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err


def test_fail_on_error_counts_errored_auditors():
    ok = AuditResult("a", metrics=[Metric("m", 2.0, threshold=1.0, higher_is_better=False,
                                          verdict="fail")])
    boom = AuditResult("b", status="error", reason="ValueError: x")
    failing, errored = AuditReport(results=[ok]), AuditReport(results=[ok, boom])
    assert [_verdict_code(failing, f) for f in ("fail", "error", "never")] == [1, 0, 0]
    assert [_verdict_code(errored, f) for f in ("fail", "error", "never")] == [1, 1, 0]
    passing = AuditReport(results=[AuditResult("c")])
    assert [_verdict_code(passing, f) for f in ("fail", "error", "never")] == [0, 0, 0]


def test_diff_regression_exit_codes_and_outputs(runs, tmp_path, capsys):
    a, b = str(runs["random"]), str(runs["popular"])
    html, js = tmp_path / "diff.html", tmp_path / "diff.json"
    assert main(["diff", a, b, "--out", str(html), "--json", str(js)]) == 0  # default never
    out = capsys.readouterr().out
    assert "REGRESSION  popularity_bias.aplt_ratio@all" in out
    assert f"wrote {html} and {js}" in out
    assert main(["diff", a, b, "--fail-on", "regression"]) == 1
    assert main(["diff", a, b, "--fail-on", "never"]) == 0
    assert main(["diff", b, a, "--fail-on", "regression"]) == 0  # the reverse improves
    assert "IMPROVEMENT" in capsys.readouterr().out
    page = html.read_text(encoding="utf-8")
    assert page.index('id="regressions"') < page.index('id="checks"')
    assert "aplt_ratio" in page[page.index('id="regressions"'):page.index('id="checks"')]
    data = json.loads(js.read_text())
    assert data["has_regressions"] is True
    assert {c["metric"] for c in data["changes"] if c["change"] == "regression"} >= {
        "aplt_ratio"}


def test_diff_json_to_stdout(runs, capsys):
    assert main(["diff", str(runs["random"]), str(runs["random"]), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["has_regressions"] is False and data["warnings"] == []
    assert {c["change"] for c in data["changes"]} == {"unchanged"}


def test_diff_warns_about_different_datasets(runs, tmp_path, capsys):
    other = tmp_path / "other.json"
    assert main(["audit", _spec(tmp_path / "o.yaml", {"kind": "random", "seed": 0},
                                dataset_seed=1), "--no-progress",
                 "--out", str(tmp_path / "o.html"), "--json", str(other)]) == 0
    capsys.readouterr()
    main(["diff", str(runs["random"]), str(other)])
    assert "warning: the two runs audited different datasets" in capsys.readouterr().out


def test_diff_input_errors_exit_2(runs, tmp_path, capsys):
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema": "recaudit.audit_report", "schema_version": 9}))
    assert main(["diff", str(runs["random"]), str(newer)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "schema_version 9 is newer" in err
    assert main(["diff", str(runs["random"]), str(tmp_path / "missing.json")]) == 2
    assert "cannot read audit report" in capsys.readouterr().err
    assert main(["diff", str(runs["random"])]) == 2
    assert main(["diff", str(runs["random"]), str(runs["random"]), "--fail-on", "x"]) == 2
