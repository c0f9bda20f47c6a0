"""Load time and peak memory of the MovieLens loaders, per folder (optionally vs. an older commit).

Each PATH is an ML-100K folder (``u.data``, ``u.item``, ``u.user``) or an ML-1M folder
(``ratings.dat``, ``movies.dat``, ``users.dat``), or a folder holding ``ml-100k/`` or
``ml-1m/``; the loader is picked from the files present. Every load runs in a fresh
subprocess (``RECAUDIT_CACHE_DIR`` in a new temp folder) and is timed after the imports.
Printed per folder and side: the median wall time of ``--rounds`` loads, the peak resident
set growth during the load (``ru_maxrss`` after minus before, MiB), the peak of memory
traced by ``tracemalloc`` (Python objects and numpy buffers; in a separate run, since
tracing slows the load), the memory still traced once the load returned (what the dataset
holds: ``memory_usage(deep=True)`` would count a string shared by many rows once per row)
and the dataset's fingerprint. With ``--old REF`` the same loads run on that
commit (``git worktree add`` into a temp folder, first on ``PYTHONPATH``), in alternating
order, and the old/new ratios are printed; the fingerprints must agree.

Usage::

    python benchmarks/fake_movielens.py /tmp/mlfake            # ML-100K-shaped
    python benchmarks/fake_movielens.py /tmp/mlfake --ml-1m    # ML-1M-shaped
    python benchmarks/bench_loaders.py /tmp/mlfake/ml-100k /tmp/mlfake/ml-1m [--old REF] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = {"movielens_100k": ("ml-100k", ("u.data", "u.item", "u.user")),
           "movielens_1m": ("ml-1m", ("ratings.dat", "movies.dat", "users.dat"))}


def detect(path: Path) -> str:
    """The loader name for a folder, from the files present."""
    for name, (sub, files) in LAYOUTS.items():
        if any(all((d / f).is_file() for f in files) for d in (path, path / sub)):
            return name
    raise SystemExit(f"{path}: neither an ML-100K nor an ML-1M folder")


# ====================================================================== worker (subprocess)
def _worker(loader: str, path: str, root: str, trace: bool) -> dict:
    import resource
    import time
    import tracemalloc

    import recaudit as ra

    where = Path(ra.__file__).resolve()
    if not str(where).startswith(str(Path(root).resolve())):
        raise SystemExit(f"imported recaudit from {where}, expected it under {root}")
    load = getattr(ra.datasets, loader)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    data = load(path)
    wall = time.perf_counter() - t0
    out = {"wall_s": wall,
           "rss_growth_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024,
           "rss_before_mib": rss0 / 1024}
    if trace:
        held, peak = tracemalloc.get_traced_memory()
        out["traced_peak_mib"], out["held_mib"] = peak / 2**20, held / 2**20
        tracemalloc.stop()
    out["fingerprint"] = data.fingerprint()
    out["shape"] = [len(data.users), len(data.items), len(data.interactions)]
    return out


# ====================================================================== driver
def _run(root: Path, loader: str, path: Path, trace: bool) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="recaudit-bench-cache-"))
    env = {**os.environ, "PYTHONPATH": str(root), "RECAUDIT_CACHE_DIR": str(cache)}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result = Path(f.name)
    try:
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", loader,
                        str(path), str(root), str(result), "1" if trace else "0"],
                       env=env, cwd=str(root), check=True)
        return json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)
        shutil.rmtree(cache, ignore_errors=True)


def _measure(sides: dict[str, Path], loader: str, path: Path, rounds: int) -> dict[str, dict]:
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    for n in range(rounds):  # alternate the order: the load on a shared machine drifts
        for side in (list(sides) if n % 2 == 0 else list(sides)[::-1]):
            runs[side].append(_run(sides[side], loader, path, trace=False))
    out = {}
    for side, rs in runs.items():
        traced = _run(sides[side], loader, path, trace=True)
        out[side] = {"wall_s": statistics.median(r["wall_s"] for r in rs),
                     "rss_growth_mib": statistics.median(r["rss_growth_mib"] for r in rs),
                     "traced_peak_mib": traced["traced_peak_mib"],
                     "held_mib": traced["held_mib"], "fingerprint": rs[0]["fingerprint"],
                     "shape": rs[0]["shape"], "rss_before_mib": rs[0]["rss_before_mib"]}
    return out


def _print(side: str, r: dict) -> None:
    users, items, inter = r["shape"]
    print(f"  {side:<4} load {r['wall_s']:6.2f} s   peak RSS +{r['rss_growth_mib']:6.0f} MiB   "
          f"traced peak {r['traced_peak_mib']:6.0f} MiB   dataset holds {r['held_mib']:5.0f} "
          f"MiB   ({users} users, {items} items, {inter} interactions; fingerprint "
          f"{r['fingerprint']})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", type=Path, help="ML-100K or ML-1M folders")
    ap.add_argument("--old", help="also load with this commit and print old/new ratios")
    ap.add_argument("--rounds", type=int, default=3, help="timed loads per side (median)")
    ap.add_argument("--worker", nargs=5, metavar=("LOADER", "PATH", "ROOT", "OUT", "TRACE"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        loader, path, root, out, trace = args.worker
        Path(out).write_text(json.dumps(_worker(loader, path, root, trace == "1")))
        return 0
    if not args.paths:
        ap.error("give at least one MovieLens folder")
    loaders = {p: detect(p.expanduser().resolve()) for p in args.paths}
    sides = {"new": ROOT}
    tmp = None
    if args.old:
        tmp = Path(tempfile.mkdtemp(prefix="recaudit-bench-old-")) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(tmp), args.old], check=True)
        sides = {"old": tmp, "new": ROOT}
    try:
        print(f"MovieLens loaders: median of {args.rounds} loads per side, each in a fresh "
              f"process; new = this working tree" + (f", old = {args.old}" if args.old else ""))
        for path, loader in loaders.items():
            print(f"{loader}({str(path)!r})")
            res = _measure(sides, loader, path.expanduser().resolve(), args.rounds)
            for side, r in res.items():
                _print(side, r)
            if "old" in res:
                o, n = res["old"], res["new"]
                same = "same dataset" if o["fingerprint"] == n["fingerprint"] else \
                    "DATASETS DIFFER"
                print(f"  ratio old/new: load {o['wall_s'] / n['wall_s']:.2f}x, peak RSS growth "
                      f"{o['rss_growth_mib'] / max(n['rss_growth_mib'], 1e-9):.2f}x, traced "
                      f"peak {o['traced_peak_mib'] / n['traced_peak_mib']:.2f}x, held "
                      f"{o['held_mib'] / n['held_mib']:.2f}x; {same}")
    finally:
        if tmp is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp)],
                           check=False)
            shutil.rmtree(tmp.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
