"""The runnable examples run (in a subprocess, as a user would run them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECAUDIT_CACHE_DIR": str(cwd / "cache")}  # the only busy process
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def test_custom_auditor_example(tmp_path):
    proc = _run("custom_auditor.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if "repeat_share" in x)
    assert line.split()[-1] == "fail"  # the forgetful model repeats the history


@pytest.mark.slow
def test_audit_from_python_example(tmp_path):
    proc = _run("audit_from_python.py", "--quick", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "r.html").exists() and (tmp_path / "r.json").exists()
    assert "popularity_bias" in proc.stdout
