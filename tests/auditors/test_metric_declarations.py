"""Every auditor declares the metrics it emits (``MetricSpec``); thresholds are checked
against the declarations before any model call; ``auditors="<family>"`` selects a family."""

from __future__ import annotations

import ast
import importlib
import inspect
import re

import pytest

import recaudit as ra
from recaudit.audit import resolve_auditors
from recaudit.auditors import (
    BUILTIN_AUDITORS,
    Auditor,
    MetricSpec,
    _registry,
    auditor_families,
    get_auditor_class,
)
from recaudit.auditors._metric_spec import thresholds_from
from recaudit.errors import SpecError, UnknownNameError
from recaudit.spec import load_spec
from recaudit.testing import check_auditor
from recaudit.testing._check_auditor import check_declared_metrics
from recaudit.testing.zoo import ScoringModel

#: ``default_thresholds`` of the built-ins before they were derived from declarations.
OLD_DEFAULTS = {
    "popularity_bias": {"popularity_lift": 1.5, "aplt_ratio": 0.25},
    "position_bias": {"position_ndcg_gap": 0.1, "top1_position_tv": 0.2},
    "consumer_fairness": {"snsr_jaccard": 0.05, "snsr_serp": 0.05, "snsr_prag": 0.05,
                          "alignment_gap_ndcg": 0.05, "utility_gap_ndcg": 0.05,
                          "utility_gap_hr": 0.10},
    "provider_fairness": {"min_max_exposure_ratio": 0.8},
    "membership_inference": {"auc": 0.6},
    "attribute_inference": {"auc": 0.6},
    "memorization": {"exact_continuation_gap": 0.1, "canary_exposure": 3.0},
    "prompt_robustness": {"rbo": 0.5, "rbo@history_truncation": 0.3, "ndcg_drop": 0.1,
                          "ndcg_drop@history_truncation": 0.2},
    "item_text_attack": {"attack_success_rate": 0.2},
    "attribution_faithfulness": {"faithfulness_margin": 0.05},
    "explanation_faithfulness": {"citation_effect": 0.1, "hallucinated_citation_rate": 0.05},
}


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    monkeypatch.setattr(_registry, "_REGISTERED", dict(_registry._REGISTERED))


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=40, n_items=40, seed=1)


class CountingModel(ScoringModel):
    """Counts every ``rank`` call (to prove a check came before the model was asked)."""

    calls = 0

    def rank(self, requests, k):
        type(self).calls += 1
        return super().rank(requests, k)


# ---------------------------------------------------------------------- MetricSpec
def test_metric_spec_values_are_checked():
    with pytest.raises(ValueError, match="without '@'"):
        MetricSpec("auc@loss", "x", False)
    with pytest.raises(ValueError, match="description"):
        MetricSpec("auc", "", False)
    with pytest.raises(ValueError, match="needs a direction"):
        MetricSpec("auc", "x", None, threshold=0.5)
    with pytest.raises(ValueError, match="finite"):
        MetricSpec("auc", "x", False, threshold=float("nan"))
    with pytest.raises(ValueError, match="placeholder"):
        MetricSpec("gap_{a-b}", "x", False)
    spec = MetricSpec("rbo", "x", True, threshold=0.5, scope_thresholds={"trunc": 0.3})
    assert spec.scope_thresholds == (("trunc", 0.3),) and hash(spec)
    assert spec.default_thresholds() == {"rbo": 0.5, "rbo@trunc": 0.3}
    pat = MetricSpec("gap_{attribute}", "x", False)
    assert pat.is_pattern and pat.matches("gap_gender") and not pat.matches("gap_")
    assert not pat.matches("gapgender") and not pat.matches("xgap_a")


def test_two_declarations_of_one_name_are_refused():
    with pytest.raises(TypeError, match="more than once"):
        class Twice(Auditor):
            metrics = (MetricSpec("a", "x", True), MetricSpec("a", "y", True))


