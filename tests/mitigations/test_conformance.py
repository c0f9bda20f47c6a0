"""check_mitigation over every registered mitigation and its variants."""

from __future__ import annotations

import pytest

import recaudit as ra
from recaudit.testing.zoo import ScoringModel

CASES = [
    ("identity", {}),
    ("counterfactual_prompting", {"mode": "neutralize"}),
    ("counterfactual_prompting", {"mode": "ensemble"}),
    ("reweighting", {"mode": "inverse_popularity"}),
    ("reweighting", {"mode": "provider_exposure"}),
    ("reweighting", {"mode": "kamiran_calders"}),
    ("reweighting", {"mode": "popularity_groups"}),
    ("debiased_decoding", {"variant": "text_free_assistant"}),
    ("debiased_decoding", {"variant": "contextual_calibration"}),
    ("debiased_decoding", {"variant": "permutation_averaging"}),
]


def test_every_registered_mitigation_has_a_case():
    assert {name for name, _ in CASES} == set(ra.mitigations.available())


@pytest.mark.parametrize("name,params", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_check_mitigation(name, params):
    from recaudit.testing import check_mitigation

    done = check_mitigation(ra.mitigations.get(name, **params), seed=0,
                            audit_identity=name == "identity")
    assert done["check_recommender"] is True


def test_check_mitigation_catches_a_fingerprint_that_hides_the_mitigation():
    from recaudit.mitigations._counterfactual import _Neutralized
    from recaudit.testing import check_mitigation

    class Sneaky(ra.mitigations.CounterfactualPrompting):
        def wrap(self, model, data=None):
            w = _Neutralized(model, self, data or model.data, ["gender"])
            w.fingerprint = model.fingerprint  # reuses the unmitigated cache entries
            return w

    data = ra.datasets.synthetic(n_users=40, n_items=40, seed=0)
    with pytest.raises(AssertionError, match="keeps the inner model's fingerprint"):
        check_mitigation(Sneaky(), ScoringModel(data), data, audit_identity=False)


@pytest.mark.slow
def test_no_length_norm_on_the_tiny_lm(tiny_lm, tiny_lm_world):
    from recaudit.testing import check_mitigation

    assert getattr(tiny_lm, "length_normalize", None) is not None
    done = check_mitigation(ra.mitigations.get("debiased_decoding", variant="no_length_norm"),
                            tiny_lm, tiny_lm_world,
                            audit_identity=False)
    assert "check_recommender" in done
