"""Staying within a provider's limits: a token bucket per limit and an AIMD in-flight limit.

Providers cap requests and tokens per minute and answer HTTP 429 beyond them.
:class:`ChatRecommender <recaudit.models.ChatRecommender>` holds one :class:`Throttle`
shared by all its in-flight requests (its worker threads):

* :class:`TokenBucket` (one for ``requests_per_minute``, one for ``tokens_per_minute``)
  hands out *reservations*: a caller takes its cost at once and is told how long to wait
  before sending, so threads never queue on a lock while they sleep, and the send times are
  those the bucket granted. It is the generic cell rate algorithm (GCRA), the token bucket
  written with one number, the time at which the bucket will be full again. Over any window
  of ``W`` seconds the costs sent add up to at most ``burst + rate * W`` (a request that
  costs more than ``burst`` waits for a full bucket and then goes alone). The chat client
  uses ``burst`` = one request: requests are spaced evenly, none bunch up at the start.
* Tokens are estimated before sending (``CHARS_PER_TOKEN`` characters per token, see
  :meth:`ChatRecommender.estimate_cost <recaudit.models.ChatRecommender.estimate_cost>`)
  and the difference to the answer's ``usage`` is charged or refunded afterwards
  (:meth:`TokenBucket.settle`).
* :class:`AIMDLimit` gates how many requests are in flight: a 429 halves the limit
  (multiplicative decrease, once per congestion event: requests that were already in flight
  when the limit was cut do not cut it again), ``increase_after`` successes in a row raise it
  by one (additive increase), never below 1 nor above the configured maximum.

No library is used: ``aiolimiter`` is asyncio-only (the client runs in threads),
``pyrate-limiter`` and ``limits`` count fixed or sliding windows without refunds (the
``usage`` reconciliation) and have no adaptive concurrency; both pieces here are a few
lines each, with an injectable clock for tests.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["AIMDLimit", "Throttle", "TokenBucket", "per_minute"]


def per_minute(name: str, value: Any) -> float | None:
    """``value`` as a positive, finite rate per minute (``None`` stays ``None``: unlimited);
    anything else raises a one-line :class:`ValueError` naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number per minute or None (unlimited), "
                         f"got {type(value).__name__} {value!r}")
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{name} must be a positive number per minute or None (unlimited), "
                         f"got {value!r}")
    return rate


