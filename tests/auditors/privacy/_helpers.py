"""Shared helpers of the privacy auditor tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import recaudit as ra
from recaudit.auditors import AuditContext, assign_verdicts
from recaudit.models import BaseRecommender, Ranking, Request


def world(seed: int, n_users: int = 100, n_items: int = 50, clean: bool = True):
    effects = ra.datasets.Effects.none() if clean else ra.datasets.Effects()
    return ra.datasets.synthetic(n_users=n_users, n_items=n_items, seed=seed, effects=effects)


def context(seed: int, n: int = 200) -> AuditContext:
    """A quiet context whose audit seed differs from the data/model seed."""
    return AuditContext(seed=100 + seed, n_bootstrap=n, n_permutations=n, show_progress=False)


def verdicts(result) -> dict[tuple[str, str], str]:
    assign_verdicts([result])
    return {(m.name, m.scope): m.verdict for m in result.metrics}


def failed(result) -> set[tuple[str, str]]:
    return {k for k, v in verdicts(result).items() if v == "fail"}


class RankOnly(BaseRecommender):
    """Expose only ``rank`` of another model (a black-box, rank-only model)."""

    capabilities = frozenset({"rank"})

    def __init__(self, model: Any) -> None:
        self.model = model

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        return self.model.rank(requests, k)

    def fingerprint(self) -> str:
        return "RankOnly-" + self.model.fingerprint()


class NoTrain(RankOnly):
    """Expose ``rank`` and ``nll`` but not ``train``."""

    capabilities = frozenset({"rank", "nll"})

    def nll(self, requests, targets):
        return self.model.nll(requests, targets)
