"""The zero-shot embedding recommender on a MovieLens-100K folder, this code versus an older one.

Issue 17's audit (popularity_bias on 200 users + consumer_fairness, ``model: {kind:
embedding}``) is run with this working tree and with an older commit (``--old``, default
``c9e12d5``) checked out by ``git worktree add`` into a temp folder and put first on
``PYTHONPATH``; every audit runs in a fresh subprocess from an empty cache
(``RECAUDIT_CACHE_DIR`` in a new temp folder). With ``--rounds N`` each side runs N times in
alternating order (old-new, new-old, ...), since on a shared machine the load drifts. Prints
per run the wall and CPU time, requests, ms per request and load average, the old/new
ratios of the medians, and the largest absolute difference between the two audits' metrics
(which must agree up to float noise); then the catalog encode time (old and new) and the
time a second process takes to load the stored catalog (new); and, unless ``--no-all``, the
new code's time with every built-in auditor at its defaults (what ``recaudit.audit`` runs
when no auditor is named); with ``--tiny``, the tiny LM trained on the folder and audited by
every auditor at the demo's settings (``recaudit demo --movielens PATH``), training
included.

Usage::

    python benchmarks/fake_movielens.py /tmp/mlfake          # no real data at hand
    python benchmarks/bench_movielens.py /tmp/mlfake/ml-100k [--old c9e12d5] [--rounds 2] [--no-all] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDITORS = [{"name": "popularity_bias", "params": {"n_users": 200}}, "consumer_fairness"]


# ====================================================================== worker (subprocess)
def _spec(path: str, auditors, model=None):
    from recaudit.spec import load_spec

    return load_spec({"dataset": {"kind": "movielens_100k", "path": path},
                      "model": model or {"kind": "embedding"}, "auditors": auditors})


def _build_dataset(spec):
    """The spec's dataset, through recaudit.runner (or, on an --old commit, the spec)."""
    try:
        from recaudit import runner
    except ImportError:  # before the runner module: AuditSpec built itself
        return spec.build_dataset()
    return runner.build_dataset(spec)


def _build_model(spec, data):
    try:
        from recaudit import runner
    except ImportError:
        return spec.build_model(data, progress=False)
    return runner.build_model(spec, data, progress=False)


