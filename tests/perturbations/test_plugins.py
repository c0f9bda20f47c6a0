"""A third-party perturbation plugs in through the ``recaudit.perturbations`` entry points."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import recaudit as ra
from recaudit.perturbations import (
    PERTURBATIONS,
    Perturbation,
    as_perturbations,
    available_perturbations,
    get_perturbation,
)


class DropFirst(Perturbation):
    """Drop the first history item (a third-party perturbation)."""

    name = "drop_first"
    kind = "history"
    preserves_meaning = False

    def __init__(self, strength: float | None = None, seed: int = 0, *,
                 keep_last: bool = True) -> None:
        super().__init__(strength, seed)
        self.keep_last = keep_last

    def _apply(self, request, data, rng):
        return request.replace(history=request.history[1:])


@pytest.fixture
def plugged(monkeypatch):
    points = [SimpleNamespace(name="drop_first", load=lambda: DropFirst),
              SimpleNamespace(name="not_one", load=lambda: dict)]
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: points if group == "recaudit.perturbations" else [])
    monkeypatch.setattr(PERTURBATIONS, "_objects", dict(PERTURBATIONS._objects))


def test_entry_point_perturbation_is_used_by_name(plugged):
    assert "drop_first" in available_perturbations()
    p = get_perturbation("drop_first", strength=1.0, keep_last=False)
    assert repr(p) == "DropFirst(strength=1.0, seed=0, keep_last=False)"
    assert p.describe() == {"name": "drop_first", "kind": "history", "strength": 1.0,
                            "seed": 0, "keep_last": False}
    data = ra.datasets.synthetic(n_users=10, n_items=20, seed=0)
    req = data.request(data.user_ids[0])
    assert p.apply(req, data).history == req.history[1:]
    assert [q.seed for q in as_perturbations(["drop_first", "typos"], seed=5)] == [5, 5]


def test_entry_point_that_is_not_a_perturbation_is_refused(plugged):
    with pytest.raises(TypeError, match="does not point to a Perturbation subclass"):
        get_perturbation("not_one")
    with pytest.raises(ra.UnknownNameError, match="Did you mean 'drop_first'"):
        get_perturbation("drop_frist")
