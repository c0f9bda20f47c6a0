"""ChatRecommender against a real OpenAI-compatible server on loopback (``ChatServer``).

The server answers from a cheap zoo model, so every ranking that comes back over HTTP can be
checked against what the served model gives directly. Failure injection (HTTP 500/429,
garbage bodies, delays) exercises the client's retries, errors and timeouts. Request counts
are bounded; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import socket

import pytest

import recaudit as ra
from recaudit.models.api._chat import ChatRecommender, EndpointError
from recaudit.models.prompts._chat_templates import DEFAULT, chat_template
from recaudit.serve import ChatServer
from recaudit.testing.zoo import ScoringModel
from recaudit.testing.zoo.position import EarlyCandidateRanker

#: Shows every history item, so the served model sees exactly the request's history.
FULL = dataclasses.replace(DEFAULT, max_history=1000)


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=60, n_items=50, seed=3)


def _chat(server, data, **kw):
    kw = {"template": FULL, "backoff": 0.001, "max_backoff": 0.01, "timeout": 10.0, **kw}
    return ChatRecommender(server.base_url, "recaudit", data, **kw)


def _requests(data, n=12, candidates=False, profile=False):
    out = []
    for n_, u in enumerate(data.user_ids[:n]):
        prof = {"gender": data.user_attributes(u)["gender"]} if profile and n_ % 2 else None
        cands = list(data.item_ids[n_:n_ + 15]) if candidates else None
        out.append(data.request(u, profile=prof, candidates=cands))
    return out


@pytest.mark.parametrize("template", [FULL, dataclasses.replace(chat_template("fairllm"),
                                                                   max_history=1000),
                                      dataclasses.replace(chat_template("llmrank"),
                                                          max_history=1000)])
def test_rankings_equal_the_served_models(world, template):
    model = EarlyCandidateRanker(world, seed=1)
    reqs = (_requests(world, 8, profile=True) + _requests(world, 8, candidates=True))
    with ChatServer(model, world) as server:
        got = _chat(server, world, template=template).rank(reqs, 10)
        assert server.answered == len(reqs)
    want = model.rank(reqs, 10)
    assert [g.items for g in got] == [w.items for w in want]
    assert all(g.hallucinated == 0 and g.raw.startswith("1. ") for g in got)
    assert all(len(g.items) == 10 for g in got)


def test_sampling_settings_and_messages_reach_the_server(world):
    with ChatServer(ScoringModel(world), world) as server:
        chat = _chat(server, world, temperature=0.3, seed=7, max_tokens=256)
        chat.rank(_requests(world, 1), 5)
        body = server.last_body
    assert body["model"] == "recaudit"
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.3, 7, 256)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "list of 5 movie titles" in body["messages"][1]["content"]


def test_retries_survive_a_30_percent_failure_rate(world):
    model = ScoringModel(world)
    reqs = _requests(world, 30)
    with ChatServer(model, world, fail_rate=0.3, garbage_rate=0.05, seed=0) as server:
        chat = _chat(server, world, max_retries=8, concurrency=4)
        got = chat.rank(reqs, 5)
        failed = server.chat_requests - server.answered
        assert server.answered == len(reqs)
        assert failed >= 5  # failures did happen (about 35% of attempts)
        assert chat.http_requests == server.chat_requests
    assert [g.items for g in got] == [w.items for w in model.rank(reqs, 5)]


def test_garbage_answers_give_a_clear_error_after_retries(world):
    with ChatServer(ScoringModel(world), world, garbage_rate=1.0, seed=1) as server:
        chat = _chat(server, world, max_retries=2)
        with pytest.raises(EndpointError) as err:
            chat.rank(_requests(world, 1), 5)
        assert server.chat_requests == 3
    msg = str(err.value)
    assert server.base_url in msg and "gave up after 3 attempt(s)" in msg
    assert "non-JSON" in msg or "without 'choices'" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("kind, expected", [("garbage-html", "non-JSON answer"),
                                            ("garbage-json", "without 'choices'")])
def test_each_kind_of_garbage_is_named(world, monkeypatch, kind, expected):
    with ChatServer(ScoringModel(world), world) as server:
        monkeypatch.setattr(server, "draw", lambda: kind)
        with pytest.raises(EndpointError, match=expected):
            _chat(server, world, max_retries=0).rank(_requests(world, 1), 5)


def test_slow_server_hits_the_timeout(world):
    with ChatServer(ScoringModel(world), world, delay=1.5) as server:
        chat = _chat(server, world, timeout=0.2, max_retries=1)
        with pytest.raises(EndpointError, match=r"timeout.*2 attempt"):
            chat.rank(_requests(world, 1), 5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_names_the_url(world):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    chat = ChatRecommender(url, "m", world, max_retries=1, backoff=0.001)
    with pytest.raises(EndpointError) as err:
        chat.rank(_requests(world, 1), 5)
    assert url in str(err.value) and "cannot connect" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(EndpointError, match="cannot reach the chat endpoint " + url):
        chat.check()


def test_client_errors_are_not_retried(world):
    with ChatServer(ScoringModel(world), world) as server:
        chat = ChatRecommender(server.base_url.replace("/v1", "/nope"), "m", world,
                               max_retries=5, backoff=0.001)
        with pytest.raises(EndpointError, match="HTTP 404"):
            chat.rank(_requests(world, 1), 5)
        assert server.posts == 1


def test_concurrency_is_bounded(world):
    with ChatServer(ScoringModel(world), world, delay=0.05) as server:
        _chat(server, world, concurrency=3).rank(_requests(world, 12), 5)
        assert 2 <= server.max_in_flight <= 3


def test_large_batches_print_a_cost_estimate(world, capsys):
    with ChatServer(ScoringModel(world), world) as server:
        chat = _chat(server, world, estimate_above=5)
        chat.rank(_requests(world, 4), 5)
        assert "chat request" not in capsys.readouterr().err
        chat.rank(_requests(world, 6), 5)
    err = capsys.readouterr().err
    assert "6 chat request(s)" in err and "prompt" in err and server.base_url in err
    assert chat.last_estimate.requests == 6


def test_estimate_audit_counts_uncached_requests(world, tmp_path, capsys):
    auditors = [("popularity_bias", {"n_users": 10}),
                ("position_bias", {"n_users": 4, "n_shuffles": 2})]
    with ChatServer(ScoringModel(world), world) as server:
        chat = _chat(server, world)
        est = ra.estimate_audit(chat, world, auditors, seed=0, cache=tmp_path / "c.sqlite")
        assert server.chat_requests == 0  # a dry run sends nothing
        assert est.requests == 10 + 4 * (5 + 2)
        assert "this audit will send 38 chat request(s)" in capsys.readouterr().err
        ra.audit(chat, world, auditors, seed=0, cache=tmp_path / "c.sqlite", progress=False,
                 config={"n_bootstrap": 50, "n_permutations": 50})
        assert server.answered == est.requests
        again = ra.estimate_audit(chat, world, auditors, seed=0,
                                  cache=tmp_path / "c.sqlite", verbose=False)
    assert again.requests == 0


def test_conformance_and_pickling(world):
    import pickle

    with ChatServer(ScoringModel(world), world) as server:
        chat = _chat(server, world)
        report = ra.testing.check_recommender(chat, world)
        assert "rank" in " ".join(report["passed"])
        clone = pickle.loads(pickle.dumps(chat))
        reqs = _requests(world, 2)
        assert clone.fingerprint() == chat.fingerprint()
        assert [r.items for r in clone.rank(reqs, 5)] == [r.items for r in chat.rank(reqs, 5)]


def test_the_engine_announces_cache_misses_before_sending(world, tmp_path, capsys):
    from recaudit.engine import CachedRecommender

    with ChatServer(ScoringModel(world), world) as server:
        chat = _chat(server, world, estimate_above=20, batch_size=4)
        engine = CachedRecommender(chat, cache=tmp_path / "c.sqlite", progress=False,
                                   batch_size=chat.max_batch_size)
        engine.rank(_requests(world, 25), 5)
        assert "sending 25 chat request(s)" in capsys.readouterr().err
        assert server.answered == 25
        engine.rank(_requests(world, 30), 5)  # 5 misses: below the bar, nothing printed
        assert "chat request" not in capsys.readouterr().err
        assert server.answered == 30


def test_an_endpoint_that_stops_answering_stops_the_audit_and_keeps_its_work(world, tmp_path,
                                                                              capsys):
    """Retries exhausted: the audit stops at that auditor (the next ones would only burn
    their retries), the partial report is on disk, and the CLI exits 2 in one line."""
    import json

    from recaudit.cli import main

    with ChatServer(ScoringModel(world), world, garbage_rate=1.0, seed=1) as server:
        chat = _chat(server, world, max_retries=1)
        out = tmp_path / "partial.json"
        with pytest.raises(EndpointError, match="gave up after 2 attempt") as err:
            ra.audit(chat, world, [("popularity_bias", {"n_users": 10}), "position_bias"],
                     cache=False, progress=False, out_json=out)
        report = err.value.report
        assert [r.auditor for r in report.results] == ["popularity_bias"]
        assert report.results[0].status == "error" and not report.complete
        saved = json.loads(out.read_text())
        assert saved["complete"] is False and len(saved["results"]) == 1

        spec = tmp_path / "spec.yaml"
        spec.write_text(
            "dataset: {kind: synthetic, n_users: 60, n_items: 50, seed: 3}\n"
            f"model: {{kind: chat, base_url: '{server.base_url}', model: recaudit, "
            "max_retries: 1, backoff: 0.001, max_backoff: 0.01}\n"
            "auditors: [popularity_bias, position_bias]\n"
            f"output: {{json: '{tmp_path / 'cli.json'}'}}\n"
            "run: {cache: false}\n")
        capsys.readouterr()
        assert main(["audit", str(spec), "--no-progress"]) == 2
    err_lines = [line for line in capsys.readouterr().err.splitlines()
                 if line.startswith("recaudit: error:")]
    assert len(err_lines) == 1 and "gave up after 2 attempt" in err_lines[0]
    assert json.loads((tmp_path / "cli.json").read_text())["complete"] is False
