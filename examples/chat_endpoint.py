"""Audit a recommender behind an OpenAI-compatible chat API.

Run:
    python examples/chat_endpoint.py                      # serves the tiny LM itself
    python examples/chat_endpoint.py --served zoo --quick # a cheap position-biased zoo model
    python examples/chat_endpoint.py --base-url http://127.0.0.1:8000/v1 --model NAME

With ``--base-url`` it audits that endpoint (vLLM, llama.cpp, Ollama, ``recaudit serve``,
or a hosted API with its key in ``$OPENAI_API_KEY``); the catalog must be the one the
endpoint's model knows (here the synthetic world, seed 0). Without it, the script starts an
in-process :class:`recaudit.serve.ChatServer` on 127.0.0.1 and audits that.

It prints the cost estimate, audits popularity and position bias through the chat
endpoint, writes the report, and audits again to show that the re-run is served from the
engine's cache (0 HTTP requests).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from typing import Any

import recaudit as ra


@contextlib.contextmanager
def local_server(served: str, data: Any, quick: bool) -> Iterator[Any]:
    from recaudit.serve import ChatServer

    if served == "zoo":
        from recaudit.testing.zoo.position import EarlyCandidateRanker

        model = EarlyCandidateRanker(data)
    else:
        config = ra.models.TinyLMConfig(epochs=2) if quick else None
        model = ra.models.train_tiny_lm(data, seed=0, config=config, progress=not quick)
    with ChatServer(model, data) as server:
        yield server


def main(base_url: str | None = None, model_name: str = "recaudit", served: str = "tiny",
         quick: bool = False, out: str = "reports/chat_endpoint") -> ra.AuditReport:
    data = (ra.datasets.synthetic(n_users=80, n_items=50, seed=0) if quick
            else ra.datasets.synthetic(seed=0))
    auditors = [("popularity_bias", {"n_users": 30 if quick else 200}),
                ("position_bias", {"n_users": 20 if quick else 100,
                                   "n_shuffles": 2 if quick else 5})]
    config = {"n_bootstrap": 200 if quick else 1000}
    cache = tempfile.mkdtemp(prefix="recaudit-chat-") + "/answers.sqlite"

    with contextlib.ExitStack() as stack:
        server = None
        if base_url is None:
            server = stack.enter_context(local_server(served, data, quick))
            base_url = server.base_url
        chat = ra.models.ChatRecommender(base_url, model_name, data, template="default",
                                         temperature=0.0, seed=0)
        chat.check()  # one clear line if the endpoint is down
        ra.estimate_audit(chat, data, auditors, config, cache=cache)  # printed to stderr
        report = ra.audit(chat, data, auditors, config=config, cache=cache,
                          progress=not quick, title=f"{model_name} at {base_url}")
        sent = chat.http_requests
        ra.audit(chat, data, auditors, config=config, cache=cache, progress=False)
        print(report.summary().to_string(index=False, max_colwidth=30))
        print(f"\nfirst run: {sent} HTTP requests; "
              f"re-run: {chat.http_requests - sent} HTTP requests")
        if server is not None:
            print(f"(the local server answered {server.answered} chat requests)")
    report.to_json(f"{out}.json")
    report.to_html(f"{out}.html")
    print(f"wrote {out}.html and {out}.json")
    return report


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", help="an OpenAI-compatible API root, e.g. "
                   "http://127.0.0.1:8000/v1 (default: start a local server)")
    p.add_argument("--model", default="recaudit", help="model name sent to the endpoint")
    p.add_argument("--served", choices=("tiny", "zoo"), default="tiny",
                   help="what the local server serves (without --base-url)")
    p.add_argument("--quick", action="store_true", help="small world and audits")
    p.add_argument("--out", default="reports/chat_endpoint", help="report path stem")
    a = p.parse_args()
    main(a.base_url, a.model, a.served, a.quick, a.out)
