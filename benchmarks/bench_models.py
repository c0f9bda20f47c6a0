"""Measure the language-model adapters: training time, scoring throughput, memory.

Prints (not part of the test run):

- tiny LM training time on the default synthetic world (``train_tiny_lm``, fresh cache);
- candidate-scoring throughput of one ``HFRecommender`` batched (``score(all_requests)``)
  versus one request at a time (``score([r])`` in a loop), and versus a naive scorer that
  runs prompt + title through the model once per candidate; the goal is >= 5x;
- HR@10 / NDCG@10 on held-out items of the tiny LM, MostPopular and Random;
- peak memory (ru_maxrss) and peak Python allocations (tracemalloc) of the scoring run.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_models.py [--users 400 --items 200 --requests 64]
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
                ids = torch.tensor([p + c])
                lp = torch.log_softmax(model.model(input_ids=ids).logits[0].float(), -1)
                row.append(float(sum(lp[len(p) - 1 + j, t] for j, t in enumerate(c))))
            out.append(np.array(row))
    return out


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--naive-requests", type=int, default=8)
    parser.add_argument("--cache-dir", default=None, help="re-use a model cache (default: fresh)")
    args = parser.parse_args(argv)

    import torch

    import recaudit as ra
    from recaudit.metrics.ranking import hit_at_k, ndcg_at_k
    from recaudit.models import MostPopular, RandomRecommender, Request, train_tiny_lm

    print(f"torch threads: {torch.get_num_threads()}")
    data = ra.datasets.synthetic(n_users=args.users, n_items=args.items, seed=0)
    print(data)
    cache = args.cache_dir or tempfile.mkdtemp(prefix="recaudit-bench-")
    model, t_train = timed(lambda: train_tiny_lm(data, seed=0, cache_dir=cache))
    print(f"tiny LM training (incl. tokenizer, save, load): {t_train:.1f} s  -> {model.path}")

    rng = np.random.default_rng(0)
    users = list(data.test_items)[: args.requests]
    reqs = [Request(u, history=data.train_histories[u],
                    candidates=tuple(rng.choice(data.item_ids, args.candidates, replace=False)))
            for u in users]
    n_pairs = len(reqs) * args.candidates

    model.score(reqs[:2])  # warm-up: first-call allocations are not the method's cost
    model._token_cache.clear()  # both timings tokenize from scratch
    tracemalloc.start()
    batched, t_batch = timed(lambda: model.score(reqs))
    _, peak_py = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    model._token_cache.clear()
    single, t_single = timed(lambda: [model.score([r])[0] for r in reqs])
    sub = reqs[: args.naive_requests]
    naive, t_naive = timed(lambda: naive_scores(model, sub))
    t_naive_all = t_naive * len(reqs) / len(sub)
    err = max(float(np.abs(a - b).max()) for a, b in zip(batched, single))
    err_naive = max(float(np.abs(a - b).max()) for a, b in zip(batched, naive))
    print(f"\ncandidate scoring, {len(reqs)} requests x {args.candidates} candidates")
    print(f"  batched            : {n_pairs / t_batch:9.1f} pairs/s ({t_batch:.2f} s)")
    print(f"  one request a time : {n_pairs / t_single:9.1f} pairs/s ({t_single:.2f} s)")
    print(f"  naive per candidate: {n_pairs / t_naive_all:9.1f} pairs/s "
          f"(extrapolated from {len(sub)} requests)")
    print(f"  ratio batched / one-at-a-time : {t_single / t_batch:.1f}x")
    print(f"  ratio batched / naive         : {t_naive_all / t_batch:.1f}x  (goal >= 5x)")
    print(f"  max |diff| batched vs one-by-one {err:.2e}, vs naive {err_naive:.2e}")

    full = [data.request(u) for u in data.test_items]
    ranks, t_rank = timed(lambda: model.rank(full, 10))
    print(f"\nwhole-catalog ranking: {len(full)} users x ~{len(data.item_ids)} items in "
          f"{t_rank:.1f} s ({len(full) * len(data.item_ids) / t_rank:.0f} pairs/s)")
    print(f"{'model':<18}{'HR@10':>8}{'NDCG@10':>10}")
    truth = [data.test_items[u] for u in data.test_items]
    for name, rk in [("tiny LM", ranks), ("MostPopular", MostPopular(data).rank(full, 10)),
                     ("Random", RandomRecommender(data, 0).rank(full, 10))]:
        hr = np.mean([hit_at_k(r.items, t, 10) for r, t in zip(rk, truth)])
        nd = np.mean([ndcg_at_k(r.items, t, 10) for r, t in zip(rk, truth)])
        print(f"{name:<18}{hr:>8.4f}{nd:>10.4f}")

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {rss:.0f} MiB; peak Python allocations while batch scoring "
          f"{peak_py / 2**20:.1f} MiB (tracemalloc; torch tensors are not traced)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
