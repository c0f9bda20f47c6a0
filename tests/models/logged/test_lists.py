"""``LoggedRecommender`` and the ``lists`` model kind: auditing top-K lists logged elsewhere.

A small synthetic world; a known zoo model's lists are written to a file, and auditing the
file must give the verdicts auditing the live model gives (the planted defect is found in the
log), say which requests the log does not answer, skip what a log cannot answer, and reject a
malformed file in one line naming the file, the row and the column (exit 2 on the CLI).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import recaudit as ra
from recaudit.cli import main
from recaudit.contract import Ranking
from recaudit.errors import DatasetError, MissingDependencyError, UnanswerableRequestError
from recaudit.models import LoggedRecommender
from recaudit.models._kinds import model_kind
from recaudit.models.logged import condition_label, parse_condition
from recaudit.spec import load_spec
from recaudit.testing.zoo import (
    GenderSensitive,
    PopularityNeutral,
    PopularityPusher,
    ProfileBlind,
)

from ...conftest import one_error_line

WORLD = {"kind": "synthetic", "n_users": 60, "n_items": 40, "seed": 0}
FAST = {"n_bootstrap": 100, "n_permutations": 200}
GENDER = [{}, {"gender": "female"}, {"gender": "male"}]
#: consumer_fairness on a log: whole-catalog lists, one attribute
CONSUMER = {"n_candidates": None, "k": 10, "attributes": ["gender"],
            "intersectional": False, "n_users": 30}


@pytest.fixture(scope="module")
def data():
    return ra.datasets.synthetic(n_users=60, n_items=40, seed=0)


def _log(model, data, profiles=({},), users=None, k=10) -> pd.DataFrame:
    """What a team would log: each user's top-k list, per stated profile."""
    rows = []
    for p in profiles:
        reqs = [data.request(u, profile=p) for u in (users or data.user_ids)]
        for r, ranking in zip(reqs, model.rank(reqs, k)):
            rows += [{"user_id": r.user_id, "rank": n + 1, "item_id": i,
                      "condition": condition_label(p) if p else ""}
                     for n, i in enumerate(ranking.items)]
    return pd.DataFrame(rows)


def _audit(model, data, auditors, seed=0, **config):
    return ra.audit(model, data, auditors, config={**FAST, **config}, seed=seed, cache=False,
                    progress=False)