# ---------------------------------------------------------------------- built-ins
@pytest.mark.parametrize("name", sorted(BUILTIN_AUDITORS))
def test_builtin_declares_and_derives_its_default_thresholds(name):
    cls = get_auditor_class(name)
    assert cls.metrics and all(isinstance(s, MetricSpec) for s in cls.metrics)
    assert cls.default_thresholds == thresholds_from(cls.metrics) == OLD_DEFAULTS[name]
    check_auditor(name, run=False)  # default thresholds name declared metrics


def _emitted_names(cls: type) -> tuple[set[str], list[str]]:
    """Literal names and f-string name patterns passed to ``*.metric(...)`` in the module
    of ``cls`` (``hallucination_metric`` counts as ``hallucination_rate``)."""
    tree = ast.parse(inspect.getsource(importlib.import_module(cls.__module__)))
    literal, built = set(), []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        called = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
        if called == "hallucination_metric":
            literal.add("hallucination_rate")
        if called != "metric" or not node.args:
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            literal.add(first.value)
        elif isinstance(first, ast.JoinedStr):
            built.append("".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+"
                                 for v in first.values))
        elif isinstance(first, ast.Name):
            built.append(".+")  # a name from a loop over a tuple: covered by the run checks
    return literal, built


@pytest.mark.parametrize("name", sorted(BUILTIN_AUDITORS))
def test_every_name_in_the_source_is_declared(name):
    cls = get_auditor_class(name)
    literal, built = _emitted_names(cls)
    assert literal or built
    assert sorted(n for n in literal if cls.metric_spec(n) is None) == []
    declared = [s.name for s in cls.metrics]
    for pattern in built:
        assert any(re.fullmatch(pattern, d) for d in declared), pattern


def test_consumer_fairness_declares_every_similarity():
    from recaudit.metrics.similarity import SIMILARITIES

    cls = get_auditor_class("consumer_fairness")
    for sim in SIMILARITIES:
        assert cls.metric_spec(f"snsr_{sim}") and cls.metric_spec(f"snsv_{sim}")
    for key in ("ndcg", "hr"):
        for stem in ("alignment_gap", "utility_gap", "utility_ratio"):
            assert cls.metric_spec(f"{stem}_{key}") is not None


@pytest.mark.parametrize("name, params", [
    ("popularity_bias", {"n_users": 30}),
    ("position_bias", {"n_users": 15, "n_shuffles": 2}),
    ("provider_fairness", {"n_users": 20, "plots": False}),
])
def test_cheap_builtins_pass_check_auditor_with_declared_names(name, params):
    done = check_auditor(get_auditor_class(name)(**params), seed=0)
    assert "declared" in done and done[-1] == "skip"


def test_builtin_families_match_the_classes():
    families = auditor_families()
    assert sorted(n for names in families.values() for n in names) == sorted(BUILTIN_AUDITORS)
    for family, names in families.items():
        assert {get_auditor_class(n).family for n in names} == {family}


# ---------------------------------------------------------------------- custom auditors
def _custom(name, declared, emitted, *, hib=None):
    """Register an auditor declaring ``declared`` and emitting ``emitted`` names."""

    @ra.register_auditor(name)
    class Custom(ra.Auditor):
        family = "custom"
        method = "Reports fixed numbers."
        citation = "none"
        metrics = tuple(declared)

        def run(self, model, data, ctx):
            model.rank([data.request(u) for u in data.user_ids[:3]], 5)
            return self.result(metrics=[
                self.metric(n, 0.5, p_value=0.5, higher_is_better=hib) for n in emitted])

    return Custom


def test_metric_fills_direction_and_description_from_the_declaration():
    cls = _custom("filled", [MetricSpec("a", "the a number", False, threshold=0.1)], ["a"])
    m = cls().metric("a", 0.3)
    assert (m.higher_is_better, m.description, m.threshold) == (False, "the a number", 0.1)
    m = cls().metric("a", 0.3, higher_is_better=True, description="own")
    assert (m.higher_is_better, m.description) == (True, "own")


