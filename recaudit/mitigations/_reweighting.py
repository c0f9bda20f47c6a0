"""Reweighting, at training time (per-example loss weights) or at inference (score terms).

Training-time modes need a model with the ``train`` capability: the wrapped model is the
model re-trained with ``fit(data, sample_weight=w)``, ``w`` aligned with ``data.train`` rows
(the row of each example's target interaction).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ..data import sample_users
from ._base import MitigatedRecommender, Mitigation, inner_pool_scores, model_data, pool_of

Mode = Literal["kamiran_calders", "popularity_groups", "inverse_popularity",
               "provider_exposure"]
TRAINING_MODES = ("kamiran_calders", "popularity_groups")


def kamiran_calders_weights(groups: pd.Series, labels: pd.Series) -> np.ndarray:
    """Kamiran and Calders (2012) reweighing: w(g, l) = P(g) P(l) / P(g, l).

    Examples
    --------
    >>> g = pd.Series(["a", "a", "a", "b"]); l = pd.Series(["x", "x", "y", "y"])
    >>> kamiran_calders_weights(g, l).round(3).tolist()
    [0.75, 0.75, 1.5, 0.5]
    """
    df = pd.DataFrame({"g": groups.to_numpy(), "l": labels.to_numpy()})
    n = len(df)
    p_g = df["g"].map(df["g"].value_counts() / n)
    p_l = df["l"].map(df["l"].value_counts() / n)
    p_gl = df.groupby(["g", "l"])["g"].transform("size") / n
    return (p_g * p_l / p_gl).to_numpy(dtype=float)


def head_tail_groups(popularity: pd.Series, head_share: float = 0.8) -> pd.Series:
    """'head' for the most popular items covering ``head_share`` of interactions, else 'tail'."""
    pop = popularity.sort_values(ascending=False, kind="stable")
    cum = pop.cumsum() / max(pop.sum(), 1)
    head = cum.index[(cum.shift(fill_value=0.0) < head_share).to_numpy()]
    return pd.Series(np.where(popularity.index.isin(head), "head", "tail"),
                     index=popularity.index)


def popularity_group_weights(data: Any) -> np.ndarray:
    """IFairLRS-style (Jiang et al., WWW 2024) weights: w_g = share of group g among items
    in training histories / share of g among training targets, per example (the target row).

    Targets are every train interaction after a user's first; histories are what precedes
    them (each example's context, counted per example).
    """
    groups = head_tail_groups(data.popularity)
    train = data.train.reset_index(drop=True)
    pos = train.groupby("user_id").cumcount().to_numpy()
    g = train["item_id"].map(groups).to_numpy()
    is_target = pos >= 1
    # an item at position p appears in the history of (n_u - 1 - p) later examples
    n_u = train.groupby("user_id")["item_id"].transform("size").to_numpy()
    hist_count = n_u - 1 - pos
    hist_share = {x: hist_count[g == x].sum() / max(hist_count.sum(), 1) for x in ("head", "tail")}
    tgt_share = {x: (is_target & (g == x)).sum() / max(is_target.sum(), 1)
                 for x in ("head", "tail")}
    w = np.array([hist_share[x] / tgt_share[x] if tgt_share[x] > 0 else 1.0 for x in g])
    return w


class Reweighting(Mitigation):
    """Reweight training examples or re-weight scores at inference.

    Parameters
    ----------
    mode : str
        ``kamiran_calders`` (training: group = the user's ``attribute``, label = the target
        item's first genre), ``popularity_groups`` (training: IFairLRS head/tail weights),
        ``inverse_popularity`` (inference: score - strength * log(1 + popularity)),
        ``provider_exposure`` (inference: score + strength * log(catalog share / exposure share)
        of the item's provider group, exposures measured on the model once at wrap time).
    attribute : str, optional
        Sensitive attribute for ``kamiran_calders`` (default: the dataset's first).
    strength : float
        Multiplier of inference-time terms (and an exponent on training weights).
    seed : int
        Training seed for training-time modes.
    """

    name = "reweighting"

    def __init__(self, mode: Mode = "inverse_popularity", attribute: str | None = None,
                 strength: float = 1.0, seed: int = 0) -> None:
        allowed = TRAINING_MODES + ("inverse_popularity", "provider_exposure")
        if mode not in allowed:
            raise ValueError(f"reweighting mode must be one of {allowed}, got {mode!r}")
        self.mode = mode
        self.attribute = attribute
        self.strength = strength
        self.seed = seed

    def sample_weight(self, data: Any) -> np.ndarray:
        """Per-example weights aligned with ``data.train`` rows (training-time modes)."""
        if self.mode == "kamiran_calders":
            attr = self.attribute or (data.sensitive[0] if data.sensitive else None)
            if attr is None:
                raise ValueError("kamiran_calders needs a sensitive attribute; the dataset "
                                 "declares none")
            train = data.train.reset_index(drop=True)
            groups = train["user_id"].map(data.users.set_index("user_id")[attr])
            labels = train["item_id"].map(lambda i: data.genres(i)[0] if data.genres(i) else "")
            w = kamiran_calders_weights(groups, labels)
        else:
            w = popularity_group_weights(data)
        return w ** self.strength

    def wrap(self, model: Any, data: Any = None) -> Any:
        self.check(model)
        data = model_data(model, data)
        if self.mode in TRAINING_MODES:
            if "train" not in model.capabilities:
                raise self._train_error(model)
            return model.fit(data, sample_weight=self.sample_weight(data), seed=self.seed)
        if self.mode == "inverse_popularity":
            bonus = -np.log1p(data.popularity.reindex(list(data.item_ids)).to_numpy(float))
        else:
            bonus = self._provider_bonus(model, data)
        return _ScoreOffset(model, self, data, dict(zip(data.item_ids, self.strength * bonus)))

    def _train_error(self, model: Any):
        from ..errors import CapabilityError

        return CapabilityError(f"reweighting mode {self.mode!r} re-trains the model, but "
                               f"{type(model).__name__} does not declare 'train'; use an "
                               "inference-time mode (inverse_popularity, provider_exposure)")

    def _provider_bonus(self, model: Any, data: Any, k: int = 10, n_users: int = 100):
        users = sample_users(data, n_users, np.random.default_rng(self.seed), require_test=False)
        rankings = model.rank([data.request(u) for u in users], k)
        exposure: dict[str, float] = {}
        for r in rankings:
            for pos, item in enumerate(r.items):
                g = data.providers[item]
                exposure[g] = exposure.get(g, 0.0) + 1.0 / np.log2(pos + 2)
        total = sum(exposure.values()) or 1.0
        catalog = data.items["provider"].value_counts(normalize=True)
        ratio = {g: np.log(catalog[g] / max(exposure.get(g, 0.0) / total, 1e-3))
                 for g in catalog.index}
        return np.array([ratio[data.providers[i]] for i in data.item_ids])


class _ScoreOffset(MitigatedRecommender):
    def __init__(self, inner, mitigation, data, offsets: dict[str, float]) -> None:
        super().__init__(inner, mitigation, data)
        self.offsets = offsets

    def pool_scores(self, requests):
        base = inner_pool_scores(self.inner, requests, self.data)
        return [s + np.array([self.offsets[i] for i in pool_of(r, self.data)])
                for r, s in zip(requests, base)]
