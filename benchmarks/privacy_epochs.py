"""Proof for the privacy auditors: the tiny LM trained for more epochs leaks more.

Trains the tiny GPT-2 recommender on a small synthetic world for several numbers of epochs
and runs the loss membership-inference attack (and paired prefix-completion memorization)
on each, printing a table with bootstrap CIs over users.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/privacy_epochs.py [--epochs 1 5 20]

Models are cached under ``--cache`` so a re-run only re-audits. Expect a few minutes on two
CPU cores.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pandas as pd  # noqa: E402

import recaudit as ra  # noqa: E402
from recaudit.auditors import AuditContext  # noqa: E402
from recaudit.auditors.privacy.membership import MembershipInference, eligible_users  # noqa: E402
from recaudit.auditors.privacy.memorization import Memorization  # noqa: E402
from recaudit.models import TinyLMConfig  # noqa: E402


def _fmt(m) -> str:
    return f"{m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, nargs="+", default=[1, 5, 20])
    ap.add_argument("--n-users", type=int, default=80)
    ap.add_argument("--n-items", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=os.path.join("reports", "bench_cache"))
    ap.add_argument("--out", default=None, help="optional CSV path for the table")
    args = ap.parse_args()

    data = ra.datasets.synthetic(n_users=args.n_users, n_items=args.n_items, seed=args.seed)
    ctx = AuditContext(seed=args.seed, n_bootstrap=1000, show_progress=False)
    rows = []
    for epochs in args.epochs:
        t0 = time.perf_counter()
        model = ra.models.train_tiny_lm(data, seed=args.seed, config=TinyLMConfig(epochs=epochs),
                                        cache_dir=args.cache, progress=False)
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        mia = MembershipInference(attacks=["loss"], n_users=None).run(model, data, ctx)
        mem = Memorization(n_users=None, refit=False, canaries=False).run(model, data, ctx)
        t_audit = time.perf_counter() - t0
        auc = mia.metric("auc", "loss")
        gap = mem.metric("exact_continuation_gap", "top1")
        rows.append({
            "epochs": epochs,
            "loss_auc [95% CI]": _fmt(auc),
            "p_value": f"{auc.p_value:.2g}",
            "tpr_at_1pct_fpr [95% CI]": _fmt(mia.metric("tpr_at_1pct_fpr", "loss")),
            "tpr_at_0.1pct_fpr": f"{mia.metric('tpr_at_0.1pct_fpr', 'loss').value:.3f}",
            "exact_continuation_gap_top1 [95% CI]": _fmt(gap),
            "member_top1_rate": f"{mem.metric('exact_continuation_rate', 'members').value:.3f}",
            "train_s": round(t_train, 1),
            "audit_s": round(t_audit, 1),
        })
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print(f"\n{data!r}; {len(eligible_users(data))} users, "
          "one member and one non-member example each")
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
