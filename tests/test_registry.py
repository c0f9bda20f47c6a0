"""The generic registry and the params mixin every pluggable kind shares."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from recaudit.errors import UnknownNameError, did_you_mean
from recaudit.params import Params
from recaudit.registry import Registry, accepted_parameters


class Base:
    name = ""


class Red(Base):
    def __init__(self, shade: int = 1) -> None:
        self.shade = shade


def test_register_get_build_and_names():
    reg: Registry = Registry("colour", base=Base, set_name=True)
    reg.register("red", Red)
    assert reg.get("red") is Red and Red.name == "red"
    assert reg.build("red", shade=3).shade == 3
    assert reg.names() == ["red"] and "red" in reg and "blue" not in reg


def test_unknown_name_suggests_and_lists():
    reg: Registry = Registry("colour")
    reg.register("red", Red)
    with pytest.raises(UnknownNameError, match=r"unknown colour 'rde'\. Did you mean 'red'\? "
                                               r"Available: red"):
        reg.get("rde")


def test_bad_parameter_names_the_accepted_ones():
    reg: Registry = Registry("colour")
    reg.register("red", Red)
    with pytest.raises(UnknownNameError, match=r"bad parameter\(s\) for colour 'red'.*"
                                               r"It accepts: shade"):
        reg.build("red", hue=2)


def test_second_definition_under_a_taken_name_is_refused():
    reg: Registry = Registry("colour")
    reg.register("red", Red)
    reg.register("red", Red)  # the same definition again is fine (a re-imported module)

    class Other(Base):
        pass

    with pytest.raises(ValueError, match="already registered"):
        reg.register("red", Other)


def test_base_class_is_enforced():
    reg: Registry = Registry("colour", base=Base)
    with pytest.raises(TypeError, match="Base subclass"):
        reg.register("red", object)


def test_lazy_target_is_imported_on_first_use_and_reserved():
    reg: Registry = Registry("ordered dict")
    reg.lazy("od", "collections:OrderedDict")
    assert "od" in reg
    import collections
    assert reg.get("od") is collections.OrderedDict
    reg2: Registry = Registry("ordered dict")
    reg2.lazy("od", "collections:OrderedDict")
    with pytest.raises(ValueError, match="reserved for the built-in"):
        reg2.register("od", Red)


def test_entry_point_plugins(monkeypatch):
    point = SimpleNamespace(name="plugged", load=lambda: Red)
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: [point] if group == "test.group" else [])
    reg: Registry = Registry("colour", base=Base, entry_point_group="test.group")
    assert reg.names() == ["plugged"]
    assert reg.get("plugged") is Red
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: [SimpleNamespace(name="bad", load=lambda: int)])
    with pytest.raises(TypeError, match="entry point 'bad'"):
        Registry("colour", base=Base, entry_point_group="g").get("bad")


def test_accepted_parameters_of_classes_and_functions():
    def f(a, b=1, *args, c=2, **kw):
        return a

    assert accepted_parameters(f) == ["a", "b", "c"]
    assert accepted_parameters(Red) == ["shade"]


def test_did_you_mean():
    assert did_you_mean("popularty_bias", ["popularity_bias", "memorization"]) == \
        " Did you mean 'popularity_bias'?"
    assert did_you_mean("zzz", ["popularity_bias"]) == ""


def test_params_mixin_repr_and_get_params():
    class Cut(Params):
        def __init__(self, k: int = 10, *, mode: str = "top") -> None:
            self.k, self.mode = k, mode

    assert Cut(5).get_params() == {"k": 5, "mode": "top"}
    assert repr(Cut(5, mode="all")) == "Cut(k=5, mode='all')"

    class NoInit(Params):
        pass

    assert NoInit().get_params() == {} and repr(NoInit()) == "NoInit()"


def test_getitem_is_get_and_unknown_names_are_key_errors():
    reg: Registry = Registry("colour")
    reg.register("red", Red)
    assert reg["red"] is Red
    with pytest.raises(KeyError, match="Did you mean 'red'"):
        reg["rde"]


def test_base_class_message_uses_the_right_article():
    class Auditor:
        pass

    with pytest.raises(TypeError, match="does not point to an Auditor subclass"):
        Registry("auditor", base=Auditor).register("x", int)


def test_params_repr_exclude_keeps_get_params_whole():
    class Pool(Params):
        _repr_exclude = ("sentences",)

        def __init__(self, sentences=("a", "b"), n=2):
            self.sentences, self.n = sentences, n

    assert repr(Pool()) == "Pool(n=2)"
    assert Pool().get_params() == {"sentences": ("a", "b"), "n": 2}


# ---------------------------------------------------------------- one front per registry
def test_each_package_front_is_its_registrys_own_method():
    """The helper functions the packages export are the registry's methods, not copies."""
    from recaudit import auditors, data, engine, mitigations, models, perturbations

    fronts = [
        (auditors.register_auditor, auditors.AUDITORS.register),
        (auditors.available_auditors, auditors.AUDITORS.names),
        (auditors.get_auditor_class, auditors.AUDITORS.get),
        (auditors.make_auditor, auditors.AUDITORS.build),
        (perturbations.register_perturbation, perturbations.PERTURBATIONS.register_named),
        (perturbations.available_perturbations, perturbations.PERTURBATIONS.names),
        (perturbations.get_perturbation, perturbations.PERTURBATIONS.build),
        (mitigations.available, mitigations.MITIGATIONS.names),
        (mitigations.get, mitigations.MITIGATIONS.build),
        (models.model_kind, models.MODEL_KINDS.record),
        (data.dataset_kind, data.DATASET_KINDS.record),
        (engine.executor_kind, engine.EXECUTOR_KINDS.record),
    ]
    for front, method in fronts:
        assert front == method, front


