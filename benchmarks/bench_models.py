"""Measure the language-model adapters: training time, scoring throughput, quality, memory.

Prints (not part of the test run):

- tiny LM training time on the default synthetic world (``train_tiny_lm``, fresh cache);
- candidate-scoring throughput of one ``HFRecommender`` batched (``score(all_requests)``)
  versus one request at a time (``score([r])`` in a loop), and versus a naive scorer that
  runs prompt + title through the model once per candidate; the same for whole-catalog
  ranking (batched versus one request at a time);
- HR@10 / NDCG@10 on held-out items (whole catalog, history excluded) of the tiny LM,
  MostPopular and Random, with 95% bootstrap CIs over users, and the paired difference
  tiny LM - MostPopular;
- with ``--sweep``: scoring throughput per dtype and batch size, on the tiny LM or on a
  random-weight GPT-2-small-shaped model (``--sweep-shape gpt2-small``; what a GPU is for);
- peak memory (ru_maxrss), peak Python allocations (tracemalloc) and, on CUDA, peak GPU memory.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_models.py [--users 400 --items 200 --requests 64]
    python benchmarks/bench_models.py --device cuda --sweep --sweep-shape gpt2-small
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc

import numpy as np


def naive_scores(model, requests):
    """One forward pass over prompt + title per candidate: the unbatched, uncached way."""
    import torch

    out = []
    with torch.inference_mode():
        for req in requests:
            p = model.tokenizer(model.render(req), add_special_tokens=False)["input_ids"]
            row = []
            for item in req.candidates:
                c = model.tokenizer(model.template.continuation(model.data.titles[item]),
                                    add_special_tokens=False)["input_ids"]
                ids = torch.tensor([p + c], device=model.device)
                lp = torch.log_softmax(model.model(input_ids=ids).logits[0].float(), -1)
                row.append(float(sum(lp[len(p) - 1 + j, t] for j, t in enumerate(c))))
            out.append(np.array(row))
    return out


def timed(fn):
    start = time.perf_counter()
    value = fn()
    _sync()
    return value, time.perf_counter() - start


def best_of(fn, repeats, before=None):
    """(value, fastest wall time) over ``repeats`` runs; ``before()`` runs untimed each time."""
    best, value = float("inf"), None
    for _ in range(repeats):
        if before is not None:
            before()
        value, t = timed(fn)
        best = min(best, t)
    return value, best


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _quality_table(data, rankings: dict, truth: list, n_resamples: int = 1000) -> None:
    from recaudit.metrics.ranking import hit_at_k, ndcg_at_k
    from recaudit.metrics.statistics import bootstrap_ci

    print(f"{'model':<14}{'HR@10':>8}  {'95% CI':<16}{'NDCG@10':>8}  {'95% CI':<16}")
    hits = {}
    for name, rk in rankings.items():
        hit = np.array([hit_at_k(r.items, t, 10) for r, t in zip(rk, truth)], dtype=float)
        nd = np.array([ndcg_at_k(r.items, t, 10) for r, t in zip(rk, truth)], dtype=float)
        hits[name] = (hit, nd)
        h_lo, h_hi = bootstrap_ci(hit, n_resamples=n_resamples, seed=0)
        n_lo, n_hi = bootstrap_ci(nd, n_resamples=n_resamples, seed=0)
        print(f"{name:<14}{hit.mean():>8.4f}  [{h_lo:.3f}, {h_hi:.3f}]  "
              f"{nd.mean():>8.4f}  [{n_lo:.3f}, {n_hi:.3f}]")
    if "tiny LM" in hits and "MostPopular" in hits:
        for k, label in ((0, "HR@10"), (1, "NDCG@10")):
            diff = hits["tiny LM"][k] - hits["MostPopular"][k]
            lo, hi = bootstrap_ci(diff, n_resamples=n_resamples, seed=0)
            print(f"paired {label} tiny LM - MostPopular: {diff.mean():+.4f} "
                  f"[{lo:+.3f}, {hi:+.3f}]")


def _candidate_requests(data, n, n_cand, seed=0):
    from recaudit.models import Request

    rng = np.random.default_rng(seed)
    users = list(data.test_items)[:n]
    return [Request(u, history=data.train_histories[u],
                    candidates=tuple(rng.choice(data.item_ids, n_cand, replace=False)))
            for u in users]


def sweep(model, data, args) -> None:
    """Scoring throughput per dtype and batch size (a fresh adapter for each)."""
    import torch

    from recaudit.models import HFRecommender

    net, tok = model.model, model.tokenizer
    if args.sweep_shape == "gpt2-small":
        from transformers import GPT2Config, GPT2LMHeadModel

        torch.manual_seed(0)
        net = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=768,
                                         n_layer=12, n_head=12, bos_token_id=tok.bos_token_id,
                                         eos_token_id=tok.eos_token_id))
    n_params = sum(p.numel() for p in net.parameters()) / 1e6
    reqs = _candidate_requests(data, args.sweep_requests, args.candidates, seed=1)
    n_pairs = len(reqs) * args.candidates
    print(f"\nscoring sweep: {args.sweep_shape} ({n_params:.0f}M parameters), "
          f"{len(reqs)} requests x {args.candidates} candidates on {args.device}")
    print(f"{'dtype':<10}{'batch':>6}{'pairs/s':>12}{'seconds':>9}{'peak GPU MiB':>14}")
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    for dtype in args.dtypes.split(","):
        net.load_state_dict(state)
        net.to(torch.float32)
        lm = HFRecommender((net, tok), data, model.template, device=args.device, dtype=dtype)
        lm.score(reqs[:2])
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            lm._batch_now = bs
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            _, t = timed(lambda lm=lm: lm.score(reqs))
            peak = (torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available()
                    else float("nan"))
            print(f"{dtype:<10}{lm.effective_batch_size:>6}{n_pairs / t:>12.1f}{t:>9.2f}"
                  f"{peak:>14.0f}")
        del lm
    net.to(torch.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: TinyLMConfig's)")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--naive-requests", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of each scoring method (the fastest is reported)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16")
    parser.add_argument("--cache-dir", default=None, help="re-use a model cache (default: fresh)")
    parser.add_argument("--sweep", action="store_true",
                        help="scoring throughput per dtype and batch size")
    parser.add_argument("--sweep-only", action="store_true",
                        help="train, then only the sweep (no one-by-one or quality runs)")
    parser.add_argument("--sweep-shape", choices=["tiny", "gpt2-small"], default="tiny")
    parser.add_argument("--sweep-requests", type=int, default=256)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--batch-sizes", default="16,64,256")
    args = parser.parse_args(argv)

    import torch

    import recaudit as ra
    from recaudit.models import MostPopular, RandomRecommender, TinyLMConfig, train_tiny_lm

    print(f"torch threads: {torch.get_num_threads()}")
    data = ra.datasets.synthetic(n_users=args.users, n_items=args.items, seed=0)
    print(data)
    cache = args.cache_dir or tempfile.mkdtemp(prefix="recaudit-bench-")
    config = TinyLMConfig() if args.epochs is None else TinyLMConfig(epochs=args.epochs)
    model, t_train = timed(lambda: train_tiny_lm(data, seed=0, cache_dir=cache, config=config,
                                                 device=args.device, dtype=args.dtype,
                                                 progress=sys.stderr.isatty()))
    print(f"tiny LM training (incl. tokenizer, save, load): {t_train:.1f} s  -> {model.path}")
    print(f"model: {model!r}")
    if args.sweep_only:
        sweep(model, data, args)
        return 0

    reqs = _candidate_requests(data, args.requests, args.candidates)
    n_pairs = len(reqs) * args.candidates
    model.score(reqs[:2])  # warm-up: first-call allocations are not the method's cost
    fresh = model._token_cache.clear  # every timing tokenizes from scratch
    tracemalloc.start()
    batched, _ = timed(lambda: model.score(reqs))
    _, peak_py = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    batched, t_batch = best_of(lambda: model.score(reqs), args.repeats, fresh)
    single, t_single = best_of(lambda: [model.score([r])[0] for r in reqs], args.repeats, fresh)
    sub = reqs[: args.naive_requests]
    naive, t_naive = timed(lambda: naive_scores(model, sub))
    t_naive_all = t_naive * len(reqs) / len(sub)
    err = max(float(np.abs(a - b).max()) for a, b in zip(batched, single))
    err_naive = max(float(np.abs(a - b).max()) for a, b in zip(batched, naive))
    print(f"\ncandidate scoring, {len(reqs)} requests x {args.candidates} candidates "
          f"(batch size {model.effective_batch_size}, fastest of {args.repeats} runs)")
    print(f"  batched            : {n_pairs / t_batch:9.1f} pairs/s ({t_batch:.2f} s)")
    print(f"  one request a time : {n_pairs / t_single:9.1f} pairs/s ({t_single:.2f} s)")
    print(f"  naive per candidate: {n_pairs / t_naive_all:9.1f} pairs/s "
          f"(extrapolated from {len(sub)} requests)")
    print(f"  ratio batched / one-at-a-time : {t_single / t_batch:.1f}x")
    print(f"  ratio batched / naive         : {t_naive_all / t_batch:.1f}x  (goal >= 5x)")
    print(f"  max |diff| batched vs one-by-one {err:.2e}, vs naive {err_naive:.2e}")

    few = [data.request(u) for u in list(data.test_items)[: args.requests]]
    _, t_few = best_of(lambda: model.rank(few, 10), args.repeats, fresh)
    _, t_few1 = best_of(lambda: [model.rank([r], 10) for r in few], args.repeats, fresh)
    print(f"\nwhole-catalog ranking, {len(few)} requests x ~{len(data.item_ids)} items")
    print(f"  batched            : {len(few) * len(data.item_ids) / t_few:9.1f} pairs/s "
          f"({t_few:.2f} s)")
    print(f"  one request a time : {len(few) * len(data.item_ids) / t_few1:9.1f} pairs/s "
          f"({t_few1:.2f} s)")
    print(f"  ratio batched / one-at-a-time : {t_few1 / t_few:.1f}x")

    full = [data.request(u) for u in data.test_items]
    ranks, t_rank = timed(lambda: model.rank(full, 10))
    print(f"\nwhole-catalog ranking: {len(full)} users x ~{len(data.item_ids)} items in "
          f"{t_rank:.1f} s ({len(full) * len(data.item_ids) / t_rank:.0f} pairs/s)")
    truth = [data.test_items[u] for u in data.test_items]
    _quality_table(data, {"tiny LM": ranks, "MostPopular": MostPopular(data).rank(full, 10),
                          "Random": RandomRecommender(data, 0).rank(full, 10)}, truth)

    if args.sweep:
        sweep(model, data, args)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {rss:.0f} MiB; peak Python allocations while batch scoring "
          f"{peak_py / 2**20:.1f} MiB (tracemalloc; torch tensors are not traced)")
    if torch.cuda.is_available():
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
