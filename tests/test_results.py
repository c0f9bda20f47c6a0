import json
import math

import pandas as pd
import pytest

from recaudit.auditors import AuditContext, Auditor
from recaudit.results import AuditResult, Cost, Metric


def test_metric_beyond_threshold_follows_direction():
    bad_high = Metric("snsr", 0.2, threshold=0.1, higher_is_better=False)
    ok_high = Metric("snsr", 0.05, threshold=0.1, higher_is_better=False)
    bad_low = Metric("rbo", 0.3, threshold=0.5, higher_is_better=True)
    assert bad_high.beyond_threshold and not ok_high.beyond_threshold
    assert bad_low.beyond_threshold
    assert not Metric("x", 5.0).beyond_threshold  # no threshold: never beyond


def test_audit_result_json_round_trip():
    res = AuditResult(
        auditor="demo",
        metrics=[Metric("m", 0.5, scope="gender", ci_low=0.4, ci_high=0.6, p_value=0.01,
                        threshold=0.3, higher_is_better=False),
                 Metric("nan_metric", float("nan"))],
        tables={"t": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})},
        figures={"f": "<svg></svg>"},
        evidence=[{"user": "u1", "items": ("a", "b")}],
        notes=["hello"],
        cost=Cost(requests=10, unique=8, cache_hits=2, model_seconds=1.5, total_seconds=2.0),
    )
    blob = json.dumps(res.to_dict())
    back = AuditResult.from_dict(json.loads(blob))
    assert back.metric("m", "gender").ci_high == 0.6
    assert back.metric("m", "gender").auditor == "demo"
    assert math.isnan(back.metric("nan_metric").value)
    pd.testing.assert_frame_equal(back.tables["t"], res.tables["t"])
    assert back.evidence[0]["items"] == ["a", "b"]
    assert back.cost.model_share == pytest.approx(0.75)
    with pytest.raises(KeyError, match="has no metric"):
        back.metric("missing")


def test_cost_adds_up():
    c = Cost(requests=1, model_seconds=1.0)
    c += Cost(requests=2, cache_hits=1, model_seconds=0.5)
    assert (c.requests, c.cache_hits, c.model_seconds) == (3, 1, 1.5)


class _Thresholded(Auditor):
    default_thresholds = {"gap": 0.1, "gap@gender": 0.2}

    def __init__(self, k=10, thresholds=None):
        super().__init__(thresholds=thresholds)
        self.k = k


def test_auditor_thresholds_params_and_metric_builder():
    a = _Thresholded(k=5, thresholds={"gap@age": 0.05})
    assert a.get_params() == {"k": 5, "thresholds": {"gap@age": 0.05}}
    assert a.threshold_for("gap") == 0.1
    assert a.threshold_for("gap", "gender") == 0.2
    assert a.threshold_for("gap", "age") == 0.05
    assert a.threshold_for("other") is None
    m = a.metric("gap", 0.3, scope="gender", ci=(0.2, 0.4), p_value=0.01,
                 higher_is_better=False)
    assert (m.threshold, m.ci_low, m.ci_high) == (0.2, 0.2, 0.4)


def test_context_rng_is_reproducible_and_name_dependent():
    ctx = AuditContext(seed=7)
    a = ctx.rng("x", "y").random(3)
    assert (a == AuditContext(seed=7).rng("x", "y").random(3)).all()
    assert not (a == ctx.rng("x", "z").random(3)).all()
    assert not (a == AuditContext(seed=8).rng("x", "y").random(3)).all()
    assert ctx.subseed("s") == AuditContext(seed=7).subseed("s")
