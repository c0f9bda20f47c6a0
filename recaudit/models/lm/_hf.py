"""``HFRecommender``: any transformers causal language model as a recommender under test.

Candidates are scored by the summed token log-probability of their title (plus the
template's end marker) given the rendered prompt, optionally divided by the token count.
This class loads the model, identifies it (:meth:`HFRecommender.fingerprint`, the engine's
cache key) and composes three modules with one job each:

- :mod:`._hf_device`: the device (``None``/``"auto"``: the first CUDA GPU when there is one)
  and ``dtype``, and the out-of-memory back-off (the batch halves and retries; the size that
  fitted is remembered);
- :mod:`._hf_scoring`: the scoring kernels. Prompts are encoded in one left-padded forward
  pass and every candidate title of every request is scored in one more pass on the
  prompts' key/value cache (titles packed side by side with shared-prefix "tree"
  attention; models whose attention takes no custom 4-D mask copy the prompt cache once per
  title). A score does not depend on what else is in the batch, up to float rounding of
  different matrix shapes (~1e-6 in float32);
- :mod:`._hf_generate`: free generation (``mode="generate"``), mapping generated titles to
  the catalog (:class:`~._matching.CatalogMatcher`, the rule the chat adapter and
  explanations share) and counting unmatched outputs as hallucinations.
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

from ...contract import BaseRecommender, Explanation, GradientHandle, Ranking, Request, stable_hash
from ...errors import RequestError
from ..prompts import CatalogMatcher, ChatTemplate, PromptTemplate, answer_to_ranking
from ._hf_chat import ChatPrompter, cited_items, generate_greedy
from ._hf_device import _AUTO_BATCH, BatchBackoff, resolve_device, resolve_dtype
from ._hf_generate import beams_to_ranking, generate_beams, stop_ids
from ._hf_scoring import Kernel, score_batch, score_prompts

Mode = Literal["score", "generate", "auto"]
CandidateScoring = Literal["title", "label"]

# The scoring budgets (read at every call and passed to the kernels of ._hf_scoring).
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
#: Prompts of one batch that share this many leading tokens encode them once
#: (:func:`~._hf_scoring.encode_prompts`); ``RECAUDIT_PREFIX_SHARING=0`` switches it off.
_MIN_SHARED = 32


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


def _weights_identity(folder: Path) -> str:
    """A folder's weights identity: the GGUF file's sha256 for a folder converted from one
    (:mod:`._gguf`), else the hash of its weight files."""
    from ._gguf import gguf_manifest

    manifest = gguf_manifest(folder)
    if manifest is not None:
        return "gguf-" + str(manifest["sha256"])[:16]
    return _hash_files(folder)


def _leading_bos(tokenizer: Any) -> list[int]:
    """``[bos]`` when the tokenizer starts every encoded text with its BOS token (Gemma,
    Llama), so completion prompts get it too; ``[]`` otherwise (GPT-2, the tiny LM)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return []
    with_special = tokenizer("x", add_special_tokens=True)["input_ids"]
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    return [bos] if with_special == [bos, *plain] else []


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
    mode : {"score", "generate", "auto"}
        ``rank`` by scoring candidates (or the whole catalog), or by free generation;
        ``"auto"`` (chat models) generates whole-catalog lists (FaiRLLM's protocol: scoring
        1,682 titles costs ~15k tokens a user) and scores candidate lists.
    gguf_file : str, optional
        A GGUF file in the folder ``path_or_model`` (or pass the ``.gguf`` path itself):
        converted once to a transformers folder cached by content (:mod:`._gguf`); the
        fingerprint follows the file's sha256.
    chat_template : str, ChatTemplate or mapping, optional
        Prompt an instruction model through its tokenizer's chat template with these
        messages (``"default"``, ``"fairllm"``, ``"llmrank"``, a :class:`ChatTemplate`, or
        ``{name: ..., profile_position: last}``): the messages ``ChatRecommender`` sends.
        ``None``: the completion template (base models).
    candidate_scoring : {"title", "label"}
        Score a candidate by its title as the answer's first entry, or (chat models) by its
        list label at the first answer position (after FIRST, :mod:`._hf_chat`).
    prompt_k : int
        The list length the chat prompt asks for when no ``k`` is given (``score``, ``nll``).
    max_new_tokens : int, optional
        Generation budget of a chat answer (default: k lines of a typical title).
    max_list : int
        The longest list a generated chat answer is asked for. Auditors ask ``rank`` for
        ``k`` plus the history length (to drop seen items afterwards): a list of hundreds
        of titles is neither what FaiRLLM asks (K = 20) nor affordable to generate. History
        items in a generated whole-catalog answer are dropped (``exclude_history``), as
        the score path never ranks them.
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
                 recipe: Callable[..., HFRecommender] | None = None,
                 gguf_file: str | None = None,
                 chat_template: str | ChatTemplate | None = None,
                 candidate_scoring: CandidateScoring = "title", prompt_k: int = 10,
                 max_new_tokens: int | None = None, max_list: int = 20) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if mode not in ("score", "generate", "auto"):
            raise ValueError(f"mode must be 'score', 'generate' or 'auto', got {mode!r}")
        if mode == "auto" and chat_template is None:
            raise ValueError("mode='auto' (generate whole-catalog lists, score candidate "
                             "lists) needs chat_template=: an instruction model")
        if candidate_scoring not in ("title", "label"):
            raise ValueError("candidate_scoring must be 'title' or 'label', got "
                             f"{candidate_scoring!r}")
        if candidate_scoring == "label" and chat_template is None:
            raise ValueError("candidate_scoring='label' reads the list labels of a chat "
                             "prompt: pass chat_template= (e.g. 'default')")
        if isinstance(prompt_k, bool) or int(prompt_k) != prompt_k or prompt_k < 1:
            raise ValueError(f"prompt_k must be an integer >= 1, got {prompt_k!r}")
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
        self.candidate_scoring: CandidateScoring = candidate_scoring
        self.prompt_k = int(prompt_k)
        self.max_new_tokens = max_new_tokens
        if isinstance(max_list, bool) or int(max_list) != max_list or max_list < 1:
            raise ValueError(f"max_list must be an integer >= 1, got {max_list!r}")
        self.max_list = int(max_list)
        if isinstance(path_or_model, (str, os.PathLike)):
            folder = Path(path_or_model)
            if gguf_file is not None or folder.suffix == ".gguf":
                from ._gguf import gguf_folder

                folder = gguf_folder(folder, gguf_file)
            if not (folder / "config.json").exists():
                raise FileNotFoundError(
                    f"{folder} is not a transformers model folder (no config.json); pass a "
                    "local folder or a (model, tokenizer) pair")
            self.path: Path | None = folder
            load = {} if torch_dtype is None else {"dtype": torch_dtype}
            with quiet_transformers():
                self.model = AutoModelForCausalLM.from_pretrained(folder, **load)
                self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self._weights_hash = _weights_identity(folder)
        else:
            if gguf_file is not None:
                raise TypeError("gguf_file= names a file in a folder: pass the folder as "
                                "path_or_model, not a loaded model")
            try:
                model, tokenizer = path_or_model
            except (TypeError, ValueError):
                raise TypeError("path_or_model must be a folder path or a (model, tokenizer) "
                                f"pair, got {type(path_or_model).__name__}") from None
            self.path = None
            self.model, self.tokenizer = model, tokenizer
            self._weights_hash = _hash_parameters(model)
        self.chat: ChatPrompter | None = (None if chat_template is None else
                                          ChatPrompter.build(chat_template, self.tokenizer))
        self._device_request = device
        self.device = resolve_device(device, self.model)
        if torch_dtype is not None:
            self.model.to(dtype=torch_dtype)
        self.model.to(self.device)
        self.model.eval()
        from .._fast_cpu import use_fused_tanh_gelu

        use_fused_tanh_gelu(self.model)  # GPT-2's gelu_new as one kernel: same formula
        self.dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        accelerator = torch.device(self.device).type != "cpu"
        self.batch_size: int | str = batch_size if batch_size == "auto" else int(batch_size)
        # the batch size now and the share of the title-chunk budgets; halved on out-of-memory
        self._backoff = BatchBackoff(_AUTO_BATCH["accelerator" if accelerator else "cpu"]
                                     if batch_size == "auto" else int(batch_size))
        self._torch = torch
        self._pad_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                        else self.tokenizer.eos_token_id)
        if self._pad_id is None:
            self._pad_id = 0
        self._token_cache: dict[str, list[int]] = {}
        self._title_p90: int | None = None
        self._bos = _leading_bos(self.tokenizer) if self.chat is None else []
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
        if self.chat is not None:
            caps.add("explain")
        if self.recipe is not None:
            caps.add("train")
        return frozenset(caps)

    @property
    def effective_batch_size(self) -> int:
        """Prompts per forward pass now (after any out-of-memory back-off)."""
        return self._backoff.size

    @property
    def oom_backoffs(self) -> int:
        """Out-of-memory back-offs so far (each halved the batch and retried)."""
        return self._backoff.backoffs

    @property
    def _batch_now(self) -> int:
        return self._backoff.size

    @_batch_now.setter
    def _batch_now(self, size: int) -> None:
        self._backoff.size = int(size)

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
            if self.chat is not None:  # completion-template fingerprints stay as they were
                parts.append(("chat", self.chat.template.fingerprint(),
                              stable_hash(self.tokenizer.chat_template), self.prompt_k,
                              self.candidate_scoring, self.max_new_tokens)
                             + ((("max_list", self.max_list),) if self.max_list != 20 else ()))
            if self._bos:
                parts.append(("bos", self._bos))
            self._fingerprint = "HFRecommender-" + stable_hash(*parts)
        return self._fingerprint

    def render(self, request: Request, k: int | None = None) -> str:
        """The exact text the model reads for ``request`` (up to the scored answer).

        Completion template: :meth:`PromptTemplate.render`. Chat template: the messages for
        a top-``k`` list (``k`` defaults to ``prompt_k``) through the tokenizer's chat
        template; in score mode followed by the first list number ("1."), after which each
        title is scored as the answer's first entry (``candidate_scoring="label"``: nothing
        follows, the candidate's label is scored).
        """
        if self.chat is None:
            return self.template.render(request, self.data.titles, self._genres)
        return self._chat_text(request, k, generating=self._generates(request))

    def _generates(self, request: Request) -> bool:
        """Whether :meth:`rank` answers ``request`` by generation (``mode="generate"``, or
        ``"auto"`` for a whole-catalog request)."""
        return self.mode == "generate" or (self.mode == "auto" and request.candidates is None)

    def _prompt_text(self, request: Request, k: int | None, generating: bool) -> str:
        """The prompt scored (``generating=False``) or generated from; a subclass that
        overrides :meth:`render` (few-shot demonstrations) keeps it for completion prompts."""
        if self.chat is None:
            return self.render(request)
        return self._chat_text(request, k, generating)

    def _chat_text(self, request: Request, k: int | None, generating: bool) -> str:
        prefix = ""
        if not generating and not self._by_label(request):
            prefix = self.chat.first_number(request)
        return self.chat.render(request, self.data.titles, k or self.prompt_k, prefix)

    def _by_label(self, request: Request) -> bool:
        return self.candidate_scoring == "label" and request.candidates is not None

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
        if self.mode == "auto":
            out_of: dict[int, Ranking] = {}
            gen = [n for n, r in enumerate(requests) if r.candidates is None]
            rest = [n for n, r in enumerate(requests) if r.candidates is not None]
            if gen:
                out_of.update(zip(gen, self._generate_chat([requests[n] for n in gen], k)))
            if rest:
                out_of.update(zip(rest, self._rank_scored([requests[n] for n in rest], k)))
            return [out_of[n] for n in range(len(requests))]
        return self._rank_scored(requests, k)

    def _rank_scored(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        pools = [self.pool(r) for r in requests]
        self._check_items(requests, pools)
        # only chat prompts depend on k (subclasses' _score may not take it)
        scores = (self._score(requests, pools, k=k) if self.chat is not None
                  else self._score(requests, pools))
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
               normalize: bool | None = None, k: int | None = None) -> list[np.ndarray]:
        """Summed (or normalised) log p(continuation | prompt) for every (request, item)
        (:func:`~._hf_scoring.score_prompts`: one prompt pass per distinct prompt, prompts
        sharing a long prefix such as one user's counterfactual requests computing it once).
        The continuation is the item's title, or its list label (``candidate_scoring=
        "label"``)."""
        normalize = self.length_normalize if normalize is None else normalize
        prompts = [tuple(self._bos + self._encode(self._prompt_text(r, k, generating=False))
                         or [self._pad_id]) for r in requests]
        conts = [[tuple(self._encode(c)) for c in self._continuations(r, pool)]
                 for r, pool in zip(requests, pools)]
        return score_prompts(prompts, conts, backoff=self._backoff,
                             score_batch=self._score_batch, normalize=normalize,
                             min_shared=self._min_shared())

    def _continuations(self, request: Request, pool: Sequence[str]) -> list[str]:
        """The scored text of each item in ``pool`` for ``request``."""
        if self.chat is not None and self._by_label(request):
            cands = request.candidates or ()
            labels = dict(zip(cands, self.chat.label_continuations(len(cands))))
            return [labels[i] for i in pool]
        return [self.template.continuation(self.template.title(i, request, self.data.titles))
                for i in pool]

    def _score_batch(self, prompts: list[list[int]],
                     conts: list[list[list[int]]]) -> list[np.ndarray]:
        """One batch of prompts and their titles (:func:`~._hf_scoring.score_batch`)."""
        return score_batch(self._kernel(), prompts, conts)

    def _kernel(self) -> Kernel:
        """The model and the budgets (scaled by the back-off) as the kernels take them."""
        scale = self._backoff.scale
        return Kernel(model=self.model, device=self.device, pad_id=self._pad_id,
                      cache_kwarg=self._cache_kwarg, packed=self._packed,
                      last_only=self._last_only, logit_budget=_LOGIT_BUDGET * scale,
                      cache_budget=_CACHE_BUDGET * scale, packed_length=_PACKED_LENGTH,
                      min_shared=self._min_shared())

    @staticmethod
    def _min_shared() -> int:
        """Leading tokens prompts must share to encode them once (0: sharing off)."""
        return 0 if os.environ.get("RECAUDIT_PREFIX_SHARING") == "0" else _MIN_SHARED

    # ------------------------------------------------------------------ generation
    def match_title(self, text: str) -> str | None:
        """Catalog item for a generated title (:class:`~._matching.CatalogMatcher`: exact,
        folded or normalised, fuzzy), or ``None``: a hallucination."""
        return self.matcher.match(text)

    def _generate(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        if self.chat is not None:
            return self._generate_chat(requests, k)
        eos = stop_ids(self.tokenizer, self._encode(self.template.end_marker))
        longest = max(len(self._encode(self.template.continuation(t)))
                      for t in self.data.titles.values())
        beams = max(k, self.num_beams or k)
        out: list[Ranking] = []
        with self._torch.inference_mode():
            batches = self._backoff.run(range(len(requests)), lambda part: self._generate_batch(
                [requests[n] for n in part], k, beams, longest, eos))
            for _, rankings in batches:
                out.extend(rankings)
        return out

    def _chat_budget(self, k: int) -> int:
        """New tokens for a top-``k`` list: ``max_new_tokens``, else k lines of a typical
        title (its 90th-percentile token count + 4 for the number and line break)."""
        if self.max_new_tokens is not None:
            return int(self.max_new_tokens)
        if self._title_p90 is None:  # the catalog's titles, tokenized once
            lengths = sorted(len(self._encode(" " + t)) for t in self.data.titles.values())
            self._title_p90 = lengths[int(0.9 * (len(lengths) - 1))]
        return int(k * (self._title_p90 + 4))

    def _chat_texts(self, prompts: list[list[int]], max_new_tokens: int) -> list[str]:
        """Greedy answers to tokenized chat prompts, shortest prompts batched together."""
        eos = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        order = sorted(range(len(prompts)), key=lambda n: len(prompts[n]))
        texts: list[str] = [""] * len(prompts)
        with self._torch.inference_mode():
            for part, got in self._backoff.run(order, lambda part: generate_greedy(
                    self.model, self.tokenizer, [prompts[n] for n in part],
                    device=self.device, pad_id=self._pad_id,
                    max_new_tokens=max_new_tokens, eos=eos)):
                for n, text in zip(part, got):
                    texts[n] = text
        return texts

    def _generate_chat(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        """FaiRLLM's protocol: the list generated, then read and matched to the catalog."""
        ask = min(int(k), self.max_list)
        prompts = [self._encode(self._prompt_text(r, ask, generating=True)) for r in requests]
        texts = self._chat_texts(prompts, self._chat_budget(ask))
        return [answer_to_ranking(text, r, k, self.matcher, exclude=set(r.history) if (
            self.exclude_history and r.candidates is None) else frozenset())
            for text, r in zip(texts, requests)]

    def explain(self, requests: Sequence[Request], k: int = 1) -> list[Explanation]:
        """Why the top recommendation: a short reason generated in a second chat turn.

        The request is asked as in :meth:`rank`, the top item given as the assistant's
        answer, and the model asked which movie of the history made it recommend that
        (:data:`~._hf_chat.EXPLAIN_QUESTION`); the history items the reason names are its
        citations (:func:`~._hf_chat.cited_items`; a title outside the history is cited
        as such, so the auditor counts it as unfaithful).
        """
        if self.chat is None:
            raise self._missing("explain")
        requests = list(requests)
        tops = [r.items[0] if r.items else None for r in self.rank(requests, max(1, k))]
        todo = [n for n, t in enumerate(tops) if t is not None]
        titles = self.data.titles
        prompts = [self._encode(self.chat.render_messages(self.chat.explain_messages(
            requests[n], titles, max(1, k), self.template.title(tops[n], requests[n], titles))))
            for n in todo]
        texts = self._chat_texts(prompts, 48) if prompts else []
        out = [Explanation("", "No recommendation.", ())] * len(requests)
        for n, text in zip(todo, texts):
            cited = cited_items(text, requests[n], titles, self.match_title)
            out[n] = Explanation(tops[n], text or "(no reason given)", cited)
        return out

    def _generate_batch(self, chunk: list[Request], k: int, beams: int, longest: int,
                        eos: list[int]) -> list[Ranking]:
        prompts = [self._bos + self._encode(self.render(r)) for r in chunk]
        texts, scores = generate_beams(self.model, self.tokenizer, prompts, device=self.device,
                                       pad_id=self._pad_id, beams=beams,
                                       max_new_tokens=longest + 2, eos=eos)
        return [beams_to_ranking(texts[n * beams:(n + 1) * beams],
                                 scores[n * beams:(n + 1) * beams], req, k,
                                 parse=self.template.parse, match=self.match_title,
                                 exclude_history=self.exclude_history)
                for n, req in enumerate(chunk)]

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
        if not (folder / "config.json").exists() or _weights_identity(folder) != self._weights_hash:
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
