"""``recaudit serve`` / ``ChatServer`` and full audits through ``ChatRecommender``.

Everything runs against a real HTTP server on 127.0.0.1 (a thread, or a subprocess for the
CLI), with bounded request counts. HTTP requests are counted on the server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import recaudit as ra
from recaudit.cli import main
from recaudit.engine import RequestCache
from recaudit.models import Ranking
from recaudit.models.api._chat import ChatRecommender
from recaudit.models.prompts._chat_templates import DEFAULT, chat_template
from recaudit.serve import ChatServer, PromptReader
from recaudit.testing import assert_rankings_close
from recaudit.testing.zoo import ScoringModel
from recaudit.testing.zoo.position import EarlyCandidateRanker, OrderInvariantRanker

from .conftest import SEEDS

ROOT = Path(__file__).resolve().parents[1]
FULL = dataclasses.replace(DEFAULT, max_history=1000)
AUDITORS = [("popularity_bias", {"n_users": 30}),
            ("position_bias", {"n_users": 25, "n_shuffles": 2})]
CONFIG = {"n_bootstrap": 200, "n_permutations": 200}


def _chat(server, data, **kw):
    kw = {"template": FULL, "backoff": 0.001, "max_backoff": 0.01, **kw}
    return ChatRecommender(server.base_url, "recaudit", data, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ reading prompts back
@pytest.mark.parametrize("name", ["default", "fairllm", "llmrank"])
def test_prompt_reader_recovers_the_request(name):
    data = ra.datasets.synthetic(n_users=40, n_items=60, seed=2)
    template = dataclasses.replace(chat_template(name), max_history=1000)
    reader = PromptReader(data)
    for n, u in enumerate(data.user_ids[:12]):
        attrs = data.user_attributes(u)
        profile = {a: attrs[a] for a in data.sensitive[: n % 3]}
        cands = list(data.item_ids[n:n + 20]) if n % 2 else None
        req = data.request(u, profile=profile, candidates=cands)
        text = template.messages(req, data.titles, k=7)[-1]["content"]
        got, k = reader.read(text)
        assert got.history == req.history
        assert got.candidates == req.candidates
        assert got.profile == req.profile
        # FaiRLLM asks for the top k of the candidates, LLMRank to rank all of them
        assert k == (20 if cands and name != "fairllm" else 7)


def test_models_route_and_bad_requests():
    data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    with ChatServer(ScoringModel(data), data, model_name="zoo") as server:
        with urllib.request.urlopen(server.base_url + "/models", timeout=5) as resp:
            listing = json.load(resp)
        assert [m["id"] for m in listing["data"]] == ["zoo"]
        for path, body, code in (("/chat/completions", b"{not json", 400),
                                 ("/chat/completions", b'{"messages": []}', 400),
                                 ("/elsewhere", b"{}", 404)):
            req = urllib.request.Request(server.base_url + path, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=5)
            assert err.value.code == code
            assert "error" in json.loads(err.value.read())


def test_server_binds_loopback_by_default():
    data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    server = ChatServer(ScoringModel(data), data)
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
    finally:
        server.httpd.server_close()
    with pytest.raises(ValueError, match="fail_rate"):
        ChatServer(ScoringModel(data), data, fail_rate=1.5)


# ------------------------------------------------------------------ audits through the API
def _values(report):
    return {(m.auditor, m.name, m.scope): m.value for m in report.metrics
            if m.name != "hallucination_rate"}


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS[1:2])
def test_audit_through_chat_equals_direct_and_rerun_is_free(tmp_path, seed):
    data = ra.datasets.synthetic(n_users=80, n_items=60, seed=seed)
    reports = {}
    for model in (EarlyCandidateRanker(data, seed=seed), OrderInvariantRanker(data, seed=seed)):
        db = tmp_path / f"{type(model).__name__}.sqlite"
        with ChatServer(model, data) as server:
            chat = _chat(server, data)
            rep = ra.audit(chat, data, AUDITORS, config=CONFIG, seed=seed, cache=db,
                           progress=False)
            sent = server.chat_requests
            assert sent == server.answered == 30 + 25 * (5 + 2)
            again = ra.audit(chat, data, AUDITORS, config=CONFIG, seed=seed, cache=db,
                             progress=False)
            assert server.chat_requests == sent  # the re-run made no HTTP request
        assert again.metadata["cost"]["cache_hits"] == again.metadata["cost"]["unique"]
        direct = ra.audit(model, data, AUDITORS, config=CONFIG, seed=seed, cache=False,
                          progress=False)
        assert rep.metadata["settings"]["batch_size"] == chat.max_batch_size
        assert _values(rep) == pytest.approx(_values(direct), nan_ok=True)
        assert _values(again) == pytest.approx(_values(rep), nan_ok=True)
        for name in ("popularity_bias", "position_bias"):
            assert rep[name].metric("hallucination_rate").value == 0.0
        reports[type(model).__name__] = rep
    failed = {(m.auditor, m.name) for m in reports["EarlyCandidateRanker"].metrics
              if m.verdict == "fail"}
    assert ("position_bias", "position_ndcg_gap") in failed
    assert not [m.name for m in reports["OrderInvariantRanker"].metrics
                if m.auditor == "position_bias" and m.verdict == "fail"]


class _Inventor(ScoringModel):
    """Puts a title that is not in the catalog second in every list."""

    def rank(self, requests, k):
        out = []
        for r in super().rank(requests, k):
            items = list(r.items)
            items[1:1] = ["Imaginary Film (2031)"]
            out.append(Ranking(tuple(items[:k])))
        return out


def test_auditors_report_hallucinations(tmp_path):
    data = ra.datasets.synthetic(n_users=40, n_items=60, seed=0)
    with ChatServer(_Inventor(data), data) as server:
        chat = _chat(server, data)
        rep = ra.audit(chat, data, [("popularity_bias", {"n_users": 20})], config=CONFIG,
                       cache=False, progress=False)
    res = rep["popularity_bias"]
    m = res.metric("hallucination_rate")
    # every answer lists k' entries, one invented: the rate is 1 / k' per answer
    hist = max(len(data.train_histories[u]) for u in data.user_ids)
    kk = min(10 + hist, len(data.item_ids))
    assert m.value == pytest.approx(1 / kk) and m.ci_low <= m.value <= m.ci_high
    assert m.higher_is_better is False


# ------------------------------------------------------------------ crash safety
CHILD = textwrap.dedent("""
    import sys
    import recaudit as ra
    from recaudit.models.api._chat import ChatRecommender

    data = ra.datasets.synthetic(n_users=60, n_items=40, seed=7)
    chat = ChatRecommender(sys.argv[1], "recaudit", data, batch_size=4, concurrency=2)
    ra.audit(chat, data, [("popularity_bias", {"n_users": 40})], cache=sys.argv[2],
             progress=False, config={"n_bootstrap": 50})
    print("finished")
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_killed_chat_audit_loses_at_most_one_batch(tmp_path):
    data = ra.datasets.synthetic(n_users=60, n_items=40, seed=7)
    script, db = tmp_path / "child.py", tmp_path / "c.sqlite"
    script.write_text(CHILD)
    with ChatServer(ScoringModel(data), data, delay=0.05) as server:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen([sys.executable, str(script), server.base_url, str(db)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while server.answered < 14 and time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"child exited early: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # requests still sleeping in the server's delay are answered (to a dead socket) after
        # the kill: count them before comparing with the re-run
        settle = time.monotonic() + 10
        while server.in_flight and time.monotonic() < settle:
            time.sleep(0.01)
        answered = server.answered
        chat = ChatRecommender(server.base_url, "recaudit", data, batch_size=4)
        stored = RequestCache(db).count(chat.fingerprint(), "rank")
        assert stored % 4 == 0 and 12 <= stored < 40
        assert answered - stored <= 4  # only the batch in flight was lost
        ra.audit(chat, data, [("popularity_bias", {"n_users": 40})], cache=db,
                 progress=False, config={"n_bootstrap": 50})
        assert server.answered - answered == 40 - stored  # the re-run sent only the rest


# ------------------------------------------------------------------ CLI
def _spec(tmp_path, base_url):
    spec = {"dataset": {"kind": "synthetic", "n_users": 40, "n_items": 30, "seed": 0},
            "model": {"kind": "chat", "base_url": base_url, "model": "recaudit",
                      "max_retries": 1, "backoff": 0.001},
            "auditors": [{"name": "popularity_bias", "params": {"n_users": 10}}],
            "run": {"n_bootstrap": 50, "n_permutations": 50, "cache": False,
                    "progress": False},
            "output": {"html": str(tmp_path / "r.html"), "json": str(tmp_path / "r.json")}}
    path = tmp_path / "chat.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_cli_audit_of_an_unreachable_endpoint_exits_2(tmp_path, capsys):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    assert main(["audit", str(_spec(tmp_path, url)), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and url in err and "cannot reach" in err


def test_cli_audit_of_a_chat_spec(tmp_path, capsys):
    data = ra.datasets.synthetic(n_users=40, n_items=30, seed=0)
    with ChatServer(ScoringModel(data), data) as server:
        code = main(["audit", str(_spec(tmp_path, server.base_url)), "--no-progress"])
        assert server.answered == 10
    assert code in (0, 1)
    err = capsys.readouterr().err
    assert "this audit will send 10 chat request(s)" in err
    report = ra.AuditReport.from_json(tmp_path / "r.json")
    assert report["popularity_bias"].status == "ok"


def _interruptible() -> None:
    """Give the child Ctrl-C back: a test run started in the background (``cmd &`` in a
    non-interactive shell, ``nohup``) ignores SIGINT, children inherit that, and Python
    installs no KeyboardInterrupt handler when SIGINT is ignored at start-up."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_recaudit_serve_command(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RECAUDIT_CACHE_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "recaudit.cli", "serve", "--baseline",
                             "most_popular", "--port", "0", "--n-users", "50", "--n-items",
                             "40"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path, preexec_fn=_interruptible)
    try:
        line = proc.stdout.readline()
        assert "serving MostPopular" in line, proc.stderr.read()[-2000:]
        url = next(w for w in line.split() if w.startswith("http://127.0.0.1:"))
        data = ra.datasets.synthetic(n_users=50, n_items=40, seed=0)
        chat = ChatRecommender(url, "recaudit", data, template=FULL, backoff=0.001)
        assert chat.check() == ["recaudit"]
        reqs = [data.request(u) for u in data.user_ids[:3]]
        want = ra.models.MostPopular(data).rank(reqs, 5)
        assert [r.items for r in chat.rank(reqs, 5)] == [r.items for r in want]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0


# ------------------------------------------------------------------ the tiny LM, served
@pytest.mark.slow
def test_tiny_lm_served_over_http_ranks_as_it_does_directly(tiny_lm, tiny_lm_world):
    data = tiny_lm_world
    reqs = [data.request(u) for u in data.user_ids[:4]]
    reqs += [data.request(u, candidates=list(data.item_ids[n:n + 10]))
             for n, u in enumerate(data.user_ids[4:8])]
    with ChatServer(tiny_lm, data) as server:
        got = _chat(server, data).rank(reqs, 10)
        assert server.answered == len(reqs)
    # the server ranks one request per call: the same computation as ranking each alone, so
    # items agree exactly; the batched ranking agrees with those up to float near-ties
    alone = [tiny_lm.rank([r], 10)[0] for r in reqs]
    assert [g.items for g in got] == [w.items for w in alone]
    assert_rankings_close(tiny_lm.rank(reqs, 10), alone, atol=1e-4)
    assert all(g.hallucinated == 0 for g in got)


@pytest.mark.slow
def test_chat_endpoint_example(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RECAUDIT_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "chat_endpoint.py"),
                           "--served", "zoo", "--quick", "--out", str(tmp_path / "r")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "position_bias" in proc.stdout
    assert "re-run: 0 HTTP requests" in proc.stdout
    assert (tmp_path / "r.html").exists()


@pytest.mark.parametrize("model, match", [
    ({"kind": "chat", "model": "m"}, "model.base_url: required"),
    ({"kind": "chat", "base_url": "http://127.0.0.1:1/v1"}, "model.model: required"),
    ({"kind": "chat", "base_url": "http://x/v1", "model": "m", "temperatur": 0},
     "Did you mean 'temperature'"),
])
def test_chat_spec_is_validated(model, match):
    from recaudit.errors import SpecError
    from recaudit.spec import load_spec

    with pytest.raises(SpecError, match=match):
        load_spec({"dataset": {"kind": "synthetic"}, "model": model,
                   "auditors": ["popularity_bias"]})


def test_chat_spec_with_a_bad_url_is_an_input_error(tmp_path):
    from recaudit import runner
    from recaudit.errors import SpecError
    from recaudit.spec import load_spec

    spec = load_spec({"dataset": {"kind": "synthetic", "n_users": 20, "n_items": 20},
                      "model": {"kind": "chat", "base_url": "127.0.0.1:8000", "model": "m"}})
    with pytest.raises(SpecError, match="model \\(chat\\): base_url must start with http"):
        runner.build_model(spec, runner.build_dataset(spec))


def test_serve_flags_name_kinds_of_the_kind_table():
    """``recaudit serve`` builds its model through the kind table, like a spec's ``model:``."""
    from types import SimpleNamespace

    from recaudit.cli import _served_entry
    from recaudit.models import MODEL_KINDS, BuildContext, build_model

    def flags(**kw):
        return SimpleNamespace(**{"baseline": None, "model": None, "seed": 3, **kw})

    entries = [_served_entry(flags(baseline="most_popular")),
               _served_entry(flags(baseline="random")), _served_entry(flags(model="some/dir")),
               _served_entry(flags())]
    assert [e["kind"] for e in entries] == ["most_popular", "random", "hf", "tiny_lm"]
    assert all(e["kind"] in MODEL_KINDS for e in entries)
    assert entries[1]["seed"] == 3 and entries[2]["path"] == "some/dir"
    world = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    built = [build_model(e, world, BuildContext(progress=False)) for e in entries[:2]]
    assert [type(m).__name__ for m in built] == ["MostPopular", "RandomRecommender"]
