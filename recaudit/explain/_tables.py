"""Tables of the attribution auditor: attributions per part, mean perturbation curves."""

from __future__ import annotations

import numpy as np
import pandas as pd


def attribution_table(data, problems, attributions) -> pd.DataFrame:
    """Long table: one row per (method, user, part) with its attribution and rank."""
    rows = []
    for m, attrs in attributions.items():
        for p, a in zip(problems, attrs):
            f = p.features
            order = np.argsort(-a, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            for n, (kind, key, label) in enumerate(zip(f.kinds, f.keys,
                                                       f.labels(data.titles))):
                rows.append({"user_id": f.request.user_id, "method": m, "position": n,
                             "kind": kind, "feature": key, "label": label,
                             "attribution": float(a[n]), "rank": int(rank[n]),
                             "target": p.target})
    return pd.DataFrame(rows)


def mean_curves(entries, grid) -> tuple[np.ndarray, np.ndarray]:
    """Mean deletion and insertion curves over users, resampled on ``grid`` (fractions)."""
    dels, inss = [], []
    for entry in entries:
        for dele, ins, *_ in entry:
            x = np.linspace(0, 1, dele.size)
            dels.append(np.interp(grid, x, dele))
            inss.append(np.interp(grid, x, ins))
    return np.mean(dels, axis=0), np.mean(inss, axis=0)


def curve_table(curves) -> pd.DataFrame:
    """Mean curves per method (and random) on 11 fractions, for the report table."""
    grid = np.linspace(0, 1, 11)
    rows = []
    for name, entries in curves.items():
        dele, ins = mean_curves(entries, grid)
        rows += [{"method": name, "fraction": float(g), "deletion": float(d),
                  "insertion": float(i)} for g, d, i in zip(grid, dele, ins)]
    return pd.DataFrame(rows)
