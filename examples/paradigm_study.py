"""Paradigm study: the same audit across recommendation training paradigms.

    python examples/paradigm_study.py                        # the synthetic world (~4 min)
    python examples/paradigm_study.py --movielens data/ml-100k   # MovieLens-100K
    python examples/paradigm_study.py --quick                # a smoke test (a minute)

Half of the users pre-train the one LM the seven pre-trained arms start from; every
paradigm is trained and audited on the other half (the arms of ``audits/paradigms.yaml``):

- fine_tuned_lm: the tiny GPT-2 trained from scratch on the audited users;
- pretrained_fine_tuned_lm: the same GPT-2 pre-trained on the other users, then fine-tuned
  on the audited users (pre-train and fine-tune);
- zero_shot_minilm: the packaged MiniLM encoder, nothing trained (pre-train, prompt, predict);
- prompt_tuning: a peft soft prompt learnt on the audited users, LM frozen (prompt tuning);
- zero_shot_lm: the pre-trained LM asked as is, no update (tuning-free prompting);
- few_shot_lm: the same frozen LM with 2 other users' history -> next item demonstrations;
- lora: peft LoRA adapters on the frozen pre-trained LM (adapter fine-tuning);
- prompt_lm_tuning: a soft prompt and the LM's weights tuned together;
- instruction_tuning: the LM tuned on yes/no "Will I like X?" questions, ranking by P(Yes)
  (TALLRec);
- most_popular, item_knn, sasrec: classic non-language references.

Writes ``<out>.html`` (utility-and-trust table, significant differences, plots),
``<out>.csv`` (the tidy table) and ``<out>.json``.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

import recaudit as ra


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--movielens", metavar="FOLDER", help="a MovieLens-100K folder (u.data, "
                   "u.item, u.user); default: the synthetic world")
    p.add_argument("--out", default="reports/paradigm_study", help="output path stem")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="a small world and short training")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    progress = not args.no_progress

    if args.movielens:
        world = ra.datasets.movielens_100k(args.movielens)
    elif args.quick:
        world = ra.datasets.synthetic(n_users=120, n_items=50, seed=0)
    else:
        world = ra.datasets.synthetic(n_users=300, n_items=200, seed=0)
    others, audited = ra.models.split_users(world, pretrain_share=0.5, seed=0)
    print(f"pre-training users: {len(others.user_ids)}; audited: {audited}")

    epochs = 1 if args.quick else 5
    short = {"epochs": 1} if args.quick else {}  # the tuning arms' own epochs
    paradigms = {
        "fine_tuned_lm": {"kind": "tiny_lm", "epochs": epochs},
        "pretrained_fine_tuned_lm": {"kind": "pretrain_fine_tune", "lm": {"epochs": epochs},
                                     "epochs": 1 if args.quick else 3},
        "zero_shot_minilm": {"kind": "embedding"},
        "prompt_tuning": {"kind": "prompt_tuning", "lm": {"epochs": epochs}, **short},
        "zero_shot_lm": {"kind": "zero_shot_lm", "lm": {"epochs": epochs}},
        "few_shot_lm": {"kind": "few_shot_lm", "n_demonstrations": 2,
                        "lm": {"epochs": epochs}},
        "lora": {"kind": "lora", "lm": {"epochs": epochs}, **short},
        "prompt_lm_tuning": {"kind": "prompt_lm_tuning", "lm": {"epochs": epochs}, **short},
        "instruction_tuning": {"kind": "instruction_tuning", "lm": {"epochs": epochs},
                               **short},
        "most_popular": {"kind": "most_popular"},
        "item_knn": {"kind": "item_knn"},
        "sasrec": {"kind": "sasrec", **({"epochs": 5} if args.quick else {})},
    }
    models = ra.models.build_paradigms(audited, paradigms, pretrain_data=others,
                                       progress=progress)

    n = 30 if args.quick else None
    auditors = [
        {"name": "popularity_bias", "params": {"n_users": n or 150}},
        {"name": "consumer_fairness",
         "params": {"attributes": [world.sensitive[0]], "n_users": n or 60,
                    "intersectional": False, "max_history": 1, "k": 10,
                    "n_candidates": 40}},
        {"name": "provider_fairness", "params": {"n_users": n or 80}},
        {"name": "membership_inference",
         "params": {"attacks": ["loss", "rank_only"], "rank_only_shadow": False,
                    "n_users": n or 100}},
    ]
    result = ra.compare(models, audited, auditors, seeds=args.seeds,
                        config={"n_bootstrap": 200 if args.quick else 500,
                                "n_permutations": 200 if args.quick else 500},
                        progress=progress,
                        metadata={"title": f"Paradigm study on {world.name}"})
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(result.summary_table().to_string())
    sig = result.pairwise().query("significant")
    print(f"\n{len(sig)} significant pairwise differences (Holm, alpha={result.alpha})")
    result.to_html(f"{args.out}.html")
    result.to_csv(f"{args.out}.csv")
    result.to_json(f"{args.out}.json")
    print(f"wrote {args.out}.html, .csv and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
