"""Audit the embedded tiny language-model recommender from Python.

Run: python examples/audit_from_python.py [--quick]

Trains (or loads from the cache) a tiny GPT-2 on a synthetic world with planted popularity
and attribute effects, audits it, prints the summary and writes an HTML and a JSON report.
"""

from __future__ import annotations

import argparse

import recaudit as ra


def main(quick: bool = False, out: str = "reports/audit_from_python") -> ra.AuditReport:
    if quick:
        data = ra.datasets.synthetic(n_users=80, n_items=50, seed=0)
        model = ra.models.train_tiny_lm(data, seed=0, config=ra.models.TinyLMConfig(epochs=2),
                                        progress=False)
    else:
        data = ra.datasets.synthetic(seed=0)
        model = ra.models.train_tiny_lm(data, seed=0)

    report = ra.audit(
        model, data,
        auditors=["popularity_bias",                       # a name
                  ("consumer_fairness", {"k": 10}),       # a name with parameters
                  {"name": "position_bias", "thresholds": {}}],
        config={"n_bootstrap": 200 if quick else 1000,
                "popularity_bias": {"thresholds": {"popularity_lift": 1.5},
                                    **({"n_users": 30} if quick else {})},
                **({"consumer_fairness": {"n_users": 30, "n_candidates": 20},
                    "position_bias": {"n_users": 20}} if quick else {})},
        seed=0, progress=not quick)

    print(report)
    print(report.summary().to_string(index=False, max_colwidth=30))
    report.to_json(f"{out}.json")
    report.to_html(f"{out}.html")
    print(f"wrote {out}.html and {out}.json")
    return report


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small world, short training")
    p.add_argument("--out", default="reports/audit_from_python", help="output path stem")
    args = p.parse_args()
    main(args.quick, args.out)