def test_check_auditor_fails_an_undeclared_name(world):
    cls = _custom("leaky_names", [MetricSpec("a", "x", False)], ["a", "b"])
    with pytest.raises(AssertionError, match=r"\[leaky_names\] declared: emits metric\(s\) "
                                             r"\['b'\].*does not declare"):
        check_auditor(cls, data=world, model=ScoringModel(world))
    wrong_way = _custom("wrong_way", [MetricSpec("a", "x", False)], ["a"], hib=True)
    with pytest.raises(AssertionError, match="declared 'lower is better'"):
        check_auditor(wrong_way, data=world, model=ScoringModel(world))
    fine = _custom("fine_names", [MetricSpec("a", "x", False)], ["a"])
    assert "declared" in check_auditor(fine, data=world, model=ScoringModel(world))


def test_undeclared_auditor_runs_but_check_auditor_asks_to_declare(world):
    cls = _custom("no_declarations", [], ["a"], hib=False)
    rep = ra.audit(ScoringModel(world), world, [cls(thresholds={"anything": 1.0})],
                   cache=False, progress=False)
    assert rep["no_declarations"].status == "ok"
    with pytest.raises(AssertionError, match="declares nothing: list every metric"):
        check_auditor(cls, run=False)


def test_pattern_declarations_match_names_and_thresholds(world):
    cls = _custom("by_attribute", [MetricSpec("gap_{attribute}", "gap per attribute", False,
                                              threshold=0.1)], ["gap_gender", "gap_age"])
    aud = cls(thresholds={"gap_age": 0.7})
    assert aud.threshold_for("gap_gender") == 0.1 and aud.threshold_for("gap_age") == 0.7
    cls.check_thresholds({"gap_{attribute}": 0.2, "gap_gender@x": 0.3})
    with pytest.raises(SpecError, match="no metric 'gapp_gender'"):
        cls.check_thresholds({"gapp_gender": 0.2})
    rep = ra.audit(ScoringModel(world), world, [cls()], cache=False, progress=False)
    res = rep["by_attribute"]
    assert {m.name: m.threshold for m in res.metrics} == {"gap_gender": 0.1, "gap_age": 0.1}
    check_declared_metrics(res, cls())
    # a pattern key counts as used once a name it matches was emitted (no after-run note)
    rep = ra.audit(ScoringModel(world), world, [cls(thresholds={"gap_{attribute}": 0.9})],
                   cache=False, progress=False)
    assert not any("matched no metric" in n for n in rep["by_attribute"].notes)


def test_subclass_overriding_default_thresholds_still_works():
    base = get_auditor_class("popularity_bias")

    class Stricter(base):
        default_thresholds = {"arp": 30.0}

    assert Stricter().threshold_for("arp") == 30.0
    assert Stricter().threshold_for("popularity_lift") is None
    assert Stricter.metrics == base.metrics


# ---------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("form", ["config", "instance", "entry"])
def test_unknown_threshold_is_a_spec_error_before_any_model_call(world, form):
    CountingModel.calls = 0
    bad = {"arpp": 0.3}
    cls = get_auditor_class("popularity_bias")
    args = {"config": (["popularity_bias"], {"popularity_bias": {"thresholds": bad}}),
            "instance": ([cls(thresholds=bad)], None),
            "entry": ([{"name": "popularity_bias", "thresholds": bad}], None)}[form]
    with pytest.raises(SpecError) as err:
        ra.audit(CountingModel(world), world, args[0], config=args[1], cache=False,
                 progress=False)
    msg = str(err.value)
    assert "'popularity_bias'" in msg and "'arpp'" in msg and "Did you mean 'arp'" in msg
    assert CountingModel.calls == 0


