"""examples/paradigm_study.py runs end to end (quick mode, in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_paradigm_study_example_quick(tmp_path):
    env = {**os.environ, "RECAUDIT_CACHE_DIR": str(tmp_path / "cache")}  # the only busy process
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "paradigm_study.py"),
                           "--quick", "--no-progress", "--seeds", "0",
                           "--out", str(tmp_path / "study")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "study.json").read_text())
    assert result["labels"] == ["fine_tuned_lm", "pretrained_fine_tuned_lm",
                                "zero_shot_minilm", "prompt_tuning", "zero_shot_lm",
                                "few_shot_lm", "lora", "prompt_lm_tuning",
                                "instruction_tuning", "most_popular", "item_knn", "sasrec"]
    rows = [r for r in result["table"] if r["metric"] == "auc" and r["scope"] == "loss"]
    skipped = {r["model"] for r in rows if r["verdict"] == "skipped"}
    assert skipped == {"most_popular", "item_knn", "sasrec"}  # no nll: the loss attack skips
    assert "significant pairwise differences" in proc.stdout
    assert (tmp_path / "study.html").exists() and (tmp_path / "study.csv").exists()
