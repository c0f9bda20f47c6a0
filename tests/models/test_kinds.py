"""The one model-kind table: a kind registered once is a spec key, a study arm and a
paradigm, with the keys its adapter accepts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import recaudit as ra
from recaudit import runner
from recaudit.models import MODEL_KINDS, BuildContext, ModelKind, build_paradigm
from recaudit.models._kinds import model_kind
from recaudit.spec import load_spec

DATA = {"kind": "synthetic", "n_users": 40, "n_items": 30, "seed": 0}


def test_every_built_in_kind_is_in_the_table():
    assert set(MODEL_KINDS.names()) >= {
        "tiny_lm", "hf", "embedding", "most_popular", "random", "chat", "item_knn", "sasrec",
        "prompt_tuning", "pretrain_fine_tune"}
    for name in MODEL_KINDS.names():
        kind = model_kind(name)
        assert kind.name == name and kind.description
        keys = kind.keys()
        assert keys[0] == "kind" and len(keys) == len(set(keys))
        assert set(kind.required) <= set(keys) and set(kind.nested) <= set(keys)
    assert {k for k in MODEL_KINDS.names() if model_kind(k).needs_pretrain} >= {
        "prompt_tuning", "pretrain_fine_tune", "lora", "prompt_lm_tuning", "instruction_tuning",
        "zero_shot_lm", "few_shot_lm"}


def test_keys_come_from_the_adapter_signature():
    assert model_kind("item_knn").keys() == ["kind", "n_neighbors", "shrink",
                                             "exclude_history"]
    assert "max_examples" in model_kind("tiny_lm").keys()  # a TinyLMConfig field
    assert "max_history" in model_kind("embedding").keys()


def test_audit_spec_model_is_limited_to_audit_kinds():
    with pytest.raises(ra.SpecError, match=r"model\.kind: unknown kind 'item_knn'"):
        load_spec({"dataset": DATA, "model": {"kind": "item_knn"}})
    spec = load_spec({"dataset": DATA, "models": {"knn": {"kind": "item_knn"}}})
    assert spec.models["knn"]["kind"] == "item_knn"


def test_required_and_nested_keys_are_checked():
    with pytest.raises(ra.SpecError, match=r"model\.path: required for kind 'hf'"):
        load_spec({"model": {"kind": "hf"}})
    with pytest.raises(ra.SpecError, match=r"models\.c\.base_url: required for kind 'chat'"):
        load_spec({"models": {"c": {"kind": "chat", "model": "x"}}})
    with pytest.raises(ra.SpecError, match=r"models\.ft\.epochs: must be >= 1"):
        load_spec({"models": {"ft": {"kind": "pretrain_fine_tune", "epochs": 0}}})


def test_spec_seed_seeds_a_model_without_its_own(tmp_path):
    spec = load_spec({"dataset": DATA, "model": {"kind": "random"}, "seed": 7})
    model = runner.build_model(spec, runner.build_dataset(spec))
    assert model.seed == 7
    own = load_spec({"dataset": DATA, "model": {"kind": "random", "seed": 2}, "seed": 7})
    assert runner.build_model(own, runner.build_dataset(own)).seed == 2


class _Constant(ra.models.MostPopular):
    """A third-party model: most popular, under another name."""


def _build_constant(opts, data, ctx: BuildContext):
    return _Constant(data, **opts)


PLUGIN = ModelKind("constant", "a third-party model kind", _build_constant,
                   lambda: ["kind", "exclude_history"])


def test_a_plugged_in_kind_works_everywhere_from_one_entry(monkeypatch):
    """One entry point makes a kind valid in an audit spec, in a comparison and in
    build_paradigm: the one place a new model kind touches."""
    point = SimpleNamespace(name="constant", load=lambda: PLUGIN)
    monkeypatch.setattr("recaudit.registry.entry_points",
                        lambda group: [point] if group == "recaudit.model_kinds" else [])
    spec = load_spec({"dataset": DATA, "model": {"kind": "constant", "exclude_history": False}})
    data = runner.build_dataset(spec)
    model = runner.build_model(spec, data)
    assert isinstance(model, _Constant) and model.exclude_history is False
    with pytest.raises(ra.SpecError, match=r"model: unknown key 'model\.n'"):
        load_spec({"dataset": DATA, "model": {"kind": "constant", "n": 1}})
    assert isinstance(build_paradigm({"kind": "constant"}, data), _Constant)
    result = runner.run_compare(load_spec({
        "dataset": DATA, "models": {"c": {"kind": "constant"}, "pop": {"kind": "most_popular"}},
        "auditors": ["popularity_bias"], "compare": {"seeds": [0], "utility_users": 10},
        "run": {"n_bootstrap": 50, "n_permutations": 50, "cache": False}}), progress=False)
    assert result.metadata["models"]["c"]["description"] == "a third-party model kind"


def test_a_bad_option_is_a_spec_error_naming_the_arm():
    spec = load_spec({"dataset": DATA, "models": {"knn": {"kind": "item_knn",
                                                          "n_neighbors": 0}}})
    with pytest.raises(ra.SpecError, match=r"models\.knn \(item_knn\):"):
        runner.run_compare(spec, progress=False)
