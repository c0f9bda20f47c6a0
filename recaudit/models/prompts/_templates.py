"""``PromptTemplate``: turns a :class:`~recaudit.Request` into the exact text a language model sees.

The layout follows the LLM-recommendation literature: the user's history as a list of item
titles (P5, TALLRec), an optional profile sentence stating sensitive attributes in the
FaiRLLM style ("I am a female user."), an optional numbered candidate list (LLMRank), free
extra text, and a fixed answer cue. The model answers with an item title followed by an
end-of-title marker, so candidate scoring is log p(" " + title + end_marker | prompt).

Subclasses (e.g. an explanation variant) override :meth:`sections` or :meth:`render` and keep
:meth:`continuation` / :meth:`parse`, so scoring code never changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from ...contract import Request, stable_hash

#: Attribute names whose values read naturally as "I am a <value> user.".
_ADJECTIVE_ATTRIBUTES = frozenset({"gender", "sex", "age", "age_group", "race", "ethnicity",
                                   "religion", "continent", "country", "nationality"})


def _words(text: str) -> str:
    return " ".join(str(text).replace("_", " ").split())


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


@dataclass(frozen=True)
class PromptTemplate:
    """How a request becomes prompt text, and how an answer is read back.

    Parameters
    ----------
    max_history : int
        Only the last ``max_history`` history items are shown (oldest first).
    history_intro : str
        Text before the history titles.
    history_separator : str
        Between history titles.
    candidates_intro : str
        Line before the numbered candidate list (only when ``request.candidates`` is set).
    answer_cue : str
        The last text of the prompt; the answer title follows after one space.
    end_marker : str
        Text that closes the answer title (part of every scored continuation).
    profile_phrases : tuple of (attribute, pattern) pairs
        Per-attribute override of the profile clause; ``{value}`` is replaced by the readable
        value, e.g. ``(("occupation", "I work as {a} {value}."),)`` (``{a}`` = "a"/"an").
    empty_history : str
        Shown instead of titles when the history is empty.
    show_genres : bool
        Show each history and candidate item's genres after its title ("Title, Drama|Romance"),
        as prompts that include item metadata do; needs ``genres`` passed to :meth:`render`.
        The answer is always the bare title.

    Examples
    --------
    >>> t = PromptTemplate()
    >>> req = Request("u1", history=("i1",), profile={"gender": "female"})
    >>> print(t.render(req, {"i1": "The Silent River (1994)"}))
    I am a female user.
    I have watched: The Silent River (1994).
    Next I will watch:
    >>> t.continuation("Golden Empire (1980)")
    ' Golden Empire (1980)\\n'
    """

    max_history: int = 10
    history_intro: str = "I have watched:"
    history_separator: str = "; "
    candidates_intro: str = "Choose one of these candidates:"
    answer_cue: str = "Next I will watch:"
    end_marker: str = "\n"
    profile_phrases: tuple[tuple[str, str], ...] = field(default=())
    empty_history: str = "nothing yet"
    show_genres: bool = False

    def __post_init__(self) -> None:
        if self.max_history < 1:
            raise ValueError(f"max_history must be >= 1, got {self.max_history}")
        if not self.end_marker:
            raise ValueError("end_marker must be non-empty: it closes every answer title")
        if isinstance(self.profile_phrases, Mapping):
            object.__setattr__(self, "profile_phrases",
                               tuple(sorted(self.profile_phrases.items())))

    # ------------------------------------------------------------------ pieces
    def title(self, item_id: str, request: Request, titles: Mapping[str, str]) -> str:
        """The item's text for this request: the request's override, else the catalog title."""
        override = request.item_text_dict.get(item_id)
        if override is not None:
            return override
        return titles.get(item_id, item_id)

    def profile_sentence(self, profile: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
        """One clause per attribute, FaiRLLM style: "I am a female user. I am a young user."."""
        pairs = profile.items() if isinstance(profile, Mapping) else profile
        phrases = dict(self.profile_phrases)
        clauses = []
        for attr, value in pairs:
            v = _words(value)
            if attr in phrases:
                clauses.append(phrases[attr].format(value=v, a=_article(v), attribute=attr))
            elif attr in _ADJECTIVE_ATTRIBUTES:
                clauses.append(f"I am {_article(v)} {v} user.")
            else:
                clauses.append(f"My {_words(attr)} is {v}.")
        return " ".join(clauses)

    def item_text(self, item_id: str, request: Request, titles: Mapping[str, str],
                  genres: Mapping[str, str] | None = None) -> str:
        """How an item is shown in the history or candidate list (title, maybe genres)."""
        text = self.title(item_id, request, titles)
        if self.show_genres and genres is not None and genres.get(item_id):
            text = f"{text}, {genres[item_id]}"
        return text

    def history_text(self, request: Request, titles: Mapping[str, str],
                     genres: Mapping[str, str] | None = None) -> str:
        shown = request.history[-self.max_history:]
        if not shown:
            return f"{self.history_intro} {self.empty_history}."
        names = self.history_separator.join(self.item_text(i, request, titles, genres)
                                            for i in shown)
        return f"{self.history_intro} {names}."

    def candidates_text(self, request: Request, titles: Mapping[str, str],
                        genres: Mapping[str, str] | None = None) -> str:
        lines = [self.candidates_intro]
        lines += [f"{n}. {self.item_text(c, request, titles, genres)}"
                  for n, c in enumerate(request.candidates or (), start=1)]
        return "\n".join(lines)

    def sections(self, request: Request, titles: Mapping[str, str],
                 genres: Mapping[str, str] | None = None) -> list[str]:
        """The prompt's parts in order (override to add or reorder parts)."""
        parts = []
        if request.profile:
            parts.append(self.profile_sentence(request.profile))
        parts.append(self.history_text(request, titles, genres))
        if request.candidates is not None:
            parts.append(self.candidates_text(request, titles, genres))
        if request.prompt_extra:
            parts.append(request.prompt_extra.strip())
        parts.append(self.answer_cue)
        return parts

    # ------------------------------------------------------------------ public
    def render(self, request: Request, titles: Mapping[str, str],
               genres: Mapping[str, str] | None = None) -> str:
        """The full prompt text; it ends with :attr:`answer_cue` (no trailing space).

        ``titles`` maps item id to title; ``genres`` (item id to "A|B") is used only when
        :attr:`show_genres` is set.
        """
        if self.show_genres and genres is not None:
            parts = self.sections(request, titles, genres)
        else:  # keeps subclasses that override sections(request, titles) working
            parts = self.sections(request, titles)
        return "\n".join(p for p in parts if p)

    def continuation(self, title: str) -> str:
        """The answer text scored for an item: one space, the title, the end marker.

        The leading space belongs to the title so byte-level BPE tokenizers (GPT-2 style)
        tokenize prompt and continuation separately exactly as they would tokenize them joined.
        """
        return " " + title + self.end_marker

    def parse(self, generated: str) -> str:
        """The title in a generated answer: text before the first end marker, stripped."""
        return generated.split(self.end_marker, 1)[0].strip()

    def fingerprint(self) -> str:
        return f"{type(self).__name__}-" + stable_hash(asdict(self))
