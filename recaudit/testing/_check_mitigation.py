"""``check_mitigation``: what every mitigation must satisfy.

A mitigated model is again a Recommender that passes :func:`check_recommender`, declares no
capability its inner model lacks, has its own fingerprint (so cached answers never mix),
stacks under another wrapper, and re-trains through ``fit`` when it declares ``train``.
The identity mitigation, run through a real audit, must change no finding.
"""

from __future__ import annotations

from typing import Any

from ..contract import CAPABILITIES
from ..mitigations import CounterfactualPrompting, Identity, MitigatedRecommender, Mitigation, get


def check_mitigation(mitigation: Mitigation | str, model: Any = None, data: Any = None, *,
                     seed: int = 0, audit_identity: bool = True) -> dict[str, Any]:
    """Run the conformance checks on ``mitigation``; raise AssertionError on the first failure.

    Parameters
    ----------
    mitigation : Mitigation or registry name
    model, data : optional
        Default: a small synthetic world and a :class:`~recaudit.testing.zoo.ScoringModel`.
    audit_identity : bool
        Also audit the model with and without the identity wrapper and compare findings.

    Returns
    -------
    dict
        The checks run, by name.
    """
    from .. import datasets
    from ._checks import check_recommender
    from .zoo import ScoringModel

    if isinstance(mitigation, str):
        mitigation = get(mitigation)
    if data is None:
        data = datasets.synthetic(n_users=60, n_items=50, seed=seed)
    if model is None:
        model = ScoringModel(data, seed=seed)
    done: dict[str, Any] = {}
    name = type(mitigation).__name__

    assert mitigation.name, f"{name} has no registry name"
    params = mitigation.get_params()
    assert type(mitigation)(**params).get_params() == params, \
        f"{name}: parameters do not round-trip through get_params()"
    done["params"] = params

    wrapped = mitigation.wrap(model, data=data)
    caps = set(wrapped.capabilities)
    assert "rank" in caps, f"{name}: the wrapped model does not declare 'rank'"
    assert caps <= set(CAPABILITIES), f"{name}: unknown capabilities {caps - set(CAPABILITIES)}"
    extra = caps - set(model.capabilities)
    assert not extra, f"{name}: the wrapped model claims capabilities the inner lacks: {extra}"
    done["capabilities"] = sorted(caps)

    check_recommender(wrapped, data, seed=seed,
                      profile_in_prompt=not isinstance(mitigation, CounterfactualPrompting))
    done["check_recommender"] = True

    same = wrapped.fingerprint() == model.fingerprint()
    if isinstance(mitigation, Identity):
        assert same, "identity must keep the model's fingerprint (its answers are the same)"
    elif isinstance(wrapped, MitigatedRecommender):
        assert not same, (f"{name} keeps the inner model's fingerprint: the engine cache would "
                          "serve unmitigated answers for the mitigated model")
    elif same:  # a re-trained model may equal the original only if it answers the same
        probe = [data.request(u) for u in data.user_ids[:5]]
        assert [r.items for r in wrapped.rank(probe, 5)] == \
            [r.items for r in model.rank(probe, 5)], (
            f"{name} returned a re-trained model that answers differently under the same "
            "fingerprint")
    done["fingerprint"] = wrapped.fingerprint()

    stacked = Identity().wrap(mitigation.wrap(wrapped, data=data), data=data)
    assert stacked.rank([data.request(data.user_ids[0])], 3), f"{name} does not stack"
    done["stacks"] = True

    if "train" in caps:
        refit = wrapped.fit(data, seed=seed + 1)
        assert "rank" in refit.capabilities, f"{name}: fit() did not return a Recommender"
        done["fit"] = True

    if audit_identity:
        from ..audit import audit

        plain = audit(model, data, ["popularity_bias"], seed=seed, cache=False, progress=False,
                      config={"n_bootstrap": 50, "n_permutations": 50}).summary()
        ident = audit(Identity().wrap(model, data=data), data, ["popularity_bias"], seed=seed,
                      cache=False, progress=False,
                      config={"n_bootstrap": 50, "n_permutations": 50}).summary()
        assert plain.equals(ident), "the identity mitigation changed a finding"
        done["identity_changes_nothing"] = True
    return done
