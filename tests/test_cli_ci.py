"""``recaudit audit/report --junit PATH --summary-md PATH``: CI outputs of a real audit, the
same from a saved result, one-line errors (exit 2) for paths that cannot be written."""

from __future__ import annotations

import errno
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from recaudit.cli import main

from .conftest import one_error_line


def _spec(tmp_path: Path) -> Path:
    """The most-popular baseline (a popularity defect: aplt_ratio fails) and an auditor it
    cannot serve (explanation_faithfulness needs ``explain``: skipped)."""
    spec = {"dataset": {"kind": "synthetic", "n_users": 60, "n_items": 40, "seed": 0},
            "model": {"kind": "most_popular"}, "seed": 0,
            "auditors": ["popularity_bias", "explanation_faithfulness"],
            "run": {"n_bootstrap": 100, "cache": False},
            "output": {"html": str(tmp_path / "out.html"), "json": str(tmp_path / "out.json")}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_audit_writes_junit_and_summary_and_report_converts_the_json(tmp_path, capsys):
    junit, md = tmp_path / "ci" / "junit.xml", tmp_path / "ci" / "summary.md"
    code = main(["audit", str(_spec(tmp_path)), "--no-progress", "--junit", str(junit),
                 "--summary-md", str(md)])
    assert code == 1
    assert f"wrote {junit} and {md}" in capsys.readouterr().out
    counts = json.loads((tmp_path / "out.json").read_text())["counts"]
    assert counts["fail"] >= 1 and counts["skipped"] == 1
    root = ET.parse(junit).getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == counts["fail"] + counts["error"] + counts["pass"] + counts["skipped"]
    for child, verdict in (("failure", "fail"), ("error", "error"), ("skipped", "skipped")):
        assert sum(c.find(child) is not None for c in cases) == counts[verdict]
    assert [s.get("name") for s in root.findall("testsuite")] == [
        "popularity_bias", "explanation_faithfulness"]
    assert md.read_text().splitlines()[0].endswith(": FAILED")
    # after the fact, from the saved JSON: the same files, and no HTML unless --out
    junit2, md2 = tmp_path / "again.xml", tmp_path / "again.md"
    assert main(["report", str(tmp_path / "out.json"), "--junit", str(junit2),
                 "--summary-md", str(md2)]) == 0
    assert junit2.read_text() == junit.read_text() and md2.read_text() == md.read_text()
    assert not list(tmp_path.rglob("*.tmp"))
    (tmp_path / "out.html").unlink()
    assert main(["report", str(tmp_path / "out.json"), "--junit", str(junit2)]) == 0
    assert not (tmp_path / "out.html").exists()


@pytest.mark.parametrize("flag", ["--junit", "--summary-md"])
def test_an_impossible_path_stops_before_the_audit(tmp_path, capsys, flag):
    spec = _spec(tmp_path)
    (tmp_path / "afile").write_text("x")
    for bad, needle in ((tmp_path, "is a folder"), (tmp_path / "afile" / "x", "is a file")):
        assert main(["audit", str(spec), "--no-progress", flag, str(bad)]) == 2
        line = one_error_line(capsys)
        assert line.startswith(f"recaudit: error: {flag} ") and needle in line, line
    assert not (tmp_path / "out.json").exists()  # nothing ran
    assert main(["report", str(tmp_path / "nothing.json"), flag, "x"]) == 2
    assert "cannot read audit report" in one_error_line(capsys)


def test_a_failed_write_after_the_audit_keeps_the_results(tmp_path, capsys, monkeypatch):
    import recaudit.report._output as output

    class FullDisk(type(Path())):  # the disk fills up after the JSON and HTML are written
        def write_text(self, *args, **kwargs):
            if self.name.startswith("junit.xml"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write_text(*args, **kwargs)

    monkeypatch.setattr(output, "Path", FullDisk)
    junit = tmp_path / "junit.xml"
    assert main(["audit", str(_spec(tmp_path)), "--no-progress", "--junit", str(junit)]) == 2
    line = one_error_line(capsys)
    assert "cannot write JUnit XML" in line and "No space left on device" in line
    assert f"the results are saved in {tmp_path / 'out.json'}" in line
    assert (tmp_path / "out.json").exists() and (tmp_path / "out.html").exists()
    assert not junit.exists()
