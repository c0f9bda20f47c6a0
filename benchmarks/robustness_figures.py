"""Robustness of the embedded default and of the MiniLM recommender: the figures and numbers.

Runs ``prompt_robustness`` (every default perturbation) and ``item_text_attack`` on

- the tiny LM, ``ra.models.train_tiny_lm(ra.datasets.synthetic(seed=0), seed=0)`` (the
  embedded default; its gradients make the attack HotFlip-guided), and
- the zero-shot MiniLM recommender, ``ra.models.EmbeddingRecommender(data)``
  (gradient-free attack),

prints per perturbation Jaccard@K, RBO, Kendall tau and the NDCG@K / HR@K drops with 95%
bootstrap CIs, the attack table (titles, exposure before/after, edits, queries), the verdicts,
and the wall time, and writes the SVG figures to ``--out`` (default
``reports/robustness/``, not committed).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/robustness_figures.py [--models tiny_lm]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pandas as pd  # noqa: E402

import recaudit as ra  # noqa: E402
from recaudit.auditors import AuditContext, assign_verdicts  # noqa: E402
from recaudit.auditors.robustness.item_text import ItemTextAttack  # noqa: E402
from recaudit.auditors.robustness.prompt import PromptRobustness  # noqa: E402
from recaudit.report import draw

MODELS = {
    "tiny_lm": lambda data, seed: ra.models.train_tiny_lm(data, seed=seed, progress=False),
    "minilm": lambda data, seed: ra.models.EmbeddingRecommender(data),
}


def _ci(m) -> str:
    return f"{m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--seed", type=int, default=0, help="data, model and audit seed")
    ap.add_argument("--users", type=int, default=60, help="users prompt_robustness samples")
    ap.add_argument("--attack-users", type=int, default=30)
    ap.add_argument("--targets", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("reports/robustness"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 160)

    data = ra.datasets.synthetic(seed=args.seed)
    print(data)
    for name in args.models:
        t0 = time.perf_counter()
        model = MODELS[name](data, args.seed)
        print(f"\n=== {name}: {model!r} (ready in {time.perf_counter() - t0:.1f} s)")
        ctx = AuditContext(seed=args.seed, show_progress=False)

        t0 = time.perf_counter()
        pr = PromptRobustness(n_users=args.users).run(model, data, ctx)
        t_pr = time.perf_counter() - t0
        t0 = time.perf_counter()
        ita = ItemTextAttack(n_targets=args.targets, n_users=args.attack_users).run(
            model, data, ctx)
        t_ita = time.perf_counter() - t0
        assign_verdicts([pr, ita])

        print(f"\nprompt_robustness ({t_pr:.1f} s): mean [95% CI] over {args.users} users")
        rows = []
        for p in pr.tables["per_perturbation"]["perturbation"]:
            rows.append({"perturbation": p,
                         **{n: _ci(pr.metric(n, p)) for n in
                            ("jaccard_at_k", "rbo", "kendall_tau", "ndcg_drop", "hr_drop")},
                         "verdict": "/".join(pr.metric(n, p).verdict
                                             for n in ("rbo", "ndcg_drop"))})
        print(pd.DataFrame(rows).to_string(index=False))
        base = pr.tables["per_perturbation"][["perturbation", "ndcg_original"]]
        print("NDCG@10 of the unperturbed lists:", round(float(base["ndcg_original"].iloc[0]), 4))

        print(f"\nitem_text_attack ({t_ita:.1f} s)")
        for m in ita.metrics:
            p = "" if m.p_value is None else f" p={m.p_value:.3g}"
            print(f"  {m.name:22s} {_ci(m)}{p} {m.verdict}")
        cols = ["item_id", "original_title", "adversarial_title", "exposure_before",
                "exposure_after", "edits", "queries", "guided"]
        print(ita.tables["targets"][cols].to_string(index=False))
        for note in ita.notes[1:]:
            print("  note:", note)

        for res in (pr, ita):
            for fig, svg in res.figures.items():
                path = args.out / f"{name}_{res.auditor}_{fig}.svg"
                path.write_text(draw(svg), encoding="utf-8")
                print("wrote", path)


if __name__ == "__main__":
    main()