class TokenBucket:
    """A token bucket refilled at ``per_minute`` units a minute, holding at most ``burst``.

    Thread-safe. ``clock`` (seconds, monotonic) and ``sleep`` are injectable, so tests run
    without waiting.

    Examples
    --------
    >>> now = [0.0]
    >>> bucket = TokenBucket(60, burst=2, clock=lambda: now[0])   # 1 a second, 2 at once
    >>> [bucket.reserve() for _ in range(4)]                      # seconds to wait
    [0.0, 0.0, 1.0, 2.0]
    >>> now[0] = 10.0                                             # idle: full again
    >>> bucket.reserve(5)                                         # over burst: goes alone
    0.0
    >>> bucket.reserve()                                          # owes 3: waits 4 s
    4.0
    """

    def __init__(self, per_minute: float, burst: float = 1.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not per_minute > 0 or not burst > 0:
            raise ValueError(f"per_minute and burst must be > 0, got {per_minute}, {burst}")
        self.per_minute = float(per_minute)
        self.burst = float(burst)
        self.interval = 60.0 / self.per_minute  # seconds per unit
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._full_at = -math.inf  # the bucket is full from this time on
        self.reserved = 0.0  # units reserved, settlements included

    def ready_at(self, cost: float = 1.0) -> float:
        """Earliest time a request of ``cost`` may be sent (the caller holds the lock, or
        accepts a stale answer)."""
        room = max(self.burst, cost) - cost  # what may remain owed after taking it
        return self._full_at - room * self.interval

    def take(self, cost: float, at: float) -> None:
        """Take ``cost`` as sent at time ``at`` (>= :meth:`ready_at`)."""
        self._full_at = max(self._full_at, at) + cost * self.interval
        self.reserved += cost

    def reserve(self, cost: float = 1.0) -> float:
        """Take ``cost`` now; returns the seconds to wait before sending (0 when the bucket
        holds enough)."""
        with self._lock:
            now = self.clock()
            at = max(now, self.ready_at(cost))
            self.take(cost, at)
        return at - now

    def acquire(self, cost: float = 1.0) -> float:
        """:meth:`reserve` and sleep the wait; returns the seconds slept."""
        wait = self.reserve(cost)
        if wait > 0:
            self.sleep(wait)
        return wait

    def settle(self, delta: float) -> None:
        """Charge ``delta`` more units (a request cost more than estimated), or refund
        ``-delta`` (it cost less); a refund never fills the bucket beyond ``burst``."""
        with self._lock:
            self._settle(delta, self.clock())

    def _settle(self, delta: float, now: float) -> None:
        if delta >= 0:
            self._full_at = max(self._full_at, now) + delta * self.interval
        else:
            self._full_at = max(min(self._full_at, now), self._full_at + delta * self.interval)
        self.reserved += delta

    def available(self) -> float:
        """Units the bucket holds now (negative: owed)."""
        with self._lock:
            return self.burst - max(0.0, self._full_at - self.clock()) / self.interval

    def __repr__(self) -> str:
        return f"TokenBucket({self.per_minute:g}/min, burst={self.burst:g})"


class AIMDLimit:
    """An in-flight limit that halves on a rate limit and grows by one after
    ``increase_after`` successes in a row (additive increase, multiplicative decrease).

    :meth:`acquire` blocks while ``limit`` requests are in flight and returns a ticket for
    :meth:`release`. A 429 halves the limit once per congestion event: only a request sent
    after the last cut may cut again, so a burst of 429s from requests that were in flight
    together halves it once. :attr:`history` lists every limit in order.

    Examples
    --------
    >>> gate = AIMDLimit(8, increase_after=2)
    >>> t = [gate.acquire() for _ in range(3)]
    >>> gate.release(t[0], "rate_limited"); gate.release(t[1], "rate_limited"); gate.limit
    4
    >>> gate.release(t[2], "ok"); gate.release(gate.acquire(), "ok"); gate.limit
    5
    >>> gate.history
    [8, 4, 5]
    """

    def __init__(self, maximum: int, increase_after: int = 10) -> None:
        if int(maximum) < 1 or int(increase_after) < 1:
            raise ValueError(f"maximum and increase_after must be >= 1, got {maximum}, "
                             f"{increase_after}")
        self.maximum = int(maximum)
        self.increase_after = int(increase_after)
        self.limit = self.maximum
        self.in_flight = 0
        self.max_in_flight = 0
        self.history = [self.limit]
        self._epoch = 0
        self._successes = 0
        self._cond = threading.Condition()

    def acquire(self) -> int:
        """Wait for a free slot; returns the ticket to hand to :meth:`release`."""
        with self._cond:
            while self.in_flight >= self.limit:
                self._cond.wait()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self._epoch

    def release(self, ticket: int, outcome: str) -> None:
        """Free the slot; ``outcome`` is ``ok``, ``rate_limited`` (HTTP 429) or anything
        else (another failure: neither raises nor lowers the limit)."""
        with self._cond:
            self.in_flight -= 1
            if outcome == "rate_limited":
                self._successes = 0
                if ticket == self._epoch:
                    self._epoch += 1
                    self._set(max(1, self.limit // 2))
            elif outcome == "ok":
                self._successes += 1
                if self._successes >= self.increase_after and self.limit < self.maximum:
                    self._successes = 0
                    self._set(self.limit + 1)
            self._cond.notify_all()

    def _set(self, limit: int) -> None:
        if limit != self.limit:
            self.limit = limit
            self.history.append(limit)

    def __repr__(self) -> str:
        return f"AIMDLimit(limit={self.limit}, maximum={self.maximum})"


class Throttle:
    """The limits of one client: an optional request bucket, an optional token bucket and
    the AIMD in-flight limit, shared by every request of that client.

    A send is ``ticket = throttle.gate.acquire()``, ``throttle.wait(tokens)``, the HTTP call,
    ``throttle.settle(estimate, actual)`` when the answer reports its ``usage``, and
    ``throttle.gate.release(ticket, outcome)``. :meth:`wait` reserves on both buckets at one
    time (the later of their two ready times), so neither bucket's grant is used late.
    """

    def __init__(self, concurrency: int, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, *, increase_after: int = 10,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.requests = (None if requests_per_minute is None else
                         TokenBucket(requests_per_minute, 1.0, clock=clock, sleep=sleep))
        self.tokens = (None if tokens_per_minute is None else
                       TokenBucket(tokens_per_minute, 1.0, clock=clock, sleep=sleep))
        self.gate = AIMDLimit(concurrency, increase_after)
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds slept for the buckets, all threads together

    def reserve(self, tokens: float = 0.0) -> float:
        """Take one request and ``tokens`` from the buckets; returns the seconds to wait."""
        pairs = [(b, c) for b, c in ((self.requests, 1.0), (self.tokens, float(tokens)))
                 if b is not None and c > 0]
        if not pairs:
            return 0.0
        with self._lock, contextlib.ExitStack() as held:
            for b, _ in pairs:  # always requests before tokens: no lock-order deadlock
                held.enter_context(b._lock)
            now = self.clock()
            at = max([now, *(b.ready_at(c) for b, c in pairs)])
            for b, c in pairs:
                b.take(c, at)
            self.waited += at - now
        return at - now

    def wait(self, tokens: float = 0.0) -> float:
        """:meth:`reserve` and sleep; returns the seconds slept."""
        wait = self.reserve(tokens)
        if wait > 0:
            self.sleep(wait)
        return wait

    def settle(self, estimated: float, actual: float | None) -> None:
        """Reconcile a request's estimated tokens with the ``usage`` its answer reported."""
        if self.tokens is not None and actual is not None and actual != estimated:
            self.tokens.settle(float(actual) - float(estimated))

    @property
    def limit(self) -> int:
        """The in-flight limit now."""
        return self.gate.limit
