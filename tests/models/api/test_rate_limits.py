"""Staying within a provider's limits: token buckets, the AIMD in-flight limit, and
``ChatRecommender(requests_per_minute=, tokens_per_minute=)`` against a served model.

The buckets and the AIMD limit are tested with an injected clock (no sleeping). The
end-to-end tests run a real ``ChatServer`` on 127.0.0.1 that records when each request
arrives, or answers HTTP 429 like a provider over its limit.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from types import SimpleNamespace

import pytest
import yaml

import recaudit as ra
from recaudit.errors import SpecError
from recaudit.models.api._chat import ChatRecommender, CostEstimate
from recaudit.models.api._limits import AIMDLimit, Throttle, TokenBucket, per_minute
from recaudit.models.prompts._chat_templates import DEFAULT
from recaudit.serve import ChatServer
from recaudit.testing.zoo import ScoringModel

FULL = dataclasses.replace(DEFAULT, max_history=1000)


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=60, n_items=50, seed=3)


class Clock:
    """A fake monotonic clock; ``sleep`` advances it."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def _most_in_window(times, width):
    """Most of ``times`` inside any half-open window ``[t, t + width)``."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while times[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _most_cost_in_window(sends, width):
    """Largest sum of costs sent inside any window ``[t, t + width)``; ``sends`` are
    ``(time, cost)`` pairs."""
    sends = sorted(sends)
    return max(sum(c for s, c in sends if t <= s < t + width) for t, _ in sends)


# ====================================================================== bucket
def test_bucket_of_one_spaces_requests_evenly():
    clock = Clock()
    bucket = TokenBucket(600, clock=clock)  # 10 a second, burst 1
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    clock.t = 0.25  # later callers wait less: the schedule, not the call, sets the time
    assert bucket.reserve() == pytest.approx(0.25)


def test_bucket_burst_then_refill_never_beyond_burst():
    clock = Clock()
    bucket = TokenBucket(60, burst=3, clock=clock)  # 1 a second
    assert [bucket.reserve() for _ in range(5)] == pytest.approx([0, 0, 0, 1, 2])
    assert bucket.available() == pytest.approx(-2)
    clock.t = 100.0  # idle for long: full, but no fuller than the burst
    assert bucket.available() == pytest.approx(3)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 1])


def test_a_request_over_the_burst_waits_for_a_full_bucket_and_goes_alone():
    clock = Clock()
    bucket = TokenBucket(60, burst=2, clock=clock)
    assert bucket.reserve(1) == 0
    assert bucket.reserve(5) == pytest.approx(1.0)  # waits until full (2), then owes 3
    assert bucket.reserve(1) == pytest.approx(1.0 + 5.0 - 1.0)


def test_acquire_sleeps_through_the_injected_sleep():
    clock = Clock()
    bucket = TokenBucket(120, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        bucket.acquire()
    assert clock.slept == pytest.approx([0.5, 0.5, 0.5])
    assert clock.t == pytest.approx(1.5)


def test_settle_charges_and_refunds_but_never_overfills():
    clock = Clock()
    bucket = TokenBucket(6000, clock=clock)  # 100 tokens a second
    assert bucket.reserve(100) == 0  # owed until t = 1
    bucket.settle(+100)  # it cost 200: the next waits 2 s
    assert bucket.reserve(10) == pytest.approx(2.0)
    bucket.settle(-10)  # that one cost nothing
    assert bucket.reserve(10) == pytest.approx(2.0)
    clock.t = 50.0
    bucket.settle(-1_000)  # a refund to a full bucket keeps it at its burst
    assert bucket.available() == pytest.approx(1.0)
    assert bucket.reserve(50) == 0 and bucket.reserve(1) == pytest.approx(0.5)
    assert bucket.reserved == pytest.approx(100 + 100 + 10 - 10 + 10 - 1_000 + 50 + 1)


@pytest.mark.parametrize("burst", [1, 4])
def test_any_window_holds_at_most_burst_plus_rate_times_width(burst):
    rng = random.Random(burst)
    clock = Clock()
    bucket = TokenBucket(600, burst=burst, clock=clock)  # 10 a second
    sends = []
    for _ in range(400):  # callers arriving at random, often in clumps
        clock.t += rng.choice([0.0, 0.0, 0.01, 0.05, 0.3])
        sends.append(clock.t + bucket.reserve())
    for width in (0.1, 0.5, 1.0, 3.0):
        assert _most_in_window(sends, width) <= burst + 10 * width + 1e-9
    assert _most_in_window(sends, 1.0) >= burst + 10 - 1  # and is used


def test_reservations_from_many_threads_are_all_distinct():
    clock = Clock()  # frozen: every reservation is made "at once"
    bucket = TokenBucket(60, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def work():
        mine = [bucket.reserve() for _ in range(200)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([float(n) for n in range(1600)])


def test_throttle_sends_at_the_later_of_both_limits_and_keeps_each():
    rng = random.Random(0)
    clock = Clock()
    throttle = Throttle(4, requests_per_minute=600, tokens_per_minute=60_000, clock=clock,
                        sleep=clock.sleep)  # 10 requests and 1,000 tokens a second
    sends = []
    for _ in range(300):
        clock.t += rng.choice([0.0, 0.0, 0.02, 0.2])
        cost = rng.choice([10, 50, 300])
        sends.append((clock.t + throttle.reserve(cost), cost))
    assert _most_in_window([s for s, _ in sends], 1.0) <= 1 + 10
    assert _most_cost_in_window(sends, 1.0) <= 300 + 1_000
    both = Throttle(1, requests_per_minute=60, tokens_per_minute=60, clock=clock)
    clock.t = 0.0
    assert both.reserve(1) == 0 and both.reserve(5) == pytest.approx(1.0)
    assert both.reserve(1) == pytest.approx(6.0)  # the tokens limit is the slower one
    assert Throttle(1).reserve(10**9) == 0  # no limits: no waiting


def test_throttle_settles_tokens_with_the_usage_reported():
    clock = Clock()
    throttle = Throttle(1, tokens_per_minute=6000, clock=clock)
    throttle.reserve(100)
    throttle.settle(100, 400)  # reported 400 tokens
    throttle.settle(100, None)  # no usage: the estimate stands
    assert throttle.tokens.reserved == 400
    assert throttle.reserve(1) == pytest.approx(4.0)


# ====================================================================== AIMD
def test_aimd_halves_once_per_congestion_event_and_never_below_one():
    gate = AIMDLimit(8, increase_after=3)
    wave = [gate.acquire() for _ in range(8)]
    for t in wave[:5]:  # five 429s from requests sent together: one cut
        gate.release(t, "rate_limited")
    assert gate.limit == 4
    for t in wave[5:]:
        gate.release(t, "failed")  # other failures change nothing
    assert gate.limit == 4
    for expected in (2, 1, 1):  # each new 429 (sent after the cut) cuts again
        gate.release(gate.acquire(), "rate_limited")
        assert gate.limit == expected
    assert gate.history == [8, 4, 2, 1]


def test_aimd_grows_by_one_after_n_successes_in_a_row_up_to_the_maximum():
    gate = AIMDLimit(3, increase_after=2)
    gate.release(gate.acquire(), "rate_limited")
    assert gate.limit == 1
    outcomes = ["ok", "rate_limited", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]
    limits = []
    for outcome in outcomes:
        gate.release(gate.acquire(), outcome)
        limits.append(gate.limit)
    assert limits == [1, 1, 1, 2, 2, 3, 3, 3, 3, 3]  # a 429 resets the count; capped at 3
    assert gate.history == [3, 1, 2, 3]


def test_aimd_blocks_beyond_the_limit_until_a_slot_frees():
    gate = AIMDLimit(2)
    first = gate.acquire()
    gate.release(gate.acquire(), "rate_limited")  # limit 1, one in flight
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (gate.acquire(), got.set()))
    waiter.start()
    assert not got.wait(0.1)
    gate.release(first, "ok")
    assert got.wait(5)
    waiter.join()
    assert gate.max_in_flight == 2 and gate.in_flight == 1


# ====================================================================== settings
@pytest.mark.parametrize("key", ["requests_per_minute", "tokens_per_minute"])
@pytest.mark.parametrize("bad", [0, -5, "60", True, float("nan"), float("inf"), [60]])
def test_bad_limits_give_one_line_naming_the_key(world, key, bad):
    with pytest.raises(ValueError) as err:
        ChatRecommender("http://127.0.0.1:9/v1", "m", world, **{key: bad})
    assert key in str(err.value) and "\n" not in str(err.value)


def test_per_minute_accepts_numbers_and_none():
    assert per_minute("x", None) is None
    assert per_minute("x", 60) == 60.0 and per_minute("x", 0.5) == 0.5


def test_limits_do_not_change_the_fingerprint(world):
    plain = ChatRecommender("http://127.0.0.1:9/v1", "m", world)
    limited = ChatRecommender("http://127.0.0.1:9/v1", "m", world, requests_per_minute=60,
                              tokens_per_minute=1e5)
    assert plain.fingerprint() == limited.fingerprint()  # the cache serves either
    assert plain.throttle.requests is None and limited.throttle.tokens.per_minute == 1e5


def _spec(tmp_path, base_url, **model):
    spec = {"dataset": {"kind": "synthetic", "n_users": 40, "n_items": 30, "seed": 0},
            "model": {"kind": "chat", "base_url": base_url, "model": "recaudit",
                      "max_retries": 1, "backoff": 0.001, **model},
            "auditors": [{"name": "popularity_bias", "params": {"n_users": 10}}],
            "run": {"n_bootstrap": 50, "n_permutations": 50, "cache": False,
                    "progress": False}}
    path = tmp_path / "chat.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("key, bad", [("requests_per_minute", 0),
                                      ("tokens_per_minute", -100),
                                      ("requests_per_minute", "fast")])
def test_a_spec_with_a_bad_limit_fails_in_one_line(tmp_path, key, bad):
    from recaudit.runner import build_dataset, build_model
    from recaudit.spec import load_spec

    spec = load_spec(_spec(tmp_path, "http://127.0.0.1:9/v1", **{key: bad}))
    with pytest.raises(SpecError) as err:  # before any HTTP: port 9 would refuse
        build_model(spec, build_dataset(spec))
    msg = str(err.value)
    assert key in msg and "model (chat)" in msg and "\n" not in msg


# ====================================================================== estimate
def test_estimate_states_the_minutes_at_the_limits():
    est = CostEstimate(192, 30_000, 10_000, requests_per_minute=60)
    assert est.minutes == pytest.approx(3.2)
    assert str(est).endswith("; ≈ 3.2 min at 60 requests/min")
    both = CostEstimate(192, 30_000, 10_000, requests_per_minute=60, tokens_per_minute=5_000)
    assert both.minutes == pytest.approx(8.0)  # the tokens limit binds
    assert str(both).endswith("≈ 8.0 min at 60 requests/min and 5,000 tokens/min")
    assert str(CostEstimate(10, 100, 50, requests_per_minute=600)).endswith("≈ 1 s at "
                                                                             "600 requests/min")
    assert CostEstimate(10, 100, 50).minutes is None
    assert "≈" not in str(CostEstimate(10, 100, 50))


def test_estimate_audit_prints_the_minutes(world, capsys):
    chat = ChatRecommender("http://127.0.0.1:9/v1", "m", world, requests_per_minute=60,
                           tokens_per_minute=90_000)
    est = ra.estimate_audit(chat, world, [("popularity_bias", {"n_users": 30})], cache=False)
    assert est.requests == 30 and est.minutes == pytest.approx(0.5)
    assert chat.last_estimate == est
    err = capsys.readouterr().err
    assert "this audit will send 30 chat request(s)" in err
    assert "≈ 30 s at 60 requests/min and 90,000 tokens/min" in err


# ====================================================================== end to end
def _chat(server, data, **kw):
    kw = {"template": FULL, "backoff": 0.001, "max_backoff": 0.01, "timeout": 10.0, **kw}
    return ChatRecommender(server.base_url, "recaudit", data, **kw)


def _requests(data, n):
    return [data.request(u) for u in data.user_ids[:n]]


def test_requests_per_minute_holds_over_any_second(world):
    model = ScoringModel(world)
    reqs = _requests(world, 30)
    with ChatServer(model, world) as server:
        chat = _chat(server, world, requests_per_minute=600, concurrency=8)  # 10 a second
        chat.check()  # as a spec does: the client is built and connected before the clock
        got = chat.rank(reqs, 5)
        arrivals = list(server.arrivals)
    assert [g.items for g in got] == [w.items for w in model.rank(reqs, 5)]
    assert len(arrivals) == 30
    # spaced evenly (burst 1): at most 1 + 10 in any second (measured: 11); one more for
    # thread wake-up and HTTP jitter on a loaded machine
    assert _most_in_window(arrivals, 1.0) <= 12
    assert _most_in_window(arrivals, 0.5) <= 7  # 1 + 5 (measured: 6), + 1
    span = arrivals[-1] - arrivals[0]  # 29 gaps of 0.1 s: 2.9 s (measured 2.84-2.90 s)
    assert 2.9 - 0.25 <= span < 6  # the mean rate is at most 10/s, jitter aside


def test_tokens_per_minute_paces_by_the_reported_usage(world):
    reqs = _requests(world, 12)
    with ChatServer(ScoringModel(world), world) as server:
        probe = _chat(server, world)
        per_request = sum(probe._tokens(probe.messages(reqs[0], 5), reqs[0], 5))
        # about 6 requests' worth of tokens a second
        chat = _chat(server, world, tokens_per_minute=per_request * 6 * 60, concurrency=4)
        chat.check()
        got = chat.rank(reqs, 5)
        arrivals = list(server.arrivals)
    assert len(arrivals) == 12
    assert _most_in_window(arrivals, 1.0) <= 1 + 6 + 1  # the first, 6 a second, jitter
    assert arrivals[-1] - arrivals[0] > 1.0
    # every estimate was replaced by the usage the server reported (characters / 4)
    usage = sum(sum(len(m["content"]) for m in chat.messages(r, 5)) // 4 + len(g.raw) // 4
                for r, g in zip(reqs, got))
    assert chat.throttle.tokens.reserved == usage


class ConcurrencyCappedServer(ChatServer):
    """Answers HTTP 429 to a request that arrives while ``cap`` others are in flight, as a
    provider over its concurrency limit does."""

    def __init__(self, *args, cap: int, **kw):
        super().__init__(*args, **kw)
        self.cap = cap
        self.rate_limited = 0

    def draw(self) -> str:
        action = super().draw()
        with self._lock:
            if self.in_flight > self.cap:
                self.rate_limited += 1
                return "429"
        return action


def test_429s_lower_the_in_flight_limit_and_every_request_is_answered(world):
    model = ScoringModel(world)
    reqs = _requests(world, 40)
    with ConcurrencyCappedServer(model, world, cap=2, delay=0.03) as server:
        chat = _chat(server, world, concurrency=8, max_retries=30)
        assert chat.in_flight_limit == 8
        got = chat.rank(reqs, 5)
        assert server.answered == 40
        assert server.rate_limited >= 1
        assert chat.http_requests == 40 + server.rate_limited
    history = chat.throttle.gate.history
    assert history[0] == 8 and min(history) <= 2  # halved down to the server's cap
    assert all(1 <= h <= 8 for h in history)
    assert all(b in (a // 2, a + 1) for a, b in zip(history, history[1:]))
    assert chat.in_flight_limit <= 4
    assert [g.items for g in got] == [w.items for w in model.rank(reqs, 5)]


def test_fail_rate_429s_cut_concurrency_and_retries_answer_all(world):
    model = ScoringModel(world)
    reqs = _requests(world, 30)
    with ChatServer(model, world, fail_rate=0.3, seed=0, delay=0.01) as server:
        chat = _chat(server, world, concurrency=8, max_retries=10, requests_per_minute=6000)
        got = chat.rank(reqs, 5)
        assert server.answered == 30 and chat.http_requests == server.chat_requests
    assert min(chat.throttle.gate.history) < 8
    assert [g.items for g in got] == [w.items for w in model.rank(reqs, 5)]


def test_a_spec_audit_within_the_limits_prints_its_minutes(tmp_path, capsys):
    from recaudit.runner import run_audit
    from recaudit.spec import load_spec

    data = ra.datasets.synthetic(n_users=40, n_items=30, seed=0)
    with ChatServer(ScoringModel(data), data) as server:
        spec = load_spec(_spec(tmp_path, server.base_url, requests_per_minute=1200,
                               tokens_per_minute=1_000_000))
        report = run_audit(spec, progress=False)
        arrivals = list(server.arrivals)
    assert len(arrivals) == 10 and report["popularity_bias"].status == "ok"
    assert _most_in_window(arrivals, 0.5) <= 1 + 10 + 1  # 20 a second
    err = capsys.readouterr().err
    assert "this audit will send 10 chat request(s)" in err
    assert "≈ 1 s at 1,200 requests/min and 1,000,000 tokens/min" in err


def test_pickled_copies_rebuild_their_limits(world):
    import pickle

    chat = ChatRecommender("http://127.0.0.1:9/v1", "m", world, requests_per_minute=60,
                           concurrency=4)
    chat.throttle.gate.release(chat.throttle.gate.acquire(), "rate_limited")
    copy = pickle.loads(pickle.dumps(chat))
    assert copy.requests_per_minute == 60 and copy.in_flight_limit == 4
    assert copy.throttle.requests.per_minute == 60 and chat.in_flight_limit == 2


def test_usage_is_read_from_the_answer():
    from recaudit.models.api._chat import _usage

    assert _usage(SimpleNamespace(usage=SimpleNamespace(total_tokens=12))) == 12
    assert _usage(SimpleNamespace(usage=SimpleNamespace(prompt_tokens=5,
                                                        completion_tokens=3))) == 8
    assert _usage(SimpleNamespace(usage=None)) is None
    assert _usage(SimpleNamespace()) is None
