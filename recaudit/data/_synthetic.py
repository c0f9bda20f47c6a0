"""A synthetic world with planted, controllable effects: the embedded default and the
ground truth for tests.

Every user has a private taste over genres (what makes histories predictive). On top of it,
``Effects`` plants:

- ``popularity``: Zipf exponent of item appeal (0 = every item equally appealing);
- ``gender`` / ``age``: how strongly each value of the attribute shifts genre preference
  (0 = the attribute carries no information at all);
- ``provider``: log-appeal advantage of the ``major`` provider group over ``indie``.

With every effect at 0 the interactions are independent of the users' attributes: the clean
control.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ._dataset import AuditDataset, leave_last_out
from ._titles import make_titles

GENRES = ("Action", "Comedy", "Drama", "Romance", "Sci-Fi", "Horror", "Thriller",
          "Documentary", "Animation", "Musical", "Western", "Mystery")
GENDERS = ("female", "male")
AGE_GROUPS = ("young", "middle-aged", "senior")
PROVIDERS = ("major", "indie")

#: Genres each attribute value leans towards when its effect is switched on.
GENDER_GENRES = {"female": ("Romance", "Drama", "Musical"),
                 "male": ("Action", "Sci-Fi", "Western")}
AGE_GENRES = {"young": ("Animation", "Horror", "Comedy"),
              "middle-aged": ("Thriller", "Mystery", "Drama"),
              "senior": ("Documentary", "Western", "Musical")}


@dataclass(frozen=True)
class Effects:
    """Strength of each planted effect (0 switches it off).

    Parameters
    ----------
    popularity : float
        Zipf exponent of item appeal.
    gender, age : float
        Log-odds boost of the genres each attribute value leans towards.
    provider : float
        Log-appeal advantage of ``major`` provider items.
    """

    popularity: float = 1.0
    gender: float = 1.5
    age: float = 1.0
    provider: float = 0.5

    @classmethod
    def none(cls) -> Effects:
        """No planted effect at all: the clean control."""
        return cls(popularity=0.0, gender=0.0, age=0.0, provider=0.0)


def synthetic(n_users: int = 400, n_items: int = 200, seed: int = 0, *,
              effects: Effects | None = None, min_interactions: int = 8,
              max_interactions: int = 16, taste: float = 2.5,
              name: str | None = None) -> AuditDataset:
    """Generate a world with known effects; each user's last interaction is held out.

    Parameters
    ----------
    n_users, n_items : int
        Size of the world.
    seed : int
        Everything is a function of the seed.
    effects : Effects
        Planted effects; default ``Effects()``; ``Effects.none()`` is the clean control.
    min_interactions, max_interactions : int
        Range of interactions per user (inclusive).
    taste : float
        Strength of each user's private genre taste (what makes histories predictive).

    Examples
    --------
    >>> data = synthetic(n_users=30, n_items=40, seed=1)
    >>> sorted(data.sensitive)
    ['age_group', 'gender']
    """
    if effects is None:
        effects = Effects()
    if n_items < max_interactions + 2:
        raise ValueError(f"n_items={n_items} must exceed max_interactions + 1 "
                         f"({max_interactions + 1})")
    if n_users < 1 or min_interactions < 2 or max_interactions < min_interactions:
        raise ValueError("need n_users >= 1 and 2 <= min_interactions <= max_interactions")
    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)

    # ---- items: genres (1-2), provider, appeal
    item_genre = np.zeros((n_items, n_genres))
    genre_lists = []
    for i in range(n_items):
        k = 1 + int(rng.random() < 0.4)
        g = rng.choice(n_genres, size=k, replace=False)
        item_genre[i, g] = 1.0
        genre_lists.append("|".join(GENRES[j] for j in sorted(g)))
    provider = np.where(rng.random(n_items) < 0.5, PROVIDERS[0], PROVIDERS[1])
    ranks = rng.permutation(n_items) + 1
    log_appeal = -effects.popularity * np.log(ranks)
    log_appeal = log_appeal + effects.provider * (provider == PROVIDERS[0])
    items = pd.DataFrame({
        "item_id": [f"i{n:04d}" for n in range(n_items)],
        "title": make_titles(n_items, rng),
        "genres": genre_lists,
        "provider": provider,
    })

    # ---- users: attributes independent of everything else
    gender = rng.choice(GENDERS, size=n_users)
    age = rng.choice(AGE_GROUPS, size=n_users)
    users = pd.DataFrame({"user_id": [f"u{n:04d}" for n in range(n_users)],
                          "gender": gender, "age_group": age})

    gidx = {g: n for n, g in enumerate(GENRES)}

    def lean(table: dict[str, tuple[str, ...]], value: str) -> np.ndarray:
        v = np.zeros(n_genres)
        v[[gidx[g] for g in table[value]]] = 1.0
        return v

    rows = []
    for u in range(n_users):
        private = np.zeros(n_genres)
        private[rng.choice(n_genres, size=2, replace=False)] = taste
        pref = (private + effects.gender * lean(GENDER_GENRES, gender[u])
                + effects.age * lean(AGE_GENRES, age[u]))
        # each item's utility: appeal + best-matching genre preference
        logits = log_appeal + (item_genre * pref).max(axis=1)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        n_int = int(rng.integers(min_interactions, max_interactions + 1))
        chosen = rng.choice(n_items, size=n_int, replace=False, p=p)
        start = int(rng.integers(0, 10_000_000))
        steps = np.cumsum(rng.integers(60, 86_400, size=n_int))
        affinity = (item_genre[chosen] * pref).max(axis=1)
        rating = np.clip(np.round(2.5 + 0.6 * affinity + rng.normal(0, 0.8, n_int)), 1, 5)
        for pos, i in enumerate(chosen):
            rows.append((users.at[u, "user_id"], items.at[int(i), "item_id"],
                         start + int(steps[pos]), float(rating[pos])))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    inter = leave_last_out(inter)
    return AuditDataset(
        items, users, inter, sensitive=("gender", "age_group"),
        allowed_values={"gender": GENDERS, "age_group": AGE_GROUPS},
        name=name or f"synthetic(n_users={n_users}, n_items={n_items}, seed={seed})",
        meta={"generator": "synthetic", "seed": seed, "effects": asdict(effects),
              "genres": GENRES})
