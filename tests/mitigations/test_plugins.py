"""A third-party mitigation plugs in through the ``recaudit.mitigations`` entry points and is
used by name: ``recaudit.mitigations.get``, an ablation arm of a spec, ``ra.ablate``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import recaudit as ra
from recaudit.mitigations import MITIGATIONS, MitigatedRecommender, Mitigation
from recaudit.spec import load_spec
from recaudit.testing.zoo import ScoringModel


class HistoryCap(Mitigation):
    """Show the model only the last ``keep`` history items (a third-party mitigation)."""

    name = "history_cap"

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep

    def wrap(self, model, data=None):
        return _Capped(model, self, data if data is not None else model.data)


class _Capped(MitigatedRecommender):
    def transform(self, request):
        return request.replace(history=request.history[-self.mitigation.keep:])


@pytest.fixture
def plugged(monkeypatch):
    points = [SimpleNamespace(name="history_cap", load=lambda: HistoryCap)]
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: points if group == "recaudit.mitigations" else [])
    monkeypatch.setattr(MITIGATIONS, "_objects", dict(MITIGATIONS._objects))


def _spec(arm):
    return {"dataset": {"kind": "synthetic", "n_users": 40, "n_items": 30},
            "model": {"kind": "most_popular"}, "auditors": ["popularity_bias"],
            "ablation": {"mitigations": {"none": None, "cap": arm}, "seeds": [0]}}


def test_get_by_name(plugged):
    assert "history_cap" in ra.mitigations.available()
    m = ra.mitigations.get("history_cap", keep=1)
    assert isinstance(m, HistoryCap) and repr(m) == "HistoryCap(keep=1)"
    assert m.label() == "history_cap(keep=1)"
    data = ra.datasets.synthetic(n_users=10, n_items=20, seed=0)
    wrapped = m.wrap(ScoringModel(data))
    assert wrapped.fingerprint().startswith(ScoringModel(data).fingerprint() + "+history_cap-")
    with pytest.raises(ra.UnknownNameError, match="Did you mean 'history_cap'"):
        ra.mitigations.get("history_cpa")
    with pytest.raises(ra.UnknownNameError, match="bad parameter"):
        ra.mitigations.get("history_cap", kep=1)


def test_spec_ablation_arm_by_name(plugged):
    spec = load_spec(_spec({"name": "history_cap", "keep": 1}))
    assert spec.ablation["mitigations"]["cap"] == {"name": "history_cap", "keep": 1}
    with pytest.raises(ra.SpecError, match=r"unknown key 'ablation\.mitigations\.cap\.kep'\. "
                                           r"Did you mean 'keep'\?"):
        load_spec(_spec({"name": "history_cap", "kep": 1}))
    with pytest.raises(ra.SpecError, match="unknown mitigation 'history_cpa'. Did you mean "
                                           "'history_cap'"):
        load_spec(_spec("history_cpa"))


def test_ablate_runs_the_plugged_arm(plugged):
    data = ra.datasets.synthetic(n_users=40, n_items=30, seed=0)
    result = ra.ablate(ScoringModel(data), data, {"none": None, "cap": "history_cap"},
                       ["popularity_bias"], seeds=[0], config={"n_bootstrap": 20},
                       utility_users=20, cache=False, progress=False)
    assert set(result.table["mitigation"]) == {"none", "cap"}


def test_not_a_mitigation_is_refused(monkeypatch):
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: [SimpleNamespace(name="bad", load=lambda: dict)])
    with pytest.raises(TypeError, match="entry point 'bad' in group 'recaudit.mitigations' "
                                        "does not point to a Mitigation subclass"):
        ra.mitigations.get("bad")
