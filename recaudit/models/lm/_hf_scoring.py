"""The scoring kernels of ``HFRecommender``: log p(title | prompt) for many prompts and titles.

:func:`score_prompts` takes tokenized prompts and continuations (title + end marker), scores
each distinct prompt once and each distinct continuation under it once, the prompts sorted by
length and run in batches through a :class:`~._hf_device.BatchBackoff`. Each batch
(:func:`score_batch`) encodes its prompts in one forward pass (left-padded to the longest,
with an attention mask and explicit position ids, so a padded prompt reads exactly as
unpadded) and takes the first token of every continuation from its last position; the rest
of the tokens are scored on the prompts' key/value cache:

- :func:`score_packed` (eager / SDPA attention): the titles of a request sit side by side
  after its prompt, each at the positions right after the prompt, with a 4-D attention mask
  that lets a title token see the prompt and the earlier tokens of its own title only
  (shared-prefix "tree" attention), at most ``packed_length`` title tokens per row;
- :func:`score_expanded` (attention that takes no custom 4-D mask, e.g. flash-attention):
  the prompt cache copied once per title, titles of a length together, in chunks within
  the logit and cache budgets (:func:`title_chunks`).

The budgets are ``HFRecommender``'s (``_hf._LOGIT_BUDGET``, ``_PACKED_LENGTH``,
``_CACHE_BUDGET``), scaled down by the back-off and passed in a :class:`Kernel`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._hf_device import BatchBackoff


@dataclass(frozen=True)
class Kernel:
    """What the scoring passes need of a loaded model, and their budgets."""

    model: Any
    device: str
    #: Token id of left padding.
    pad_id: int
    #: Name of the forward argument that takes a key/value cache.
    cache_kwarg: str
    #: Titles packed after the prompt with a 4-D mask (else the expanded fallback).
    packed: bool
    #: Forward arguments that keep only the last position's logits in the prompt pass.
    last_only: dict[str, int]
    #: Logit entries (rows x tokens x vocabulary) materialised at once.
    logit_budget: float
    #: Bytes of expanded key/value cache materialised at once.
    cache_budget: float
    #: Most title tokens packed into one row of one pass.
    packed_length: int
    #: Prompts of a batch sharing at least this many leading tokens encode them once
    #: (:func:`encode_prompts`); 0 switches the sharing off.
    min_shared: int = 0


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Token ids left-padded to the longest prompt, and the attention mask (1 = a token)."""
    import torch

    n, width = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[r, width - len(p):] = 1
    return ids, mask


def score_prompts(prompts: Sequence[tuple[int, ...]],
                  conts: Sequence[Sequence[tuple[int, ...]]], *, backoff: BatchBackoff,
                  score_batch: Callable[[list[list[int]], list[list[list[int]]]],
                                        list[np.ndarray]],
                  normalize: bool, min_shared: int = 0) -> list[np.ndarray]:
    """Summed (or length-normalised) log p(continuation | prompt) for every prompt's rows.

    Requests whose prompts tokenize the same (the same user asked about other candidates,
    in another order, or for other targets: position bias, membership and memorization ask
    so) share one prompt pass, and a continuation repeated under one prompt is scored once.
    The distinct prompts are sorted by length (little padding), prompts sharing at least
    ``min_shared`` leading tokens kept next to each other (:func:`batch_order`), and handed
    to ``score_batch`` in the batches of ``backoff``. Where ``score_batch`` returns 2-D rows
    (:func:`score_batch` with ``next_tokens``) they are passed through, ``normalize``
    dividing them by the continuation's length.
    """
    import torch

    # distinct prompts, each with its distinct continuations (dicts keep first-seen order)
    groups: dict[tuple[int, ...], dict[tuple[int, ...], int]] = {}
    for prompt, rows in zip(prompts, conts):
        seen = groups.setdefault(prompt, {})
        for c in rows:
            seen.setdefault(c, len(seen))
    unique = list(groups)
    sums: dict[tuple[int, ...], np.ndarray] = {}
    order = batch_order(unique, min_shared)
    with torch.inference_mode():
        batches = backoff.run(order, lambda part: score_batch(
            [list(unique[n]) for n in part], [[list(c) for c in groups[unique[n]]]
                                              for n in part]))
        for part, result in batches:
            sums.update((unique[n], values) for n, values in zip(part, result))
    out: list[np.ndarray] = []
    for prompt, rows in zip(prompts, conts):
        s = sums[prompt][[groups[prompt][c] for c in rows]] if rows else np.zeros(0)
        if normalize:
            lengths = np.maximum(1, [len(c) for c in rows])
            s = s / (lengths[:, None] if s.ndim == 2 else lengths)
        out.append(np.asarray(s, dtype=float))
    return out


