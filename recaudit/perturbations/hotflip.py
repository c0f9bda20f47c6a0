"""HotFlip token ranking: which appended token most raises an item's likelihood?

For a model with the ``gradients`` capability, the first-order (HotFlip, Ebrahimi et al.
2018) estimate of the change in log p(title | prompt) when a placeholder token appended to
the item's title is replaced by token v is ``(E_v - E_placeholder) . g``, with ``g`` the
gradient of the log-likelihood with respect to the placeholder's input embeddings (summed over
every place the title appears: the candidate list in the prompt and the scored answer).
Ranking tokens by ``E_v . g`` plus the exact log p(v | title prefix) of the appended token
in the answer gives the candidates a gradient-guided attack tries first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..contract import Request

#: Pairs of single-token words tried as the placeholder (their positions are found by
#: tokenizing the prompt with each word of a pair and comparing).
PLACEHOLDERS = (("the", "and"), ("a", "of"), ("x", "y"))


def _continuation(model: Any, title: str) -> str:
    template = getattr(model, "template", None)
    fn = getattr(template, "continuation", None)
    return fn(title) if callable(fn) else " " + title + "\n"


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _with_title(request: Request, item: str, title: str) -> Request:
    text = request.item_text_dict
    text[item] = title
    return request.replace(item_text=text)


def _locate(model, tokenizer, request, item, title):
    """(ids, prompt length, placeholder positions, placeholder id) or None."""
    for a, b in PLACEHOLDERS:
        seqs = []
        for word in (a, b):
            t = f"{title} {word}"
            prompt = _encode(tokenizer, model.render(_with_title(request, item, t)))
            seqs.append((prompt, _encode(tokenizer, _continuation(model, t))))
        (pa, ca), (pb, cb) = seqs
        ids_a, ids_b = pa + ca, pb + cb
        if len(pa) != len(pb) or len(ca) != len(cb):
            continue
        pos = [n for n, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y]
        if pos and len({ids_a[n] for n in pos}) == 1:
            return ids_a, len(pa), pos, ids_a[pos[0]]
    return None


def hotflip_tokens(model: Any, data: Any, requests: Sequence[Request], item: str,
                   title: str, n: int = 64) -> list[str]:
    """Up to ``n`` whole-word tokens whose appending most raises log p(``item``'s title).

    The gradient is summed over ``requests`` (a few users). Only tokens that decode to a
    word of 3+ letters starting with a space (a word start in byte-level BPE) are returned.

    Raises
    ------
    CapabilityError
        When ``model`` does not declare ``gradients``.
    ValueError
        When no placeholder token position can be found in the prompt.
    """
    import torch

    handle = model.gradient_handle()
    lm, emb, tok = handle.model, handle.embedding_layer, handle.tokenizer
    device = emb.weight.device
    total = None
    for req in requests:
        located = _locate(model, tok, req, item, title)
        if located is None:
            continue
        ids, plen, pos, _ = located
        with torch.enable_grad():
            x = emb(torch.tensor([ids], device=device)).detach().requires_grad_(True)
            logits = lm(inputs_embeds=x).logits[0].float()
            cont = torch.tensor(ids[plen:], device=device)
            lp = torch.log_softmax(logits[plen - 1:len(ids) - 1], dim=-1)
            score = lp.gather(-1, cont[:, None]).sum()
            (grad,) = torch.autograd.grad(score, x)
            with torch.no_grad():
                # first-order effect through the inputs, plus the exact log-probability of
                # the token itself where it is part of the scored answer
                gain = emb.weight.float() @ grad[0, pos].sum(0).float()
                for q in pos:
                    if q >= plen:
                        gain += torch.log_softmax(logits[q - 1], dim=-1)
        total = gain if total is None else total + gain
    if total is None:
        raise ValueError(f"no placeholder position found for item {item!r}: the tokenizer "
                         "merges every placeholder with its neighbours")
    with torch.no_grad():
        order = torch.argsort(total, descending=True).tolist()
    out: list[str] = []
    seen: set[str] = set()
    for v in order:
        word = tok.decode([v])
        core = word.strip()
        if (word.startswith(" ") and core.isalpha() and len(core) >= 3
                and core.lower() not in seen):
            seen.add(core.lower())
            out.append(core)
            if len(out) >= n:
                break
    return out
