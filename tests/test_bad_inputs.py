"""Every bad input is a one-line error before any work (issue 29): spec files that are not
UTF-8, too large, too deep or alias bombs, absurd counts, and result files of the wrong shape
each raise ``SpecError`` naming the place; valid specs and reports still load."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import recaudit as ra
from recaudit.audit import AuditReport
from recaudit.cli import main
from recaudit.errors import SpecError, short_repr
from recaudit.results import AuditResult, Figure, Metric
from recaudit.spec import load_spec

AUDITS = Path(__file__).resolve().parents[1] / "audits"


def _refused(fn, *args, match: str, within: float = 1.0) -> str:
    """``fn(*args)`` raises a one-line SpecError containing ``match`` within ``within`` s."""
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        fn(*args)
    took = time.perf_counter() - start
    msg = str(info.value)
    assert match in msg, msg
    assert "\n" not in msg and len(msg) < 400, msg
    assert took < within, f"took {took:.2f}s: {msg}"
    return msg


def _spec(tmp_path, data: bytes | str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# ------------------------------------------------------------------ spec files
def test_latin1_spec_is_not_utf8(tmp_path):
    path = _spec(tmp_path, "title: café audit\n".encode("latin-1"))
    msg = _refused(load_spec, path, match="not UTF-8")
    assert str(path) in msg


@pytest.mark.parametrize("text", [
    "dataset: " + "[" * 20_000 + "]" * 20_000 + "\n",
    "dataset: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n",
    "- " * 20_000 + "x\n",
], ids=["flow-sequence", "flow-mapping", "block-sequence"])
def test_deep_nesting_fails_fast(tmp_path, text):
    path = _spec(tmp_path, text)
    msg = _refused(load_spec, path, match="nested more than 50 levels deep")
    assert str(path) in msg


def test_alias_bomb_fails_fast(tmp_path):
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    msg = _refused(load_spec, _spec(tmp_path, "\n".join(lines) + "\n"),
                   match="aliases expand to more than 100,000 values")
    assert "line " in msg


def test_recursive_alias_is_refused(tmp_path):
    _refused(load_spec, _spec(tmp_path, "title: &t [*t]\n"),
             match="an alias refers to a node that contains it")


def test_a_few_aliases_still_load(tmp_path):
    spec = load_spec(_spec(tmp_path, "dataset: &d {kind: synthetic, n_users: 40}\n"
                                     "model: {kind: most_popular}\n"
                                     "auditors: [popularity_bias]\n"))
    assert spec.dataset["n_users"] == 40


def test_two_megabyte_spec_is_refused_unread(tmp_path):
    path = _spec(tmp_path, "title: " + "x" * 2_000_000 + "\n")
    _refused(load_spec, path, match="larger than 1,000,000 bytes")


@pytest.mark.parametrize("text, needle", [
    ("run: {n_bootstrap: 1e20}", "run.n_bootstrap: expected int >= 1 and <= 100,000"),
    ("run: {n_bootstrap: 100000000000000000000}", "run.n_bootstrap: must be <= 100,000"),
    ("run: {n_permutations: 0}", "run.n_permutations: must be >= 1"),
    ("dataset: {kind: synthetic, n_users: 1e24}", "dataset.n_users: expected int >= 0 and "
                                                  "<= 1,000,000"),
    ("dataset: {kind: synthetic, n_users: 1000000000000000000000000}",
     "dataset.n_users: must be <= 1,000,000"),
    ("dataset: {kind: synthetic, n_users: -5}", "dataset.n_users: must be >= 0, got -5"),
    ("auditors: [{name: popularity_bias, params: {k: 0}}]",
     "auditors[0].params.k: must be >= 1, got 0"),
    ("auditors: [{name: popularity_bias, params: {n_users: -3}}]",
     "auditors[0].params.n_users: must be >= 1, got -3"),
], ids=["n_bootstrap-1e20", "n_bootstrap-int", "n_permutations-0", "n_users-1e24",
        "n_users-int", "n_users-negative", "k-0", "auditor-n_users"])
def test_absurd_counts_are_refused_with_their_bound(tmp_path, text, needle):
    _refused(load_spec, _spec(tmp_path, text + "\nmodel: {kind: most_popular}\n"),
             match=needle)


def test_messages_never_print_a_whole_value():
    msg = _refused(load_spec, {"run": {"n_bootstrap": "x" * 10_000}}, match="run.n_bootstrap")
    assert "…" in msg and len(msg) < 200
    assert short_repr("y" * 1000).endswith("…") and len(short_repr("y" * 1000)) == 80


def test_shipped_spec_still_loads():
    spec = load_spec(AUDITS / "quickstart.yaml")
    assert spec.auditors and spec.run["n_bootstrap"] <= 100_000


# ------------------------------------------------------------------ result files
@pytest.fixture
def report_dict() -> dict:
    metric = Metric("popularity_lift", 1.2, ci_low=1.1, ci_high=1.3, threshold=1.5,
                    higher_is_better=False, p_value=0.01, verdict="pass",
                    per_user={"u1": 1.0, "u2": 1.4})
    result = AuditResult("popularity_bias", metrics=[metric],
                         figures={"svg": "<svg></svg>", "data": Figure("bars", {"y": [1.0]})})
    report = AuditReport(results=[result], metadata={"mlflow": {"run_id": "abc"}})
    return json.loads(report.to_json())


def _write(tmp_path, d: dict) -> Path:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    return path


def test_saved_report_still_loads(tmp_path, report_dict):
    back = AuditReport.from_json(_write(tmp_path, report_dict))
    assert back.passed and back.metadata["mlflow"]["run_id"] == "abc"
    assert len(back.per_user("popularity_bias", "popularity_lift")) == 2
    assert set(back["popularity_bias"].figures) == {"svg", "data"}


def test_report_without_results_is_refused(tmp_path, report_dict):
    del report_dict["results"]
    path = _write(tmp_path, report_dict)
    msg = _refused(AuditReport.from_json, path, match="results: missing")
    assert str(path) in msg


def test_results_not_a_list_is_refused(tmp_path, report_dict):
    report_dict["results"] = "x"
    _refused(AuditReport.from_json, _write(tmp_path, report_dict),
             match="results: expected a list of auditor results, got 'x'")


@pytest.mark.parametrize("change, needle", [
    (lambda r: r["metrics"][0].update(ci_low="abc"),
     "results[0].metrics[0].ci_low: expected a number or null, got 'abc'"),
    (lambda r: r["metrics"][0].update(value=[1, 2]),
     "results[0].metrics[0].value: expected a number or null, got [1, 2]"),
    (lambda r: r["metrics"][0].update(verdict="PASSED"),
     "results[0].metrics[0].verdict: expected one of fail, error, pass, info, skipped"),
    (lambda r: r["metrics"].append("oops"), "results[0].metrics[1]: expected a mapping"),
    (lambda r: r.update(status="fine"), "results[0].status: expected one of ok"),
    (lambda r: r.update(figures={"f": 3}), "results[0].figures.f: expected SVG text"),
    (lambda r: r.pop("auditor"), "results[0].auditor: expected the auditor's name"),
], ids=["ci_low", "value", "verdict", "metric", "status", "figure", "auditor"])
def test_bad_result_entries_name_their_place(tmp_path, report_dict, change, needle):
    change(report_dict["results"][0])
    _refused(AuditReport.from_json, _write(tmp_path, report_dict), match=needle)


def test_result_entry_not_a_mapping(report_dict):
    report_dict["results"].append(7)
    _refused(AuditReport.from_dict, report_dict,
             match="results[1]: expected a mapping (one auditor's result), got 7")


def test_utf16_report_is_refused(tmp_path, report_dict):
    path = tmp_path / "utf16.json"
    path.write_text(json.dumps(report_dict), encoding="utf-16")
    msg = _refused(AuditReport.from_json, path, match="is not UTF-8")
    assert str(path) in msg


def test_diff_against_a_report_without_results_exits_2(tmp_path, report_dict, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(report_dict), encoding="utf-8")
    del report_dict["results"]
    empty = _write(tmp_path, report_dict)
    assert main(["diff", str(good), str(empty), "--fail-on", "regression"]) == 2
    assert "results: missing" in capsys.readouterr().err
    assert ra.SpecError is SpecError
