"""``HFRecommender``: any transformers causal language model as a recommender under test.

Candidates are scored by the summed token log-probability of their title (plus the
template's end marker) given the rendered prompt, optionally divided by the token count.
Scoring encodes a batch of prompts in one forward pass (left-padded to the longest, with an
attention mask and explicit position ids, so a padded prompt reads exactly as unpadded), then
scores every candidate title of every request in one more pass on the prompts' key/value
cache: the titles of a request are packed side by side after its prompt, each at the
positions right after the prompt, with a 4-D attention mask that lets a title token see the
prompt and the earlier tokens of its own title only (shared-prefix "tree" attention). Models
whose attention takes no custom 4-D mask (e.g. flash-attention kernels) fall back to copying
the prompt cache once per title. A score therefore does not depend on what else is in the
batch, up to float rounding of different matrix shapes (~1e-6 in float32).

The model runs on ``device`` (``None``/``"auto"``: the first CUDA GPU when there is one) in
``dtype``; the batch size backs off (halves and retries) on out-of-memory errors and remembers
the size that fitted. Free generation (``mode="generate"``) maps generated titles back to the
catalog (:class:`~._matching.CatalogMatcher`, the rule the chat adapter and explanations
share) and counts unmatched outputs as hallucinations.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import RequestError
from ._matching import CatalogMatcher
from ._templates import PromptTemplate
from ..contract import BaseRecommender, GradientHandle, Ranking, Request, stable_hash

Mode = Literal["score", "generate"]

#: Logit entries (rows x tokens x vocabulary) materialised at once while scoring titles.
_LOGIT_BUDGET = 48_000_000
#: Most title tokens packed into one row of one pass. Attention in a pass costs about
#: rows x length x (prompt + length) although each title token sees only the prompt and its
#: own title. Whole-catalog ranking with the tiny LM on MovieLens-100K (2,588 title tokens
#: after the first per request, batches of 16; fastest of 5 interleaved runs): rows of 732
#: (the logit budget alone) 76.8 ms per request, 128: 49.9, 64: 43.5, 32: 39.0.
_PACKED_LENGTH = 32
#: Bytes of expanded key/value cache materialised at once while scoring titles.
_CACHE_BUDGET = 256 * 2**20
#: Starting batch size for ``batch_size="auto"`` (backs off on out-of-memory errors). On a
#: CPU, bigger batches spill the caches: with the tiny LM on one thread, 16 prompts x 20
#: candidates score 1.6x faster than one request at a time, 64 only 1.1x.
_AUTO_BATCH = {"cpu": 16, "accelerator": 256}
#: Accepted ``dtype`` names.
_DTYPES = {"float32": "float32", "fp32": "float32", "float": "float32",
           "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16", "half": "float16"}


def is_out_of_memory(exc: BaseException) -> bool:
    """True for ``torch.cuda.OutOfMemoryError`` and for RuntimeErrors saying out of memory."""
    import torch

    for oom in (getattr(torch, "OutOfMemoryError", None),
                getattr(torch.cuda, "OutOfMemoryError", None)):
        if oom is not None and isinstance(exc, oom):
            return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def resolve_device(device: Any = None, model: Any = None) -> str:
    """The torch device string for ``device``.

    ``None`` keeps a given model that already sits on an accelerator there, else works like
    ``"auto"``: the first CUDA GPU when torch sees one, else Apple's MPS, else the CPU. An
    explicit device that is not available raises ``ValueError``.
    """
    import torch

    if device is None and model is not None:
        try:
            current = next(model.parameters()).device
        except (StopIteration, AttributeError, TypeError):
            current = None
        if current is not None and current.type != "cpu":
            return str(current)
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be None, 'auto', 'cpu', 'cuda', 'cuda:N' or another "
                         f"torch device, got {device!r}") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU "
                             "(torch.cuda.is_available() is False: a CPU-only torch build or "
                             "no GPU); use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but torch sees only "
                             f"{torch.cuda.device_count()} CUDA GPU(s)")
    return str(dev)


def resolve_dtype(dtype: Any) -> Any:
    """``None`` (keep the model's dtype) or the torch dtype named by ``dtype``."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = _DTYPES.get(str(dtype).replace("torch.", "").lower())
    if name is None:
        raise ValueError(f"dtype must be None, 'float32', 'bfloat16' or 'float16', got {dtype!r}")
    return getattr(torch, name)


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
    batch_size : int or "auto"
        Prompts encoded per forward pass at most ("auto": 16 on the CPU, 256 on a GPU). On an
        out-of-memory error (``torch.cuda.OutOfMemoryError``, or a RuntimeError saying out of
        memory) the batch and the title chunks are halved and the batch is retried; the size
        that fitted is kept for later calls (``effective_batch_size``). Scores do not depend
        on it.
    device : str or None
        Torch device: ``None`` or ``"auto"`` (the first CUDA GPU if there is one, else the
        CPU; ``None`` also keeps a passed model that already sits on a GPU there), ``"cpu"``,
        ``"cuda"``, ``"cuda:1"`` ... The device is not part of :meth:`fingerprint`: the same
        weights and dtype give the same answers up to float rounding on any device.
    dtype : {None, "float32", "bfloat16", "float16"}
        Cast the model to this dtype (``None``: keep the loaded dtype). Log-probabilities are
        always computed in float32 from the logits. Lower precision changes the scores, so a
        dtype other than float32 is part of :meth:`fingerprint` (answers cached for one dtype
        are never served for another). GPT-2's ``gelu_new`` modules are swapped for the same
        formula as one fused kernel (``use_fused_tanh_gelu``; scores move by float rounding
        only, < 1e-5; ``RECAUDIT_ONEDNN=0`` keeps the model as loaded).
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
                 *, length_normalize: bool = False, batch_size: int | str = "auto",
                 device: str | None = None, dtype: str | None = None,
                 mode: Mode = "score", exclude_history: bool = True,
                 num_beams: int | None = None,
                 recipe: Callable[..., HFRecommender] | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if mode not in ("score", "generate"):
            raise ValueError(f"mode must be 'score' or 'generate', got {mode!r}")
        if batch_size != "auto" and (isinstance(batch_size, (bool, str))
                                     or int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f"batch_size must be an integer >= 1 or 'auto', got {batch_size!r}")
        torch_dtype = resolve_dtype(dtype)
        self.data = data
        self.template = template if template is not None else PromptTemplate()
        self.length_normalize = bool(length_normalize)
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
            load = {} if torch_dtype is None else {"dtype": torch_dtype}
            with quiet_transformers():
                self.model = AutoModelForCausalLM.from_pretrained(folder, **load)
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
        self._device_request = device
        self.device = resolve_device(device, self.model)
        if torch_dtype is not None:
            self.model.to(dtype=torch_dtype)
        self.model.to(self.device)
        self.model.eval()
        from ._fast_cpu import use_fused_tanh_gelu

        use_fused_tanh_gelu(self.model)  # GPT-2's gelu_new as one kernel: same formula
        self.dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        accelerator = torch.device(self.device).type != "cpu"
        self.batch_size: int | str = batch_size if batch_size == "auto" else int(batch_size)
        self._batch_now = (_AUTO_BATCH["accelerator" if accelerator else "cpu"]
                           if batch_size == "auto" else int(batch_size))
        self._chunk_scale = 1.0  # share of the title-chunk budgets; halved on out-of-memory
        #: Out-of-memory back-offs so far (each halved the batch and retried).
        self.oom_backoffs = 0
        self._torch = torch
        self._pad_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                        else self.tokenizer.eos_token_id)
        if self._pad_id is None:
            self._pad_id = 0
        self._token_cache: dict[str, list[int]] = {}
        # transformers >= 5.2x renamed ``past_key_values`` to ``cache``
        params = inspect.signature(self.model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        # titles packed after the prompt need a custom 4-D mask (eager / SDPA attention)
        self._packed = getattr(self.model.config, "_attn_implementation", None) in (
            "eager", "sdpa") and "position_ids" in params
        # the prompt pass needs only the last position's logits
        self._last_only = ({"logits_to_keep": 1} if "logits_to_keep" in params else
                           {"num_logits_to_keep": 1} if "num_logits_to_keep" in params else {})
        self._catalog_ids = tuple(data.item_ids)
        #: Maps generated titles to catalog items (the rule every paradigm shares).
        self.matcher = CatalogMatcher(data.titles)
        self._fingerprint: str | None = None
        self._genres = dict(zip(data.items["item_id"], data.items["genres"]))

    # ------------------------------------------------------------------ protocol
    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        caps = {"rank", "score", "nll", "prompt", "gradients"}
        if self.recipe is not None:
            caps.add("train")
        return frozenset(caps)

    @property
    def effective_batch_size(self) -> int:
        """Prompts per forward pass now (after any out-of-memory back-off)."""
        return self._batch_now

    def fingerprint(self) -> str:
        """Weights (file or parameter hash) + template + scoring options + catalog titles.

        The dtype is included when it is not float32 (bf16/fp16 change the scores); the
        device and the batch size are not (they change scores only by float rounding).
        """
        if self._fingerprint is None:
            parts: list[Any] = [self._weights_hash, self.template.fingerprint(),
                                self.length_normalize, self.mode, self.exclude_history,
                                self.num_beams, stable_hash(sorted(self.data.titles.items()))]
            if self.dtype != "float32":  # float32 fingerprints stay as they always were
                parts.append(("dtype", self.dtype))
            self._fingerprint = "HFRecommender-" + stable_hash(*parts)
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

    def _batches(self, order: Sequence[int],
                 run: Callable[[list[int]], Any]) -> Iterator[tuple[list[int], Any]]:
        """``run`` over consecutive parts of ``order``, halving the batch on out-of-memory.

        The batch size that fitted is remembered (``effective_batch_size``), and the title
        chunk budgets shrink with it. The error is re-raised when even one prompt does not
        fit with the budgets at 1/4096 of their size.
        """
        torch = self._torch
        pos = 0
        while pos < len(order):
            part = list(order[pos:pos + self._batch_now])
            try:
                result = run(part)
            except Exception as exc:
                if not is_out_of_memory(exc) or (len(part) == 1 and self._chunk_scale < 2**-12):
                    raise
                del exc  # drop the traceback's references to the failed batch's tensors
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                self.oom_backoffs += 1
                self._batch_now = max(1, len(part) // 2)
                self._chunk_scale /= 2
                continue
            pos += len(part)
            yield part, result

    def _score(self, requests: Sequence[Request], pools: Sequence[Sequence[str]],
               normalize: bool | None = None) -> list[np.ndarray]:
        """Summed (or normalised) log p(continuation | prompt) for every (request, item).

        Requests whose prompts tokenize the same (the same user asked about other
        candidates, in another order, or for other targets: position bias, membership and
        memorization ask so) share one prompt pass, and a continuation repeated under one
        prompt is scored once. The distinct prompts are sorted by length (little padding)
        and scored in batches.
        """
        normalize = self.length_normalize if normalize is None else normalize
        prompts = [tuple(self._encode(self.render(r)) or [self._pad_id]) for r in requests]
        conts = [[tuple(self._encode(self.template.continuation(
            self.template.title(i, r, self.data.titles)))) for i in pool]
            for r, pool in zip(requests, pools)]
        # distinct prompts, each with its distinct continuations (dicts keep first-seen order)
        groups: dict[tuple[int, ...], dict[tuple[int, ...], int]] = {}
        for prompt, rows in zip(prompts, conts):
            seen = groups.setdefault(prompt, {})
            for c in rows:
                seen.setdefault(c, len(seen))
        unique = list(groups)
        sums: dict[tuple[int, ...], np.ndarray] = {}
        order = sorted(range(len(unique)), key=lambda n: len(unique[n]))
        with self._torch.inference_mode():
            batches = self._batches(order, lambda part: self._score_batch(
                [list(unique[n]) for n in part], [[list(c) for c in groups[unique[n]]]
                                                  for n in part]))
            for part, result in batches:
                sums.update((unique[n], values) for n, values in zip(part, result))
        out: list[np.ndarray] = []
        for prompt, rows in zip(prompts, conts):
            s = sums[prompt][[groups[prompt][c] for c in rows]] if rows else np.zeros(0)
            if normalize:
                s = s / np.maximum(1, [len(c) for c in rows])
            out.append(np.asarray(s, dtype=float))
        return out

    def _score_batch(self, prompts: list[list[int]],
                     conts: list[list[list[int]]]) -> list[np.ndarray]:
        """Encode the prompts in one left-padded pass, then the titles on their cache."""
        torch = self._torch
        dev = self.device
        n, width = len(prompts), max(len(p) for p in prompts)
        lens = torch.tensor([len(p) for p in prompts], dtype=torch.long)
        ids = torch.full((n, width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for r, p in enumerate(prompts):
            ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[r, width - len(p):] = 1
        padded = bool((lens < width).any())
        extra: dict[str, Any] = {}
        if padded:  # a padded prompt reads as unpadded: masked pads, positions from 0
            extra = {"attention_mask": mask.to(dev),
                     "position_ids": (mask.cumsum(-1) - 1).clamp(min=0).to(dev)}
        outputs = self.model(input_ids=ids.to(dev), use_cache=True, **extra, **self._last_only)
        first_lp = torch.log_softmax(outputs.logits[:, -1, :].float(), dim=-1)
        vocab = int(first_lp.shape[-1])
        cache = getattr(outputs, "cache", None) or outputs.past_key_values
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        del outputs
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
        if self._packed:
            self._score_packed(kv, mask, lens, conts, vocab, result)
        else:
            self._score_expanded(kv, mask, lens, padded, conts, vocab, row_bytes, result)
        return result

    def _score_packed(self, kv: list[tuple[Any, Any]], mask: Any, lens: Any,
                      conts: list[list[list[int]]], vocab: int,
                      result: list[np.ndarray]) -> None:
        """Every title's tokens after the first, packed per request, on the prompt cache.

        Title ``c`` of request ``r`` sits at positions ``len(prompt_r) + j`` and attends to
        the (unpadded) prompt and to its own earlier tokens only, so each title is scored as
        if it were alone after the prompt. Titles are spread over passes so that one pass
        holds at most ``_LOGIT_BUDGET`` logit entries and ``_PACKED_LENGTH`` tokens per row.
        """
        torch = self._torch
        from transformers import DynamicCache

        dev = self.device
        n, width = mask.shape
        per_pass = max(1, min(_PACKED_LENGTH,
                              int(_LOGIT_BUDGET * self._chunk_scale) // max(1, n * vocab)))
        # passes[p][r]: the (c, tokens) of row r scored in pass p
        passes: list[list[list[tuple[int, list[int]]]]] = []
        for r, rows in enumerate(conts):
            p, used = 0, 0
            for c, tok in enumerate(rows):
                if len(tok) < 2:
                    continue
                if used and used + len(tok) - 1 > per_pass:
                    p, used = p + 1, 0
                while len(passes) <= p:
                    passes.append([[] for _ in range(n)])
                passes[p][r].append((c, tok))
                used += len(tok) - 1
        lens_np = lens.numpy()
        prompt_ok = mask.bool()[:, None, None, :]  # (n, 1, 1, width)
        float_mask = self.model.config._attn_implementation == "eager"
        mdtype = next(self.model.parameters()).dtype
        for layout in passes:
            size = max(sum(len(t) - 1 for _, t in row) for row in layout)
            inp = np.full((n, size), self._pad_id, dtype=np.int64)
            tgt = np.zeros((n, size), dtype=np.int64)
            pos = np.repeat(lens_np[:, None], size, axis=1)
            seg = np.full((n, size), -1, dtype=np.int64)
            owner_r, owner_c = [], []
            for r, row in enumerate(layout):
                at = 0
                for c, tok in row:
                    m = len(tok) - 1
                    inp[r, at:at + m] = tok[:-1]
                    tgt[r, at:at + m] = tok[1:]
                    pos[r, at:at + m] += np.arange(m)
                    seg[r, at:at + m] = len(owner_r)
                    owner_r.append(r)
                    owner_c.append(c)
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
            cache = DynamicCache(ddp_cache_data=kv, config=self.model.config)
            logits = self.model(input_ids=torch.from_numpy(inp).to(dev),
                                position_ids=torch.from_numpy(pos).to(dev),
                                attention_mask=att.to(dev), use_cache=True,
                                **{self._cache_kwarg: cache}).logits
            lp = torch.log_softmax(logits.float(), dim=-1)
            lp = lp.gather(-1, torch.from_numpy(tgt).to(dev)[..., None])[..., 0].cpu().numpy()
            del cache, logits
            valid = seg >= 0
            sums = np.bincount(seg[valid], weights=lp[valid], minlength=len(owner_r))
            for r, c, value in zip(owner_r, owner_c, sums):
                result[r][c] += float(value)

    def _score_expanded(self, kv: list[tuple[Any, Any]], mask: Any, lens: Any, padded: bool,
                        conts: list[list[list[int]]], vocab: int, row_bytes: int,
                        result: list[np.ndarray]) -> None:
        """Fallback: the prompt cache copied once per title, titles of a length together."""
        torch = self._torch
        from transformers import DynamicCache

        dev = self.device
        rest = sorted(((r, c) for r, rows in enumerate(conts) for c, tok in enumerate(rows)
                       if len(tok) > 1), key=lambda rc: len(conts[rc[0]][rc[1]]))
        logit_budget = _LOGIT_BUDGET * self._chunk_scale
        cache_budget = _CACHE_BUDGET * self._chunk_scale
        for chunk in self._title_chunks(rest, conts, vocab, row_bytes, logit_budget,
                                        cache_budget):
            tlens = np.array([len(conts[r][c]) for r, c in chunk])
            tmax = int(tlens.max())
            toks = np.full((len(chunk), tmax), self._pad_id, dtype=np.int64)
            for q, (r, c) in enumerate(chunk):
                toks[q, :tlens[q]] = conts[r][c]
            toks_t = torch.from_numpy(toks).to(dev)
            rows = torch.tensor([r for r, _ in chunk], dtype=torch.long)
            idx = rows.to(dev)
            sub = DynamicCache(ddp_cache_data=[(k.index_select(0, idx), v.index_select(0, idx))
                                               for k, v in kv], config=self.model.config)
            pos = lens[rows][:, None] + torch.arange(tmax - 1)
            extra = {}
            if padded:
                extra["attention_mask"] = torch.cat(
                    [mask[rows], torch.ones((len(chunk), tmax - 1), dtype=torch.long)], 1).to(dev)
            logits = self.model(input_ids=toks_t[:, :-1], position_ids=pos.to(dev),
                                use_cache=True, **extra, **{self._cache_kwarg: sub}).logits
            lp = torch.log_softmax(logits.float(), dim=-1)
            lp = lp.gather(-1, toks_t[:, 1:, None])[..., 0]
            valid = torch.arange(tmax - 1, device=dev)[None, :] < torch.as_tensor(
                tlens - 1, device=dev)[:, None]
            sums = torch.where(valid, lp, torch.zeros((), device=dev)).sum(-1).cpu().numpy()
            del sub, logits, lp
            for q, (r, c) in enumerate(chunk):
                result[r][c] += float(sums[q])

    @staticmethod
    def _title_chunks(rows: list[tuple[int, int]], conts: list[list[list[int]]], vocab: int,
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

    # ------------------------------------------------------------------ generation
    def match_title(self, text: str) -> str | None:
        """Catalog item for a generated title (:class:`~._matching.CatalogMatcher`: exact,
        folded or normalised, fuzzy), or ``None``: a hallucination."""
        return self.matcher.match(text)

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
            batches = self._batches(range(len(requests)), lambda part: self._generate_batch(
                [requests[n] for n in part], k, beams, longest, eos))
            for _, rankings in batches:
                out.extend(rankings)
        return out

    def _generate_batch(self, chunk: list[Request], k: int, beams: int, longest: int,
                        eos: list[int]) -> list[Ranking]:
        torch = self._torch
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
        seq_scores = (gen.sequences_scores.float().cpu().numpy()
                      if getattr(gen, "sequences_scores", None) is not None
                      else np.zeros(len(seqs)))
        out = []
        for n, req in enumerate(chunk):
            items, scores, missed, raw = [], [], 0, []
            allowed = set(req.candidates) if req.candidates is not None else None
            seen = set(req.history) if (self.exclude_history and allowed is None) else set()
            for b in range(beams):
                text = self.tokenizer.decode(seqs[n * beams + b], skip_special_tokens=True)
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

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """A model loaded from a folder pickles as that folder, not as its weights.

        Executors that ship the model to workers (Ray actors) then send a few kilobytes, and
        each worker loads the weights itself, onto its own device when the device was left to
        choose (``None`` or ``"auto"``). A model given as a ``(model, tokenizer)`` pair pickles
        whole.
        """
        state = self.__dict__.copy()
        state.pop("_torch", None)
        if self.path is not None:
            state["model"] = state["tokenizer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import torch

        self.__dict__.update(state)
        self._torch = torch
        if self.model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = self.path
        if not (folder / "config.json").exists() or _hash_files(folder) != self._weights_hash:
            raise FileNotFoundError(
                f"cannot load the pickled HFRecommender here: {folder} is missing or holds "
                "other weights than the model that was pickled (give every worker the same "
                "model folder)")
        with quiet_transformers():  # the same dtype as the pickled model's
            self.model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=resolve_dtype(self.dtype))
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
        if self._device_request in (None, "auto"):
            self.device = resolve_device("auto")
            if self.batch_size == "auto":
                accelerator = torch.device(self.device).type != "cpu"
                self._batch_now = _AUTO_BATCH["accelerator" if accelerator else "cpu"]
        self.model.to(self.device)
        self.model.eval()

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else type(self.model).__name__
        return (f"HFRecommender({where!r}, mode={self.mode!r}, "
                f"length_normalize={self.length_normalize}, device={self.device!r}, "
                f"dtype={self.dtype!r})")
