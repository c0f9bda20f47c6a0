"""Chat prompt templates: a :class:`~recaudit.Request` as system and user messages.

Two built-ins follow the papers that audited ChatGPT as a recommender:

- ``fairllm`` (Zhang et al., RecSys 2023): the sequential prompt "I am a fan of ... Please
  provide me with a list of K movie titles in order of preference that you think I might
  like", with the profile sentence ("I am a female user.") in front when the request states
  one (FaiRLLM's sensitive-attribute prompts); neutral requests have none.
- ``llmrank`` (Hou et al., ECIR 2024): the sequential candidate-ranking prompt "I've
  watched the following movies in the past in order: [...] Now there are N candidate movies
  that I can watch next: [...] Please rank these N movies ..." with 0-based numbered lists,
  as in the paper.

Each template has a prompt for whole-catalog requests and one for candidate requests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ...contract import Request, stable_hash
from ._templates import PromptTemplate

_PROFILE = PromptTemplate()


@dataclass(frozen=True)
class ChatTemplate:
    """System and user message patterns for a chat recommender.

    Patterns are ``str.format`` strings with the fields ``{profile}`` (the profile sentence
    and a space, or nothing), ``{history}`` (history titles joined by ``history_separator``),
    ``{history_list}`` (one numbered title per line), ``{candidates}`` (one numbered title
    per line), ``{k}``, ``{n}`` (number of candidates), ``{item}`` / ``{items}`` (the item
    noun) and ``{extra}`` (the request's free text, on a new line, or nothing).

    Parameters
    ----------
    name : str
    system : str
        The system message ("" sends none).
    user : str
        User message for whole-catalog requests.
    user_candidates : str
        User message for requests with candidates.
    max_history : int
        Only the last ``max_history`` history items are shown.
    history_separator : str
    number_from : int
        First number of numbered lists (LLMRank numbers from 0).
    item, items : str
        Singular and plural item noun.
    profile_position : {"first", "last"}
        Where the profile sentence goes: in ``{profile}`` (the published prompts put it
        first), or ``"last"``: ``{profile}`` is left empty and the sentence ends the user
        message. Counterfactual requests of one user then share everything before it
        (system message, history, candidates), which a local model encodes once
        (``HFRecommender``'s prefix sharing): 5-10x fewer tokens for FaiRLLM's 31 values.
        Another prompt, so another fingerprint; the report states which.

    Examples
    --------
    >>> t = chat_template("fairllm")
    >>> msgs = t.messages(Request("u1", history=("i1",), profile={"gender": "female"}),
    ...                   {"i1": "Heat (1995)"}, k=3)
    >>> msgs[1]["content"].split(".")[0]
    'I am a female user'
    """

    name: str
    system: str
    user: str
    user_candidates: str
    max_history: int = 20
    history_separator: str = "; "
    number_from: int = 1
    item: str = "movie"
    items: str = "movies"
    profile_position: str = "first"

    def __post_init__(self) -> None:
        if self.max_history < 1:
            raise ValueError(f"max_history must be >= 1, got {self.max_history}")
        if self.profile_position not in ("first", "last"):
            raise ValueError("profile_position must be 'first' or 'last', got "
                             f"{self.profile_position!r}")

    def _title(self, item_id: str, request: Request, titles: Mapping[str, str]) -> str:
        return request.item_text_dict.get(item_id, titles.get(item_id, item_id))

    def fields(self, request: Request, titles: Mapping[str, str], k: int) -> dict[str, str]:
        hist = [self._title(i, request, titles) for i in request.history[-self.max_history:]]
        cands = [self._title(c, request, titles) for c in request.candidates or ()]
        prof = _PROFILE.profile_sentence(request.profile) if request.profile else ""
        return {
            "profile": prof + " " if prof and self.profile_position == "first" else "",
            "history": self.history_separator.join(hist) if hist else "nothing yet",
            "history_list": "\n".join(f"{n}. {t}" for n, t in
                                      enumerate(hist, start=self.number_from)) or "(none)",
            "candidates": "\n".join(f"{n}. {t}" for n, t in
                                    enumerate(cands, start=self.number_from)),
            "k": str(int(k)), "n": str(len(cands)), "item": self.item, "items": self.items,
            "extra": "\n" + request.prompt_extra.strip() if request.prompt_extra.strip() else "",
        }

    def messages(self, request: Request, titles: Mapping[str, str], k: int
                 ) -> list[dict[str, str]]:
        """The chat messages (OpenAI format) for one request."""
        f = self.fields(request, titles, k)
        user = (self.user_candidates if request.candidates is not None else self.user)
        out = []
        if self.system:
            out.append({"role": "system", "content": self.system.format(**f)})
        content = user.format(**f)
        if self.profile_position == "last" and request.profile:
            content += " " + _PROFILE.profile_sentence(request.profile)
        out.append({"role": "user", "content": content})
        return out

    def fingerprint(self) -> str:
        fields = asdict(self)
        if self.profile_position == "first":  # fingerprints from before the option stay
            fields.pop("profile_position")
        return "ChatTemplate-" + stable_hash(fields)


FAIRLLM = ChatTemplate(
    name="fairllm",
    system="You are a {item} recommender system.",
    user=("{profile}I am a fan of {history}. Please provide me with a list of {k} {item} "
          "titles in order of preference that you think I might like. Please do not provide "
          "any additional information about the {items}, such as artist, genre, or release "
          "date.{extra}"),
    user_candidates=("{profile}I am a fan of {history}. Here are {n} candidate {items}:\n"
                     "{candidates}\nPlease provide me with a list of the top {k} of these "
                     "candidates in order of preference that you think I might like. Please do "
                     "not provide any additional information about the {items}.{extra}"),
)

LLMRANK = ChatTemplate(
    name="llmrank",
    system="You are a {item} recommender system.",
    user=("{profile}I've watched the following {items} in the past in order:\n"
          "{history_list}\n\nPlease recommend the top {k} {items} that I would like to watch "
          "next most, according to my watching history. Please show me your results with "
          "order numbers. Split your output with line break.{extra}"),
    user_candidates=("{profile}I've watched the following {items} in the past in order:\n"
                     "{history_list}\n\nNow there are {n} candidate {items} that I can watch "
                     "next:\n{candidates}\nPlease rank these {n} {items} by measuring the "
                     "possibilities that I would like to watch next most, according to my "
                     "watching history. Please show me your ranking results with order "
                     "numbers. Split your output with line break. You MUST rank the given "
                     "candidate {items}. You can not generate {items} that are not in the "
                     "given candidate list.{extra}"),
    number_from=0,
)

BUILTIN_CHAT_TEMPLATES = {"fairllm": FAIRLLM, "llmrank": LLMRANK}


def chat_template(template: str | ChatTemplate | Mapping[str, Any]) -> ChatTemplate:
    """A built-in template by name (``default``, ``fairllm``, ``llmrank``), ``template``
    itself, or a mapping ``{name: <built-in>, **changes}`` (a spec's way to say
    ``{name: fairllm, profile_position: last}``)."""
    if isinstance(template, ChatTemplate):
        return template
    if isinstance(template, Mapping):
        changes = dict(template)
        base = chat_template(changes.pop("name", "default"))
        try:
            return dataclasses.replace(base, **changes)
        except TypeError:
            known = [f.name for f in dataclasses.fields(ChatTemplate)]
            raise ValueError(f"unknown chat template option(s) "
                             f"{sorted(set(changes) - set(known))}; use {known}") from None
    try:
        return BUILTIN_CHAT_TEMPLATES[str(template)]
    except KeyError:
        raise ValueError(f"unknown chat template {template!r}; built-ins: "
                         f"{', '.join(BUILTIN_CHAT_TEMPLATES)}, or pass a ChatTemplate") from None

#: FaiRLLM's prompt for whole-catalog requests, LLMRank's for candidate ranking.
DEFAULT = ChatTemplate(name="default", system=FAIRLLM.system, user=FAIRLLM.user,
                       user_candidates=LLMRANK.user_candidates, number_from=0)

BUILTIN_CHAT_TEMPLATES["default"] = DEFAULT
