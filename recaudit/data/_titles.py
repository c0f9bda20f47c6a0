"""Title generator for synthetic catalogs: titles that read like real films or books."""

from __future__ import annotations

import numpy as np

ADJECTIVES = [
    "Silent", "Broken", "Golden", "Last", "Hidden", "Crimson", "Midnight", "Lost", "Wild",
    "Frozen", "Secret", "Burning", "Distant", "Electric", "Forgotten", "Little", "Endless",
    "Quiet", "Savage", "Velvet", "Iron", "Paper", "Hollow", "Bright", "Dark", "Sweet",
    "Lonely", "Final", "Eternal", "Restless",
]
NOUNS = [
    "River", "Empire", "Garden", "Station", "Horizon", "Kingdom", "Summer", "Harbor", "Machine",
    "Promise", "Shadow", "Letter", "Mountain", "Island", "Storm", "Echo", "Orchard", "Frontier",
    "Mirror", "Signal", "Carnival", "Voyage", "Lantern", "Circus", "Desert", "Valley", "Bridge",
    "Winter", "Crown", "Compass", "Symphony", "Heist", "Galaxy", "Detective", "Dancer",
]
NAMES = ["Anna", "Marco", "Yuki", "Olivia", "Samuel", "Priya", "Jonah", "Elena", "Tomas",
         "Amara", "Felix", "Clara", "Diego", "Noor", "Henry", "Lena"]
PLACES = ["Paris", "Tokyo", "Cairo", "Lisbon", "Montana", "Havana", "Oslo", "Bombay",
          "Avalon", "Brooklyn", "Sahara", "Vienna"]

PATTERNS = [
    "The {adj} {noun}",
    "{adj} {noun}",
    "{noun} of the {adj} {noun2}",
    "{name}'s {noun}",
    "Return to {place}",
    "A {noun} in {place}",
    "The {noun} and the {noun2}",
    "{adj} {noun}: The {name} Story",
    "Beyond the {adj} {noun}",
    "Tales from the {noun}",
    "Once Upon a {noun} in {place}",
    "{place} {noun}",
]


def make_titles(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct titles with a release year, e.g. "The Silent River (1994)"."""
    titles: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(titles) < n:
        attempts += 1
        if attempts > 200 * n:
            raise RuntimeError(f"could not generate {n} distinct titles")
        pattern = PATTERNS[rng.integers(len(PATTERNS))]
        noun, noun2 = rng.choice(NOUNS, size=2, replace=False)
        base = pattern.format(adj=rng.choice(ADJECTIVES), noun=noun, noun2=noun2,
                              name=rng.choice(NAMES), place=rng.choice(PLACES))
        title = f"{base} ({int(rng.integers(1950, 2024))})"
        if title not in seen:
            seen.add(title)
            titles.append(title)
    return titles
