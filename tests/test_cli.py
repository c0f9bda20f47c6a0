"""The ``recaudit`` command: exit codes 0/1/2, one-line errors, specs, reports, list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recaudit import runner
from recaudit.cli import main
from recaudit.spec import load_spec

from .conftest import one_error_line

ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path, model, **extra) -> Path:
    spec = {"dataset": {"kind": "synthetic", "n_users": 60, "n_items": 40, "seed": 0},
            "model": model, "auditors": ["popularity_bias"], "seed": 0,
            "run": {"n_bootstrap": 100, "cache": str(tmp_path / "cache.sqlite")},
            "output": {"html": str(tmp_path / "out.html"), "json": str(tmp_path / "out.json")}}
    spec.update(extra)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_audit_passes_exit_0(tmp_path, capsys):
    path = _spec(tmp_path, {"kind": "random", "seed": 0})
    assert main(["audit", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "popularity_lift" in out
    assert (tmp_path / "out.html").exists()
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["passed"] is True and data["metadata"]["spec"]["model"]["kind"] == "random"


def test_audit_fails_exit_1_then_report(tmp_path, capsys):
    path = _spec(tmp_path, {"kind": "most_popular"})
    assert main(["audit", str(path), "--no-progress", "--out", str(tmp_path / "x.html")]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert (tmp_path / "x.html").exists() and (tmp_path / "out.json").exists()
    assert main(["report", str(tmp_path / "out.json"), "--out", str(tmp_path / "r.html")]) == 0
    assert "aplt_ratio" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("edit, needle", [
    ({"modle": {"kind": "random"}}, "unknown key 'modle'. Did you mean 'model'?"),
    ({"model": {"kind": "tiny_lm", "epoch": 2}}, "unknown key 'model.epoch'. Did you mean "
                                                 "'epochs'?"),
    ({"auditors": ["popularity_bais"]}, "unknown auditor 'popularity_bais'. Did you mean "
                                        "'popularity_bias'?"),
    ({"auditors": [{"name": "popularity_bias", "params": {"kk": 3}}]},
     "unknown key 'auditors[0].params.kk'"),
    ({"run": {"alpha": 3}}, "run.alpha: must be <= 1.0"),
    ({"dataset": {"kind": "movielens_100k", "path": "nowhere"}}, "nowhere"),
    ({"dataset": {"kind": "synthetic", "n_items": 5}}, "dataset (synthetic): n_items=5"),
])
def test_input_errors_exit_2(tmp_path, capsys, edit, needle):
    path = _spec(tmp_path, {"kind": "random"})
    spec = yaml.safe_load(path.read_text())
    spec.update(edit)
    path.write_text(yaml.safe_dump(spec))
    assert main(["audit", str(path), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("recaudit: error:") and needle in line, line


@pytest.mark.parametrize("thresholds, needle", [
    ({"popularity_lfit": 1.2}, "auditors[0].thresholds: auditor 'popularity_bias' has no "
                               "metric 'popularity_lfit' (threshold 'popularity_lfit'). Did "
                               "you mean 'popularity_lift'?"),
    ({"arp@gender": float("nan")}, "threshold 'arp@gender' must be finite"),
])
def test_bad_threshold_exits_2_before_building_anything(tmp_path, capsys, monkeypatch,
                                                        thresholds, needle):
    def never(*args, **kwargs):
        raise AssertionError("the spec's thresholds must be checked before building")

    monkeypatch.setattr(runner, "build_dataset", never)
    monkeypatch.setattr(runner, "build_model", never)
    path = _spec(tmp_path, {"kind": "random"},
                 auditors=[{"name": "popularity_bias", "thresholds": thresholds}])
    assert main(["audit", str(path), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("recaudit: error:") and needle in line, line
    assert not (tmp_path / "out.json").exists()


def test_bad_files_and_usage_exit_2(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read spec" in one_error_line(capsys)
    (tmp_path / "bad.yaml").write_text("dataset: [unclosed\n")
    assert main(["audit", str(tmp_path / "bad.yaml")]) == 2
    assert "not valid YAML at line" in one_error_line(capsys)
    (tmp_path / "bad.json").write_text("{}")
    assert main(["report", str(tmp_path / "bad.json")]) == 2
    assert "not a recaudit audit report" in one_error_line(capsys)
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in one_error_line(capsys)
    assert main([]) == 2
    one_error_line(capsys)


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["auditor", "family", "requires"]
    assert any(line.split()[:3] == ["popularity_bias", "bias", "rank"]
               for line in out.splitlines())


def test_quickstart_spec_is_valid():
    spec = load_spec(ROOT / "audits" / "quickstart.yaml")
    assert spec.model["kind"] == "tiny_lm" and spec.dataset["kind"] == "synthetic"
    assert spec.output["html"].endswith(".html")


def test_console_script_entry_point(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "recaudit.cli", "audit",
                           str(tmp_path / "nope.yaml")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("recaudit: error: cannot read spec")


def test_demo_rejects_unknown_auditor_before_training(capsys):
    assert main(["demo", "--quick", "--auditors", "popularity_bais"]) == 2
    assert "Did you mean 'popularity_bias'" in one_error_line(capsys)


@pytest.mark.slow
def test_demo_quick(tmp_path, capsys):
    out = tmp_path / "demo.html"
    assert main(["demo", "--quick", "--no-progress", "--out", str(out),
                 "--auditors", "popularity_bias", "provider_fairness"]) == 0
    assert out.exists() and (tmp_path / "demo.json").exists()
    printed = capsys.readouterr().out
    assert "popularity_bias" in printed and ("PASSED" in printed or "FAILED" in printed)


def test_spec_builds_what_it_names(tmp_path):
    spec = load_spec({"dataset": {"kind": "synthetic", "n_users": 30, "n_items": 30, "seed": 4,
                                  "effects": {"popularity": 0, "gender": 0, "age": 0,
                                              "provider": 0}},
                      "model": {"kind": "random", "seed": 3},
                      "auditors": [{"name": "popularity_bias", "params": {"k": 5},
                                    "thresholds": {"popularity_lift": 2}}]})
    data = runner.build_dataset(spec)
    assert len(data.user_ids) == 30
    model = runner.build_model(spec, data)
    assert type(model).__name__ == "RandomRecommender" and model.seed == 3
    assert spec.auditors == [{"name": "popularity_bias", "params": {"k": 5},
                              "thresholds": {"popularity_lift": 2.0}}]
    # data paths are relative to the spec file
    (tmp_path / "specs").mkdir()
    path = tmp_path / "specs" / "ml.yaml"
    path.write_text("dataset: {kind: movielens_100k, path: ml-100k}\nmodel: {kind: random}\n")
    ml = load_spec(path)
    assert ml.resolve_path(ml.dataset["path"]) == tmp_path / "specs" / "ml-100k"


def test_ablate_spec(tmp_path, capsys):
    path = _spec(tmp_path, {"kind": "random", "seed": 0},
                 ablation={"mitigations": {"none": None, "id": "identity"}, "seeds": [0],
                           "utility_users": 20})
    assert main(["ablate", str(path), "--no-progress", "--out", str(tmp_path / "ab.html")]) == 0
    assert "popularity_lift" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "ab.csv")
    assert set(table["mitigation"]) == {"none", "id"} and (tmp_path / "ab.html").exists()
    from recaudit.ablation import AblationResult

    back = AblationResult.from_json(tmp_path / "out.json")  # the spec's output.json
    assert set(back.labels) == {"none", "id"} and len(back.table) == len(table)
    spec = yaml.safe_load(path.read_text())
    spec["ablation"]["mitigations"]["x"] = {"name": "reweigthing"}
    path.write_text(yaml.safe_dump(spec))
    assert main(["ablate", str(path)]) == 2
    assert "Did you mean 'reweighting'?" in one_error_line(capsys)
