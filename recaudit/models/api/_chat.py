"""``ChatRecommender``: a recommender behind an OpenAI-compatible chat-completions endpoint.

FaiRLLM and LLMRank audited ChatGPT through its API; local models are served the same way
by vLLM, llama.cpp, Ollama and ``recaudit serve``. A request becomes system and user
messages (:mod:`._chat_templates`), the answer's free text becomes a top-K list
(:func:`._chat_parse.parse_list`), and each entry is mapped to the catalog by
:class:`._matching.CatalogMatcher` (exact, normalised, fuzzy); entries that match nothing,
or name an item outside the request's candidates, are counted in ``Ranking.hallucinated``
and the answer is kept in ``Ranking.raw``.

The client is the ``openai`` package with its own retries off: this module retries
timeouts, connection errors, 408/409/429/5xx and malformed answers itself, with exponential
back-off and jitter (honouring ``Retry-After``), so a malformed 200 answer is retried too and
the final error says what was wrong. Requests of one ``rank`` call run concurrently in a
thread pool of ``concurrency`` workers; the engine sends at most ``batch_size`` requests per
call (``max_batch_size``) and commits each batch to its cache, so a crash loses at most one
batch and a re-run sends only what is missing.

``requests_per_minute`` and ``tokens_per_minute`` keep the client within a provider's limits
(:mod:`._limits`): token buckets shared by all in-flight requests pace the sends (tokens
estimated from the prompt before sending, reconciled with the answer's ``usage``), and each
429 halves the in-flight limit, which grows back by one after ten successes in a row.
"""

from __future__ import annotations

import math
import os
import random
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ...contract import BaseRecommender, Ranking, Request, stable_hash
from ...errors import EndpointError, RequestError
from ..prompts import (
    FUZZY_THRESHOLD,
    CatalogMatcher,
    ChatTemplate,
    answer_to_ranking,
    chat_template,
)
from ._limits import Throttle, per_minute

#: Characters per token assumed by :meth:`ChatRecommender.estimate_cost` (the usual rule of
#: thumb for English text and BPE tokenizers; no tokenizer of the served model is at hand).
CHARS_PER_TOKEN = 4.0

#: HTTP statuses worth retrying: timeouts, lock conflicts, rate limits, server errors.
_RETRY_STATUS = frozenset({408, 409, 429})


class _BadAnswer(Exception):
    pass


@dataclass(frozen=True)
class CostEstimate:
    """Requests and approximate tokens an audit will send (``CHARS_PER_TOKEN`` per token),
    and, under rate limits, the least time they take (:attr:`minutes`).

    Examples
    --------
    >>> est = CostEstimate(requests=192, prompt_tokens=300, completion_tokens=100,
    ...                    requests_per_minute=60)
    >>> est.total_tokens, est.minutes
    (400, 3.2)
    >>> str(est).split("; ")[-1]
    '≈ 3.2 min at 60 requests/min'
    """

    requests: int
    prompt_tokens: int
    completion_tokens: int
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def minutes(self) -> float | None:
        """Minutes the rate limits need for these requests (latency and retries aside), the
        slower of the two limits; ``None`` without limits."""
        times = [n / rate for n, rate in ((self.requests, self.requests_per_minute),
                                          (self.total_tokens, self.tokens_per_minute))
                 if rate]
        return max(times) if times else None

    def __str__(self) -> str:
        text = (f"{self.requests} chat request(s), about {self.prompt_tokens:,} prompt + "
                f"{self.completion_tokens:,} completion tokens (~{CHARS_PER_TOKEN:g} "
                "characters per token)")
        minutes = self.minutes
        if minutes is None:
            return text
        limits = " and ".join(f"{_number(rate)} {what}/min" for rate, what in (
            (self.requests_per_minute, "requests"), (self.tokens_per_minute, "tokens"))
            if rate)
        took = f"{minutes:.1f} min" if minutes >= 1 else f"{math.ceil(minutes * 60)} s"
        return f"{text}; ≈ {took} at {limits}"


