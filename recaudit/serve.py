"""``recaudit serve``: any :class:`~recaudit.Recommender` behind an OpenAI-compatible API.

The server answers ``POST /v1/chat/completions`` and ``GET /v1/models``. It reads the
history titles, candidate titles, stated profile and list length back out of the prompt
(any prompt that names catalog titles, such as :class:`~recaudit.models.ChatRecommender`'s
built-in templates), ranks with the served model and answers a numbered list of titles.
So the tiny LM (or a zoo model) can be audited through exactly the path a hosted LLM takes,
and clients can be tested against failures on demand: HTTP 500/429 at a rate, garbage
bodies at a rate, a fixed delay.

Built on the standard library's ``http.server.ThreadingHTTPServer``: a test and local tool
with no extra dependency, one thread per connection (concurrent clients work), bound to
loopback unless told otherwise. It is not meant to face the internet.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .contract import Request

_CANDIDATE_MARK = re.compile(r"\bcandidate", re.IGNORECASE)
_K = re.compile(r"\b(?:top|list of|rank these|recommend)\s+(\d{1,4})\b", re.IGNORECASE)


class PromptReader:
    """Reads a recommendation request back out of prompt text, using the catalog titles.

    Titles are found longest first (so a title inside a longer one is not double counted);
    those before the first word "candidate" are the history, those after it the candidates,
    in order of appearance. Sensitive-attribute values that appear as whole words before the
    first history title are the stated profile. ``k`` comes from "top K", "list of K",
    "recommend K" or "rank these K" (default: the number of candidates, else 10).

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    >>> reader = PromptReader(data)
    >>> t = data.titles
    >>> req, k = reader.read(f"I am a fan of {t['i0003']}; {t['i0001']}. Give me a "
    ...                      "list of 5 titles.")
    >>> req.history, k
    (('i0003', 'i0001'), 5)
    """

    def __init__(self, data: Any) -> None:
        self.data = data
        by_title: dict[str, str] = {}
        for item, title in data.titles.items():
            by_title.setdefault(str(title), item)
        self._titles = sorted(by_title.items(), key=lambda kv: -len(kv[0]))
        self._values: list[tuple[str, str, re.Pattern]] = []
        for attr in getattr(data, "sensitive", ()) or ():
            for value in data.attribute_values(attr):
                words = " ".join(str(value).replace("_", " ").split())
                pat = re.compile(r"(?<![\w-])" + re.escape(words) + r"(?![\w-])", re.I)
                self._values.append((attr, str(value), pat))

    def find_titles(self, text: str) -> list[tuple[int, str]]:
        """``(position, item id)`` of every catalog title in ``text``, in text order."""
        work = text
        found = []
        for title, item in self._titles:
            start = work.find(title)
            while start >= 0:
                found.append((start, item))
                work = work[:start] + "\0" * len(title) + work[start + len(title):]
                start = work.find(title, start + len(title))
        return sorted(found)

    def read(self, text: str, user_id: str = "served") -> tuple[Request, int]:
        mark = _CANDIDATE_MARK.search(text)
        split = mark.start() if mark else len(text)
        found = self.find_titles(text)
        history = tuple(i for p, i in found if p < split)
        candidates = tuple(dict.fromkeys(i for p, i in found if p >= split)) if mark else None
        first = found[0][0] if found else split
        preamble = text[:min(first, split)]
        profile: dict[str, str] = {}
        for attr, value, pat in self._values:
            if pat.search(preamble) and len(value) >= len(profile.get(attr, "")):
                profile[attr] = value
        m = _K.search(text)
        if m:
            k = int(m.group(1))
        else:
            k = len(candidates) if candidates else 10
        return Request(user_id, history=history, profile=profile, candidates=candidates), \
            max(1, k)


class ChatServer:
    """An OpenAI-compatible chat server answering from a recommender (in a thread).

    Parameters
    ----------
    model : Recommender
        Answers every request (``rank`` only).
    data : AuditDataset
        Catalog whose titles are read from prompts and written in answers.
    host, port : str, int
        Where to listen; port 0 picks a free port (see :attr:`base_url`).
    fail_rate : float
        Share of chat requests answered HTTP 500 or 429 (half each), for client tests.
    garbage_rate : float
        Share answered 200 with a body that is not a chat completion (HTML, or JSON of
        another shape).
    delay : float
        Seconds to wait before every chat answer.
    seed : int
        Seeds the failure draws.
    model_name : str
        The id ``/v1/models`` lists.

    Examples
    --------
    >>> import recaudit as ra                                               # doctest: +SKIP
    >>> with ChatServer(ra.models.MostPopular(data), data) as server:      # doctest: +SKIP
    ...     chat = ra.models.ChatRecommender(server.base_url, "recaudit", data)
    """

    def __init__(self, model: Any, data: Any, *, host: str = "127.0.0.1", port: int = 0,
                 fail_rate: float = 0.0, garbage_rate: float = 0.0, delay: float = 0.0,
                 seed: int = 0, model_name: str = "recaudit") -> None:
        for name, v in (("fail_rate", fail_rate), ("garbage_rate", garbage_rate)):
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if float(delay) < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self.model = model
        self.data = data
        self.reader = PromptReader(data)
        self.fail_rate = float(fail_rate)
        self.garbage_rate = float(garbage_rate)
        self.delay = float(delay)
        self.model_name = model_name
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self.posts = 0  # every POST, wrong routes included
        self.chat_requests = 0  # POSTs to /chat/completions, failed ones included
        self.answered = 0  # of them answered with a ranking
        self.in_flight = 0
        self.max_in_flight = 0  # most chat requests handled at once
        self.arrivals: list[float] = []  # time.monotonic() of each chat request, in order
        self.last_body: dict[str, Any] | None = None
        self.httpd = ThreadingHTTPServer((host, int(port)), _handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ChatServer:
        """Serve in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        name="recaudit-serve")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ answers
    def draw(self) -> str:
        """What to do with the next chat request: ``ok``, ``500``, ``429``, ``garbage-html``
        or ``garbage-json``."""
        with self._lock:
            self.chat_requests += 1
            self.arrivals.append(time.monotonic())
            u = self._rng.random()
            if u < self.fail_rate:
                return "500" if self._rng.random() < 0.5 else "429"
            if u < self.fail_rate + self.garbage_rate:
                return "garbage-html" if self._rng.random() < 0.5 else "garbage-json"
            return "ok"

    def answer(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The chat completion for a parsed request body."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError("'messages' must be a non-empty list")
        text = "\n".join(str(m.get("content", "")) for m in messages
                         if isinstance(m, Mapping) and m.get("role") == "user")
        request, k = self.reader.read(text)
        if request.candidates is not None:
            k = min(k, len(request.candidates))
        with self._model_lock:
            ranking = self.model.rank([request], k)[0]
        titles = self.data.titles
        content = "\n".join(f"{n}. {titles.get(i, i)}"
                            for n, i in enumerate(ranking.items[:k], start=1))
        with self._lock:
            self.answered += 1
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": str(body.get("model", self.model_name)),
            "system_fingerprint": "recaudit-serve",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content) // 4,
                      "total_tokens": prompt_tokens + len(content) // 4},
        }


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stall
        server_version = "recaudit-serve"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, code: int, payload: Any, content_type: str = "application/json",
                  headers: Mapping[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, message: str, kind: str,
                   headers: Mapping[str, str] | None = None) -> None:
            self._send(code, {"error": {"message": message, "type": kind, "code": code}},
                       headers=headers)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [
                    {"id": server.model_name, "object": "model", "created": 0,
                     "owned_by": "recaudit"}]})
            else:
                self._error(404, f"no route {self.path}", "not_found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with server._lock:
                server.posts += 1
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._error(404, f"no route {self.path}", "not_found")
                return
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._chat(raw)
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _chat(self, raw: bytes) -> None:
            action = server.draw()
            if server.delay:
                time.sleep(server.delay)
            if action == "500":
                self._error(500, "injected server error", "server_error")
                return
            if action == "429":
                self._error(429, "injected rate limit", "rate_limit_exceeded",
                            headers={"Retry-After": "0"})
                return
            if action == "garbage-html":
                self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            if action == "garbage-json":
                self._send(200, {"result": "not a chat completion"})
                return
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, Mapping):
                    raise ValueError("the body must be a JSON object")
                server.last_body = dict(body)
                payload = server.answer(body)
            except (ValueError, KeyError) as exc:
                self._error(400, f"bad request: {exc}", "invalid_request_error")
                return
            except Exception as exc:  # the served model failed: say so, keep serving
                self._error(500, f"model error: {type(exc).__name__}: {exc}", "server_error")
                return
            self._send(200, payload)

    return Handler
