"""recaudit.tracking: audits logged to a real local MLflow store (sqlite, MLflow 3's default
backend; its file store is refused by default) and read back with ``mlflow.search_runs`` and
``MlflowClient``. No mock of MLflow: the one missing-package test hides the module."""

from __future__ import annotations

import json
import math
import sys

import mlflow
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, _validate_metric_name

import recaudit as ra
from recaudit.cli import main
from recaudit.errors import MissingDependencyError, SpecError, TrackingError
from recaudit.results import VERDICTS, AuditResult, Metric
from recaudit.testing.zoo import PopularityPusher
from recaudit.tracking import _redact, log_report, metric_key, parse_log_to, report_metrics

CONFIG = {"n_bootstrap": 50, "n_permutations": 50, "popularity_bias": {"n_users": 60}}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="module")
def store(root):
    """One sqlite store for the module (creating one runs MLflow's migrations: seconds)."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # a sqlite store puts artifacts in ./mlruns
        MlflowClient(tracking_uri=uri).search_experiments()
    return uri


@pytest.fixture(autouse=True)
def _in_store(store, root, monkeypatch):
    """MLflow's default URI is the test store; new experiments keep artifacts under root."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # MLflow 3's default
    monkeypatch.chdir(root)


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=150, n_items=80, seed=0)


def _audit(world, **kwargs):
    return ra.audit(PopularityPusher(world, seed=0), world, ["popularity_bias"], config=CONFIG,
                    progress=False, cache=False, **kwargs)


@pytest.fixture(scope="module")
def logged(world, store, root):
    """A small zoo audit logged to a new run in experiment 'api'."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        out = root / "api.json"
        report = _audit(world, out_json=out, log_to={
            "kind": "mlflow", "tracking_uri": store, "experiment": "api", "run_name": "zoo"})
    return report, out


def _only_run(experiment: str):
    runs = mlflow.search_runs(experiment_names=[experiment])
    assert len(runs) == 1, runs
    return runs.iloc[0]


def _check_metrics(report, logged_metrics):
    """Every check's value and CI bounds, and the verdict counts, as logged."""
    for m in report.metrics:
        key = metric_key(m.auditor, m.name, m.scope)
        for suffix, value in (("", m.value), (".ci_low", m.ci_low), (".ci_high", m.ci_high)):
            assert value is not None and not math.isnan(value), (key, suffix)
            assert logged_metrics[key + suffix] == pytest.approx(value, rel=1e-9, abs=1e-12)
    for v in VERDICTS:
        assert logged_metrics[f"verdicts.{v}"] == report.counts()[v]
    assert logged_metrics["audit.passed"] == float(report.passed)


# ====================================================================== names (no store)
def test_metric_names_follow_the_documented_rule():
    assert metric_key("popularity_bias", "popularity_lift", "gender=female") == \
        "popularity_bias/popularity_lift.gender_female"
    assert metric_key("popularity_bias", "arp", "all") == "popularity_bias/arp"
    assert metric_key("position_bias", "ndcg_at_pos", "pos=0") == "position_bias/ndcg_at_pos.pos_0"
    assert metric_key("a", "m", "x/y z:ü") == "a/m.x_y_z__"
    assert metric_key("a", "m", "..") == "a/m.__"
    long = metric_key("a", "m", "s" * 400)
    assert len(long) == 242 and long == metric_key("a", "m", "s" * 400)  # deterministic
    for scope in ("gender=F", "", ".", "..", "../x", "/x", "a//b", "ü", "x" * 400, " : "):
        key = metric_key("aud", "metric", scope)
        for name in (key, key + ".ci_low", key + ".ci_high"):
            _validate_metric_name(name)  # MLflow's own check: raises on a bad name


