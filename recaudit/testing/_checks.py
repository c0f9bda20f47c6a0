"""``check_recommender``: the conformance checks every model under test must pass.

Like scikit-learn's ``check_estimator``: a model that passes can be audited by every
auditor that needs only the capabilities it declares. Each check raises ``AssertionError``
naming the check, the offending request and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..contract import CAPABILITIES, Ranking, Request
from ._rankings import ranking_difference

#: Checks in the order they run; ``score``/``nll``/``prompt`` only when declared.
CHECKS = (
    "declares_rank", "capabilities_known", "fingerprint", "rank_output", "catalog_ids",
    "candidates_respected", "k_respected", "deterministic", "batch_equals_single",
    "score", "score_consistent_with_rank", "nll", "prompt",
)


class _Failure(AssertionError):
    pass


def _fail(check: str, model: Any, message: str) -> _Failure:
    return _Failure(f"check_recommender[{check}] failed for {model!r}: {message}")


def _requests(data: Any, rng: np.random.Generator, n_users: int, n_candidates: int,
              max_history: int) -> tuple[list[Request], list[Request]]:
    """Whole-catalog requests and candidate requests for a random sample of users."""
    users = list(data.user_ids)
    chosen = [users[i] for i in rng.choice(len(users), size=min(n_users, len(users)),
                                           replace=False)]
    catalog = np.array(data.item_ids)
    whole, cands = [], []
    for u in chosen:
        req = data.request(u, max_history=max_history)
        whole.append(req)
        pool = rng.choice(len(catalog), size=min(n_candidates, len(catalog)), replace=False)
        cands.append(req.replace(candidates=tuple(catalog[pool])))
    return whole, cands


def _items(rankings: Sequence[Ranking]) -> list[tuple[str, ...]]:
    return [tuple(r.items) for r in rankings]


def check_recommender(model: Any, data: Any = None, *, seed: int = 0, n_users: int = 6,
                      k: int = 5, n_candidates: int = 8, max_history: int = 10,
                      profile_in_prompt: bool = True) -> dict:
    """Run the conformance checks on ``model``; raise ``AssertionError`` on the first failure.

    Checks: declares ``rank``; capabilities known; fingerprint a stable non-empty string;
    ``rank`` returns one :class:`Ranking` per request; k respected; ids from the catalog, no
    duplicates; candidates respected; deterministic (same requests twice, same rankings);
    a batch gives what one-by-one requests give; with ``score``: one finite score per
    candidate and a ranking consistent with the scores; with ``nll``: finite and
    non-negative; with ``prompt``: ``render`` returns a non-empty str that changes with the
    stated profile.

    Parameters
    ----------
    model : Recommender
        The model under test.
    data : AuditDataset, optional
        The catalog and users to build requests from; default ``model.data``.
    seed : int
        Seeds the sample of users and candidates.
    n_users, k, n_candidates, max_history : int
        Size of the probe (kept small so language models pass in seconds).
    profile_in_prompt : bool
        Require ``render`` to show a stated profile. Pass False for models that remove it on
        purpose (counterfactual prompting).

    Returns
    -------
    dict
        ``{"model", "fingerprint", "passed": [check names], "skipped": {name: reason},
        "n_requests"}``.

    Examples
    --------
    >>> import recaudit as ra
    >>> from recaudit.testing import check_recommender
    >>> data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    >>> check_recommender(ra.models.MostPopular(data), data)["skipped"]["nll"]
    'nll not declared'
    """
    if data is None:
        data = getattr(model, "data", None)
        if data is None:
            raise TypeError("check_recommender needs data= (the model has no .data)")
    passed: list[str] = []
    skipped: dict[str, str] = {}
    calls = [0]

    def rank(reqs: Sequence[Request], kk: int, check: str) -> list[Ranking]:
        calls[0] += len(reqs)
        out = model.rank(list(reqs), kk)
        if not isinstance(out, list | tuple) or len(out) != len(reqs):
            n = len(out) if hasattr(out, "__len__") else type(out).__name__
            raise _fail(check, model, f"rank() of {len(reqs)} request(s) returned {n} "
                                      "result(s); expected a list with one Ranking each")
        bad = [type(r).__name__ for r in out if not isinstance(r, Ranking)]
        if bad:
            raise _fail(check, model, f"rank() returned {bad[0]}; expected Ranking objects")
        return list(out)

    def run(name: str, fn: Callable[[], None]) -> None:
        fn()
        passed.append(name)

    caps = getattr(model, "capabilities", None)

    def declares_rank() -> None:
        if caps is None or "rank" not in set(caps):
            raise _fail("declares_rank", model, f"capabilities {caps!r} must include 'rank'")
        if not callable(getattr(model, "rank", None)):
            raise _fail("declares_rank", model, "has no callable rank(requests, k)")

    def capabilities_known() -> None:
        unknown = set(caps) - CAPABILITIES
        if unknown:
            raise _fail("capabilities_known", model, f"unknown capabilities {sorted(unknown)}; "
                        f"known: {sorted(CAPABILITIES)}")

    def fingerprint() -> None:
        a, b = model.fingerprint(), model.fingerprint()
        if not isinstance(a, str) or not a:
            raise _fail("fingerprint", model, f"fingerprint() returned {a!r}; expected a "
                        "non-empty str")
        if a != b:
            raise _fail("fingerprint", model, f"fingerprint() is not stable: {a!r} then {b!r}")

    run("declares_rank", declares_rank)
    run("capabilities_known", capabilities_known)
    run("fingerprint", fingerprint)

    rng = np.random.default_rng(seed)
    whole, cands = _requests(data, rng, n_users, n_candidates, max_history)
    reqs = whole + cands
    catalog = set(data.item_ids)
    first = rank(reqs, k, "rank_output")
    passed.append("rank_output")

    def k_respected() -> None:
        for req, r in zip(reqs, first):
            limit = k if req.candidates is None else min(k, len(req.candidates))
            if len(r.items) > limit:
                raise _fail("k_respected", model, f"rank(k={k}) returned {len(r.items)} items "
                            f"for user {req.user_id!r}; expected at most {limit}")
        if not any(r.items for r in first):
            raise _fail("k_respected", model, f"rank(k={k}) returned empty rankings for "
                        "every request")
        big = len(cands[0].candidates) + 3
        r = rank([cands[0]], big, "k_respected")[0]
        if len(r.items) > len(cands[0].candidates):
            raise _fail("k_respected", model, f"rank(k={big}) returned {len(r.items)} items "
                        f"from {len(cands[0].candidates)} candidates")
        r = rank([whole[0]], 1, "k_respected")[0]
        if len(r.items) > 1:
            raise _fail("k_respected", model, f"rank(k=1) returned {len(r.items)} items")

    def catalog_ids() -> None:
        for req, r in zip(reqs, first):
            unknown = [i for i in r.items if i not in catalog]
            if unknown:
                raise _fail("catalog_ids", model, f"item id(s) {unknown[:5]} are not in the "
                            f"catalog (user {req.user_id!r})")
            if len(set(r.items)) != len(r.items):
                dup = sorted({i for i in r.items if r.items.count(i) > 1})
                raise _fail("catalog_ids", model, f"duplicate item(s) {dup[:5]} in one "
                            f"ranking (user {req.user_id!r})")

    def candidates_respected() -> None:
        for req, r in zip(cands, first[len(whole):]):
            outside = [i for i in r.items if i not in set(req.candidates)]
            if outside:
                raise _fail("candidates_respected", model, f"item(s) {outside[:5]} are not "
                            f"among the request's candidates (user {req.user_id!r})")

    # Float scores may differ in their last bits between batch shapes and kernels, so
    # rankings are compared up to near-ties (``ranking_difference``), exactly otherwise.
    def deterministic() -> None:
        again = rank(reqs, k, "deterministic")
        for req, a, b in zip(reqs, first, again):
            why = ranking_difference(b, a)
            if why is not None:
                raise _fail("deterministic", model, f"the same request (user "
                            f"{req.user_id!r}) gave {list(a.items)} then {list(b.items)}: "
                            f"{why}")

    def batch_equals_single() -> None:
        for req, a in zip(reqs, first):
            b = rank([req], k, "batch_equals_single")[0]
            why = ranking_difference(b, a)
            if why is not None:
                raise _fail("batch_equals_single", model, f"user {req.user_id!r}: batched "
                            f"{list(a.items)} but alone {list(b.items)}: {why}")

    for name, fn in (("catalog_ids", catalog_ids),
                     ("candidates_respected", candidates_respected),
                     ("k_respected", k_respected),
                     ("deterministic", deterministic),
                     ("batch_equals_single", batch_equals_single)):
        run(name, fn)

    declared = set(caps)
    if "score" in declared:
        scores: list[np.ndarray] = []

        def score() -> None:
            out = model.score(cands)
            if len(out) != len(cands):
                raise _fail("score", model, f"score() of {len(cands)} requests returned "
                            f"{len(out)} arrays")
            for req, s in zip(cands, out):
                s = np.asarray(s, dtype=float)
                if s.shape != (len(req.candidates),):
                    raise _fail("score", model, f"score() returned shape {s.shape} for "
                                f"{len(req.candidates)} candidates (user {req.user_id!r})")
                if not np.all(np.isfinite(s)):
                    raise _fail("score", model, f"non-finite score(s) for user "
                                f"{req.user_id!r}: {s.tolist()}")
                scores.append(s)

        def consistent() -> None:
            full = rank(cands, n_candidates, "score_consistent_with_rank")
            for req, s, r in zip(cands, scores, full):
                by_id = dict(zip(req.candidates, s))
                ranked = np.array([by_id[i] for i in r.items])
                tol = 1e-6 * max(1.0, float(np.abs(s).max()))
                worse = np.flatnonzero(np.diff(ranked) > tol)
                if worse.size:
                    j = int(worse[0])
                    raise _fail("score_consistent_with_rank", model, f"user {req.user_id!r}: "
                                f"{r.items[j]!r} (score {ranked[j]:.6g}) is ranked above "
                                f"{r.items[j + 1]!r} (score {ranked[j + 1]:.6g})")

        run("score", score)
        run("score_consistent_with_rank", consistent)
    else:
        skipped["score"] = skipped["score_consistent_with_rank"] = "score not declared"

    if "nll" in declared:
        def nll() -> None:
            targets = [data.test_items.get(r.user_id, (data.item_ids[0],))[0] for r in whole]
            out = np.asarray(model.nll(whole, targets), dtype=float)
            if out.shape != (len(whole),):
                raise _fail("nll", model, f"nll() returned shape {out.shape} for "
                            f"{len(whole)} requests")
            if not np.all(np.isfinite(out)) or np.any(out < -1e-9):
                raise _fail("nll", model, f"nll() must be finite and >= 0, got "
                            f"{out.tolist()}")

        run("nll", nll)
    else:
        skipped["nll"] = "nll not declared"

    if "prompt" in declared:
        def prompt() -> None:
            req = whole[0]
            text = model.render(req)
            if not isinstance(text, str) or not text.strip():
                raise _fail("prompt", model, f"render() returned {text!r}; expected a "
                            "non-empty str")
            attr = data.sensitive[0] if data.sensitive else "gender"
            values = data.attribute_values(attr) if data.sensitive else ["female"]
            stated = model.render(req.replace(profile={attr: values[0]}))
            if profile_in_prompt and stated == text:
                raise _fail("prompt", model, f"render() ignores the profile: stating "
                            f"{attr}={values[0]!r} left the prompt unchanged")

        run("prompt", prompt)
    else:
        skipped["prompt"] = "prompt not declared"

    return {"model": repr(model), "fingerprint": model.fingerprint(), "passed": passed,
            "skipped": skipped, "n_requests": calls[0]}
