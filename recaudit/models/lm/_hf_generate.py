"""Free generation for ``HFRecommender(mode="generate")``: beam search, then the catalog.

:func:`generate_beams` decodes ``beams`` sequences per prompt (greedy beam search, the
prompts left-padded into one batch) after the prompt until the template's end marker or the
end-of-sequence token; :func:`beams_to_ranking` reads a title out of each sequence
(``template.parse``), maps it to the catalog with the recommender's
:class:`~._matching.CatalogMatcher` and counts the titles that map to nothing, or to an
item outside the request's candidates, as hallucinations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...contract import Ranking, Request
from ._hf_scoring import left_pad


def stop_ids(tokenizer: Any, end_ids: Sequence[int]) -> list[int]:
    """Tokens that end a generated title: end-of-sequence, and the end marker when it is one
    token (``end_ids``: the end marker's tokens)."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if len(end_ids) == 1:
        eos.append(end_ids[0])
    return eos


def generate_beams(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], *,
                   device: str, pad_id: int, beams: int, max_new_tokens: int,
                   eos: list[int]) -> tuple[list[str], np.ndarray]:
    """The decoded text of ``beams`` sequences per prompt (prompt-major) and their scores."""
    ids, mask = left_pad(prompts, pad_id)
    plen = ids.shape[1]
    gen = model.generate(
        input_ids=ids.to(device), attention_mask=mask.to(device),
        max_new_tokens=max_new_tokens, num_beams=beams, num_return_sequences=beams,
        do_sample=False, eos_token_id=eos or None, pad_token_id=pad_id,
        output_scores=True, return_dict_in_generate=True)
    seqs = gen.sequences[:, plen:].cpu()
    seq_scores = (gen.sequences_scores.float().cpu().numpy()
                  if getattr(gen, "sequences_scores", None) is not None
                  else np.zeros(len(seqs)))
    texts = [tokenizer.decode(seqs[n], skip_special_tokens=True) for n in range(len(seqs))]
    return texts, seq_scores


def beams_to_ranking(texts: Sequence[str], scores: Sequence[float], request: Request, k: int,
                     *, parse: Callable[[str], str], match: Callable[[str], str | None],
                     exclude_history: bool) -> Ranking:
    """The ranking one request's beams give: matched items in beam order (no repeats, no
    history items when ranking the whole catalog and ``exclude_history``), their beam scores,
    the count of hallucinated titles and the parsed titles, one a line, as ``raw``."""
    items, kept, missed, raw = [], [], 0, []
    allowed = set(request.candidates) if request.candidates is not None else None
    seen = set(request.history) if (exclude_history and allowed is None) else set()
    for text, score in zip(texts, scores):
        title = parse(text)
        raw.append(title)
        item = match(title)
        if item is None or (allowed is not None and item not in allowed):
            missed += 1
        elif item not in items and item not in seen:
            items.append(item)
            kept.append(float(score))
    return Ranking(tuple(items[:k]), tuple(kept[:k]), hallucinated=missed, raw="\n".join(raw))
