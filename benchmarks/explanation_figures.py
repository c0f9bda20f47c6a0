"""Explanation auditors on the embedded default (tiny GPT-2) and the MiniLM recommender.

Runs ``attribution_faithfulness`` (FeatureAblation, ShapleyValueSampling and, for the tiny
LM, LayerIntegratedGradients) and ``explanation_faithfulness`` (on ``ExplainingLM``
wrappers: leave-one-out, and LM self-explanation for the tiny LM) on
``ra.datasets.synthetic(seed=0)``; prints every metric with its CI, the time each audit took,
and writes the figures (SVG) and a JSON summary to ``--out``.

    .venv/bin/python benchmarks/explanation_figures.py --out reports/explanation_figures
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import recaudit as ra  # noqa: E402
from recaudit.auditors import AuditContext, assign_verdicts  # noqa: E402
from recaudit.auditors.explanation.attribution import AttributionFaithfulness  # noqa: E402
from recaudit.auditors.explanation.natural_language import (  # noqa: E402
    ExplanationFaithfulness,
)
from recaudit.explain import ExplainingLM  # noqa: E402
from recaudit.report import draw


def _fmt(m) -> str:
    ci = "" if m.ci_low is None else f" [{m.ci_low:.3f}, {m.ci_high:.3f}]"
    verdict = "" if m.verdict == "info" else f"  {m.verdict.upper()}"
    return f"  {m.name:28s} {m.scope:40s} {m.value:9.4f}{ci}{verdict}"


def _run(name, auditor, model, data, ctx, out: Path, summary: dict) -> None:
    start = time.perf_counter()
    res = auditor.run(model, data, ctx)
    seconds = time.perf_counter() - start
    assign_verdicts([res])
    print(f"\n== {name}: {res.auditor} ({seconds:.1f} s)")
    for m in res.metrics:
        print(_fmt(m))
    for note in res.notes:
        print(f"  note: {note}")
    for ev in res.evidence[:2]:
        print(f"  evidence: {ev}")
    for fig, svg in res.figures.items():
        (out / f"{name}__{res.auditor}__{fig}.svg").write_text(draw(svg), encoding="utf-8")
    summary[f"{name}/{res.auditor}"] = {
        "seconds": round(seconds, 2),
        "metrics": [{k: m.to_dict()[k] for k in ("name", "scope", "value", "ci_low", "ci_high",
                                                 "verdict")} for m in res.metrics],
        "notes": res.notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/explanation_figures")
    parser.add_argument("--n-users", type=int, default=20, help="attribution_faithfulness users")
    parser.add_argument("--nl-users", type=int, default=50,
                        help="explanation_faithfulness users")
    parser.add_argument("--skip-lm", action="store_true", help="only the MiniLM recommender")
    parser.add_argument("--skip-minilm", action="store_true", help="only the tiny LM")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = ra.datasets.synthetic(seed=0)
    ctx = AuditContext(seed=0, show_progress=False)
    summary: dict = {}
    models = []
    if not args.skip_minilm:
        models.append(("minilm", lambda: ra.models.EmbeddingRecommender(data)))
    if not args.skip_lm:
        models.append(("tiny_lm", lambda: ra.models.train_tiny_lm(data, seed=0,
                                                                   progress=False)))
    for name, build in models:
        start = time.perf_counter()
        model = build()
        print(f"\n{name}: built in {time.perf_counter() - start:.1f} s; "
              f"capabilities {sorted(model.capabilities)}")
        _run(name, AttributionFaithfulness(n_users=args.n_users), model, data, ctx, out,
             summary)
        _run(f"{name}+loo", ExplanationFaithfulness(n_users=args.nl_users),
             ExplainingLM(model, data), data, ctx, out, summary)
        if "gradients" in model.capabilities:
            _run(f"{name}+generate", ExplanationFaithfulness(n_users=args.nl_users),
                 ExplainingLM(model, data, mode="generate"), data, ctx, out, summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"\nfigures and summary.json in {out}")


if __name__ == "__main__":
    main()