def test_known_and_scoped_thresholds_are_accepted():
    planned = resolve_auditors([{"name": "popularity_bias", "thresholds": {
        "arp": 3.0, "popularity_lift@gender=F": 1.2}}, "prompt_robustness"],
        {"prompt_robustness": {"thresholds": {"rbo@typos": 0.6}}})
    assert planned[0].auditor.threshold_for("popularity_lift", "gender=F") == 1.2
    assert planned[1].auditor.threshold_for("rbo", "typos") == 0.6
    with pytest.raises(SpecError, match="no metric 'rb'.*Did you mean 'rbo'"):
        resolve_auditors(["prompt_robustness"],
                         {"prompt_robustness": {"thresholds": {"rb@typos": 0.6}}})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_threshold_is_refused(world, value):
    CountingModel.calls = 0
    with pytest.raises(SpecError, match="'arp' must be finite"):
        ra.audit(CountingModel(world), world, ["popularity_bias"],
                 config={"popularity_bias": {"thresholds": {"arp": value}}}, cache=False,
                 progress=False)
    undeclared = _custom("nan_free", [], ["a"])
    with pytest.raises(SpecError, match="must be finite"):
        ra.audit(CountingModel(world), world, [undeclared(thresholds={"a": value})],
                 cache=False, progress=False)
    assert CountingModel.calls == 0


def test_spec_thresholds_are_checked_at_load():
    base = {"model": {"kind": "most_popular"}}
    with pytest.raises(SpecError, match=r"auditors\[0\]\.thresholds: auditor "
                                        r"'popularity_bias' has no metric 'popularity_lfit'"):
        load_spec({**base, "auditors": [{"name": "popularity_bias",
                                         "thresholds": {"popularity_lfit": 1.2}}]})
    with pytest.raises(SpecError, match="must be finite"):
        load_spec({**base, "auditors": [{"name": "popularity_bias",
                                         "thresholds": {"arp": float("nan")}}]})
    spec = load_spec({**base, "auditors": [{"name": "popularity_bias",
                                            "thresholds": {"popularity_lift@all": 1.2}}]})
    assert spec.auditors[0]["thresholds"] == {"popularity_lift@all": 1.2}


# ---------------------------------------------------------------------- families
def test_family_name_runs_exactly_that_family(world):
    fairness = sorted(n for n in BUILTIN_AUDITORS
                      if get_auditor_class(n).family == "fairness")
    assert fairness == ["consumer_fairness", "provider_fairness"]
    config = {"n_bootstrap": 20, "n_permutations": 20,
              "consumer_fairness": {"n_users": 6, "k": 5, "n_candidates": 10,
                                    "intersectional": False, "group_utility": False,
                                    "plots": False},
              "provider_fairness": {"n_users": 6, "plots": False}}
    rep = ra.audit(ScoringModel(world), world, auditors="fairness", config=config,
                   cache=False, progress=False)
    assert sorted(r.auditor for r in rep.results) == fairness
    assert all(r.status == "ok" for r in rep.results)
    # a family inside a list, next to a single auditor
    names = [p.name for p in resolve_auditors(["privacy", "popularity_bias"])]
    assert names == ["attribute_inference", "membership_inference", "memorization",
                     "popularity_bias"]
    assert [p.name for p in resolve_auditors("popularity_bias")] == ["popularity_bias"]


def test_unknown_family_or_auditor_suggests_both(world):
    CountingModel.calls = 0
    with pytest.raises(SpecError, match="Did you mean 'fairness'.*Families: bias, "
                                        "explanation, fairness, privacy, robustness") as err:
        ra.audit(CountingModel(world), world, auditors="fairnes", cache=False,
                 progress=False)
    assert isinstance(err.value, UnknownNameError)  # what a list entry raised before
    assert "auditors: " in str(err.value) and "popularity_bias" in str(err.value)
    assert CountingModel.calls == 0
