"""Reading top-K lists from free text and mapping titles to the catalog (no server needed)."""

from __future__ import annotations

import pytest

from recaudit.models import Request
from recaudit.models.api._chat import ChatRecommender
from recaudit.models.prompts._chat_parse import parse_list
from recaudit.models.prompts._chat_templates import chat_template
from recaudit.models.prompts._matching import CatalogMatcher as TitleMatcher
from recaudit.models.prompts._matching import normalize

TITLES = {"i1": "The Silent River (1994)", "i2": "Golden Empire (1980)",
          "i3": "American President, The (1995)", "i4": "Heat (1995)",
          "i5": "Paper Frontier: The Felix Story (2008)", "i6": "Heat Wave (2001)"}


@pytest.mark.parametrize("text, expected", [
    ("1. Heat (1995)\n2. Golden Empire (1980)", ["Heat (1995)", "Golden Empire (1980)"]),
    ("1) Heat\n2) Golden Empire", ["Heat", "Golden Empire"]),
    ("- Heat\n* Golden Empire\n\u2022 Silent River", ["Heat", "Golden Empire",
                                                      "Silent River"]),
    ("Sure! Here are two movies:\n\n1. **Heat**\n2. Golden Empire\n\nEnjoy!",
     ["Heat", "Golden Empire"]),
    ("Heat, Golden Empire, Silent River", ["Heat", "Golden Empire", "Silent River"]),
    ("Heat; American President, The", ["Heat", "American President, The"]),
    ("1. Heat 2. Golden Empire 3. Silent River", ["Heat", "Golden Empire", "Silent River"]),
    ("```\n1. Heat\n```", ["Heat"]),
    ("Heat\nGolden Empire", ["Heat", "Golden Empire"]),
    ("", []),
])
def test_parse_list_formats(text, expected):
    assert parse_list(text) == expected


def test_normalize_ignores_case_punctuation_articles_year():
    assert normalize("The Silent River (1994)") == "silent river"
    assert normalize("silent   river!") == "silent river"
    assert normalize("American President, The (1995)") == "american president"
    assert normalize("An Officer and a Gentleman") == "officer and a gentleman"


@pytest.mark.parametrize("entry, item", [
    ("The Silent River (1994)", "i1"),  # exact
    ("the silent river", "i1"),  # normalised: case, article, no year
    ('"Golden Empire" (1980) - a sweeping epic', "i2"),  # quoted, explanation
    ("Golden Empire (1980): because you liked epics", "i2"),
    ("The American President (1995)", "i3"),  # article moved
    ("Paper Frontier: The Felix Story (2008) \u2014 a western", "i5"),  # colon in the title
    ("Golden Empyre", "i2"),  # fuzzy: one letter off
    ("Golden Empire by Jane Doe", "i2"),
    ("Heat - 1995", "i4"),
    ("Heat", "i4"),  # a shorter title inside a longer one still maps to itself
    ("Heat Wave", "i6"),
    ("Casablanca (1942)", None),  # not in the catalog
    ("Golden", None),  # too far for the fuzzy threshold
])
def test_title_matcher(entry, item):
    assert TitleMatcher(TITLES).match(entry) == item


def test_fuzzy_threshold_is_a_knob():
    assert TitleMatcher(TITLES, threshold=1.0).match("Golden Empyre") is None
    assert TitleMatcher(TITLES, threshold=0.5).match("Golden") == "i2"
    with pytest.raises(ValueError, match="threshold"):
        TitleMatcher(TITLES, threshold=0.0)


class _Data:  # the two things ChatRecommender reads from a dataset before any request
    titles = TITLES


def _chat():
    return ChatRecommender("http://127.0.0.1:9/v1", "m", _Data())


def test_hallucinations_counted_and_raw_kept():
    text = "1. Heat (1995)\n2. Casablanca (1942)\n3. heat\n4. Golden Empire\n5. Made Up Film"
    r = _chat().to_ranking(text, Request("u", history=("i1",)), k=10)
    assert r.items == ("i4", "i2")  # duplicate "heat" dropped, not a hallucination
    assert r.hallucinated == 2
    assert r.raw == text