def test_credentials_stay_out_of_reports():
    assert _redact("https://me:secret@mlflow.example.org:5000/x") == \
        "https://mlflow.example.org:5000/x"
    assert _redact("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"


def _handmade(scopes, like=None):
    """A report of one auditor 'aud' with metric 'm' in each scope (``like``'s metadata)."""
    metrics = [Metric("m", float(i), scope=s, ci_low=i - 0.5, ci_high=i + 0.5)
               for i, s in enumerate(scopes)]
    meta = {"seed": 0, "auditors": ["aud"]}
    if like is not None:
        meta = {k: v for k, v in like.to_dict()["metadata"].items() if k != "mlflow"}
    return ra.AuditReport(results=[AuditResult(auditor="aud", metrics=metrics)],
                          metadata=meta, title="handmade")


def test_colliding_names_get_numbered_in_report_order():
    metrics, names = report_metrics(_handmade(["gender=F", "gender_F", "gender F"]))
    assert [metrics[k] for k in ("aud/m.gender_F", "aud/m.gender_F-2", "aud/m.gender_F-3")] \
        == [0.0, 1.0, 2.0]
    assert names["aud/m.gender_F-2.ci_high"] == {"auditor": "aud", "metric": "m",
                                                 "scope": "gender_F", "field": "ci_high"}


def test_log_to_is_checked():
    assert parse_log_to(None) is None
    assert parse_log_to("mlflow").tracking_uri is None
    with pytest.raises(SpecError, match="Did you mean 'mlflow'"):
        parse_log_to("mlflw")
    with pytest.raises(SpecError, match=r"unknown key 'experimant'\. Did you mean 'experiment'"):
        parse_log_to({"kind": "mlflow", "experimant": "x"})
    with pytest.raises(SpecError, match="log_to.run_name: expected a string"):
        parse_log_to({"run_name": 3})


# ====================================================================== the store
def test_audit_is_logged_to_a_new_run(logged, store):
    report, out = logged
    row = _only_run("api")
    assert row["status"] == "FINISHED" and row["tags.mlflow.runName"] == "zoo"
    assert row["run_id"] == report.metadata["mlflow"]["run_id"]
    assert row["tags.recaudit.passed"] == str(report.passed).lower()
    run = MlflowClient(tracking_uri=store).get_run(row["run_id"])
    _check_metrics(report, run.data.metrics)
    assert run.data.metrics == pytest.approx(report_metrics(report)[0])  # nothing else
    assert row["metrics.popularity_bias/popularity_lift.gender_female.ci_low"] == \
        pytest.approx(report["popularity_bias"].metric("popularity_lift", "gender=female").ci_low)
    params = run.data.params
    meta = report.metadata
    assert params["audit.seed"] == "0" and params["audit.auditors"] == "popularity_bias"
    assert params["audit.n_bootstrap"] == "50" and params["audit.alpha"] == "0.05"
    assert params["popularity_bias.n_users"] == "60" and params["popularity_bias.k"] == "10"
    assert params["model.fingerprint"] == meta["model"]["fingerprint"]
    assert params["model.type"] == "PopularityPusher"
    assert params["model.description"] == meta["model"]["description"]
    assert params["dataset.fingerprint"] == meta["dataset"]["fingerprint"]
    assert params["dataset.name"] == meta["dataset"]["name"]


def test_reports_are_artifacts(logged, store):
    report, out = logged
    client = MlflowClient(tracking_uri=store)
    run_id = report.metadata["mlflow"]["run_id"]
    listed = {a.path for a in client.list_artifacts(run_id, "recaudit")}
    assert listed == {"recaudit/report.json", "recaudit/report.html",
                      "recaudit/metric_names.json"}
    folder = client.download_artifacts(run_id, "recaudit", dst_path=str(out.parent / "dl"))
    copy = ra.AuditReport.from_json(f"{folder}/report.json")
    assert copy.metadata["mlflow"]["run_id"] == run_id
    assert copy.summary()["value"].tolist() == pytest.approx(report.summary()["value"].tolist())
    assert "popularity_lift" in open(f"{folder}/report.html", encoding="utf-8").read()
    names = json.loads(open(f"{folder}/metric_names.json", encoding="utf-8").read())
    assert names["popularity_bias/popularity_lift.gender_female"]["scope"] == "gender=female"
    # the JSON on disk names the run too
    assert ra.AuditReport.from_json(out).metadata["mlflow"]["run_id"] == run_id


def test_active_run_receives_the_audit(world, store):
    experiment = MlflowClient(tracking_uri=store).create_experiment("active")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_param("trained_by", "me")
        report = _audit(world, log_to="mlflow")
        assert mlflow.active_run().info.run_id == run.info.run_id  # left open
    assert report.metadata["mlflow"]["run_id"] == run.info.run_id
    got = MlflowClient(tracking_uri=store).get_run(run.info.run_id)
    assert got.data.params["trained_by"] == "me" and got.data.params["audit.seed"] == "0"
    _check_metrics(report, got.data.metrics)


def test_odd_names_long_params_and_collisions_reach_the_store(store, logged):
    report = _handmade(["gender=F", "gender_F", "..", "a/b", "ü", "s" * 300], like=logged[0])
    report.metadata["model"]["description"] = "d" * (MAX_PARAM_VAL_LENGTH + 500)
    run_id = log_report(report, {"experiment": "odd"})
    run = MlflowClient(tracking_uri=store).get_run(run_id)
    assert run.data.metrics == pytest.approx(report_metrics(report)[0])
    assert len([k for k in run.data.metrics if k.startswith("aud/")]) == 18
    description = run.data.params["model.description"]
    assert len(description) == MAX_PARAM_VAL_LENGTH and description.endswith("...")


# ====================================================================== the command line
def _spec(tmp_path, **output):
    spec = {"dataset": {"kind": "synthetic", "n_users": 60, "n_items": 40, "seed": 0},
            "model": {"kind": "random", "seed": 0}, "auditors": ["popularity_bias"], "seed": 0,
            "title": "cli audit",
            "run": {"n_bootstrap": 100, "cache": str(tmp_path / "cache.sqlite")},
            "output": {"html": str(tmp_path / "out.html"), "json": str(tmp_path / "out.json")}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


def test_cli_mlflow_flags_log_the_audit(tmp_path, store, capsys):
    code = main(["audit", str(_spec(tmp_path)), "--no-progress", "--mlflow-uri", store,
                 "--mlflow-experiment", "cli"])
    assert code == 0
    assert "logged to MLflow run" in capsys.readouterr().out
    row = _only_run("cli")
    assert row["status"] == "FINISHED" and row["tags.mlflow.runName"] == "cli audit"
    report = ra.AuditReport.from_json(tmp_path / "out.json")
    assert report.metadata["mlflow"]["run_id"] == row["run_id"]
    _check_metrics(report, MlflowClient(tracking_uri=store).get_run(row["run_id"]).data.metrics)
    assert row["params.audit.seed"] == "0" and row["params.audit.n_bootstrap"] == "100"


@pytest.mark.parametrize("uri, needle", [
    ("foo://bar", "MLflow tracking URI 'foo://bar' is not usable"),
    ("file://{tmp}/mlruns", "MLFLOW_ALLOW_FILE_STORE"),  # the file store, refused
])
def test_cli_unusable_uri_exits_2_before_the_audit(tmp_path, capsys, uri, needle):
    uri = uri.format(tmp=tmp_path)
    assert main(["audit", str(_spec(tmp_path)), "--no-progress", "--mlflow-uri", uri]) == 2
    line = _error_line(capsys)
    assert line.startswith("recaudit: error: ") and needle in line
    assert not (tmp_path / "out.json").exists()  # refused before the audit


def test_failed_logging_keeps_the_reports(tmp_path, store, capsys, world):
    """A real failure after the audit: the experiment's artifact folder lies under a file."""
    (tmp_path / "blocker").write_text("a file, not a folder")
    MlflowClient(tracking_uri=store).create_experiment(
        "broken", artifact_location=str(tmp_path / "blocker" / "artifacts"))
    assert main(["audit", str(_spec(tmp_path)), "--no-progress", "--mlflow-experiment",
                 "broken"]) == 2
    line = _error_line(capsys)
    assert line.startswith("recaudit: error: logging the audit to MLflow at") and \
        "the report stays in" in line
    assert (tmp_path / "out.html").exists()
    saved = ra.AuditReport.from_json(tmp_path / "out.json")
    assert saved.complete and "mlflow" not in saved.metadata
    assert _only_run("broken")["status"] == "FAILED"
    # the Python API: the error carries the finished report
    with pytest.raises(TrackingError, match="the report stays in") as info:
        _audit(world, out_json=tmp_path / "api.json",
               log_to={"kind": "mlflow", "experiment": "broken"})
    assert info.value.report.complete and (tmp_path / "api.json").exists()


def test_missing_mlflow_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'recaudit\[mlflow\]'"):
        ra.audit(None, None, log_to="mlflow")  # before the audit looks at model or data
    assert main(["audit", str(_spec(tmp_path)), "--no-progress", "--mlflow"]) == 2
    assert "pip install 'recaudit[mlflow]'" in _error_line(capsys)
    assert not (tmp_path / "out.json").exists()
