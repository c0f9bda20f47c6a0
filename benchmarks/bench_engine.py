"""Engine benchmark: where the demo audit's time goes, and what the cache saves.

    python benchmarks/bench_engine.py                 # the demo audit (tiny LM, default world)
    python benchmarks/bench_engine.py --quick         # what `recaudit demo --quick` audits
    python benchmarks/bench_engine.py --model scoring # the cheap zoo model (engine overhead)

Prints, per auditor and in total, the share of audit wall time spent inside the model
(goal: >= 90% for the demo audit) and the speed-up of a second identical run served from a
warm cache (goal: >= 20x). The benchmark starts from empty caches in a temporary folder
(``$RECAUDIT_CACHE_DIR``); training the model under test happens before the clock starts,
while shadow models that auditors train through ``fit`` count as time inside the model.

Measured 2026-11-28 on the shared 2-core CPU box (other jobs running), tiny LM:

- default demo audit (400 users, 200 items, every built-in auditor): first run 888.8 s wall,
  97.5% inside the model; second run 11.3 s (all 11 225 unique requests from cache): 78.5x.
- ``--quick``: first run 118.1 s, 83.2% inside the model; second run 17.6 s: 6.7x (fixed
  costs dominate at this size: figures, Captum gradients, bootstraps).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import recaudit as ra  # noqa: E402
from recaudit.cli import quick_config  # noqa: E402
from recaudit.testing.zoo import ScoringModel  # noqa: E402


def build(args):
    if args.quick:
        data = ra.datasets.synthetic(n_users=80, n_items=50, seed=0)
    else:
        data = ra.datasets.synthetic(seed=0)
    if args.model == "scoring":
        return ScoringModel(data), data
    config = ra.models.TinyLMConfig(epochs=2) if args.quick else None
    return ra.models.train_tiny_lm(data, seed=0, config=config, progress=False), data


def run(model, data, auditors, cache, config):
    t0 = time.perf_counter()
    report = ra.audit(model, data, auditors=auditors, cache=cache, progress=False,
                      config=config)
    return report, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="what `recaudit demo --quick` runs: "
                   "a small world, 2 training epochs, every auditor shrunk")
    p.add_argument("--model", choices=["tiny_lm", "scoring"], default="tiny_lm")
    p.add_argument("--auditors", nargs="*", default=None, help="default: every built-in")
    args = p.parse_args(argv)
    config = quick_config() if args.quick else {}

    with tempfile.TemporaryDirectory() as tmp:
        # a fresh cache for everything (request answers and trained shadow models)
        os.environ["RECAUDIT_CACHE_DIR"] = tmp
        t = time.perf_counter()
        model, data = build(args)
        print(f"model ready in {time.perf_counter() - t:.1f} s: {model!r} on {data!r}")
        cache = Path(tmp) / "requests.sqlite"
        first, wall1 = run(model, data, args.auditors, cache, config)
        second, wall2 = run(model, data, args.auditors, cache, config)

    print(f"\n{'auditor':26s} {'status':8s} {'wall s':>8s} {'model s':>8s} {'in model':>8s} "
          f"{'requests':>8s} {'unique':>7s} {'2nd run s':>9s} {'2nd hits':>8s}")
    for a, b in zip(first.results, second.results):
        c = a.cost
        share = c.model_seconds / c.total_seconds if c.total_seconds else 0.0
        print(f"{a.auditor:26s} {a.status:8s} {c.total_seconds:8.2f} {c.model_seconds:8.2f} "
              f"{share:8.0%} {c.requests:8d} {c.unique:7d} {b.cost.total_seconds:9.2f} "
              f"{b.cost.cache_hits:8d}")
    total = first.cost
    share = total.model_seconds / wall1 if wall1 else 0.0
    speedup = wall1 / wall2 if wall2 else float("inf")
    print(f"\nfirst run : {wall1:8.1f} s wall, {total.model_seconds:.1f} s in the model "
          f"-> {share:.1%} of wall time inside the model (goal >= 90%)")
    print(f"second run: {wall2:8.1f} s wall, {second.cost.cache_hits} of "
          f"{second.cost.unique} unique requests from cache -> {speedup:.1f}x faster "
          f"(goal >= 20x)")
    ok = share >= 0.9 and speedup >= 20
    print("goals met" if ok else "goal(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