@pytest.mark.parametrize("registry, name, bad", [
    ("auditors.AUDITORS", "popularity_bias", "n_user"),
    ("mitigations.MITIGATIONS", "reweighting", "strenght"),
    ("perturbations.PERTURBATIONS", "typos", "strenght"),
])
def test_every_build_names_the_accepted_parameters(registry, name, bad):
    import importlib

    package, attr = registry.split(".")
    reg = getattr(importlib.import_module(f"recaudit.{package}"), attr)
    accepted = accepted_parameters(reg.get(name))
    with pytest.raises(UnknownNameError, match=rf"bad parameter\(s\) for {reg.kind} "
                                               rf"'{name}'.*It accepts: {accepted[0]}"):
        reg.build(name, **{bad: 1})


def test_the_three_kind_tables_share_one_kind_record():
    from recaudit.data import DATASET_KINDS, DatasetKind
    from recaudit.engine import EXECUTOR_KINDS, ExecutorKind
    from recaudit.models import MODEL_KINDS, ModelKind
    from recaudit.registry import Kind, KindRegistry

    for registry, record in ((MODEL_KINDS, ModelKind), (DATASET_KINDS, DatasetKind),
                             (EXECUTOR_KINDS, ExecutorKind)):
        assert isinstance(registry, KindRegistry) and issubclass(record, Kind)
        for name in registry.names():
            kind = registry.record(name)
            assert isinstance(kind, record) and kind.name == name and kind.description


def test_a_kind_registry_adopts_only_what_it_allows():
    from recaudit.registry import Kind, KindRegistry

    def adopt(name, obj):
        return Kind(name, "adopted", obj) if callable(obj) else None

    reg: KindRegistry = KindRegistry("shape kind", Kind, adopt=adopt, adopts="a function")
    reg.register("square", Kind("square", "four sides", dict))
    reg.register("loader", lambda: "drawn")
    reg.register("number", 42)
    assert reg.record("square").description == "four sides"
    assert reg.record("loader").build() == "drawn"
    with pytest.raises(TypeError, match="shape kind 'number' is registered as 42, not a "
                                        "Kind or a function"):
        reg.record("number")
    with pytest.raises(UnknownNameError, match="unknown shape kind 'squre'. Did you mean "
                                               "'square'"):
        reg.record("squre")


def test_register_named_takes_the_name_from_the_class():
    reg: Registry = Registry("colour", base=Base)

    class Blue(Base):
        name = "blue"

    assert reg.register_named(Blue) is Blue and reg.get("blue") is Blue
    with pytest.raises(ValueError, match="has no 'name'"):
        reg.register_named(Base)