class ChatRecommender(BaseRecommender):
    """A model under test served over the OpenAI chat-completions wire format.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``http://127.0.0.1:8000/v1`` (vLLM, ``recaudit serve``),
        ``http://localhost:11434/v1`` (Ollama) or ``https://api.openai.com/v1``.
    model : str
        Model name sent with every request.
    data : AuditDataset
        Catalog whose titles are shown in prompts and matched in answers.
    template : str or ChatTemplate
        ``default`` (FaiRLLM's prompt for whole-catalog requests, LLMRank's for candidate
        ranking), ``fairllm``, ``llmrank`` or a :class:`ChatTemplate`.
    api_key_env : str
        Name of the environment variable holding the API key; when it is unset a dummy key
        is sent (local servers need none).
    temperature, seed : float, int or None
        Sampling settings passed through (``None`` leaves them out of the request).
    max_tokens : int, optional
        Completion length limit passed through.
    timeout : float
        Seconds per HTTP request.
    max_retries : int
        Retries after the first attempt (timeouts, connection errors, 408/409/429/5xx,
        malformed answers); other 4xx answers fail at once.
    backoff, max_backoff : float
        Retry ``n`` waits ``min(max_backoff, backoff * 2**n)`` seconds times a random
        factor in [0.5, 1] (jitter), or the server's ``Retry-After`` when it sends one.
    concurrency : int
        Most requests in flight at once. Each HTTP 429 halves the in-flight limit (once per
        burst of 429s), ten successes in a row raise it by one, never below 1 nor above
        ``concurrency`` (:attr:`in_flight_limit`).
    requests_per_minute, tokens_per_minute : float, optional
        Provider limits to stay within (``None``: unlimited): token buckets shared by all
        in-flight requests space the sends evenly, so any window of ``W`` seconds holds at
        most ``1 + W * requests_per_minute / 60`` requests (retries included). Tokens are
        estimated before sending as for :meth:`estimate_cost` (characters / 4; a reply of
        ``k`` titles, at most ``max_tokens``) and reconciled with the answer's ``usage``
        when it reports one. The limits hold per object: process or Ray executors' replicas
        each keep their own.
    batch_size : int
        Most requests per engine batch (``max_batch_size``): the engine caches answers
        batch by batch, so a crash loses at most this many.
    match_threshold : float
        Fuzzy title-match threshold (difflib ratio; 1.0 turns fuzzy matching off).
    estimate_above : int
        Print a cost estimate to stderr before sending at least this many requests at once.
    client : openai.OpenAI, optional
        A ready client (its retries should be off); built from the settings otherwise.

    Examples
    --------
    >>> import recaudit as ra                                              # doctest: +SKIP
    >>> data = ra.datasets.synthetic(seed=0)                               # doctest: +SKIP
    >>> chat = ra.models.ChatRecommender("http://127.0.0.1:8000/v1", "recaudit",
    ...                                  data)                            # doctest: +SKIP
    >>> ra.audit(chat, data, ["popularity_bias", "position_bias"])         # doctest: +SKIP
    """

    capabilities = frozenset({"rank", "prompt"})

    def __init__(self, base_url: str, model: str, data: Any, *,
                 template: str | ChatTemplate = "default",
                 api_key_env: str = "OPENAI_API_KEY", temperature: float | None = 0.0,
                 seed: int | None = 0, max_tokens: int | None = None, timeout: float = 60.0,
                 max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 concurrency: int = 8, batch_size: int = 16,
                 requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None,
                 match_threshold: float = FUZZY_THRESHOLD, estimate_above: int = 200,
                 client: Any = None) -> None:
        if not str(base_url).startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        for name, value in (("concurrency", concurrency), ("batch_size", batch_size)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if int(max_retries) < 0 or float(timeout) <= 0:
            raise ValueError("max_retries must be >= 0 and timeout > 0")
        self.requests_per_minute = per_minute("requests_per_minute", requests_per_minute)
        self.tokens_per_minute = per_minute("tokens_per_minute", tokens_per_minute)
        self.base_url = str(base_url).rstrip("/")
        self.model = str(model)
        self.data = data
        self.template = chat_template(template)
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.concurrency = int(concurrency)
        self.max_batch_size = int(batch_size)
        self.match_threshold = float(match_threshold)
        self.estimate_above = int(estimate_above)
        self.matcher = CatalogMatcher(data.titles, self.match_threshold)
        self._client = client
        self._client_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._jitter = random.Random()
        self._fingerprint: str | None = None
        self._mean_title: float | None = None
        self.last_estimate: CostEstimate | None = None
        self.http_requests = 0  # attempts sent, retries included
        self.throttle = self._new_throttle()

    def _new_throttle(self) -> Throttle:
        return Throttle(self.concurrency, self.requests_per_minute, self.tokens_per_minute)

    @property
    def in_flight_limit(self) -> int:
        """Most requests in flight now: ``concurrency``, halved by each burst of HTTP 429s,
        raised by one after ten successes in a row (``throttle.gate.history`` lists them)."""
        return self.throttle.limit

    # ------------------------------------------------------------------ protocol
    def fingerprint(self) -> str:
        """Endpoint, model name, template, sampling settings, matching and catalog titles."""
        if self._fingerprint is None:
            self._fingerprint = "ChatRecommender-" + stable_hash(
                self.base_url, self.model, self.template.fingerprint(), self.temperature,
                self.seed, self.max_tokens, self.match_threshold,
                stable_hash(sorted(self.data.titles.items())))
        return self._fingerprint

    def messages(self, request: Request, k: int) -> list[dict[str, str]]:
        """The chat messages sent for ``request`` asking for ``k`` items."""
        return self.template.messages(request, self.data.titles, k)

    def render(self, request: Request, k: int = 10) -> str:
        """The text the model sees: each message as ``role: content``, blank-line separated."""
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in self.messages(request, k))

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        if int(k) < 1:
            raise RequestError(f"k must be >= 1, got {k}")
        k = int(k)
        requests = list(requests)
        if not requests:
            return []
        if len(requests) >= self.estimate_above:
            self.announce_work("rank", requests, [k] * len(requests))
        msgs = [self.messages(r, k) for r in requests]
        tokens = [sum(self._tokens(m, r, k)) for m, r in zip(msgs, requests)]
        workers = min(self.concurrency, len(msgs))
        if workers == 1:
            texts = [self.complete(m, t) for m, t in zip(msgs, tokens)]
        else:
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="recaudit-chat") as pool:
                texts = list(pool.map(self.complete, msgs, tokens))
        return [self.to_ranking(t, r, k) for t, r in zip(texts, requests)]

    # ------------------------------------------------------------------ parsing
    def to_ranking(self, text: str, request: Request, k: int) -> Ranking:
        """The :class:`Ranking` an answer gives: matched items in order (no repeats), the
        count of entries that matched no catalog item or an item outside the candidates,
        and the answer text."""
        return answer_to_ranking(text, request, k, self.matcher,
                                 match_threshold=self.match_threshold)

    # ------------------------------------------------------------------ cost
    def estimate_cost(self, requests: Sequence[Request], k: int | Sequence[int] = 10
                      ) -> CostEstimate:
        """Requests and approximate tokens that ranking ``requests`` would send.

        Prompt tokens: message characters / ``CHARS_PER_TOKEN`` plus 4 per message;
        completion tokens: ``k`` lines of a mean catalog title plus a list number.
        """
        requests = list(requests)
        ks = [int(k)] * len(requests) if isinstance(k, (int, float)) else [int(x) for x in k]
        prompt = completion = 0
        for r, kk in zip(requests, ks):
            p, c = self._tokens(self.messages(r, kk), r, kk, cap=False)
            prompt += p
            completion += c
        return CostEstimate(len(requests), prompt, completion, self.requests_per_minute,
                            self.tokens_per_minute)

    def _tokens(self, messages: list[dict[str, str]], request: Request | None, k: int,
                cap: bool = True) -> tuple[int, int]:
        """Estimated prompt and completion tokens of one request (see :meth:`estimate_cost`;
        with ``cap`` the completion is at most ``max_tokens``)."""
        prompt = math.ceil(sum(len(m["content"]) for m in messages) / CHARS_PER_TOKEN)
        prompt += 4 * len(messages)
        if request is None:
            return prompt, int(self.max_tokens or 0)
        if self._mean_title is None:
            titles = list(self.data.titles.values())
            self._mean_title = sum(len(t) for t in titles) / max(1, len(titles))
        n = k if request.candidates is None else min(k, len(request.candidates))
        completion = math.ceil(n * (self._mean_title + 4) / CHARS_PER_TOKEN)
        if cap and self.max_tokens is not None:
            completion = min(completion, int(self.max_tokens))
        return prompt, completion

    def announce_work(self, method: str, requests: Sequence[Request],
                      args: Sequence[Any]) -> CostEstimate | None:
        """Called by the engine with the requests it is about to send (cache misses):
        prints the cost estimate to stderr when there are ``estimate_above`` or more."""
        if method != "rank" or len(requests) < self.estimate_above:
            return None
        est = self.estimate_cost(requests, [int(a) for a in args])
        self.report_estimate(est, "sending")
        return est

    def report_estimate(self, estimate: CostEstimate, lead: str | None = None) -> None:
        """Keep ``estimate`` as :attr:`last_estimate`; with ``lead`` ("sending"), print
        ``recaudit: <lead> <estimate> to <base_url> (model <name>)`` to stderr."""
        self.last_estimate = estimate
        if lead is not None:
            print(f"recaudit: {lead} {estimate} to {self.base_url} (model {self.model!r})",
                  file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ HTTP
    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import openai

                key = os.environ.get(self.api_key_env or "", "") or "recaudit-no-key"
                self._client = openai.OpenAI(base_url=self.base_url, api_key=key,
                                             timeout=self.timeout, max_retries=0)
            return self._client

    def check(self) -> list[str]:
        """Ask the endpoint for its models (``GET /models``, one attempt); returns their ids.

        Raises :class:`EndpointError` naming the URL when it cannot be reached.
        """
        import openai

        try:
            page = self.client.models.list()
            return [getattr(m, "id", str(m)) for m in getattr(page, "data", [])]
        except openai.APIConnectionError as exc:
            raise EndpointError(f"cannot reach the chat endpoint {self.base_url}: "
                                f"{_reason(exc)}") from None
        except openai.APIStatusError as exc:
            raise EndpointError(f"chat endpoint {self.base_url}/models answered HTTP "
                                f"{exc.status_code}") from None

    def _params(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.seed is not None:
            params["seed"] = int(self.seed)
        if self.max_tokens is not None:
            params["max_tokens"] = int(self.max_tokens)
        return params

    def complete(self, messages: list[dict[str, str]], tokens: int | None = None) -> str:
        """The assistant's text for ``messages``, with retries; raises :class:`EndpointError`.

        Every attempt passes the :attr:`throttle`: an in-flight slot, then the rate limits,
        charged ``tokens`` (estimated from ``messages`` when not given) and reconciled with
        the answer's ``usage``.
        """
        import openai

        params = self._params(messages)
        if tokens is None:
            tokens = sum(self._tokens(messages, None, 0))
        throttle = self.throttle
        client = self.client  # built before the first send is scheduled, not after
        problem = ""
        for attempt in range(self.max_retries + 1):
            wait = None
            ticket = throttle.gate.acquire()
            outcome = "failed"
            try:
                throttle.wait(tokens)
                with self._count_lock:
                    self.http_requests += 1
                resp = client.chat.completions.create(**params)
                text = _content(resp)
                outcome = "ok"
                throttle.settle(tokens, _usage(resp))
                return text
            except openai.APITimeoutError:
                problem = f"no answer within the {self.timeout:g} s timeout"
            except openai.APIConnectionError as exc:
                problem = f"cannot connect ({_reason(exc)})"
            except openai.APIStatusError as exc:
                code = exc.status_code
                if code not in _RETRY_STATUS and code < 500:
                    raise EndpointError(
                        f"chat endpoint {self.base_url} answered HTTP {code} for model "
                        f"{self.model!r}: {_short(getattr(exc, 'message', exc))}") from None
                problem = f"HTTP {code} ({_short(getattr(exc, 'message', exc))})"
                wait = _retry_after(exc)
                if code == 429:
                    outcome = "rate_limited"
            except openai.APIResponseValidationError as exc:
                problem = f"an answer that is not a chat completion ({_short(exc)})"
            except _BadAnswer as exc:
                problem = str(exc)
            finally:
                throttle.gate.release(ticket, outcome)
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, wait))
        raise EndpointError(f"chat endpoint {self.base_url} (model {self.model!r}): {problem}; "
                            f"gave up after {self.max_retries + 1} attempt(s)")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_backoff, max(0.0, retry_after))
        cap = min(self.max_backoff, self.backoff * 2 ** attempt)
        return cap * self._jitter.uniform(0.5, 1.0)

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (for process or Ray executors): the client and lock are rebuilt."""
        state = dict(self.__dict__)
        state.update(_client=None, _client_lock=None, _count_lock=None, throttle=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.throttle = self._new_throttle()

    def __repr__(self) -> str:
        return (f"ChatRecommender({self.base_url!r}, model={self.model!r}, "
                f"template={self.template.name!r})")


# ---------------------------------------------------------------------- helpers
def _number(x: float) -> str:
    """``1,200`` for 1200.0, ``0.5`` for 0.5."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.6g}"


def _short(text: Any, n: int = 120) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[:n - 3] + "..."


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error, e.g. 'Connection refused'."""
    cause: BaseException | None = exc
    while cause is not None and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    return _short(cause if cause is not None and str(cause) else exc)


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = headers.get("retry-after") if isinstance(headers, Mapping) or hasattr(
        headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _usage(resp: Any) -> int | None:
    """Tokens an answer's ``usage`` reports (``total_tokens``, else prompt + completion)."""
    usage = getattr(resp, "usage", None)
    total = getattr(usage, "total_tokens", None)
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    parts = [getattr(usage, key, None) for key in ("prompt_tokens", "completion_tokens")]
    return sum(parts) if all(isinstance(p, int) for p in parts) else None


def _content(resp: Any) -> str:
    """The first choice's message text, or :class:`_BadAnswer` saying what was wrong."""
    if isinstance(resp, (str, bytes)):
        raise _BadAnswer(f"a non-JSON answer ({_short(resp, 60)!r})")
    choices = getattr(resp, "choices", None)
    if not choices:
        raise _BadAnswer(f"an answer without 'choices' ({_short(resp, 80)})")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        raise _BadAnswer("an answer whose choices[0].message.content is not text")
    return content