def batch_order(prompts: Sequence[Sequence[int]], min_shared: int) -> list[int]:
    """The order prompts are batched in: by length, except that prompts sharing at least
    ``min_shared`` leading tokens (:func:`shared_prefix_groups`) stay together, ordered by
    their longest member, so one batch encodes their prefix once. Without such groups
    (or with ``min_shared=0``) this is the plain sort by length."""
    plain = sorted(range(len(prompts)), key=lambda n: len(prompts[n]))
    if not min_shared or len(prompts) < 2:
        return plain
    groups = shared_prefix_groups(prompts, min_shared)
    if all(len(rows) == 1 for _, rows in groups):
        return plain
    runs = [sorted(rows, key=lambda n: (len(prompts[n]), n)) for _, rows in groups]
    runs.sort(key=lambda rows: (max(len(prompts[n]) for n in rows), min(rows)))
    return [n for rows in runs for n in rows]


def score_batch(kern: Kernel, prompts: list[list[int]], conts: list[list[list[int]]],
                next_tokens: Sequence[int] = ()) -> list[np.ndarray]:
    """Encode the prompts in one left-padded pass, then the titles on their cache.

    Per prompt, the summed log p(continuation | prompt) of each continuation; with
    ``next_tokens`` (K token ids) a ``(n, 1 + K)`` array instead, column ``1 + k`` holding
    log p(next_tokens[k] | prompt + continuation): the distribution after each
    continuation, read in the same passes (its last token is fed in too).
    """
    import torch

    dev = kern.device
    first_lp, kv, mask, lens, padded = encode_prompts(kern, prompts)
    vocab = int(first_lp.shape[-1])
    # bytes of one request's cache: every title row gets its own copy
    row_bytes = sum(k[0].numel() * k.element_size() * 2 for k, _ in kv)

    result = [np.zeros(len(c)) for c in conts]
    firsts = [(r, c, tok[0]) for r, rows in enumerate(conts)
              for c, tok in enumerate(rows) if tok]
    if firsts:
        pick = torch.tensor([[r, t] for r, _, t in firsts], dtype=torch.long, device=dev)
        got = first_lp[pick[:, 0], pick[:, 1]].cpu().numpy()
        for (r, c, _), value in zip(firsts, got):
            result[r][c] = float(value)
    nexts = None
    if next_tokens:
        nexts = [np.zeros((len(c), len(next_tokens))) for c in conts]
        wanted = torch.tensor(list(next_tokens), dtype=torch.long, device=dev)
        for r, rows in enumerate(conts):  # an empty continuation: the prompt's own next
            for c, tok in enumerate(rows):
                if not tok:
                    nexts[r][c] = first_lp[r, wanted].cpu().numpy()
    if kern.packed:
        score_packed(kern, kv, mask, lens, conts, vocab, result, next_tokens, nexts)
    else:
        score_expanded(kern, kv, mask, lens, padded, conts, vocab, row_bytes, result,
                       next_tokens, nexts)
    if nexts is None:
        return result
    return [np.column_stack([s, n]) for s, n in zip(result, nexts)]


