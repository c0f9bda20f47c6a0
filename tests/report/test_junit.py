"""``AuditReport.to_junit``: every check a test case, counts equal to the report's, valid
against the Jenkins JUnit schema, hostile strings escaped."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import recaudit as ra
from recaudit.errors import OutputError
from recaudit.report import AuditReport, render_junit
from recaudit.results import AuditResult, Cost, Metric
from recaudit.testing.zoo import PopularityPusher

XSD = Path(__file__).with_name("jenkins-junit.xsd")
HOSTILE = 'model said <script>alert("x")</script> & \x00\x1b left'


class Crashing(ra.Auditor):
    """An auditor that raises (not registered: passed as an instance)."""

    name = "crashing_probe"
    family = "custom"

    def run(self, model, data, ctx):
        raise RuntimeError(HOSTILE)


@pytest.fixture(scope="module")
def report() -> AuditReport:
    """A real audit: a popularity-pushing zoo model (aplt_ratio fails), an auditor the model
    cannot serve (skipped: no ``explain``) and one that raises (error)."""
    world = ra.datasets.synthetic(n_users=40, n_items=40, seed=1)
    rep = ra.audit(PopularityPusher(world), world,
                   ["popularity_bias", "explanation_faithfulness", Crashing()],
                   config={"n_bootstrap": 100, "n_permutations": 100}, progress=False,
                   cache=False)
    assert [r.status for r in rep] == ["ok", "skipped", "error"]
    assert rep.counts()["fail"] >= 1 and rep.counts()["pass"] >= 1
    return rep


def _parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def _cases(el: ET.Element, child: str | None = None) -> list[ET.Element]:
    cases = el.iter("testcase")
    return [c for c in cases if child is None or c.find(child) is not None]


def test_counts_equal_the_reports_verdict_counts(report, tmp_path):
    path = tmp_path / "ci" / "junit.xml"
    text = report.to_junit(path)
    assert path.read_text(encoding="utf-8") == text
    root = ET.parse(path).getroot()
    c = report.counts()
    assert root.tag == "testsuites" and root.get("name") == report.title
    assert len(_cases(root)) == c["fail"] + c["error"] + c["pass"] + c["skipped"]
    assert len(_cases(root, "failure")) == c["fail"]
    assert len(_cases(root, "error")) == c["error"]
    assert len(_cases(root, "skipped")) == c["skipped"]
    assert (int(root.get("tests")), int(root.get("failures")), int(root.get("errors"))) == (
        len(_cases(root)), c["fail"], c["error"])
    assert "skipped" not in root.attrib  # not allowed on <testsuites> by Jenkins' schema
    # one suite per auditor, its counts those of its own test cases, its time its cost
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [r.auditor for r in report]
    for suite, res in zip(suites, report):
        assert int(suite.get("tests")) == len(_cases(suite))
        for attr, child in (("failures", "failure"), ("errors", "error"),
                            ("skipped", "skipped")):
            assert int(suite.get(attr)) == len(_cases(suite, child)), (res.auditor, attr)
        assert float(suite.get("time")) == pytest.approx(res.cost.total_seconds, abs=5e-4)
        assert {c.get("classname") for c in _cases(suite)} == {f"recaudit.{res.auditor}"}


def test_failures_errors_and_skips_carry_their_numbers_and_reasons(report):
    root = _parse(report.to_junit())
    failed = report.failed[0]
    case = next(c for c in _cases(root, "failure")
                if c.get("name") == f"{failed.name}@{failed.scope}")
    message = case.find("failure").get("message")
    assert message.startswith(f"{failed.name}@{failed.scope} = ")
    assert "[" in message and "threshold ≥ 0.25" in message and "p (Holm)" in message
    assert "description:" in case.find("failure").text
    skipped = _cases(root, "skipped")[0]
    assert skipped.get("name") == "explanation_faithfulness"
    assert skipped.find("skipped").get("message") == report["explanation_faithfulness"].reason
    error = _cases(root, "error")[0].find("error")
    assert error.get("message").startswith("RuntimeError: model said <script>")
    assert "\x00" not in error.get("message") and "\ufffd" in error.get("message")
    # passes are plain test cases, their numbers in system-out; info metrics are properties
    passed = [c for c in _cases(root) if c.find("failure") is None
              and c.find("error") is None and c.find("skipped") is None]
    assert len(passed) == report.counts()["pass"]
    assert all("verdict: pass" in c.find("system-out").text for c in passed)
    props = {p.get("name"): p.get("value")
             for p in root.find("testsuite").find("properties").iter("property")}
    infos = [m for m in report["popularity_bias"].metrics if m.verdict == "info"]
    assert infos and all(f"info:{m.name}@{m.scope}" in props for m in infos)
    assert props["family"] == "bias" and props["status"] == "ok"


def test_valid_against_the_jenkins_junit_schema(report, tmp_path):
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(XSD))
    path = tmp_path / "junit.xml"
    report.to_junit(path)
    schema.validate(str(path))
    schema.validate(render_junit(_hostile_report()))
    schema.validate(render_junit(AuditReport()))  # no auditor at all
    # the schema is strict where junitparser-style writers are not
    assert not schema.is_valid('<testsuites skipped="1"/>')
    assert not schema.is_valid('<testsuites><testsuite name="a" tests="1" failures="0" '
                               'errors="0" time="1e-05"/></testsuites>')


def _hostile_report() -> AuditReport:
    """Strings that must be escaped, metric-level error and skipped verdicts, NaN values,
    an unknown verdict, a NaN cost."""
    return AuditReport(title="t <&> \"q\"", results=[
        AuditResult("a|b <i>", family="x&y", cost=Cost(total_seconds=float("nan")), metrics=[
            Metric("gap", 0.3, scope="g=<f>", ci_low=0.2, ci_high=0.4, threshold=0.1,
                   higher_is_better=False, p_value=1e-9, p_adjusted=2e-9, verdict="fail"),
            Metric("nan", float("nan"), threshold=0.1, higher_is_better=False,
                   verdict="pass"),
            Metric("lost", 0.0, verdict="error", description="could not fit"),
            Metric("later", 0.0, verdict="skipped"),
            Metric("odd", 0.0, verdict="weird"),
            Metric("info \x07", 1.0, verdict="info")]),
        AuditResult("gone", status="error", reason="ValueError:\nline two " + HOSTILE),
    ])


def test_hostile_strings_and_odd_verdicts_survive():
    rep = _hostile_report()
    root = _parse(render_junit(rep))  # well-formed despite NUL and ESC
    assert root.get("name") == 't <&> "q"'
    suite = root.find("testsuite")
    assert suite.get("name") == "a|b <i>" and suite.get("time") == "0.000"
    by_name = {c.get("name"): c for c in _cases(suite)}
    assert set(by_name) == {"gap@g=<f>", "nan@all", "lost@all", "later@all", "odd@all"}
    lost = by_name["lost@all"].find("error")
    assert lost.get("message") == "lost@all: the metric could not be computed"
    assert "description: could not fit" in lost.text
    assert by_name["odd@all"].find("error").get("message") == "odd@all: unknown verdict 'weird'"
    assert by_name["later@all"].find("skipped") is not None
    assert "p (Holm) <0.001" in by_name["gap@g=<f>"].find("failure").get("message")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("5", "1", "2", "1")
    gone = root.findall("testsuite")[1].find("testcase").find("error")
    assert "\n" not in gone.get("message") and gone.get("message").startswith(
        "ValueError: line two")
    assert "line two" in gone.text
    assert not math.isnan(float(root.get("time")))


def test_unwritable_path_raises_output_error_and_keeps_the_old_file(report, tmp_path):
    old = tmp_path / "old.xml"
    old.write_text("old")
    with pytest.raises(OutputError, match=r"cannot write JUnit XML to .*: Is a directory"):
        report.to_junit(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot write JUnit XML"):  # an OSError too
        report.to_junit(blocker / "j.xml")
    assert old.read_text() == "old" and not list(tmp_path.glob("*.tmp"))
