"""``HFRecommender``: any transformers causal language model as a recommender under test.

Candidates are scored by the summed token log-probability of their title (plus the
template's end marker) given the rendered prompt, optionally divided by the token count.
Scoring encodes each prompt once and re-uses its key/value cache for every candidate title
of that request (the cache is expanded over the batch of titles). Requests are batched by
prompt length and titles by token length, so nothing is padded and a score does not depend
on what else is in the batch (up to float rounding of different matrix shapes, ~1e-6).
Free generation (``mode="generate"``) maps generated titles back to the catalog and counts
unmatched outputs as hallucinations.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import RequestError
from ._templates import PromptTemplate, normalize_title
from ._types import BaseRecommender, GradientHandle, Ranking, Request, stable_hash

Mode = Literal["score", "generate"]

#: Logit entries (rows x tokens x vocabulary) materialised at once while scoring titles.
_LOGIT_BUDGET = 48_000_000
#: Bytes of expanded key/value cache materialised at once while scoring titles.
_CACHE_BUDGET = 256 * 2**20


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' own progress bars (weight loading/saving) for a moment."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _hash_files(folder: Path) -> str:
    """sha256 over the weight files of a model folder (content, streamed)."""
    files = sorted(p for p in folder.iterdir()
                   if p.suffix in {".safetensors", ".bin", ".pt", ".pth"} and p.is_file())
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _hash_parameters(model: Any) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=__import__(
            "torch").uint8).numpy().tobytes())
    return h.hexdigest()[:16]


class HFRecommender(BaseRecommender):
    """A transformers causal LM that recommends by scoring or generating item titles.

    Parameters
    ----------
    path_or_model : str, Path or (model, tokenizer)
        A local model folder (``AutoModelForCausalLM.from_pretrained``), or a loaded model and
        its tokenizer.
    data : AuditDataset
        The catalog: item ids and titles.
    template : PromptTemplate
        How requests become prompts and how answers are read.
    length_normalize : bool
        Divide each title's log-probability by its token count.
    batch_size : int
        Prompts encoded per forward pass.
    device : str
        Torch device.
    mode : {"score", "generate"}
        ``rank`` by scoring candidates (or the whole catalog), or by free generation.
    exclude_history : bool
        Drop the user's history items from whole-catalog rankings.
    num_beams : int or None
        Beams for ``mode="generate"`` (default: ``k``; at least ``k`` sequences are returned).
    recipe : callable, optional
        ``recipe(data, seed=, sample_weight=) -> HFRecommender`` trains a new model of this
        kind; adds the ``train`` capability (``train_tiny_lm`` attaches one).

    Examples
    --------
    >>> import recaudit as ra                                      # doctest: +SKIP
    >>> data = ra.datasets.synthetic(seed=0)                       # doctest: +SKIP
    >>> lm = ra.models.HFRecommender("path/to/gpt2", data)         # doctest: +SKIP
    >>> lm.rank([data.request("u0000")], k=10)[0].items            # doctest: +SKIP
    """

    def __init__(self, path_or_model: Any, data: Any, template: PromptTemplate | None = None,
                 *, length_normalize: bool = False, batch_size: int = 64, device: str = "cpu",
                 mode: Mode = "score", exclude_history: bool = True,
                 num_beams: int | None = None,
                 recipe: Callable[..., HFRecommender] | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if mode not in ("score", "generate"):
            raise ValueError(f"mode must be 'score' or 'generate', got {mode!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data = data
        self.template = template if template is not None else PromptTemplate()
        self.length_normalize = bool(length_normalize)
        self.batch_size = int(batch_size)
        self.device = device
        self.mode = mode
        self.exclude_history = bool(exclude_history)
        self.num_beams = num_beams
        self.recipe = recipe
        if isinstance(path_or_model, (str, os.PathLike)):
            folder = Path(path_or_model)
            if not (folder / "config.json").exists():
                raise FileNotFoundError(
                    f"{folder} is not a transformers model folder (no config.json); pass a "
                    "local folder or a (model, tokenizer) pair")
            self.path: Path | None = folder
            with quiet_transformers():
                self.model = AutoModelForCausalLM.from_pretrained(folder)
                self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self._weights_hash = _hash_files(folder)
        else:
            try:
                model, tokenizer = path_or_model
            except (TypeError, ValueError):
                raise TypeError("path_or_model must be a folder path or a (model, tokenizer) "
                                f"pair, got {type(path_or_model).__name__}") from None
            self.path = None
            self.model, self.tokenizer = model, tokenizer
            self._weights_hash = _hash_parameters(model)
        self.model.to(device)
        self.model.eval()
        self._torch = torch
        self._pad_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                        else self.tokenizer.eos_token_id)
        if self._pad_id is None:
            self._pad_id = 0
        self._token_cache: dict[str, list[int]] = {}
        # transformers >= 5.2x renamed ``past_key_values`` to ``cache``
        params = inspect.signature(self.model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self._catalog_ids = tuple(data.item_ids)
        self._by_title: dict[str, str] = {}
        self._by_norm: dict[str, str] = {}
        for item, title in data.titles.items():
            self._by_title.setdefault(title, item)
            self._by_norm.setdefault(normalize_title(title), item)
        self._fingerprint: str | None = None
        self._genres = dict(zip(data.items["item_id"], data.items["genres"]))

    # ------------------------------------------------------------------ protocol
    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        caps = {"rank", "score", "nll", "prompt", "gradients"}
        if self.recipe is not None:
            caps.add("train")
        return frozenset(caps)

    def fingerprint(self) -> str:
        """Weights (file or parameter hash) + template + scoring options + catalog titles."""
        if self._fingerprint is None:
            self._fingerprint = "HFRecommender-" + stable_hash(
                self._weights_hash, self.template.fingerprint(), self.length_normalize,
                self.mode, self.exclude_history, self.num_beams,
                stable_hash(sorted(self.data.titles.items())))
        return self._fingerprint

    def render(self, request: Request) -> str:
        return self.template.render(request, self.data.titles, self._genres)

    def gradient_handle(self) -> GradientHandle:
        return GradientHandle(self.model, self.model.get_input_embeddings(), self.tokenizer)

    def fit(self, data: Any, sample_weight: Any = None, seed: int = 0) -> HFRecommender:
        if self.recipe is None:
            raise self._missing("train")
        return self.recipe(data, seed=seed, sample_weight=sample_weight)

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        """Log-probability score of each candidate title (higher is better), in order."""
        for r in requests:
            if r.candidates is None:
                raise RequestError(f"score() needs request.candidates (user {r.user_id!r}); "
                                   "use rank() to rank the whole catalog")
        self._check_items(requests, [r.candidates for r in requests])
        return self._score(requests, [list(r.candidates) for r in requests])

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        """Negative summed log-probability of each target's title (plus end marker)."""
        if len(requests) != len(targets):
            raise RequestError(f"{len(requests)} requests but {len(targets)} targets")
        targets = [str(t) for t in targets]
        self._check_items(requests, [(t,) for t in targets])
        lp = self._score(requests, [[t] for t in targets], normalize=False)
        return -np.array([x[0] for x in lp], dtype=float)

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        if k < 1:
            raise RequestError(f"k must be >= 1, got {k}")
        if self.mode == "generate":
            return self._generate(requests, k)
        pools = [self.pool(r) for r in requests]
        self._check_items(requests, pools)
        scores = self._score(requests, pools)
        out = []
        for pool, s in zip(pools, scores):
            order = np.argsort(-s, kind="stable")[:k]
            out.append(Ranking(tuple(pool[i] for i in order), tuple(s[order])))
        return out

    def pool(self, request: Request) -> list[str]:
        """The items ``rank`` orders: the candidates, else the catalog (minus history)."""
        if request.candidates is not None:
            return list(request.candidates)
        if self.exclude_history:
            seen = set(request.history)
            return [i for i in self._catalog_ids if i not in seen]
        return list(self._catalog_ids)

    # ------------------------------------------------------------------ scoring
    def _check_items(self, requests: Sequence[Request], pools: Sequence[Sequence[str]]) -> None:
        titles = self.data.titles
        for r, pool in zip(requests, pools):
            text = r.item_text_dict
            unknown = [i for i in pool if i not in titles and i not in text]
            if unknown:
                raise RequestError(f"unknown item id(s) {unknown[:5]} for user {r.user_id!r}: "
                                   "not in the catalog and no item_text override")

    def _encode(self, text: str) -> list[int]:
        ids = self._token_cache.get(text)
        if ids is None:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(self._token_cache) < 200_000:
                self._token_cache[text] = ids
        return ids

    def _score(self, requests: Sequence[Request], pools: Sequence[Sequence[str]],
               normalize: bool | None = None) -> list[np.ndarray]:
        """Summed (or normalised) log p(continuation | prompt) for every (request, item).

        Requests are grouped by prompt length and titles by token length, so no sequence is
        ever padded: a score does not depend on what else is in the batch.
        """
        normalize = self.length_normalize if normalize is None else normalize
        prompts = [self._encode(self.render(r)) or [self._pad_id] for r in requests]
        conts = [[self._encode(self.template.continuation(
            self.template.title(i, r, self.data.titles))) for i in pool]
            for r, pool in zip(requests, pools)]
        out: list[np.ndarray] = [np.zeros(len(p)) for p in pools]
        by_length: dict[int, list[int]] = {}
        for n, p in enumerate(prompts):
            by_length.setdefault(len(p), []).append(n)
        with self._torch.inference_mode():
            for length in sorted(by_length):
                group = by_length[length]
                for start in range(0, len(group), self.batch_size):
                    part = group[start:start + self.batch_size]
                    sums = self._score_group([prompts[n] for n in part],
                                             [conts[n] for n in part])
                    for n, s in zip(part, sums):
                        if normalize:
                            s = s / np.maximum(1, [len(c) for c in conts[n]])
                        out[n] = s
        return out

    def _score_group(self, prompts: list[list[int]],
                     conts: list[list[list[int]]]) -> list[np.ndarray]:
        """Prompts of equal length: encode once, then every title on the expanded cache."""
        torch = self._torch
        from transformers import DynamicCache

        dev = self.device
        plen = len(prompts[0])
        ids = torch.tensor(prompts, dtype=torch.long, device=dev)
        outputs = self.model(input_ids=ids, use_cache=True)
        first_lp = torch.log_softmax(outputs.logits[:, -1, :].float(), dim=-1).cpu().numpy()
        cache = getattr(outputs, "cache", None) or outputs.past_key_values
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        vocab = int(first_lp.shape[-1])
        # bytes of one request's cache: every title row gets its own copy
        row_bytes = sum(k[0].numel() * k.element_size() * 2 for k, _ in kv)

        result = [np.zeros(len(c)) for c in conts]
        by_len: dict[int, list[tuple[int, int]]] = {}
        for r, rows in enumerate(conts):
            for c, tok in enumerate(rows):
                result[r][c] = float(first_lp[r, tok[0]]) if tok else 0.0
                if len(tok) > 1:
                    by_len.setdefault(len(tok), []).append((r, c))
        for tlen, rows in sorted(by_len.items()):
            width = max(1, min(_LOGIT_BUDGET // ((tlen - 1) * vocab),
                               _CACHE_BUDGET // max(1, row_bytes)))
            for start in range(0, len(rows), width):
                chunk = rows[start:start + width]
                toks = torch.tensor([conts[r][c] for r, c in chunk], dtype=torch.long)
                idx = torch.tensor([r for r, _ in chunk], device=dev)
                sub = DynamicCache(ddp_cache_data=[(k.index_select(0, idx),
                                                    v.index_select(0, idx)) for k, v in kv],
                                   config=self.model.config)
                pos = torch.arange(plen, plen + tlen - 1, device=dev).expand(len(chunk), -1)
                logits = self.model(input_ids=toks[:, :-1].to(dev), position_ids=pos,
                                    use_cache=True, **{self._cache_kwarg: sub}).logits
                lp = torch.log_softmax(logits.float(), dim=-1)
                lp = lp.gather(-1, toks[:, 1:].to(dev)[..., None])[..., 0].sum(-1).cpu().numpy()
                for n, (r, c) in enumerate(chunk):
                    result[r][c] += float(lp[n])
        return result

    # ------------------------------------------------------------------ generation
    def match_title(self, text: str) -> str | None:
        """Catalog item for a generated title: exact, then case/whitespace-normalised match."""
        if text in self._by_title:
            return self._by_title[text]
        return self._by_norm.get(normalize_title(text))

    def _generate(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        torch = self._torch
        end_ids = self._encode(self.template.end_marker)
        eos = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        if len(end_ids) == 1:
            eos.append(end_ids[0])
        longest = max(len(self._encode(self.template.continuation(t)))
                      for t in self.data.titles.values())
        beams = max(k, self.num_beams or k)
        out: list[Ranking] = []
        with torch.inference_mode():
            for start in range(0, len(requests), self.batch_size):
                chunk = requests[start:start + self.batch_size]
                prompts = [self._encode(self.render(r)) for r in chunk]
                plen = max(len(p) for p in prompts)
                ids = torch.full((len(chunk), plen), self._pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), plen), dtype=torch.long)
                for n, p in enumerate(prompts):
                    ids[n, plen - len(p):] = torch.tensor(p, dtype=torch.long)
                    mask[n, plen - len(p):] = 1
                gen = self.model.generate(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                    max_new_tokens=longest + 2, num_beams=beams, num_return_sequences=beams,
                    do_sample=False, eos_token_id=eos or None, pad_token_id=self._pad_id,
                    output_scores=True, return_dict_in_generate=True)
                seqs = gen.sequences[:, plen:].cpu()
                seq_scores = (gen.sequences_scores.cpu().numpy()
                              if getattr(gen, "sequences_scores", None) is not None
                              else np.zeros(len(seqs)))
                for n, req in enumerate(chunk):
                    items, scores, missed, raw = [], [], 0, []
                    allowed = set(req.candidates) if req.candidates is not None else None
                    seen = set(req.history) if (self.exclude_history and allowed is None) \
                        else set()
                    for b in range(beams):
                        text = self.tokenizer.decode(seqs[n * beams + b],
                                                     skip_special_tokens=True)
                        title = self.template.parse(text)
                        raw.append(title)
                        item = self.match_title(title)
                        if item is None or (allowed is not None and item not in allowed):
                            missed += 1
                        elif item not in items and item not in seen:
                            items.append(item)
                            scores.append(float(seq_scores[n * beams + b]))
                    out.append(Ranking(tuple(items[:k]), tuple(scores[:k]), hallucinated=missed,
                                       raw="\n".join(raw)))
        return out

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else type(self.model).__name__
        return (f"HFRecommender({where!r}, mode={self.mode!r}, "
                f"length_normalize={self.length_normalize})")
