"""PromptTemplate: the exact text a language model sees."""

from __future__ import annotations

import pytest

from recaudit.models import PromptTemplate, Request
from recaudit.models.prompts._matching import normalize_title

TITLES = {f"i{n}": f"Title {n} ({1990 + n})" for n in range(15)}


def test_history_is_last_max_history_oldest_first():
    req = Request("u", history=tuple(f"i{n}" for n in range(12)))
    text = PromptTemplate(max_history=3).render(req, TITLES)
    assert text == ("I have watched: Title 9 (1999); Title 10 (2000); Title 11 (2001).\n"
                    "Next I will watch:")
    assert "Title 8 " not in text


def test_default_shows_ten_items():
    req = Request("u", history=tuple(f"i{n}" for n in range(15)))
    text = PromptTemplate().render(req, TITLES)
    assert text.count("; ") == 9
    assert "Title 5 (1995)" in text and "Title 4 (1994)" not in text


def test_profile_sentence_one_clause_per_attribute():
    t = PromptTemplate()
    req = Request("u", history=("i1",), profile={"gender": "female", "age_group": "young"})
    first = t.render(req, TITLES).splitlines()[0]
    # profile pairs are stored sorted by attribute name
    assert first == "I am a young user. I am a female user."
    assert t.profile_sentence({"age_group": "middle-aged"}) == "I am a middle-aged user."
    assert t.profile_sentence({"age": "elderly"}) == "I am an elderly user."
    assert t.profile_sentence({"occupation": "college_student"}) == (
        "My occupation is college student.")
    custom = PromptTemplate(profile_phrases={"occupation": "I work as {a} {value}."})
    assert custom.profile_sentence({"occupation": "artist"}) == "I work as an artist."


def test_neutral_request_has_no_profile_sentence():
    text = PromptTemplate().render(Request("u", history=("i1",)), TITLES)
    assert "user." not in text
    assert text.startswith("I have watched:")


def test_numbered_candidates_in_order():
    req = Request("u", history=("i1",), candidates=("i4", "i2", "i3"))
    lines = PromptTemplate().render(req, TITLES).splitlines()
    k = lines.index("Choose one of these candidates:")
    assert lines[k + 1:k + 4] == ["1. Title 4 (1994)", "2. Title 2 (1992)", "3. Title 3 (1993)"]
    assert lines[-1] == "Next I will watch:"


def test_item_text_overrides_apply_to_history_and_candidates():
    req = Request("u", history=("i1", "i2"), candidates=("i2", "i3"),
                  item_text={"i2": "Best Movie Ever"})
    text = PromptTemplate().render(req, TITLES)
    assert "Title 2" not in text
    assert text.count("Best Movie Ever") == 2
    assert PromptTemplate().title("i2", req, TITLES) == "Best Movie Ever"
    assert PromptTemplate().title("i3", req, TITLES) == "Title 3 (1993)"


def test_prompt_extra_before_answer_cue():
    req = Request("u", history=("i1",), prompt_extra="The weather is nice today.")
    lines = PromptTemplate().render(req, TITLES).splitlines()
    assert lines[-2:] == ["The weather is nice today.", "Next I will watch:"]


def test_empty_history():
    text = PromptTemplate().render(Request("u"), TITLES)
    assert text == "I have watched: nothing yet.\nNext I will watch:"


def test_continuation_and_parse_round_trip():
    t = PromptTemplate()
    cont = t.continuation("Golden Empire (1980)")
    assert cont == " Golden Empire (1980)\n"
    assert t.parse(cont + "Something else") == "Golden Empire (1980)"
    assert t.parse("  no marker  ") == "no marker"


def test_prompt_ends_with_cue_without_trailing_space():
    text = PromptTemplate().render(Request("u", history=("i1",)), TITLES)
    assert text.endswith("Next I will watch:")


def test_fingerprint_depends_on_fields_and_is_stable():
    a, b = PromptTemplate(), PromptTemplate()
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != PromptTemplate(max_history=5).fingerprint()
    assert a.fingerprint() != PromptTemplate(answer_cue="Recommend:").fingerprint()


def test_invalid_arguments():
    with pytest.raises(ValueError, match="max_history"):
        PromptTemplate(max_history=0)
    with pytest.raises(ValueError, match="end_marker"):
        PromptTemplate(end_marker="")


def test_subclass_can_add_a_section():
    class Explain(PromptTemplate):
        def sections(self, request, titles):
            parts = super().sections(request, titles)
            return [*parts[:-1], "Explain your choice.", parts[-1]]

    text = Explain().render(Request("u", history=("i1",)), TITLES)
    assert text.splitlines()[-2] == "Explain your choice."


def test_normalize_title():
    assert normalize_title("  The  SILENT river (1994) ") == "the silent river (1994)"


def test_show_genres_in_history_and_candidates_not_in_answer():
    genres = {i: "Drama|Romance" for i in TITLES}
    req = Request("u", history=("i1",), candidates=("i2",))
    plain = PromptTemplate().render(req, TITLES, genres)
    assert "Drama" not in plain
    t = PromptTemplate(show_genres=True)
    text = t.render(req, TITLES, genres)
    assert "I have watched: Title 1 (1991), Drama|Romance." in text
    assert "1. Title 2 (1992), Drama|Romance" in text
    assert t.continuation("Title 2 (1992)") == " Title 2 (1992)\n"
    assert t.render(req, TITLES) == plain  # no genre table: titles only
