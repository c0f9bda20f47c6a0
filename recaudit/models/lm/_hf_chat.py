"""Chat prompting for instruction-tuned ``HFRecommender`` models.

An instruction model is asked the way an API-served one is: the same
:class:`~._chat_templates.ChatTemplate` messages ``ChatRecommender`` sends (``fairllm``,
``llmrank``, ``default``), turned into text by the tokenizer's own chat template
(``apply_chat_template(..., add_generation_prompt=True)``), so a local model and a served
one read identical messages. Three ways to read the answer:

- ``candidate_scoring="title"``: each candidate title scored as the first entry of the
  assistant's answer: the prompt ends with the first list number (``"1."``, LLMRank's
  ``"0."``) and the continuation is ``" <title>\\n"``;
- ``candidate_scoring="label"`` (candidate lists; after FIRST, Reddy et al. 2024): each
  candidate scored by the likelihood of its list label at the first answer position. When
  every label is one token (at most 10 numbered candidates) this is FIRST's rule, the
  label logits of one position; longer labels ("12") are scored as their tokens followed
  by the list's ``"."``, so "1" is not confused with the start of "12". One short
  continuation per candidate instead of a title: 3-4x fewer tokens scored.
- ``mode="generate"``: the answer generated (greedy, batched, key/value cache) and read as a
  list by :func:`~._chat_parse.answer_to_ranking` (FaiRLLM's protocol); entries that match
  no catalog item, or an item outside the candidates, are hallucinations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...contract import Request
from ..prompts import ChatTemplate, chat_template

#: The question of the explanation turn (after the recommended title as the answer).
EXPLAIN_QUESTION = ("Which one movie from my history made you recommend {title}? Answer in "
                    "one sentence that names it.")


@dataclass(frozen=True)
class ChatPrompter:
    """Chat messages rendered through a tokenizer's chat template."""

    template: ChatTemplate
    tokenizer: Any

    @classmethod
    def build(cls, template: str | ChatTemplate, tokenizer: Any) -> ChatPrompter:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("chat_template= needs a tokenizer with a chat template (an "
                             "instruction model); this tokenizer has none: leave "
                             "chat_template=None to use the completion template")
        return cls(chat_template(template), tokenizer)

    def messages(self, request: Request, titles: Mapping[str, str], k: int
                 ) -> list[dict[str, str]]:
        return self.template.messages(request, titles, k)

    def render(self, request: Request, titles: Mapping[str, str], k: int,
               answer_prefix: str = "") -> str:
        """The text the model reads: the messages through the tokenizer's chat template,
        with the generation prompt, then ``answer_prefix`` (the start of the answer)."""
        return self.render_messages(self.messages(request, titles, k)) + answer_prefix

    def render_messages(self, messages: list[dict[str, str]]) -> str:
        """Chat messages as text through the tokenizer's chat template, ready for the
        assistant's answer."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)

    def first_number(self, request: Request) -> str:
        """The first list number of the answer: the candidates' first number (LLMRank's
        ``"0."``) for a candidate list, else ``"1."``."""
        return f"{self.template.number_from}." if request.candidates is not None else "1."

    def labels(self, n: int) -> list[str]:
        """The label of each of ``n`` candidates as the prompt numbers them."""
        return [str(self.template.number_from + i) for i in range(n)]

    def label_continuations(self, n: int) -> list[str]:
        """What is scored per candidate in ``label`` mode: the label, plus the list's "."
        when some label is a prefix of another (FIRST's rule when none is)."""
        labels = self.labels(n)
        ambiguous = any(a != b and b.startswith(a) for a in labels for b in labels)
        return [lab + "." if ambiguous else lab for lab in labels]

    def explain_messages(self, request: Request, titles: Mapping[str, str], k: int,
                         recommended: str) -> list[dict[str, str]]:
        """The explanation turn: the request, the recommended title as the answer, and
        :data:`EXPLAIN_QUESTION`."""
        msgs = self.messages(request, titles, k)
        answer = f"{self.first_number(request)} {recommended}"
        msgs.append({"role": "assistant", "content": answer})
        msgs.append({"role": "user", "content": EXPLAIN_QUESTION.format(title=recommended)})
        return msgs


def generate_greedy(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], *,
                    device: str, pad_id: int, max_new_tokens: int,
                    eos: Sequence[int]) -> list[str]:
    """Greedy continuations of left-padded prompts in one batched ``generate`` (the key/value
    cache reused step to step), decoded without special tokens."""
    from ._hf_scoring import left_pad

    ids, mask = left_pad(prompts, pad_id)
    width = ids.shape[1]
    gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                         max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                         eos_token_id=list(eos) or None, pad_token_id=pad_id,
                         top_p=None, top_k=None, temperature=None)
    return [tokenizer.decode(gen[n, width:], skip_special_tokens=True).strip()
            for n in range(len(prompts))]


def cited_items(text: str, request: Request, titles: Mapping[str, str],
                match: Any) -> tuple[str, ...]:
    """The items an explanation names: history items whose normalised title (no case,
    punctuation, leading article or year) appears in the text as whole words, else the catalog item the text's first line matches (a
    citation outside the history, which the auditor counts as unfaithful), else none."""
    from ..prompts import normalize

    said = f" {normalize(text)} "
    found = []
    for item in request.history:
        name = normalize(request.item_text_dict.get(item, titles.get(item, item)))
        if len(name) > 3 and f" {name} " in said:
            found.append(item)
    if found:
        return tuple(dict.fromkeys(found))
    first = text.strip().splitlines()[0] if text.strip() else ""
    item = match(first) if first else None
    return (item,) if item is not None else ()