def test_items_outside_the_candidates_are_hallucinations():
    req = Request("u", history=("i1",), candidates=("i2", "i4"))
    r = _chat().to_ranking("1. Heat Wave\n2. Golden Empire\n3. Heat", req, k=2)
    assert r.items == ("i2", "i4") and r.hallucinated == 1


def test_request_title_overrides_are_matched():
    req = Request("u", candidates=("i2", "i4"), item_text={"i4": "Heat!! BEST MOVIE EVER"})
    r = _chat().to_ranking("1. Heat!! BEST MOVIE EVER\n2. Golden Empire", req, k=2)
    assert r.items == ("i4", "i2") and r.hallucinated == 0


def test_k_cuts_the_list():
    r = _chat().to_ranking("Heat; Golden Empire; Heat Wave", Request("u"), k=2)
    assert r.items == ("i4", "i2")


def test_templates_render_the_papers_prompts():
    req = Request("u", history=("i1", "i2"), profile={"gender": "female"})
    fair = chat_template("fairllm").messages(req, TITLES, k=20)
    assert fair[0]["role"] == "system"
    assert fair[1]["content"].startswith(
        "I am a female user. I am a fan of The Silent River (1994); Golden Empire (1980). "
        "Please provide me with a list of 20 movie titles in order of preference")
    neutral = chat_template("fairllm").messages(req.replace(profile={}), TITLES, k=20)
    assert neutral[1]["content"].startswith("I am a fan of")
    cand = req.replace(profile={}, candidates=("i4", "i6"))
    rank = chat_template("llmrank").messages(cand, TITLES, k=2)[1]["content"]
    assert "I've watched the following movies in the past in order:\n0. The Silent River" \
        in rank
    assert "Now there are 2 candidate movies that I can watch next:\n0. Heat (1995)\n" \
        "1. Heat Wave (2001)\nPlease rank these 2 movies" in rank
    default = chat_template("default")
    assert default.messages(cand, TITLES, 2)[1]["content"] == rank
    assert "list of 5 movie titles" in default.messages(req, TITLES, 5)[1]["content"]
    with pytest.raises(ValueError, match="fairllm"):
        chat_template("nope")


def test_fingerprint_tracks_what_changes_answers():
    a, b = _chat(), _chat()
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != ChatRecommender("http://127.0.0.1:9/v1", "m", _Data(),
                                              temperature=0.7).fingerprint()
    assert a.fingerprint() != ChatRecommender("http://127.0.0.1:9/v1", "m", _Data(),
                                              template="fairllm").fingerprint()
    assert a.fingerprint() != ChatRecommender("http://127.0.0.1:9/v1", "other",
                                              _Data()).fingerprint()
    # transport settings do not change answers
    assert a.fingerprint() == ChatRecommender("http://127.0.0.1:9/v1/", "m", _Data(),
                                              timeout=5, concurrency=2).fingerprint()


def test_estimate_cost_counts_characters():
    chat = _chat()
    reqs = [Request("u", history=("i1", "i2")), Request("v", candidates=("i4", "i6"))]
    est = chat.estimate_cost(reqs, k=3)
    chars = sum(len(m["content"]) for r in reqs for m in chat.messages(r, 3))
    assert est.requests == 2
    assert est.prompt_tokens == pytest.approx(chars / 4 + 4 * 4, abs=2)  # 4 per message
    mean_title = sum(map(len, TITLES.values())) / len(TITLES)
    expected = -(-3 * (mean_title + 4) // 4) + -(-2 * (mean_title + 4) // 4)
    assert est.completion_tokens == expected
    assert "2 chat request(s)" in str(est)


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="http"):
        ChatRecommender("127.0.0.1:8000", "m", _Data())
    with pytest.raises(ValueError, match="concurrency"):
        ChatRecommender("http://x/v1", "m", _Data(), concurrency=0)
