"""Writers of tiny MovieLens folders in the original file formats (no download needed).

A plain module (not a conftest) so that ``from conftest import SEEDS`` elsewhere is unaffected.
"""

from __future__ import annotations

from pathlib import Path

# u.item: id|title|release date|video release date|URL|19 genre flags
ITEMS_100K = [
    (1, "Toy Story (1995)", "01-Jan-1995", {"Animation", "Children's", "Comedy"}),
    (2, "GoldenEye (1995)", "01-Jan-1995", {"Action", "Adventure", "Thriller"}),
    (3, "Casablanca (1942)", "01-Jan-1942", {"Drama", "Romance", "War"}),
    (4, "Blade Runner (1982)", "01-Jan-1982", {"Film-Noir", "Sci-Fi"}),
    (5, "Misérables, Les (1995)", "01-Jan-1995", {"Drama", "Musical"}),
    (6, "Nobody Rated This (1977)", "01-Jan-1977", {"Comedy"}),
]
GENRES_100K = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
               "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
               "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
USERS_100K = [(1, 24, "M", "technician", "85711"), (2, 53, "F", "other", "94043"),
              (3, 17, "F", "student", "32067"), (4, 33, "M", "writer", "T8H1N"),
              (5, 60, "M", "retired", "10003")]  # user 5 never rates anything
# (user, item, rating, timestamp)
RATINGS = [(1, 1, 5, 100), (1, 2, 3, 200), (1, 3, 4, 300),
           (2, 3, 5, 150), (2, 5, 4, 50), (2, 1, 2, 400),
           (3, 4, 3, 10), (3, 1, 4, 20),
           (4, 2, 5, 70), (4, 4, 1, 80), (4, 5, 3, 90), (4, 3, 4, 60)]

MOVIES_1M = [(1, "Toy Story (1995)", "Animation|Children's|Comedy"),
             (2, "Jumanji (1995)", "Adventure|Children's|Fantasy"),
             (3, "Shawshank Redemption, The (1994)", "Drama"),
             (4, "Metropolis (1927)", "Sci-Fi"),
             (5, "Misérables, Les (1998)", "Drama"),
             (6, "Never Rated (2000)", "Comedy")]
USERS_1M = [(1, "F", 1, 10, "48067"), (2, "M", 56, 16, "70072"), (3, "M", 25, 15, "55117"),
            (4, "F", 45, 7, "02460"), (5, "M", 35, 0, "90210")]


def item_line_100k(item_id, title, date, genres) -> str:
    flags = ["1" if g in genres else "0" for g in GENRES_100K]
    return "|".join([str(item_id), title, date, "", "http://us.imdb.com/x", *flags])


def write_100k(root: Path, *, items=None, users=None, ratings=None, extra=None) -> Path:
    """Write u.item (latin-1), u.user and u.data; ``extra`` maps file -> raw lines to append."""
    folder = root / "ml-100k"
    folder.mkdir(parents=True, exist_ok=True)
    items = ITEMS_100K if items is None else items
    users = USERS_100K if users is None else users
    ratings = RATINGS if ratings is None else ratings
    files = {
        "u.item": [item_line_100k(*it) for it in items],
        "u.user": ["|".join(map(str, u)) for u in users],
        "u.data": ["\t".join(map(str, r)) for r in ratings],
    }
    for name, lines in (extra or {}).items():
        files[name] = files[name] + list(lines)
    for name, lines in files.items():
        (folder / name).write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return folder


def write_1m(root: Path, *, movies=None, users=None, ratings=None, extra=None) -> Path:
    folder = root / "ml-1m"
    folder.mkdir(parents=True, exist_ok=True)
    movies = MOVIES_1M if movies is None else movies
    users = USERS_1M if users is None else users
    ratings = RATINGS if ratings is None else ratings
    files = {
        "movies.dat": ["::".join(map(str, m)) for m in movies],
        "users.dat": ["::".join(map(str, u)) for u in users],
        "ratings.dat": ["::".join(map(str, r)) for r in ratings],
    }
    for name, lines in (extra or {}).items():
        files[name] = files[name] + list(lines)
    for name, lines in files.items():
        (folder / name).write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return folder


WORDS = ("night day city love war star river house dark light king queen game life time "
         "world heart road secret summer winter island family money ghost moon fire").split()


def sized_rows(kind: str, *, n_users: int = 40, n_items: int = 30, per_user: int = 8,
               seed: int = 0) -> dict:
    """Keyword arguments of :func:`write_100k` (``kind="100k"``) or :func:`write_1m`
    (``"1m"``) for a folder of ``n_users`` users rating ``per_user`` of ``n_items`` items
    each (popularity skewed towards low ids, distinct timestamps), seeded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    titles = [f"{' '.join(w.capitalize() for w in rng.choice(WORDS, size=2, replace=False))} "
              f"({int(rng.integers(1930, 1999))})" for _ in range(n_items)]
    genres = [set(rng.choice(GENRES_100K[1:], size=int(rng.integers(1, 3)), replace=False))
              for _ in range(n_items)]
    pop = 1.0 / np.arange(1, n_items + 1)
    ratings = []
    for u in range(1, n_users + 1):
        items = rng.choice(n_items, size=per_user, replace=False, p=pop / pop.sum()) + 1
        for k, i in enumerate(items):
            ratings.append((u, int(i), int(rng.integers(1, 6)), 1000 * u + k))
    genders = rng.choice(["F", "M"], size=n_users)
    if kind == "100k":
        return {"items": [(i + 1, t, f"01-Jan-{t[-5:-1]}", g)
                          for i, (t, g) in enumerate(zip(titles, genres))],
                "users": [(u, int(rng.integers(15, 70)), genders[u - 1],
                           ["student", "writer", "other"][u % 3], f"{10000 + u}")
                          for u in range(1, n_users + 1)],
                "ratings": ratings}
    return {"movies": [(i + 1, t, "|".join(sorted(g)))
                       for i, (t, g) in enumerate(zip(titles, genres))],
            "users": [(u, genders[u - 1], [1, 18, 25, 35, 45, 50, 56][u % 7], u % 21,
                       f"{10000 + u}") for u in range(1, n_users + 1)],
            "ratings": ratings}
