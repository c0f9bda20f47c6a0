"""Write a MovieLens-100K- or MovieLens-1M-shaped folder with made-up content.

For benchmarks on a machine without the real data: the same files, formats, sizes, rating
skew (Zipf-like item popularity, heavy-tailed user activity, at least 20 ratings per user)
and title lengths as the GroupLens releases, with made-up titles.

- ML-100K (default): ``ml-100k/`` with ``u.item``, ``u.user``, ``u.data`` (943 users,
  1682 items, 100,000 ratings, ``|`` and tab separated).
- ML-1M (``--ml-1m``): ``ml-1m/`` with ``movies.dat``, ``users.dat``, ``ratings.dat``
  (6,040 users, 3,883 movies of which 3,706 are rated, 1,000,209 ratings), ``::``
  separated and latin-1 encoded as the release: ids with gaps (1..3952), ML-1M age and
  occupation codes, some accented titles, each user's ratings in no particular time order.

Point ``benchmarks/bench_movielens.py`` or ``benchmarks/bench_loaders.py`` at the real
folders when you have them.

    python benchmarks/fake_movielens.py /tmp/mlfake           # writes /tmp/mlfake/ml-100k
    python benchmarks/fake_movielens.py /tmp/mlfake --ml-1m   # writes /tmp/mlfake/ml-1m
"""

from __future__ import annotations

import argparse
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
#: Title words outside ASCII, as in the release ("Misérables, Les (1995)"), latin-1 encodable.
ACCENTED = ("misérables café noël señor über déjà reine château amélie élan").split()
AGE_CODES_1M = [1, 18, 25, 35, 45, 50, 56]


def _rating_counts(rng: np.random.Generator, n_users: int, n_items: int,
                   n_ratings: int) -> np.ndarray:
    """Ratings per user: at least 20 each (as in the releases), the rest heavy-tailed."""
    activity = rng.pareto(1.2, n_users) + 1.0
    counts = 20 + rng.multinomial(n_ratings - 20 * n_users, activity / activity.sum())
    cap = n_items // 2
    while (counts > cap).any():  # spill the excess of the heaviest users onto the others
        excess = int((counts - cap).clip(min=0).sum())
        counts = np.minimum(counts, cap)
        open_ = np.flatnonzero(counts < cap)
        counts += np.bincount(rng.choice(open_, size=excess), minlength=n_users)
    return counts


def _popularity(rng: np.random.Generator, n_items: int) -> np.ndarray:
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop = pop[rng.permutation(n_items)]
    return pop / pop.sum()


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
    counts = _rating_counts(rng, n_users, n_items, n_ratings)
    pop = _popularity(rng, n_items)
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


def write_fake_1m(root: Path, *, n_users: int = 6040, n_movies: int = 3883,
                  n_rated: int = 3706, n_ratings: int = 1_000_209, max_id: int = 3952,
                  seed: int = 0) -> Path:
    """An ``ml-1m`` folder: ``movies.dat``, ``users.dat``, ``ratings.dat`` (``::``, latin-1).

    ``n_movies`` movies with ids drawn without replacement from 1..``max_id`` (the release
    has gaps), ``n_rated`` of them rated (at the default sizes the least popular rated
    movie expects about 50 ratings, so all ``n_rated`` appear); user ids 1..``n_users``.
    """
    if n_rated > n_movies or n_movies > max_id:
        raise ValueError("need n_rated <= n_movies <= max_id")
    rng = np.random.default_rng(seed)
    folder = Path(root) / "ml-1m"
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.sort(rng.choice(np.arange(1, max_id + 1), size=n_movies, replace=False))
    movies = []
    for i in ids:
        words = list(rng.choice(WORDS, size=rng.integers(1, 5)))
        if rng.random() < 0.03:
            words[0] = str(rng.choice(ACCENTED))
        title = " ".join(w.capitalize() for w in words)
        genres = rng.choice(GENRES[1:], size=rng.integers(1, 4), replace=False)
        movies.append(f"{i}::{title} ({int(rng.integers(1919, 2001))})::{'|'.join(genres)}")
    users = []
    for u in range(1, n_users + 1):
        zip_code = f"{rng.integers(0, 99999):05d}"
        if rng.random() < 0.02:
            zip_code += f"-{rng.integers(0, 9999):04d}"
        users.append(f"{u}::{rng.choice(['M', 'F'])}::{rng.choice(AGE_CODES_1M)}::"
                     f"{rng.integers(0, 21)}::{zip_code}")
    rated = rng.choice(ids, size=n_rated, replace=False)
    counts = _rating_counts(rng, n_users, n_rated, n_ratings)
    pop = _popularity(rng, n_rated)
    lines = []
    for u, c in enumerate(counts, start=1):
        chosen = rated[rng.choice(n_rated, size=int(c), replace=False, p=pop)]
        times = rng.integers(956_703_932, 1_046_454_590, size=int(c))
        stars = rng.integers(1, 6, size=int(c))
        lines.extend(f"{u}::{i}::{s}::{t}" for i, s, t in zip(chosen, stars, times))
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    (folder / "users.dat").write_bytes(("\n".join(users) + "\n").encode("latin-1"))
    (folder / "ratings.dat").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="ml-fake", help="folder to write under")
    ap.add_argument("--ml-1m", action="store_true", help="write ml-1m/ (ratings.dat, "
                    "movies.dat, users.dat) instead of ml-100k/")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    write = write_fake_1m if args.ml_1m else write_fake_100k
    print(write(Path(args.root), seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
