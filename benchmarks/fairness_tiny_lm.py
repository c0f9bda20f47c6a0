"""Proof on the embedded default: the tiny LM learns a planted gender effect, and
``consumer_fairness`` sees it.

Trains the tiny GPT-2 recommender (``ra.models.train_tiny_lm``) on synthetic worlds that
differ only in the strength of the planted gender-to-genre effect, audits each with
``consumer_fairness`` (FaiRLLM counterfactual prompts on gender) and prints SNSR with 95%
bootstrap CIs and the permutation p-values, for several prompt-history lengths (the stated
attribute matters most when the prompt carries little history, as in FaiRLLM's prompts).
Expected: a larger SNSR when the world has the effect (the model learnt to read "I am a
female user" in the prompt) than when it has none. Models are cached in ``--cache``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fairness_tiny_lm.py [--users 240] ...
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import recaudit as ra  # noqa: E402
from recaudit.auditors import AuditContext, assign_verdicts  # noqa: E402
from recaudit.auditors.fairness.consumer import ConsumerFairness  # noqa: E402

WORLDS = {
    "Effects(gender=3.0)": ra.datasets.Effects(gender=3.0),
    "gender=3.0, others 0": ra.datasets.Effects(popularity=0.0, gender=3.0, age=0.0,
                                                provider=0.0),
    "Effects.none()": ra.datasets.Effects.none(),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=240, help="users in each synthetic world")
    ap.add_argument("--items", type=int, default=60, help="catalog size")
    ap.add_argument("--audit-users", type=int, default=120, help="users the auditor samples")
    ap.add_argument("--k", type=int, default=10, help="list length K")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-history", type=int, nargs="*", default=[1, 2, 20],
                    help="history items in the prompt (one audit per value)")
    ap.add_argument("--epochs", type=int, default=None, help="tiny LM epochs (default: config)")
    ap.add_argument("--profile-share", type=float, default=None,
                    help="share of training prompts stating the attributes (default: config)")
    ap.add_argument("--worlds", nargs="*", default=list(WORLDS), choices=list(WORLDS))
    ap.add_argument("--cache", default=None, help="tiny LM cache folder (default: a temp dir)")
    args = ap.parse_args()
    cache = args.cache or tempfile.mkdtemp(prefix="fairness_tiny_lm_")
    ctx = AuditContext(seed=args.seed, n_bootstrap=1000, n_permutations=1000,
                       show_progress=False)
    rows = []
    for name in args.worlds:
        data = ra.datasets.synthetic(n_users=args.users, n_items=args.items, seed=args.seed,
                                     effects=WORLDS[name])
        t0 = time.perf_counter()
        config = ra.models.TinyLMConfig()
        if args.epochs is not None:
            config = dataclasses.replace(config, epochs=args.epochs)
        if args.profile_share is not None:
            config = dataclasses.replace(config, profile_share=args.profile_share)
        model = ra.models.train_tiny_lm(data, seed=args.seed, cache_dir=cache, progress=False,
                                        config=config)
        train_s = time.perf_counter() - t0
        for h in args.max_history:
            auditor = ConsumerFairness(attributes=["gender"], intersectional=False, k=args.k,
                                       n_candidates=None, max_history=h,
                                       n_users=args.audit_users, plots=False)
            t1 = time.perf_counter()
            res = auditor.run(model, data, ctx)
            audit_s = time.perf_counter() - t1
            assign_verdicts([res])
            row = {"world": f"{name}, history {h}", "train_s": train_s, "audit_s": audit_s,
                   "h": h, "effect": name}
            for sim in ("jaccard", "serp", "prag"):
                m = res.metric(f"snsr_{sim}", "gender")
                row[sim] = (m.value, m.ci_low, m.ci_high, m.p_value, m.verdict)
            sims = res.tables["similarity_by_value"]
            jac = sims[sims["similarity"] == "jaccard"]
            row["sim_jaccard"] = dict(zip(jac["value"], jac["sim"]))
            rows.append(row)
            print(f"[{row['world']}] trained in {train_s:.0f} s, audited in {audit_s:.0f} s; "
                  f"{res.notes[-1]}", flush=True)

    print(f"\nconsumer_fairness on the tiny LM: gender, K={args.k}, {args.audit_users} users, "
          f"world {args.users} users x {args.items} items, seed {args.seed}")
    print(f"{'world, prompt history, similarity':46s} {'SNSR':>7s} {'95% CI':>17s} {'p':>9s}  "
          "verdict   Sim(female) Sim(male)")
    for row in rows:
        for sim in ("jaccard", "serp", "prag"):
            v, lo, hi, p, verdict = row[sim]
            extra = ""
            if sim == "jaccard":
                s = row["sim_jaccard"]
                extra = f"  {s.get('female', float('nan')):.3f}       " \
                        f"{s.get('male', float('nan')):.3f}"
            print(f"{row['world'] + ' ' + sim:46s} {v:7.3f} [{lo:6.3f}, {hi:6.3f}] "
                  f"{p:9.2g}  {verdict:8s}{extra}")
    for h in args.max_history:
        base = next((r for r in rows if r["h"] == h and r["effect"] == "Effects.none()"), None)
        if base is None:
            continue
        for row in rows:
            if row["h"] != h or row is base:
                continue
            for sim in ("jaccard", "prag"):
                a, b = row[sim], base[sim]
                larger = "larger" if a[1] > b[2] else "not clearly larger"
                print(f"history {h}, SNSR_{sim}: [{row['effect']}] {a[0]:.3f} "
                      f"[{a[1]:.3f}, {a[2]:.3f}] vs [none] {b[0]:.3f} [{b[1]:.3f}, {b[2]:.3f}]: "
                      f"{larger} (CIs {'disjoint' if a[1] > b[2] else 'overlap'})")


if __name__ == "__main__":
    main()
