"""CatalogMatcher: the one rule mapping generated text to catalog items (HF generation, chat
answers, generated explanations)."""

from __future__ import annotations

import pytest

from recaudit.models import HFRecommender, Request
from recaudit.models.api._chat import ChatRecommender
from recaudit.models.prompts._matching import (
    FUZZY_THRESHOLD,
    CatalogMatcher,
    normalize,
    normalize_title,
    title_year,
    variants,
)

from ..lm.test_hf import folder, world  # noqa: F401  (fixtures)

TITLES = {"i1": "The Silent River (1994)", "i2": "Golden Empire (1980)",
          "i3": "American President, The (1995)", "i4": "Heat (1995)",
          "i5": "Hamlet (1990)", "i6": "Hamlet (1996)", "i7": "Alien!", "i8": "Alien?"}


def test_normalisation_steps():
    assert normalize_title("  The  SILENT river (1994) ") == "the silent river (1994)"
    assert normalize("The Silent River (1994)") == "silent river"
    assert normalize("American President, The [1995]") == "american president"
    assert normalize("silent   river!") == "silent river"
    assert normalize("An Officer and a Gentleman") == "officer and a gentleman"
    assert title_year("Heat (1995)") == "1995" and title_year("Heat") is None
    assert variants("Heat (1995) - a crime story") == ["Heat (1995) - a crime story",
                                                       "Heat (1995)"]


@pytest.mark.parametrize("entry, item, how", [
    ("Heat (1995)", "i4", "exact"),
    ("  Heat (1995) ", "i4", "exact"),
    ("HEAT   (1995)", "i4", "normalized"),  # case and whitespace
    ("Heat", "i4", "normalized"),  # no year
    ("Heat [1995]", "i4", "normalized"),  # another bracket
    ("Heat (1996)", "i4", "normalized"),  # a wrong year still names the title
    ("the american president (1995)", "i3", "normalized"),  # article moved
    ("Silent River", "i1", "normalized"),  # article dropped
    ("golden-empire", "i2", "normalized"),  # punctuation
    ('"Golden Empire (1980)" - a sweeping epic', "i2", "exact"),  # quoted, explanation
    ('"Golden Empire" - a sweeping epic', "i2", "normalized"),
    ("Golden Empyre", "i2", "fuzzy"),  # one letter off
    ("Casablanca (1942)", None, "none"),  # not in the catalog: a hallucination
    ("Golden", None, "none"),  # too far for the fuzzy threshold
    ("", None, "none"),
])
def test_rules_in_order(entry, item, how):
    m = CatalogMatcher(TITLES)
    assert m.match(entry) == item
    assert m.how[how] == 1 and sum(m.how.values()) == 1


def test_titles_sharing_a_normalised_form():
    m = CatalogMatcher(TITLES)
    assert m.match("hamlet (1996)") == "i6"  # folded: case only
    assert m.match("The Hamlet [1996]") == "i6"  # normalised: the year decides
    assert m.match("Hamlett (1996)") == "i6"  # fuzzy: the year decides too
    assert m.match("Hamlet") == "i5"  # no year: the first in catalog order
    assert m.match("Hamlet (2000)") == "i5"
    assert m.match("alien?") == "i8" and m.match("ALIEN!") == "i7"  # folded keeps punctuation
    assert m.match("Alien") == "i7"


def test_the_whole_entry_read_loosely_beats_a_part_read_exactly():
    m = CatalogMatcher({"a": "Alien", "b": "Alien: Resurrection (1997)"})
    assert m.match("alien: resurrection") == "b"  # normalised whole, not the exact "Alien"
    assert m.match("Alien: a classic") == "a"  # the part before the colon
    assert m.match("Alien (1979) - a classic") == "a"


def test_fuzzy_threshold():
    assert FUZZY_THRESHOLD == 0.85
    assert CatalogMatcher(TITLES, threshold=1.0).match("Golden Empyre") is None
    assert CatalogMatcher(TITLES, threshold=0.5).match("Golden") == "i2"
    for bad in (0.0, -1, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            CatalogMatcher(TITLES, threshold=bad)


def test_answers_are_remembered_and_counted():
    m = CatalogMatcher(TITLES)
    for _ in range(3):
        assert m.match("Golden Empyre") == "i2"
        assert m.match("Made Up") is None
    assert len(m._memo) == 2
    assert m.how == {"exact": 0, "normalized": 0, "fuzzy": 3, "none": 3}


def _strings(world):  # noqa: F811
    titles = list(world.titles.values())
    return [titles[0], titles[1].upper(), titles[2].rsplit(" (", 1)[0],  # no year
            f'"{titles[3].rsplit(" (", 1)[0]}" - a classic',
            titles[4][:-9] + "x" + titles[4][-8:],  # one letter off
            "Felix's Echo (1976)", "felix's echo", "Not A Title In This Catalog",
            "Completely Made Up (2001)", titles[5]]


def test_hf_generation_and_chat_map_alike(folder, world, monkeypatch):  # noqa: F811
    strings = _strings(world)
    chat = ChatRecommender("http://127.0.0.1:9/v1", "m", world)
    gen = HFRecommender(folder, world, mode="generate", num_beams=len(strings), device="cpu")
    assert [gen.match_title(s) for s in strings] == [chat.matcher.match(s) for s in strings]
    ids = list(world.titles)
    expected = ids[:5] + ["i0024", "i0018", None, None, ids[5]]
    assert [gen.match_title(s) for s in strings] == expected
    # the generation path end to end: the beams decode to these strings
    answers = iter(s + gen.template.end_marker + "more" for s in strings)
    monkeypatch.setattr(gen.tokenizer, "decode", lambda *a, **kw: next(answers))
    req = Request(world.user_ids[0])  # no history: nothing is excluded
    (hf,) = gen.rank([req], k=len(strings))
    via_chat = chat.to_ranking("\n".join(f"{n}. {s}" for n, s in enumerate(strings, 1)), req,
                               k=len(strings))
    assert hf.items == via_chat.items
    assert hf.hallucinated == via_chat.hallucinated == 2


def test_explanations_use_the_same_matcher(world):  # noqa: F811
    from recaudit.explain import ExplainingLM
    from recaudit.testing.zoo import ScoringModel

    ex = ExplainingLM(ScoringModel(world), world)  # no match_title of its own
    for s in _strings(world):
        assert ex._match(s) == CatalogMatcher(world.titles).match(s)
