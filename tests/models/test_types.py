"""Request / Ranking values, the Recommender protocol and BaseRecommender."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from recaudit.errors import CapabilityError
from recaudit.models import (
    CAPABILITIES,
    BaseRecommender,
    Ranking,
    Recommender,
    Request,
    has_capabilities,
    stable_hash,
)


def test_request_is_a_frozen_hashable_value():
    a = Request("u1", history=["i1", 2], profile={"gender": "female", "age_group": "young"},
                candidates=["i3", "i4"], item_text={"i3": "New title"}, prompt_extra="Hi")
    b = Request("u1", history=("i1", "2"), profile=[("age_group", "young"),
                                                    ("gender", "female")],
                candidates=("i3", "i4"), item_text={"i3": "New title"}, prompt_extra="Hi")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.history == ("i1", "2")
    assert a.profile == (("age_group", "young"), ("gender", "female"))  # sorted pairs
    assert a.profile_dict == {"gender": "female", "age_group": "young"}
    assert a.item_text_dict == {"i3": "New title"}
    with pytest.raises(AttributeError):
        a.user_id = "u2"  # type: ignore[misc]
    assert Request("u1").candidates is None and Request("u1", candidates=[]).candidates == ()


def test_request_ids_become_strings():
    r = Request(7, history=[1, 2], candidates=[3])
    assert (r.user_id, r.history, r.candidates) == ("7", ("1", "2"), ("3",))


@pytest.mark.parametrize("field", ["history", "candidates"])
def test_request_rejects_a_bare_string(field):
    with pytest.raises(TypeError, match=f"Request.{field} must be a sequence"):
        Request("u1", **{field: "i3"})


def test_replace_and_dict_round_trip():
    r = Request("u1", history=("a", "b"), candidates=("c",))
    s = r.replace(profile={"gender": "male"}, candidates=None)
    assert s.profile == (("gender", "male"),) and s.candidates is None
    assert r.candidates == ("c",)  # the original is unchanged
    for req in (r, s, Request("u2", item_text={"x": "y"}, prompt_extra="z")):
        assert Request.from_dict(req.to_dict()) == req
        assert Request.from_dict(json.loads(json.dumps(req.to_dict()))) == req
    assert pickle.loads(pickle.dumps(r)) == r


def test_key_is_sha256_of_canonical_json():
    r = Request("u1", history=("a",), profile={"gender": "female"})
    blob = json.dumps(r.to_dict(), sort_keys=True, separators=(",", ":"))
    assert r.key() == hashlib.sha256(blob.encode()).hexdigest()
    assert r.key() != r.replace(prompt_extra=" ").key()
    assert r.key() != r.replace(candidates=()).key()


def test_key_is_stable_across_processes():
    code = ("from recaudit.models import Request; "
            "print(Request('u1', history=('a',), profile={'gender': 'female'}).key())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == Request("u1", history=("a",),
                                         profile={"gender": "female"}).key()


def test_ranking():
    r = Ranking(["a", 2, "c"], np.array([3, 2.5, 1]))
    assert r.items == ("a", "2", "c") and r.scores == (3.0, 2.5, 1.0)
    assert r.top(2) == ("a", "2")
    assert Ranking.from_dict(r.to_dict()) == r
    assert Ranking(("a",), raw="text") == Ranking(("a",), raw="other")  # raw not compared
    with pytest.raises(ValueError, match="2 items but 1 scores"):
        Ranking(("a", "b"), (1.0,))


def test_ranking_and_candidates_reject_repeated_items():
    # a repeat is named (ids as strings: 1 and "1" are the same item)
    with pytest.raises(ValueError, match=r"Ranking repeats item\(s\) \['b', '1'\]"):
        Ranking(["a", "b", 1, "b", "1"])
    with pytest.raises(ValueError, match="Ranking repeats"):
        Ranking.from_dict({"items": ["a", "a"]})
    with pytest.raises(ValueError, match=r"Request.candidates repeats item\(s\) \['i2'\]"):
        Request("u1", candidates=("i2", "i3", "i2"))
    assert Request("u1", history=("i1", "i1")).history == ("i1", "i1")  # re-watching is fine


class Minimal:
    capabilities = frozenset({"rank"})

    def rank(self, requests, k):
        return [Ranking(()) for _ in requests]

    def fingerprint(self):
        return "minimal"


def test_protocol_and_capabilities():
    assert isinstance(Minimal(), Recommender)
    assert not isinstance(object(), Recommender)
    assert has_capabilities(Minimal(), {"rank", "score"}) == {"score"}
    assert has_capabilities(object(), {"rank"}) == {"rank"}
    assert {"rank", "score", "nll", "prompt", "gradients", "train", "explain"} == CAPABILITIES


@pytest.mark.parametrize("method,args,cap", [
    ("score", ([],), "score"), ("nll", ([], []), "nll"), ("render", (Request("u"),), "prompt"),
    ("gradient_handle", (), "gradients"), ("fit", (None,), "train"), ("explain", ([],), "explain"),
])
def test_base_recommender_missing_capability(method, args, cap):
    with pytest.raises(CapabilityError, match=f"does not declare the '{cap}' capability"):
        getattr(BaseRecommender(), method)(*args)


def test_stable_hash():
    assert stable_hash({"b": 1, "a": 2}) == stable_hash({"a": 2, "b": 1})
    assert stable_hash(1, "x") != stable_hash("x", 1)
    assert len(stable_hash("x")) == 16
    assert stable_hash("x") == hashlib.sha256(b'["x"]').hexdigest()[:16]