def shared_prefix_groups(prompts: Sequence[Sequence[int]], min_shared: int
                         ) -> list[tuple[int, list[int]]]:
    """Rows of a batch that share a long prefix: ``(prefix length, rows)`` per group.

    Prompts are compared in lexicographic order; neighbours whose common prefix is at least
    ``min_shared`` tokens join one group, whose prefix is the common prefix of all its
    members, less one token when it is a whole prompt (every row keeps a token of its own,
    the position its first answer token is read from). Rows in no group are singletons
    ``(0, [row])``.
    """
    order = sorted(range(len(prompts)), key=lambda r: tuple(prompts[r]))
    groups: list[tuple[int, list[int]]] = []
    for r in order:
        if groups and min_shared > 0:
            plen, rows = groups[-1]
            prev = prompts[rows[-1]]
            common = _common_length(prev, prompts[r])
            shared = min(common, plen) if len(rows) > 1 else common
            if shared >= min_shared:
                groups[-1] = (shared, rows + [r])
                continue
        groups.append((0, [r]))
    out = []
    for plen, rows in groups:
        shortest = min(len(prompts[r]) for r in rows)
        out.append((min(plen, shortest - 1) if len(rows) > 1 else 0, rows))
    return out


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def encode_prompts(kern: Kernel, prompts: list[list[int]]) -> tuple[Any, list[tuple[Any, Any]],
                                                                    Any, Any, bool]:
    """One forward pass over a batch of prompts, or two when prompts share a prefix.

    Returns the log-softmax at each prompt's last position, the key/value cache per layer,
    the attention mask over the cache (1 = a prompt token), each prompt's token count and
    whether any row is padded. Plain path: the prompts left-padded into one pass, with
    explicit position ids so a padded prompt reads exactly as unpadded. Shared path (the
    idea of vLLM's automatic prefix caching, within a batch): each group's common prefix
    (:func:`shared_prefix_groups`, e.g. one user's system message and history under
    different stated profiles) is encoded once, its cache copied to the group's rows, and
    only each row's own suffix encoded on it. The mask then has a hole between prefix and
    suffix padding; positions count real tokens only, so every prompt reads as unpadded and
    its scores equal the plain path's up to float rounding.
    """
    import torch
    from transformers import DynamicCache

    dev = kern.device
    groups = shared_prefix_groups(prompts, kern.min_shared) if kern.min_shared else []
    if not any(plen > 0 for plen, _ in groups) or min(len(p) for p in prompts) < 2:
        width = max(len(p) for p in prompts)
        lens = torch.tensor([len(p) for p in prompts], dtype=torch.long)
        ids, mask = left_pad(prompts, kern.pad_id)
        padded = bool((lens < width).any())
        extra: dict[str, Any] = {}
        if padded:  # a padded prompt reads as unpadded: masked pads, positions from 0
            extra = {"attention_mask": mask.to(dev),
                     "position_ids": (mask.cumsum(-1) - 1).clamp(min=0).to(dev)}
        outputs = kern.model(input_ids=ids.to(dev), use_cache=True, **extra, **kern.last_only)
        first_lp = torch.log_softmax(outputs.logits[:, -1, :].float(), dim=-1)
        cache = getattr(outputs, "cache", None) or outputs.past_key_values
        return first_lp, [(layer.keys, layer.values) for layer in cache.layers], mask, lens, \
            padded
    # a group's prefix (a singleton's: its first token), then every row's own suffix
    owner = [0] * len(prompts)
    heads, tails = [], [[] for _ in prompts]
    for g, (plen, rows) in enumerate(groups):
        cut = plen if len(rows) > 1 else len(prompts[rows[0]]) - 1  # >= 1, < every length
        heads.append(list(prompts[rows[0]][:cut]))
        for r in rows:
            owner[r] = g
            tails[r] = list(prompts[r][cut:])
    hid, hmask = left_pad(heads, kern.pad_id)
    hpos = (hmask.cumsum(-1) - 1).clamp(min=0)
    out = kern.model(input_ids=hid.to(dev), attention_mask=hmask.to(dev),
                     position_ids=hpos.to(dev), use_cache=True, **kern.last_only)
    cache = getattr(out, "cache", None) or out.past_key_values
    rows_t = torch.tensor(owner, dtype=torch.long, device=dev)
    kv = [(layer.keys.index_select(0, rows_t), layer.values.index_select(0, rows_t))
          for layer in cache.layers]
    del out, cache
    tid, tmask = left_pad(tails, kern.pad_id)
    mask = torch.cat([hmask[owner], tmask], dim=1)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, hid.shape[1]:]
    out = kern.model(input_ids=tid.to(dev), attention_mask=mask.to(dev),
                     position_ids=pos.to(dev), use_cache=True,
                     **{kern.cache_kwarg: DynamicCache(ddp_cache_data=kv,
                                                       config=kern.model.config)},
                     **kern.last_only)
    first_lp = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
    cache = getattr(out, "cache", None) or out.past_key_values
    lens = mask.sum(-1)
    return first_lp, [(layer.keys, layer.values) for layer in cache.layers], mask, lens, True


