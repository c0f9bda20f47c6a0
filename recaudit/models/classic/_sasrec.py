"""``SASRec``: a small ID-based self-attentive sequential recommender (no language model).

Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018: learned item and
position embeddings, causal self-attention blocks (``torch.nn.TransformerEncoder`` layers
with a causal mask), and the next item scored by the dot product of the last hidden state
with the item embeddings (shared input/output embeddings). Trained on the train histories to
predict every next item, with binary cross-entropy against one sampled negative per position
(the paper's loss, ``loss="bce"``) or a softmax over the whole catalog (``loss="ce"``).
It reads item ids only: the profile, item text and free prompt text of a request are ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ...contract import BaseRecommender, Ranking, Request, stable_hash
from ...errors import RequestError


@dataclass(frozen=True)
class SASRecConfig:
    """Shape and training recipe of :class:`SASRec`.

    Parameters
    ----------
    max_len : int
        Longest history read (the most recent items).
    dim, n_blocks, n_heads : int
        Embedding width, transformer blocks and attention heads.
    dropout : float
        Dropout on embeddings and inside the blocks.
    epochs, batch_size : int
        Passes over the users and users per step.
    lr, weight_decay : float
        Adam learning rate and weight decay.
    loss : {"ce", "bce"}
        Softmax over the catalog, or BCE with one uniformly sampled negative per position.
    """

    max_len: int = 20
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    loss: str = "ce"


def _network(n_items: int, cfg: SASRecConfig) -> Any:
    import torch
    from torch import nn

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
            self.positions = nn.Embedding(cfg.max_len, cfg.dim)
            self.dropout = nn.Dropout(cfg.dropout)
            layer = nn.TransformerEncoderLayer(cfg.dim, cfg.n_heads, cfg.dim * 2,
                                               dropout=cfg.dropout, batch_first=True,
                                               norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, cfg.n_blocks,
                                                enable_nested_tensor=False)
            self.norm = nn.LayerNorm(cfg.dim)

        def forward(self, seq: Any) -> Any:
            """Hidden state of every position of left-padded ``seq`` (0 = padding)."""
            b, length = seq.shape
            pos = torch.arange(length, device=seq.device).expand(b, length)
            h = self.items(seq) * cfg.dim ** 0.5 + self.positions(pos)
            h = self.dropout(h) * (seq > 0).unsqueeze(-1)
            # causal, and no real position attends to padding; a padding position attends to
            # itself only, so no attention row is empty
            causal = torch.ones(length, length, dtype=torch.bool, device=seq.device).tril()
            allowed = causal & (seq > 0).unsqueeze(1)
            allowed = allowed | torch.eye(length, dtype=torch.bool, device=seq.device)
            mask = ~allowed.repeat_interleave(cfg.n_heads, dim=0)
            return self.norm(self.blocks(h, mask=mask))

    return _Net()


class SASRec(BaseRecommender):
    """Self-attentive sequential recommender trained on ``data.train`` (Kang & McAuley, 2018).

    Parameters
    ----------
    data : AuditDataset
    seed : int
        Seeds the initialisation, the negative samples and the batch order.
    config : SASRecConfig
    exclude_history : bool
        Drop history items from whole-catalog rankings.
    sample_weight : array-like, optional
        One loss weight per row of ``data.train`` (the target interaction of a position).

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=40, n_items=30, seed=0)
    >>> model = SASRec(data, config=SASRecConfig(epochs=2))
    >>> len(model.rank([data.request("u0001")], 5)[0].items)
    5
    """

    capabilities = frozenset({"rank", "score", "train"})

    def __init__(self, data: Any, seed: int = 0, *, config: SASRecConfig | None = None,
                 exclude_history: bool = True, sample_weight: Any = None) -> None:
        import torch

        self.data = data
        self.seed = int(seed)
        self.config = config if config is not None else SASRecConfig()
        if self.config.loss not in ("ce", "bce"):
            raise ValueError(f"SASRecConfig.loss must be 'ce' or 'bce', got "
                             f"{self.config.loss!r}")
        self.exclude_history = bool(exclude_history)
        self._torch = torch
        self._index = {i: n + 1 for n, i in enumerate(data.item_ids)}  # 0 is padding
        torch.manual_seed(self.seed)
        self.net = _network(len(self._index), self.config)
        self.losses = self._train(sample_weight)
        self.net.eval()
        h = hashlib.sha256()
        for name, t in sorted(self.net.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().numpy().tobytes())
        self._fp = "SASRec-" + stable_hash(data.fingerprint(), asdict(self.config), self.seed,
                                           self.exclude_history, h.hexdigest()[:16])

    # ------------------------------------------------------------------ training
    def _sequences(self, sample_weight: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per user: the last ``max_len + 1`` train items (ids) and their row weights."""
        train = self.data.train.reset_index(drop=True)
        w = (np.ones(len(train)) if sample_weight is None
             else np.asarray(sample_weight, dtype=float).reshape(-1))
        if len(w) != len(train):
            raise ValueError(f"sample_weight has {len(w)} entries but data.train has "
                             f"{len(train)} rows; give one weight per train interaction")
        width = self.config.max_len + 1
        seqs, weights = [], []
        items = train["item_id"].to_numpy()
        for _user, rows in train.groupby("user_id", sort=False).indices.items():
            rows = rows[-width:]
            s = np.zeros(width, dtype=np.int64)
            ws = np.zeros(width)
            s[width - len(rows):] = [self._index[i] for i in items[rows]]
            ws[width - len(rows):] = w[rows]
            seqs.append(s)
            weights.append(ws)
        return np.array(seqs), np.array(weights)

    def _train(self, sample_weight: Any) -> list[float]:
        torch = self._torch
        cfg = self.config
        seqs, weights = self._sequences(sample_weight)
        if weights[:, 1:].sum() > 0:
            weights = weights / weights[:, 1:][seqs[:, 1:] > 0].mean()
        rng = np.random.default_rng([self.seed, 5])
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n_items = len(self._index)
        losses = []
        self.net.train()
        for _epoch in range(cfg.epochs):
            total = 0.0
            order = rng.permutation(len(seqs))
            for start in range(0, len(seqs), cfg.batch_size):
                batch = order[start:start + cfg.batch_size]
                inp = torch.as_tensor(seqs[batch, :-1])
                tgt = torch.as_tensor(seqs[batch, 1:])
                w = torch.as_tensor(weights[batch, 1:], dtype=torch.float32)
                valid = (tgt > 0) & (inp > 0)
                hidden = self.net(inp)[valid]
                target, w = tgt[valid], w[valid]
                table = self.net.items.weight
                if cfg.loss == "ce":
                    logits = hidden @ table[1:].T
                    loss = torch.nn.functional.cross_entropy(logits, target - 1,
                                                             reduction="none")
                else:
                    neg = torch.as_tensor(rng.integers(1, n_items + 1, len(target)))
                    pos_l = (hidden * table[target]).sum(-1)
                    neg_l = (hidden * table[neg]).sum(-1)
                    loss = (torch.nn.functional.softplus(-pos_l)
                            + torch.nn.functional.softplus(neg_l))
                loss = (w * loss).sum() / valid.sum().clamp(min=1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach())
            losses.append(total)
        return losses

    # ------------------------------------------------------------------ protocol
    def fingerprint(self) -> str:
        return self._fp

    def fit(self, data: Any, sample_weight: Any = None, seed: int = 0) -> SASRec:
        """A new SASRec with the same config trained on ``data``."""
        return SASRec(data, seed, config=self.config, exclude_history=self.exclude_history,
                      sample_weight=sample_weight)

    def _check(self, request: Request, items: Sequence[str]) -> None:
        unknown = [i for i in (*items, *request.history) if i not in self._index]
        if unknown:
            raise RequestError(f"unknown item id(s) {unknown[:5]} for user "
                               f"{request.user_id!r}: not in the catalog")

    def _user_vectors(self, requests: Sequence[Request]) -> np.ndarray:
        """Last hidden state per request; every row is padded to ``max_len`` (batch-free)."""
        torch = self._torch
        width = self.config.max_len
        seq = np.zeros((len(requests), width), dtype=np.int64)
        for n, r in enumerate(requests):
            ids = [self._index[i] for i in r.history[-width:]]
            if ids:
                seq[n, width - len(ids):] = ids
        out = []
        with torch.inference_mode():
            for start in range(0, len(seq), 256):
                h = self.net(torch.as_tensor(seq[start:start + 256]))[:, -1]
                out.append(h.numpy())
        return np.concatenate(out) if out else np.zeros((0, self.config.dim))

    def _scores(self, requests: Sequence[Request],
                pools: Sequence[Sequence[str]]) -> list[np.ndarray]:
        for r, pool in zip(requests, pools):
            self._check(r, pool)
        if not requests:
            return []
        table = self.net.items.weight.detach().numpy()
        users = self._user_vectors(requests)
        return [table[[self._index[i] for i in pool]] @ u
                for u, pool in zip(users, pools)]

    def score(self, requests: Sequence[Request]) -> list[np.ndarray]:
        for r in requests:
            if r.candidates is None:
                raise RequestError(f"score() needs request.candidates (user {r.user_id!r})")
        return self._scores(requests, [r.candidates for r in requests])

    def rank(self, requests: Sequence[Request], k: int) -> list[Ranking]:
        if k < 1:
            raise RequestError(f"k must be >= 1, got {k}")
        pools = []
        for r in requests:
            if r.candidates is not None:
                pools.append(list(r.candidates))
            else:
                seen = set(r.history) if self.exclude_history else set()
                pools.append([i for i in self.data.item_ids if i not in seen])
        out = []
        for pool, s in zip(pools, self._scores(requests, pools)):
            order = np.argsort(-s, kind="stable")[:k]
            out.append(Ranking(tuple(pool[i] for i in order), tuple(s[order])))
        return out

    def __repr__(self) -> str:
        c = self.config
        return (f"SASRec(dim={c.dim}, n_blocks={c.n_blocks}, max_len={c.max_len}, "
                f"loss={c.loss!r}, seed={self.seed})")
