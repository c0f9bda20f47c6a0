"""Proof for the privacy auditors: the tiny LM trained for more epochs leaks more.

Trains the tiny GPT-2 recommender on a small synthetic world for several numbers of epochs
and runs the loss membership-inference attack (and paired prefix-completion memorization)
on each, printing a table with bootstrap CIs over users.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/privacy_epochs.py [--epochs 1 5 20]

Models are cached under ``--cache`` so a re-run only re-audits. ``--config FIELD=VALUE``
overrides other ``TinyLMConfig`` fields. A few minutes on two CPU cores.

Measured 2026-11-28 (tiny LM defaults of commit 23306c6: genres in the prompt, prompt loss
0.3, lr 5e-3), synthetic(n_users=80, n_items=40, seed=0), 80 users with one member and one
non-member example each, 95% bootstrap CIs over users.

``--config pretokenizer=words`` (GPT-2-like word pieces, titles ~6 tokens)::

    epochs  loss AUC              p        TPR@1%FPR             exact-continuation gap (top-1)
         1  0.561 [0.465, 0.643]  0.12     0.000 [0.000, 0.075]  -0.021 [-0.067, 0.013]
         5  0.669 [0.577, 0.746]  0.00029  0.025 [0.000, 0.163]   0.029 [-0.029, 0.079]
        20  0.810 [0.748, 0.871]  1.1e-09  0.250 [0.175, 0.475]   0.471 [0.388, 0.550]

Default config (``pretokenizer="phrases"``: each title one token)::

         1  0.539 [0.440, 0.632]  0.26     0.000 [0.000, 0.050]  -0.000 [-0.087, 0.083]
         5  0.539 [0.438, 0.635]  0.21     0.000 [0.000, 0.075]  -0.042 [-0.133, 0.033]
        20  0.620 [0.524, 0.713]  0.013    0.025 [0.000, 0.100]   0.017 [-0.054, 0.083]

With one token per title the model fits its training data slowly (an earlier phrase-token
recipe stayed at ~4.4 nats per example, unchanged by the history, even at 20 epochs), so it
leaks later; with word pieces leakage grows clearly with epochs. With 80 non-members the
smallest non-zero FPR is 1/80, so TPR at 1% (and 0.1%) FPR is the TPR at zero false
positives.
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
    ap.add_argument("--config", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="other TinyLMConfig fields, e.g. dropout=0.0 pretokenizer=words")
    args = ap.parse_args()
    fields = TinyLMConfig.__dataclass_fields__
    overrides = {}
    for item in args.config:
        key, _, raw = item.partition("=")
        if key not in fields or key in ("epochs", "template"):
            ap.error(f"--config: unknown or fixed TinyLMConfig field {key!r}")
        default = getattr(TinyLMConfig(), key)
        overrides[key] = type(default)(raw)

    data = ra.datasets.synthetic(n_users=args.n_users, n_items=args.n_items, seed=args.seed)
    ctx = AuditContext(seed=args.seed, n_bootstrap=1000, show_progress=False)
    rows = []
    for epochs in args.epochs:
        t0 = time.perf_counter()
        config = TinyLMConfig(epochs=epochs, **overrides)
        model = ra.models.train_tiny_lm(data, seed=args.seed, config=config,
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
          f"one member and one non-member example each; TinyLMConfig overrides {overrides}")
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