def _worker(mode: str, path: str, root: str) -> dict:
    import recaudit as ra

    where = Path(ra.__file__).resolve()
    if not str(where).startswith(str(Path(root).resolve())):
        raise SystemExit(f"imported recaudit from {where}, expected it under {root}")
    out: dict = {"recaudit": str(where.parent)}
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    if mode == "catalog":  # one catalog build (encode, or load when the store has it)
        spec = _spec(path, AUDITORS)
        model = _build_model(spec, _build_dataset(spec))
        from recaudit.models.encoders._minilm import load_minilm

        load_minilm()  # the weights, timed apart from the catalog
        out["load_weights_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        out["documents"] = len(model._catalog_matrix())
        out["catalog_s"] = time.perf_counter() - t1
        return out
    config = None
    if mode == "tiny":  # what `recaudit demo --movielens PATH` runs, training included
        from recaudit.cli import DEMO_CONFIG

        spec = _spec(path, [], {"kind": "tiny_lm", "progress": False})
        config = {name: dict(value) for name, value in DEMO_CONFIG.items()}
    else:
        spec = _spec(path, AUDITORS if mode == "spec" else [])
    data = _build_dataset(spec)
    t_model = time.perf_counter()
    model = _build_model(spec, data)
    out["model_build_s"] = time.perf_counter() - t_model
    report = ra.audit(model, data, auditors=spec.auditors or None, seed=spec.seed,
                      config=config, progress=False)
    out["wall_s"] = time.perf_counter() - t0
    out["load"] = [load0, os.getloadavg()[0]]
    out["results"] = [{"auditor": r.auditor, "status": r.status, "reason": r.reason[:120],
                       "requests": r.cost.requests, "model_s": r.cost.model_seconds,
                       "total_s": r.cost.total_seconds} for r in report.results]
    out["metrics"] = {f"{m.auditor}/{m.name}/{m.scope}": m.value
                      for r in report.results for m in r.metrics}
    return out


# ====================================================================== driver
def _run(root: Path, mode: str, path: str, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root), "RECAUDIT_CACHE_DIR": str(cache),
           "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result = Path(f.name)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", mode, path,
                        str(root), str(result)], env=env, cwd=str(root), check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = json.loads(result.read_text())
        out["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return out
    finally:
        result.unlink(missing_ok=True)


_CACHES: list[Path] = []


def _fresh_cache() -> Path:
    _CACHES.append(Path(tempfile.mkdtemp(prefix="recaudit-bench-cache-")))
    return _CACHES[-1]


def _summary(name: str, r: dict) -> int:
    reqs = sum(x["requests"] for x in r["results"])
    model_s = sum(x["model_s"] for x in r["results"])
    print(f"  {name:<4} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  requests {reqs:5d}  "
          f"{1000 * r['wall_s'] / max(reqs, 1):6.1f} ms/request  (model "
          f"{1000 * model_s / max(reqs, 1):5.1f} ms/request; load average "
          f"{r['load'][0]:.1f} -> {r['load'][1]:.1f})")
    return reqs


def _compare(old: dict, new: dict, tol: float) -> None:
    a, b = old["metrics"], new["metrics"]
    only = sorted(set(a) ^ set(b))
    diffs = []
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        if x is None or y is None or (math.isnan(x) and math.isnan(y)):
            d = 0.0 if (x is None) == (y is None) else math.inf
        else:
            d = abs(x - y)
        diffs.append((d, key, x, y))
    diffs.sort(reverse=True)
    worst = diffs[0][0] if diffs else 0.0
    print(f"metrics compared: {len(diffs)}; largest |old - new| = {worst:.3g} "
          f"({'within' if worst <= tol else 'BEYOND'} tol {tol:g})")
    for d, key, x, y in diffs[:5]:
        if d > 0:
            print(f"    {key}: old {x!r} new {y!r} (diff {d:.3g})")
    if only:
        print(f"  metrics on one side only: {only[:10]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", nargs="?", help="MovieLens-100K folder (u.data, u.item, u.user)")
    ap.add_argument("--old", default="c9e12d5", help="commit to compare against")
    ap.add_argument("--tol", type=float, default=1e-6, help="largest metric difference "
                    "accepted as float noise")
    ap.add_argument("--no-all", action="store_true", help="skip every-auditor timing")
    ap.add_argument("--tiny", action="store_true", help="also time the tiny LM, training "
                    "included, with every auditor at the demo's settings (what `recaudit "
                    "demo --movielens PATH` runs; about 5.5 min on ML-100K)")
    ap.add_argument("--rounds", type=int, default=1, help="audits per side, in alternating "
                    "order (old-new, new-old, ...); medians are compared")
    ap.add_argument("--worker", nargs=4, metavar=("MODE", "PATH", "ROOT", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        mode, path, root, out = args.worker
        Path(out).write_text(json.dumps(_worker(mode, path, root)))
        return 0
    if args.path is None:
        ap.error("the MovieLens-100K folder is required")

    try:
        _compare_commits(str(Path(args.path).expanduser().resolve()), args)
    finally:
        for cache in _CACHES:
            shutil.rmtree(cache, ignore_errors=True)
    return 0


def _compare_commits(path: str, args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="recaudit-bench-old-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tmp),
                    args.old], check=True)
    try:
        print(f"issue-17 audit on {path}: popularity_bias (n_users=200) + consumer_fairness, "
              f"embedding model; old = {args.old}, new = this working tree")
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for n in range(args.rounds):  # old, new / new, old / ...: load drifts over a run
            for side in (("old", "new") if n % 2 == 0 else ("new", "old")):
                r = _run(tmp if side == "old" else ROOT, "spec", path, _fresh_cache())
                runs[side].append(r)
                _summary(side, r)
        old, new = runs["old"][0], runs["new"][0]
        wall = {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items()}
        cpu = {k: statistics.median(r["cpu_s"] for r in v) for k, v in runs.items()}
        reqs = {k: sum(x["requests"] for x in v[0]["results"]) for k, v in runs.items()}
        print(f"  ratio old/new (median of {args.rounds}): wall {wall['old'] / wall['new']:.2f}x, "
              f"cpu {cpu['old'] / cpu['new']:.2f}x; ms/request old "
              f"{1000 * wall['old'] / reqs['old']:.1f}, new {1000 * wall['new'] / reqs['new']:.1f}"
              + ("" if reqs["old"] == reqs["new"] else
                 f"  (request counts differ: {reqs['old']} vs {reqs['new']})"))
        _compare(old, new, args.tol)

        cat_old = _run(tmp, "catalog", path, _fresh_cache())
        cache = _fresh_cache()
        cat_new = _run(ROOT, "catalog", path, cache)
        cat_load = _run(ROOT, "catalog", path, cache)  # a second process, same cache folder
        print(f"catalog ({cat_new['documents']} documents): old encode "
              f"{cat_old['catalog_s']:.1f} s, new encode {cat_new['catalog_s']:.1f} s, new "
              f"second-process load {cat_load['catalog_s'] * 1000:.1f} ms (weights load "
              f"{cat_new['load_weights_s']:.1f} s, not included)")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp)],
                       check=False)
        shutil.rmtree(tmp.parent, ignore_errors=True)

    if not args.no_all:
        allr = _run(ROOT, "all", path, _fresh_cache())
        reqs = sum(x["requests"] for x in allr["results"])
        print(f"every built-in auditor at its defaults (new code): wall {allr['wall_s']:.1f} s, "
              f"{reqs} requests")
        for x in allr["results"]:
            why = f"  ({x['reason']})" if x["status"] != "ok" else ""
            print(f"    {x['auditor']:<26} {x['status']:<7} {x['requests']:6d} requests "
                  f"{x['total_s']:7.1f} s{why}")
    if args.tiny:
        tiny = _run(ROOT, "tiny", path, _fresh_cache())
        reqs = sum(x["requests"] for x in tiny["results"])
        print(f"tiny LM, training included, every auditor at the demo's settings (new code): "
              f"wall {tiny['wall_s']:.1f} s (training {tiny['model_build_s']:.1f} s), "
              f"{reqs} requests")
        for x in tiny["results"]:
            print(f"    {x['auditor']:<26} {x['status']:<7} {x['requests']:6d} requests "
                  f"{x['total_s']:7.1f} s")


if __name__ == "__main__":
    sys.exit(main())
