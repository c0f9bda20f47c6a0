"""A real pre-trained LLM audited on MovieLens-100K, beside the MiniLM encoder and two
non-language references: the run behind the README's "A real LLM on MovieLens-100K".

    python benchmarks/real_llm_movielens.py --movielens data/ml-100k [--fair-users 20]

Per model, each audit timed on its own (the engine's cache under ``--cache``, empty by
default, so every number is a cold run):

- ``consumer_fairness`` twice: FaiRLLM's eight attributes and values (no intersectional
  probe) and the dataset's own (gender, age group, occupation); K = 20 of a fixed list of
  40 candidates per user (held-out items + uniformly sampled unseen items), 10 history
  items. SmolLM2 is asked with the ``default`` chat template (FaiRLLM's prompt for catalog
  requests, LLMRank's for candidate lists) with the profile sentence *last*
  (``profile_position="last"``), so a user's 31 counterfactual prompts share their prefix.
- ``position_bias``: LLMRank's protocol, 20 candidates, the held-out item at positions
  0/5/10/15/19, 5 shuffles.
- ``popularity_bias``: top-10 over the whole catalog. SmolLM2 *generates* its list
  (FaiRLLM's protocol: greedy answer, read as a list, matched to the catalog;
  ``hallucination_rate`` counts entries that match no movie).
- utility: NDCG@10 and HR@10 of the held-out item in a 20-candidate list (it + 19 sampled
  unseen items, one seeded list per user, the same for every model), bootstrap CI over
  users.

SmolLM2 scores candidate lists by label likelihood (``candidate_scoring="label"``, after
FIRST). Prints one Markdown table per part and the wall time of each audit; writes each
report's JSON and HTML under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _models(data, names):
    import recaudit as ra

    for name in names:
        t = time.perf_counter()
        if name == "smollm2":
            tmpl = {"name": "default", "profile_position": "last"}
            scorer = ra.models.load_smollm2(data, chat_template=tmpl,
                                            candidate_scoring="label")
            writer = ra.models.load_smollm2(data, chat_template=tmpl, mode="generate")
        elif name == "embedding":
            scorer = writer = ra.models.EmbeddingRecommender(data)
        elif name == "most_popular":
            scorer = writer = ra.models.MostPopular(data)
        elif name == "item_knn":
            scorer = writer = ra.models.ItemKNN(data)
        else:
            raise SystemExit(f"unknown model {name!r}")
        yield name, scorer, writer, time.perf_counter() - t


def _utility(model, data, n_users, seed):
    """NDCG@10 / HR@10 of the held-out item among 20 candidates, bootstrap 95% CI."""
    from recaudit.data import sample_negatives, sample_users
    from recaudit.metrics.ranking import hit_at_k, ndcg_at_k

    rng = np.random.default_rng(seed)
    users = sample_users(data, n_users, rng)
    reqs = []
    for u in users:
        target = data.test_items[u][0]
        cands = [target, *sample_negatives(data, u, 19, rng)]
        cands = [cands[i] for i in rng.permutation(20)]
        reqs.append(data.request(u).replace(candidates=tuple(cands)))
    ranked = model.rank(reqs, 10)
    nd = np.array([ndcg_at_k(r.items, [data.test_items[u][0]], 10)
                   for r, u in zip(ranked, users)])
    hr = np.array([hit_at_k(r.items, [data.test_items[u][0]], 10)
                   for r, u in zip(ranked, users)])
    boot = np.random.default_rng(seed).integers(0, len(users), (1000, len(users)))
    ci = {k: tuple(np.percentile(v[boot].mean(1), [2.5, 97.5])) for k, v in
          (("ndcg", nd), ("hr", hr))}
    return {"ndcg_at_10": (nd.mean(), *ci["ndcg"]), "hr_at_10": (hr.mean(), *ci["hr"])}


def _audit(model, data, name, config, out, title):
    import recaudit as ra

    t = time.perf_counter()
    rep = ra.audit(model, data, [name.split(":")[0]], config=config, seed=0,
                   progress=False, title=title)
    seconds = time.perf_counter() - t
    stem = out / f"{title.replace(' ', '_').replace(':', '-')}"
    rep.to_json(stem.with_suffix(".json"))
    rep.to_html(stem.with_suffix(".html"))
    return rep, seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--movielens", required=True)
    ap.add_argument("--models", default="smollm2,embedding,most_popular,item_knn")
    ap.add_argument("--fair-users", type=int, default=20)
    ap.add_argument("--pos-users", type=int, default=30)
    ap.add_argument("--pop-users", type=int, default=100)
    ap.add_argument("--util-users", type=int, default=100)
    ap.add_argument("--parts", default="utility,consumer_fairness:fairllm,"
                    "consumer_fairness:dataset,position_bias,popularity_bias",
                    help="which measurements to run (comma-separated)")
    ap.add_argument("--out", default="reports/real-llm")
    ap.add_argument("--cache", default=None, help="engine cache folder (default: a new "
                    "empty one, so every time is a cold run)")
    args = ap.parse_args(argv)
    os.environ.setdefault("RECAUDIT_CACHE_DIR", args.cache or tempfile.mkdtemp(
        prefix="recaudit-real-llm-"))
    import torch

    import recaudit as ra

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = ra.datasets.movielens_100k(args.movielens)
    print(f"# {data!r}\n# torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{torch.backends.cpu.get_cpu_capability()}", flush=True)
    stats = {"n_bootstrap": 1000, "n_permutations": 2000}
    fair = {"k": 20, "n_users": args.fair_users, "n_candidates": 40, "max_history": 10,
            "intersectional": False, "plots": False}
    audits = {
        "consumer_fairness:fairllm": {**stats, "consumer_fairness": {
            "params": {**fair, "vocabulary": "fairllm"}}},
        "consumer_fairness:dataset": {**stats, "consumer_fairness": {
            "params": {**fair, "vocabulary": "dataset"}}},
        "position_bias": {**stats, "position_bias": {"params": {"n_users": args.pos_users}}},
        "popularity_bias": {**stats, "popularity_bias": {
            "params": {"n_users": args.pop_users, "k": 10}}},
    }
    results = {}
    for name, scorer, writer, load_s in _models(data, args.models.split(",")):
        row = {"load_s": load_s}
        print(f"\n## {name} (loaded in {load_s:.1f} s)", flush=True)
        parts = args.parts.split(",")
        if "utility" in parts:
            t = time.perf_counter()
            row["utility"] = _utility(scorer, data, args.util_users, seed=0)
            row["utility_s"] = time.perf_counter() - t
            print(f"utility {row['utility']} in {row['utility_s']:.0f} s", flush=True)
        for audit, config in audits.items():
            if audit not in parts:
                continue
            model = writer if audit == "popularity_bias" else scorer
            rep, seconds = _audit(model, data, audit, config, out, f"{name} {audit}")
            summary = rep.summary()
            row[audit] = {"seconds": seconds, "rows": json.loads(summary.to_json(
                orient="records"))}
            failed = int((summary["verdict"] == "fail").sum())
            print(f"{audit}: {seconds:.0f} s, {failed} failed checks", flush=True)
            print(summary[["metric", "scope", "value", "ci_low", "ci_high", "p_adjusted",
                           "verdict"]].to_string(), flush=True)
        results[name] = row
        (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"\nwrote {out}/results.json and one report per model and audit", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
