"""Scale benchmark: where audit time goes, the cache, Ray workers, and memory versus users.

    python benchmarks/bench_scale.py                  # everything (about 10 min on 2 cores)
    python benchmarks/bench_scale.py --quick          # memory at 1k and 10k users only
    python benchmarks/bench_scale.py --no-ray         # skip the Ray part
    python benchmarks/bench_scale.py --sizes 1000 10000 100000 --no-engine

Prints, in one run:

1. the share of audit wall time spent inside the model and the cache speed-up (a second
   identical run on a warm cache), for a model-bound audit: the tiny LM (1 epoch, trained
   before the clock starts) audited by popularity_bias and position_bias;
2. the Ray speed-up of the same audit on 1 and 2 Ray workers, each on a fresh cache: cold
   (the clock includes starting the workers and shipping the model to them, not starting
   Ray) and warm (the same workers, model loaded, a second empty cache), against the local
   run with this process's torch threads and with 1 thread (what each worker gets), and
   whether the metrics equal the local run's exactly;
3. the memory curve: peak RSS of an audit that ranks every user (popularity_bias and
   provider_fairness with ``n_users=None``, MostPopular, default 1000 bootstrap resamples)
   at 1k, 10k and 100k users, each in a fresh process.

Measured 2026-11-28 on the shared 2-core CPU box (load average about 4 from other jobs, so
timings are noisy):

- [1] 18.9-22.5 s wall, 88-90% inside the model (800 unique requests); warm cache 1.3-1.5 s:
  13-18x (fixed costs, bootstraps and figures, dominate the second run at this size).
  The same audit with 1 torch thread: 8.7-8.8 s (2 threads on 2 busy cores oversubscribe).
- [2] 1 worker: cold 12.7-14.7 s, warm 6.0 s; 2 workers: cold 16.5-21.7 s, warm 6.5 s;
  metrics identical to the local run every time. Two workers bring nothing on two shared
  cores; a cold start costs 4-8 s (workers import torch and load the model).
- [3] peak RSS 243 / 281 / 536 MiB at 1k / 10k / 100k users (RSS after building the data
  138 / 162 / 318 MiB; audit 3 / 36 / 211 s). Before streaming and blocked bootstraps the
  same audit peaked at 254 / 1036 MiB at 1k / 10k (linear: all answers held, and every
  bootstrap resample drawn at once, 1000 x users values); with 200 resamples it was
  203 / 397 / 2458 MiB at 1k / 10k / 100k.
- ``--defaults`` (every built-in auditor at its default parameters, MostPopular; one is
  skipped for lack of gradients): peak RSS 596 / 614 / 888 MiB at 1k / 10k / 100k users,
  audit 17 / 15 / 44 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

AUDITORS = [("popularity_bias", {"n_users": 200}), ("position_bias", {"n_users": 60})]
MEMORY_AUDITORS = ["popularity_bias", "provider_fairness"]


# ------------------------------------------------------------------ 1 + 2: time and Ray
def _audit(model, data, cache, executor=None):
    import recaudit as ra

    t0 = time.perf_counter()
    report = ra.audit(model, data, AUDITORS, config={"n_bootstrap": 500,
                                                      "n_permutations": 500},
                      cache=cache, progress=False, executor=executor)
    return report, time.perf_counter() - t0


def _metrics(report):
    return [(m.auditor, m.name, m.scope, m.value, m.ci_low, m.ci_high, m.p_value)
            for m in report.metrics]


def engine_and_ray(workers: list[int]) -> None:
    import torch

    import recaudit as ra

    data = ra.datasets.synthetic(n_users=240, n_items=60, seed=0)
    t = time.perf_counter()
    model = ra.models.train_tiny_lm(data, seed=0, config=ra.models.TinyLMConfig(epochs=1),
                                    progress=False)
    threads = torch.get_num_threads()
    print(f"tiny LM ready in {time.perf_counter() - t:.1f} s; torch threads in this "
          f"process: {threads}; CPUs: {os.cpu_count()}")
    model.score([data.request(u, candidates=data.item_ids[:20]) for u in data.user_ids[:8]])
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "local.sqlite"
        first, wall1 = _audit(model, data, cache)
        second, wall2 = _audit(model, data, cache)
        torch.set_num_threads(1)  # what each Ray worker gets
        try:
            single, wall_single = _audit(model, data, Path(tmp) / "single.sqlite")
        finally:
            torch.set_num_threads(threads)
    c = first.cost
    print(f"\n[1] local executor, first run : {wall1:7.1f} s wall, {c.model_seconds:.1f} s in "
          f"the model -> {c.model_seconds / wall1:.1%} of audit time inside the model "
          f"({c.unique} unique requests, {c.model_calls} model calls)")
    print(f"    second run (warm cache)   : {wall2:7.1f} s wall, {second.cost.cache_hits} of "
          f"{second.cost.unique} unique requests from cache -> cache speed-up "
          f"{wall1 / wall2:.1f}x")
    print(f"    first run, 1 torch thread : {wall_single:7.1f} s wall "
          f"(the per-worker setting of Ray below; metrics identical: "
          f"{'yes' if _metrics(single) == _metrics(first) else 'NO'})")
    if not workers:
        return
    try:
        import ray
    except ImportError:
        print("\n[2] Ray is not installed (pip install 'recaudit[ray]'): Ray part skipped")
        return
    from recaudit.engine import RayExecutor

    t = time.perf_counter()
    ray.init(num_cpus=max(workers), include_dashboard=False, log_to_driver=False,
             logging_level="error", object_store_memory=300 * 1024 ** 2)
    print(f"\n[2] Ray started in {time.perf_counter() - t:.1f} s (not counted below)")
    try:
        for n in workers:
            with RayExecutor(num_workers=n) as ex, tempfile.TemporaryDirectory() as tmp:
                report, wall = _audit(model, data, Path(tmp) / "ray.sqlite", ex)
                # the same workers again on an empty cache: started, model already loaded
                warm_report, warm = _audit(model, data, Path(tmp) / "warm.sqlite", ex)
            same = _metrics(report) == _metrics(first) == _metrics(warm_report)
            print(f"    {n} Ray worker(s), cold: {wall:6.1f} s wall -> {wall1 / wall:.2f}x the "
                  f"local run ({threads} threads), {wall_single / wall:.2f}x the local run "
                  f"(1 thread); model seconds summed over workers "
                  f"{report.cost.model_seconds:.1f}")
            print(f"    {n} Ray worker(s), warm: {warm:6.1f} s wall -> {wall1 / warm:.2f}x, "
                  f"{wall_single / warm:.2f}x; metrics identical to local: "
                  f"{'yes' if same else 'NO'}")
    finally:
        ray.shutdown()


# ------------------------------------------------------------------ 3: memory curve
def _status() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def memory_child(n_users: int, defaults: bool = False) -> None:
    """One point of the curve (run in a fresh process): prints a parseable line.

    ``defaults``: every built-in auditor with its default parameters (they sample a fixed
    number of users) instead of the two auditors over every user.
    """
    import resource

    import recaudit as ra

    t0 = time.perf_counter()
    data = ra.datasets.synthetic(n_users=n_users, n_items=200, seed=0)
    t_data = time.perf_counter() - t0
    try:
        after_data = _status()["VmRSS"]
        with open("/proc/self/clear_refs", "w") as f:  # restart the peak (VmHWM) here
            f.write("5")
    except OSError:  # not Linux: peak over the whole process
        after_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    auditors = None if defaults else MEMORY_AUDITORS
    config = {} if defaults else {a: {"n_users": None} for a in MEMORY_AUDITORS}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = ra.audit(ra.models.MostPopular(data), data, auditors, config,
                          cache=Path(tmp) / "c.sqlite", progress=False)
        t_audit = time.perf_counter() - t0
    try:
        peak = _status()["VmHWM"]
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    status = ",".join(r.status for r in report.results)
    print(f"MEM {n_users} {after_data:.0f} {peak:.0f} {t_data:.1f} {t_audit:.1f} {status}",
          flush=True)


def memory_curve(sizes: list[int], defaults: bool = False) -> None:
    what = ("every built-in auditor with default parameters" if defaults else
            f"{' + '.join(MEMORY_AUDITORS)} over every user")
    print(f"\n[3] memory: {what} (MostPopular, 1000 bootstrap resamples), one fresh process "
          "per size")
    print(f"    {'users':>7s} {'RSS after data':>14s} {'audit peak':>10s} {'audit - data':>12s} "
          f"{'data s':>7s} {'audit s':>8s}  status")
    rows = []
    for n in sizes:
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(n),
                              *(["--defaults"] if defaults else [])],
                             capture_output=True, text=True, env=env)
        line = next((x for x in out.stdout.splitlines() if x.startswith("MEM ")), None)
        if line is None:
            print(f"    {n:7d} failed (exit {out.returncode}): {out.stderr[-500:]}")
            continue
        _, users, data_mb, peak, t_data, t_audit, status = line.split()
        rows.append((int(users), float(data_mb), float(peak)))
        print(f"    {int(users):7d} {float(data_mb):11.0f} MiB {float(peak):6.0f} MiB "
              f"{float(peak) - float(data_mb):8.0f} MiB {float(t_data):7.1f} "
              f"{float(t_audit):8.1f}  {status}")
    if len(rows) >= 2:
        (n0, d0, p0), (n1, d1, p1) = rows[0], rows[-1]
        print(f"    {n1 // n0}x the users -> audit peak x{p1 / p0:.1f}, audit memory above the "
              f"data x{(p1 - d1) / max(p0 - d0, 1):.1f}, data x{d1 / d0:.1f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="memory at 1k and 10k users only")
    p.add_argument("--sizes", type=int, nargs="*", default=None)
    p.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    p.add_argument("--no-ray", action="store_true")
    p.add_argument("--no-engine", action="store_true", help="skip parts 1 and 2")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--defaults", action="store_true", help="memory curve of every built-in "
                   "auditor at its default parameters instead of two over every user")
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child, args.defaults)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RECAUDIT_CACHE_DIR"] = tmp  # fresh caches for answers and models
        if not args.no_engine:
            engine_and_ray([] if args.no_ray else args.workers)
        if not args.no_memory:
            sizes = args.sizes or ([1000, 10000] if args.quick else [1000, 10000, 100000])
            memory_curve(sizes, args.defaults)
    return 0


if __name__ == "__main__":
    sys.exit(main())