def _spec(tmp_path: Path, auditors, **run) -> Path:
    spec = {"dataset": WORLD, "model": {"kind": "lists", "path": "logs.csv"},
            "auditors": auditors, "seed": 0, "run": {**FAST, "cache": False, **run},
            "output": {"json": str(tmp_path / "out.json"), "html": str(tmp_path / "out.html")}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


# ---------------------------------------------------------------------- planted defects
@pytest.mark.parametrize("seed", [0, 1])
def test_a_logged_popularity_pusher_gets_the_live_verdicts(data, seed):
    """The planted defect is found in the log as in the live model, with the same values;
    its popularity-neutral twin passes both ways."""
    verdicts = {}
    for cls in (PopularityPusher, PopularityNeutral):
        live = cls(data, seed=seed)
        logged = LoggedRecommender.from_frame(_log(live, data), data)
        a = _audit(live, data, ["popularity_bias"], seed=seed)
        b = _audit(logged, data, ["popularity_bias"], seed=seed)
        ma, mb = a.results[0].metrics, b.results[0].metrics
        assert [(m.name, m.scope, m.verdict) for m in ma] == [
            (m.name, m.scope, m.verdict) for m in mb]
        assert [m.value for m in ma] == pytest.approx([m.value for m in mb], nan_ok=True)
        verdicts[cls] = b.passed
        assert logged.unanswered == []
    assert verdicts == {PopularityPusher: False, PopularityNeutral: True}


def test_audit_spec_on_a_logged_file_through_the_cli(tmp_path, data, capsys):
    for cls, code in ((PopularityPusher, 1), (PopularityNeutral, 0)):
        _log(cls(data), data).to_csv(tmp_path / "logs.csv", index=False)
        path = _spec(tmp_path, ["popularity_bias"])
        assert main(["audit", str(path), "--no-progress"]) == code
        assert ("FAILED" if code else "PASSED") in capsys.readouterr().out
        report = json.loads((tmp_path / "out.json").read_text())
        model = report["metadata"]["model"]
        assert model["type"] == "LoggedRecommender" and model["capabilities"] == ["rank"]
        assert "logs.csv" in model["description"]


def test_counterfactual_consumer_fairness_runs_on_logged_conditions(data):
    """Lists logged per stated gender answer consumer_fairness's counterfactual requests:
    the gender-sensitive model fails as it does live, the profile-blind one passes."""
    live = GenderSensitive(data)
    logged = LoggedRecommender.from_frame(_log(live, data, GENDER), data)
    a = _audit(live, data, ["consumer_fairness"], consumer_fairness=CONSUMER)
    b = _audit(logged, data, ["consumer_fairness"], consumer_fairness=CONSUMER)
    got = b.results[0].metric("snsr_jaccard", "gender")
    assert got.value == pytest.approx(a.results[0].metric("snsr_jaccard", "gender").value)
    assert got.verdict == "fail" and logged.unanswered == []
    assert b.results[0].metric("utility_gap_ndcg", "gender") is not None

    blind = LoggedRecommender.from_frame(_log(ProfileBlind(data), data, GENDER), data)
    c = _audit(blind, data, ["consumer_fairness"], consumer_fairness=CONSUMER)
    assert c.results[0].metric("snsr_jaccard", "gender").value == 0.0
    assert c.passed


# ---------------------------------------------------------------------- unanswered requests
def test_unanswered_requests_are_counted_and_left_out(data, tmp_path):
    """A neutral-only log of 50 of the 60 users: nothing is filled in; each auditor says how
    many and which users it left out, and consumer_fairness runs group utility only."""
    logged = LoggedRecommender.from_frame(
        _log(ProfileBlind(data), data, users=list(data.user_ids[:50])), data)
    absent = set(data.user_ids[50:])
    cache = tmp_path / "cache.sqlite"
    for _ in range(2):  # the second run reads every answer from the cache
        report = ra.audit(logged, data, ["popularity_bias", "provider_fairness",
                                         "consumer_fairness"],
                          config={**FAST, "provider_fairness": {"n_candidates": None},
                                  "consumer_fairness": CONSUMER},
                          cache=cache, progress=False)
        pop, prov, cons = report.results
        assert [r.status for r in report.results] == ["ok"] * 3
        assert any(n.startswith("10 of 60 users were left out") for n in pop.notes)
        assert any(n.startswith("10 of 60 users were left out") for n in prov.notes)
        left = next(n for n in cons.notes if "were left out" in n)
        assert set(left.split(": ")[-1].split(", ")) <= absent
        assert any(n.startswith("gender: counterfactual part skipped") for n in cons.notes)
        assert not [m for m in cons.metrics if m.name.startswith("snsr")]
        assert cons.metric("utility_gap_ndcg", "gender") is not None
    assert {u for u, c in logged.unanswered if c == "neutral"} == absent
    assert {c for _, c in logged.unanswered} == {"neutral", "gender=female", "gender=male"}
    assert len(logged.unanswered) == len(set(logged.unanswered))


def test_too_few_answered_users_skips_with_the_reason(data):
    logged = LoggedRecommender.from_frame(_log(ProfileBlind(data), data, users=["u0000"]),
                                          data)
    res = _audit(logged, data, ["popularity_bias"]).results[0]
    assert res.status == "skipped"
    assert "answered for 1 of 60 users" in res.reason


def test_what_a_log_cannot_answer_is_skipped_with_the_reason(data):
    logged = LoggedRecommender.from_frame(_log(ProfileBlind(data), data), data)
    report = _audit(logged, data, ["position_bias", "membership_inference",
                                   "explanation_faithfulness"])
    assert [r.status for r in report.results] == ["skipped"] * 3
    pos, mem, expl = (r.reason for r in report.results)
    assert "cannot rank" in pos and "given candidates" in pos
    assert "another history" in mem
    assert expl.startswith("needs explain")


def test_rank_answers_only_what_the_log_holds(data):
    log = pd.DataFrame({"user_id": ["u0000"] * 3 + ["u0001"] * 2,
                        "rank": [1, 2, 3, 1, 1],
                        "item_id": ["i0003", "i0007", "i0001", "i0009", "i0002"],
                        "condition": ["", "", "neutral", "gender=male", " gender = female "]})
    model = LoggedRecommender.from_frame(log, data)
    assert model.capabilities == frozenset({"rank"})
    u0, u1 = data.request("u0000"), data.request("u0001")
    got = model.rank([u0, u1, u1.replace(profile={"gender": "female"}), u0], 2)
    assert [r.items for r in got] == [("i0003", "i0007"), (), ("i0002",), ("i0003", "i0007")]
    assert [r.answered for r in got] == [True, False, True, True]
    assert model.unanswered == [("u0001", "neutral")]
    # the most recent part of the user's own history asks the same question
    assert model.rank([data.request("u0000", max_history=3)], 5)[0].items == (
        "i0003", "i0007", "i0001")
    for bad, needle in ((u0.replace(candidates=("i0003", "i0001")), "given candidates"),
                        (u0.replace(item_text={"i0003": "x"}), "changed item titles"),
                        (u0.replace(prompt_extra="hello"), "add text to the prompt"),
                        (u0.replace(history=u0.history[:-1]), "another history"),
                        (u0.replace(history=()), "another history")):
        with pytest.raises(UnanswerableRequestError, match=needle):
            model.rank([u1, bad], 3)
    assert model.unanswered == [("u0001", "neutral")]  # a refused batch records nothing


def test_unanswered_ranking_survives_the_cache_codec():
    r = Ranking((), answered=False)
    assert r.to_dict()["answered"] is False and Ranking.from_dict(r.to_dict()) == r
    assert "answered" not in Ranking(("a",)).to_dict()
    with pytest.raises(ValueError, match="lists no item"):
        Ranking(("a",), answered=False)


def test_conditions_are_read_and_written_alike():
    assert parse_condition("gender=female;age_group=young") == parse_condition(
        "age_group=young ; gender=female")
    assert condition_label(parse_condition("gender=female;age_group=young")) == (
        "age_group=young;gender=female")
    assert parse_condition("") == parse_condition("Neutral") == ()
    with pytest.raises(ValueError, match="stated twice"):
        parse_condition("gender=female;gender=male")


def test_csv_and_frame_give_one_fingerprint(data, tmp_path):
    df = _log(PopularityNeutral(data), data, GENDER)
    df.to_csv(tmp_path / "logs.csv", index=False)
    df.to_csv(tmp_path / "logs.tsv", index=False, sep="\t")
    a = LoggedRecommender.from_frame(df, data)
    b = LoggedRecommender.from_file(tmp_path / "logs.csv", data)
    c = LoggedRecommender.from_file(tmp_path / "logs.tsv", data)
    assert a.fingerprint() == b.fingerprint() == c.fingerprint()
    assert a.lists("gender=female") == b.lists({"gender": "female"})
    other = LoggedRecommender.from_frame(df.iloc[:-1], data)
    assert other.fingerprint() != a.fingerprint()
    assert "lists=180" in repr(b) and "gender=female" in repr(b)


# ---------------------------------------------------------------------- the model kind
def test_lists_kind_resolves_its_path_next_to_the_spec(data, tmp_path):
    assert model_kind("lists").keys() == ["kind", "path"]
    with pytest.raises(ra.SpecError, match=r"model\.path: required for kind 'lists'"):
        load_spec({"dataset": WORLD, "model": {"kind": "lists"}})
    _log(PopularityNeutral(data), data).to_csv(tmp_path / "logs.csv", index=False)
    spec = load_spec(_spec(tmp_path, ["popularity_bias"]))
    from recaudit import runner

    model = runner.build_model(spec, runner.build_dataset(spec))
    assert isinstance(model, LoggedRecommender) and model.name == str(tmp_path / "logs.csv")


# ---------------------------------------------------------------------- bad files
GOOD = "user_id,rank,item_id,condition\nu0000,1,i0001,\nu0000,2,i0002,\n"

BAD = [  # (csv text, column, data row or None)
    ("user_id,item_id\nu0000,i0001\n", "rank", None),
    (GOOD + "u0001,two,i0003,\n", "rank", 3),
    (GOOD + "u0001,1.5,i0003,\n", "rank", 3),
    (GOOD + "u0001,0,i0003,\n", "rank", 3),
    (GOOD + "u0000,2,i0005,\n", "rank", 3),  # rank 2 of u0000 twice
    (GOOD + "u0001,1,i0003,\nu0001,3,i0004,\n", "rank", 4),  # rank 2 missing
    (GOOD + "u0001,1,i9999,\n", "item_id", 3),
    (GOOD + "u0000,3,i0001,\n", "item_id", 3),  # an item twice in one list
    (GOOD + ",1,i0003,\n", "user_id", 3),
    (GOOD + "u0001,1,i0003,female\n", "condition", 3),
    ("user_id,rank,item_id\nx1,1,i0001\n", "user_id", None),  # no dataset user
]


@pytest.mark.parametrize("text, column, row", BAD)
def test_a_bad_file_is_one_line_naming_file_row_and_column(tmp_path, data, capsys, text,
                                                           column, row):
    path = tmp_path / "logs.csv"
    path.write_text(text)
    with pytest.raises(DatasetError) as err:
        LoggedRecommender.from_file(path, data)
    msg = str(err.value)
    assert len(msg.splitlines()) == 1 and str(path) in msg
    assert err.value.column == column and f"column '{column}'" in msg
    if row is not None:
        assert err.value.rows == [row] and f"rows [{row}]" in msg
        assert f"line {row + 1} of the file" in msg
    assert main(["audit", str(_spec(tmp_path, ["popularity_bias"])), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("recaudit: error:") and f"column '{column}'" in line


def test_blank_lines_keep_line_numbers(tmp_path, data):
    path = tmp_path / "logs.csv"
    path.write_text("user_id,rank,item_id\nu0000,1,i0001\n\nu0000,x,i0002\n")
    with pytest.raises(DatasetError, match=r"rows \[2\].*line 4 of the file"):
        LoggedRecommender.from_file(path, data)


def test_frame_errors_name_the_row(data):
    df = pd.DataFrame({"user_id": ["u0000", "u0000"], "rank": [1, 1],
                       "item_id": ["i0001", "i0002"]})
    with pytest.raises(DatasetError, match=r"table 'data frame', column 'rank', rows \[2\]: "
                                           r"rank 1 appears twice .*first in row 1$"):
        LoggedRecommender.from_frame(df, data)


def test_missing_file_and_unknown_format_exit_2(tmp_path, data, capsys):
    path = _spec(tmp_path, ["popularity_bias"])
    assert main(["audit", str(path), "--no-progress"]) == 2
    assert "logs.csv' not found" in one_error_line(capsys)
    (tmp_path / "logs.json").write_text("{}")
    with pytest.raises(DatasetError, match="give a .csv, .tsv or .parquet file"):
        LoggedRecommender.from_file(tmp_path / "logs.json", data)


def test_parquet_needs_pyarrow(tmp_path, data, capsys):
    df = _log(PopularityNeutral(data), data)
    path = tmp_path / "logs.parquet"
    if importlib.util.find_spec("pyarrow") is not None:
        df.to_parquet(path)
        model = LoggedRecommender.from_file(path, data)
        assert model.fingerprint() == LoggedRecommender.from_frame(df, data).fingerprint()
        return
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(MissingDependencyError, match="needs pyarrow.*pip install pyarrow"):
        LoggedRecommender.from_file(path, data)
    spec = _spec(tmp_path, ["popularity_bias"])
    spec.write_text(spec.read_text().replace("logs.csv", "logs.parquet"))
    assert main(["audit", str(spec), "--no-progress"]) == 2
    assert "pip install pyarrow" in one_error_line(capsys)


@pytest.mark.parametrize("text, needle", [
    ("", "not a readable .csv file"),
    ("user_id,rank,item_id\n", "the log holds no row"),
    ("user_id,rank,item_id\nu0000,1,i0001,x\n", "line 2 has more fields than the header"),
    ("user_id,rank,item_id\nu0000,1,i0001\nu0000,2,i0002,x\n", "Expected 3 fields in line 3"),
])
def test_an_unreadable_csv_is_one_line(tmp_path, data, text, needle):
    path = tmp_path / "logs.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=needle) as err:
        LoggedRecommender.from_file(path, data)
    assert str(path) in str(err.value) and len(str(err.value).splitlines()) == 1
