"""The auditor registry: decorator, lazy built-ins, did-you-mean, entry-point plug-ins."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint

import pytest

import recaudit as ra
from recaudit.auditors import (
    BUILTIN_AUDITORS,
    ENTRY_POINT_GROUP,
    _registry,
    available_auditors,
    get_auditor_class,
    make_auditor,
)
from recaudit.errors import UnknownNameError


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    monkeypatch.setattr(_registry, "_REGISTERED", dict(_registry._REGISTERED))


def test_design_names_are_builtin():
    assert set(BUILTIN_AUDITORS) == {
        "popularity_bias", "position_bias", "consumer_fairness", "provider_fairness",
        "membership_inference", "attribute_inference", "memorization", "prompt_robustness",
        "item_text_attack", "attribution_faithfulness", "explanation_faithfulness"}
    assert set(BUILTIN_AUDITORS) <= set(available_auditors())


def test_decorator_registers_and_names():
    @ra.register_auditor("my_check")
    class MyCheck(ra.Auditor):
        def run(self, model, data, ctx):
            return self.result()

    assert MyCheck.name == "my_check"
    assert get_auditor_class("my_check") is MyCheck
    assert "my_check" in available_auditors()
    assert isinstance(make_auditor("my_check"), MyCheck)


def test_decorator_rejects_collisions_and_non_auditors():
    @ra.register_auditor("taken")
    class First(ra.Auditor):
        pass

    with pytest.raises(ValueError, match="already registered"):
        @ra.register_auditor("taken")
        class Second(ra.Auditor):
            pass

    with pytest.raises(ValueError, match="reserved for the built-in|already registered"):
        @ra.register_auditor("memorization")
        class Impostor(ra.Auditor):
            pass

    with pytest.raises(TypeError, match="expects an Auditor subclass"):
        ra.register_auditor("not_a_class")(object)


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'popularity_bias'") as err:
        get_auditor_class("popularity_bais")
    assert "Available:" in str(err.value)
    with pytest.raises(UnknownNameError) as err:
        get_auditor_class("zzzzzz")
    assert "Did you mean" not in str(err.value)


def test_builtins_load_lazily():
    cls = get_auditor_class("popularity_bias")
    assert cls.name == "popularity_bias" and issubclass(cls, ra.Auditor)
    module, attr = BUILTIN_AUDITORS["popularity_bias"].split(":")
    assert cls.__module__ == module and cls.__name__ == attr


def test_entry_point_plugin(monkeypatch, tmp_path):
    pkg = tmp_path / "thirdparty_audit.py"
    pkg.write_text(
        "import recaudit as ra\n"
        "class ListLength(ra.Auditor):\n"
        "    family = 'custom'\n"
        "    method = 'Counts recommended items.'\n"
        "    citation = 'n/a'\n"
        "    def run(self, model, data, ctx):\n"
        "        r = model.rank([data.request(data.user_ids[0])], 4)[0]\n"
        "        return self.result(metrics=[self.metric('length', len(r.items))])\n"
        "class NotAnAuditor:\n"
        "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint("list_length", "thirdparty_audit:ListLength", ENTRY_POINT_GROUP),
           EntryPoint("broken_plugin", "thirdparty_audit:NotAnAuditor", ENTRY_POINT_GROUP)]

    def fake_entry_points(group=None):
        return [e for e in eps if e.group == group]

    monkeypatch.setattr(_registry, "entry_points", fake_entry_points)
    assert {"list_length", "broken_plugin"} <= set(available_auditors())
    cls = get_auditor_class("list_length")
    assert cls.name == "list_length"
    data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    from recaudit.testing.zoo import ScoringModel

    rep = ra.audit(ScoringModel(data), data, ["list_length"], cache=False, progress=False)
    assert rep["list_length"].metric("length").value == 4
    with pytest.raises(TypeError, match="does not point to an Auditor subclass"):
        get_auditor_class("broken_plugin")
    with pytest.raises(UnknownNameError, match="Did you mean 'list_length'"):
        get_auditor_class("list_lenght")
    sys.modules.pop("thirdparty_audit", None)
