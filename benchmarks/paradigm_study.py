"""The paradigm study of the README: ``audits/paradigms.yaml`` on the synthetic world.

Prints the compact utility-and-trust table (markdown, as in the README), the number of
significant pairwise differences and the wall time. Answers and trained models are cached:
a second run takes about 75 s.

    python benchmarks/paradigm_study.py [--spec audits/paradigms.yaml]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The README's columns: utility, then one or two trust metrics per audited family.
COLUMNS = [("utility", "ndcg_at_10", "all"), ("utility", "hr_at_10", "all"),
           ("popularity_bias", "popularity_lift", "all"),
           ("consumer_fairness", "snsr_jaccard", "gender"),
           ("consumer_fairness", "utility_gap_ndcg", "gender"),
           ("provider_fairness", "min_max_exposure_ratio", "all"),
           ("membership_inference", "auc", "loss"),
           ("membership_inference", "auc", "rank_only")]


def markdown(result) -> str:
    agg = result.aggregate().set_index(["model", "auditor", "metric", "scope"])
    best = result.best()
    head = ["model", *[f"{m}" + ("" if s == "all" else f" [{s}]") for _a, m, s in COLUMNS],
            "failed"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for label in result.labels:
        cells = [label]
        for key in COLUMNS:
            try:
                r = agg.loc[(label, *key)]
            except KeyError:
                cells.append("–")
                continue
            if r["status"] != "ok":
                cells.append(r["status"])
                continue
            text = f"{r['mean']:.3f}"
            if key[0] == "utility":
                text += f" ({r['ci_low']:.3f}–{r['ci_high']:.3f})"
            cells.append(f"**{text}**" if label in best.get(key, set()) else text)
        cells.append(str(int(((result.table["model"] == label)
                              & (result.table["verdict"] == "fail")).sum())))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default=str(ROOT / "audits" / "paradigms.yaml"))
    args = p.parse_args(argv)
    from recaudit import runner
    from recaudit.spec import load_spec

    started = time.perf_counter()
    result = runner.run_compare(load_spec(args.spec), progress=False)
    wall = time.perf_counter() - started
    print(markdown(result))
    pw = result.pairwise()
    print(f"\n{int(pw['significant'].sum())} of {int(pw['p_holm'].notna().sum())} pairwise "
          f"differences significant (Holm per metric, alpha={result.alpha}); {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
