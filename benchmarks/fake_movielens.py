"""Write a MovieLens-100K-shaped folder (943 users, 1682 items, 100,000 ratings).

For benchmarks on a machine without the real data: the same files (``u.item``, ``u.user``,
``u.data``), sizes, rating skew (Zipf-like item popularity, heavy-tailed user activity) and
title lengths as the GroupLens release, with made-up titles. Point
``benchmarks/bench_movielens.py`` at the real folder when you have it.

    python benchmarks/fake_movielens.py /tmp/ml-100k-fake   # writes /tmp/ml-100k-fake/ml-100k
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]
OCCUPATIONS = ["administrator", "artist", "doctor", "educator", "engineer", "entertainment",
               "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing",
               "none", "other", "programmer", "retired", "salesman", "scientist", "student",
               "technician", "writer"]
WORDS = ("night day man woman city love war star story river house dark light last first "
         "return king queen game dead life time world heart road blood secret summer winter "
         "girl boy lost young wild blue red black white killer angel devil dream island "
         "family brother sister father mother money power ghost moon sun fire ice").split()


def write_fake_100k(root: Path, *, n_users: int = 943, n_items: int = 1682,
                    n_ratings: int = 100_000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = Path(root) / "ml-100k"
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(1, n_items + 1):
        words = rng.choice(WORDS, size=rng.integers(1, 5))
        title = " ".join(w.capitalize() for w in words)
        year = int(rng.integers(1930, 1999))
        flags = np.zeros(len(GENRES), dtype=int)
        flags[rng.choice(np.arange(1, len(GENRES)), size=rng.integers(1, 4), replace=False)] = 1
        items.append("|".join([str(i), f"{title} ({year})", f"01-Jan-{year}", "",
                               "http://us.imdb.com/x", *map(str, flags)]))
    users = []
    for u in range(1, n_users + 1):
        users.append("|".join([str(u), str(int(rng.integers(7, 74))), rng.choice(["M", "F"]),
                               rng.choice(OCCUPATIONS), f"{rng.integers(10000, 99999)}"]))
    # every user rates at least 20 items (as in the release); the rest follows activity
    activity = rng.pareto(1.2, n_users) + 1.0
    counts = 20 + rng.multinomial(n_ratings - 20 * n_users, activity / activity.sum())
    cap = n_items // 2
    while (counts > cap).any():  # spill the excess of the heaviest users onto the others
        excess = int((counts - cap).clip(min=0).sum())
        counts = np.minimum(counts, cap)
        open_ = np.flatnonzero(counts < cap)
        counts += np.bincount(rng.choice(open_, size=excess), minlength=n_users)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop = pop[rng.permutation(n_items)]
    pop /= pop.sum()
    lines = []
    for u, c in enumerate(counts, start=1):
        chosen = rng.choice(n_items, size=int(c), replace=False, p=pop) + 1
        times = np.sort(rng.integers(874_724_710, 893_286_638, size=int(c)))
        for item, t in zip(chosen, times):
            lines.append(f"{u}\t{item}\t{int(rng.integers(1, 6))}\t{t}")
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("\n".join(users) + "\n")
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return folder


if __name__ == "__main__":
    out = write_fake_100k(Path(sys.argv[1] if len(sys.argv) > 1 else "ml-100k-fake"))
    print(out)