def score_packed(kern: Kernel, kv: list[tuple[Any, Any]], mask: Any, lens: Any,
                 conts: list[list[list[int]]], vocab: int, result: list[np.ndarray],
                 next_tokens: Sequence[int] = (),
                 nexts: list[np.ndarray] | None = None) -> None:
    """Every title's tokens after the first, packed per request, on the prompt cache.

    Title ``c`` of request ``r`` sits at positions ``len(prompt_r) + j`` and attends to
    the (unpadded) prompt and to its own earlier tokens only, so each title is scored as
    if it were alone after the prompt. Titles are spread over passes so that one pass
    holds at most ``kern.logit_budget`` logit entries and ``kern.packed_length`` tokens per
    row. With ``next_tokens`` each title's last token is fed in too and the log-probabilities
    of those tokens after it are written to ``nexts``.
    """
    import torch
    from transformers import DynamicCache

    dev = kern.device
    n, width = mask.shape
    per_pass = max(1, min(kern.packed_length,
                          int(kern.logit_budget) // max(1, n * vocab)))
    # passes[p][r]: the (c, tokens) of row r scored in pass p
    passes: list[list[list[tuple[int, list[int]]]]] = []
    extra = 1 if nexts is not None else 0  # feed the last token too, to read what follows
    for r, rows in enumerate(conts):
        p, used = 0, 0
        for c, tok in enumerate(rows):
            m = len(tok) - 1 + extra
            if m < 1:
                continue
            if used and used + m > per_pass:
                p, used = p + 1, 0
            while len(passes) <= p:
                passes.append([[] for _ in range(n)])
            passes[p][r].append((c, tok))
            used += m
    lens_np = lens.numpy()
    prompt_ok = mask.bool()[:, None, None, :]  # (n, 1, 1, width)
    float_mask = kern.model.config._attn_implementation == "eager"
    mdtype = next(kern.model.parameters()).dtype
    for layout in passes:
        size = max(sum(len(t) - 1 + extra for _, t in row) for row in layout)
        inp = np.full((n, size), kern.pad_id, dtype=np.int64)
        tgt = np.zeros((n, size), dtype=np.int64)
        pos = np.repeat(lens_np[:, None], size, axis=1)
        seg = np.full((n, size), -1, dtype=np.int64)
        scored = np.zeros((n, size), dtype=bool)  # positions whose target is a title token
        owner_r, owner_c, last = [], [], []
        for r, row in enumerate(layout):
            at = 0
            for c, tok in row:
                m = len(tok) - 1 + extra
                inp[r, at:at + m] = tok[:m]
                tgt[r, at:at + len(tok) - 1] = tok[1:]
                scored[r, at:at + len(tok) - 1] = True
                pos[r, at:at + m] += np.arange(m)
                seg[r, at:at + m] = len(owner_r)
                owner_r.append(r)
                owner_c.append(c)
                last.append((r, at + m - 1))
                at += m
        seg_t = torch.from_numpy(seg)
        order = torch.arange(size)
        # a title token sees earlier tokens of its own title; padding sees only itself
        own = (seg_t[:, :, None] == seg_t[:, None, :]) & (order[None, :, None]
                                                          >= order[None, None, :])
        own &= (seg_t[:, :, None] >= 0) | (order[None, :, None] == order[None, None, :])
        allowed = torch.cat([prompt_ok.expand(n, 1, size, width), own[:, None]], dim=-1)
        if float_mask:
            att = torch.zeros(allowed.shape, dtype=mdtype).masked_fill_(
                ~allowed, torch.finfo(mdtype).min)
        else:
            att = allowed
        cache = DynamicCache(ddp_cache_data=kv, config=kern.model.config)
        logits = kern.model(input_ids=torch.from_numpy(inp).to(dev),
                            position_ids=torch.from_numpy(pos).to(dev),
                            attention_mask=att.to(dev), use_cache=True,
                            **{kern.cache_kwarg: cache}).logits
        full = torch.log_softmax(logits.float(), dim=-1)
        lp = full.gather(-1, torch.from_numpy(tgt).to(dev)[..., None])[..., 0].cpu().numpy()
        del cache, logits
        sums = np.bincount(seg[scored], weights=lp[scored], minlength=len(owner_r))
        for r, c, value in zip(owner_r, owner_c, sums):
            result[r][c] += float(value)
        if nexts is not None:
            at = torch.tensor(last, dtype=torch.long, device=dev)
            got = full[at[:, 0], at[:, 1]][:, list(next_tokens)].cpu().numpy()
            for r, c, values in zip(owner_r, owner_c, got):
                nexts[r][c] = values
        del full


def score_expanded(kern: Kernel, kv: list[tuple[Any, Any]], mask: Any, lens: Any,
                   padded: bool, conts: list[list[list[int]]], vocab: int, row_bytes: int,
                   result: list[np.ndarray], next_tokens: Sequence[int] = (),
                   nexts: list[np.ndarray] | None = None) -> None:
    """Fallback: the prompt cache copied once per title, titles of a length together
    (``next_tokens`` / ``nexts`` as in :func:`score_packed`)."""
    import torch
    from transformers import DynamicCache

    dev = kern.device
    feed = 1 if nexts is not None else 0  # feed the last token too, to read what follows
    rest = sorted(((r, c) for r, rows in enumerate(conts) for c, tok in enumerate(rows)
                   if len(tok) - 1 + feed >= 1), key=lambda rc: len(conts[rc[0]][rc[1]]))
    for chunk in title_chunks(rest, conts, vocab, row_bytes, kern.logit_budget,
                               kern.cache_budget):
        tlens = np.array([len(conts[r][c]) for r, c in chunk])
        tmax = int(tlens.max())
        width = tmax - 1 + feed  # input positions
        toks = np.full((len(chunk), tmax + 1), kern.pad_id, dtype=np.int64)
        for q, (r, c) in enumerate(chunk):
            toks[q, :tlens[q]] = conts[r][c]
        toks_t = torch.from_numpy(toks).to(dev)
        rows = torch.tensor([r for r, _ in chunk], dtype=torch.long)
        idx = rows.to(dev)
        sub = DynamicCache(ddp_cache_data=[(k.index_select(0, idx), v.index_select(0, idx))
                                           for k, v in kv], config=kern.model.config)
        pos = lens[rows][:, None] + torch.arange(width)
        extra = {}
        if padded:
            extra["attention_mask"] = torch.cat(
                [mask[rows], torch.ones((len(chunk), width), dtype=torch.long)], 1).to(dev)
        logits = kern.model(input_ids=toks_t[:, :width], position_ids=pos.to(dev),
                            use_cache=True, **extra, **{kern.cache_kwarg: sub}).logits
        full = torch.log_softmax(logits.float(), dim=-1)
        lp = full.gather(-1, toks_t[:, 1:width + 1, None])[..., 0]
        valid = torch.arange(width, device=dev)[None, :] < torch.as_tensor(
            tlens - 1, device=dev)[:, None]
        sums = torch.where(valid, lp, torch.zeros((), device=dev)).sum(-1).cpu().numpy()
        if nexts is not None:
            at = torch.as_tensor(tlens - 1, device=dev)
            got = full[torch.arange(len(chunk), device=dev), at][:, list(next_tokens)]
            for q, (r, c) in enumerate(chunk):
                nexts[r][c] = got[q].cpu().numpy()
        del sub, logits, lp, full
        for q, (r, c) in enumerate(chunk):
            result[r][c] += float(sums[q])


def title_chunks(rows: list[tuple[int, int]], conts: list[list[list[int]]], vocab: int,
                 row_bytes: int, logit_budget: float,
                 cache_budget: float) -> Iterable[list[tuple[int, int]]]:
    """Consecutive runs of ``rows`` (sorted by title length) within both budgets."""
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows):
            r, c = rows[end]
            m = end - start + 1
            if (m * (len(conts[r][c]) - 1) * vocab > logit_budget
                    or m * row_bytes > cache_budget):
                break
            end += 1
        yield rows[start:end]
        start = end
