"""``train_tiny_lm``: the embedded default model under test.

A small GPT-2 trained from scratch on the training split, in the exact prompt format the
audit uses (``PromptTemplate``), with a byte-level BPE tokenizer trained locally with the
``tokenizers`` library. The result is saved as a standard transformers folder (config.json,
model.safetensors, tokenizer files) and loaded back through ``HFRecommender``, so it is
audited through the same path as any real LLM.

Training examples: for each user and each train item ``history[t]``, a prompt showing up to
``max_history`` of the user's other train items (by default drawn at random, BERT4Rec-style
cloze training; ``context="prefix"``: the items before t) followed by the title of
``history[t]``; a share of the prompts shows a shorter (possibly empty) history.
A share ``profile_share`` of the prompts states the user's sensitive attributes, so the model
learns whatever dependence on them the data holds, as a fine-tuned LLM would.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..._paths import cache_root
from ...contract import Request, stable_hash
from .._artifacts import (
    checkpoint_path,
    drop_partial,
    load_checkpoint,
    publish_folder,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from ..prompts import PromptTemplate
from ._hf import HFRecommender, _hash_files, quiet_transformers

_SPECIAL = "<|endoftext|>"
#: Pre-tokenizer patterns: the text BPE merges never cross.
_PIECES = {
    # phrases between punctuation: a frequent title becomes one token (an item token, as in
    # item-indexing LLM recommenders), rarer ones a few; any text still tokenizes
    "phrases": r"[^;:.,\n]+|[;:.,\n]",
    # GPT-2-like space-led words
    "words": r" ?[^\s;:.,]+|[;:.,]|\s+",
}
_FORMAT_VERSION = 6


@dataclass(frozen=True)
class TinyLMConfig:
    """Architecture and training recipe of the tiny GPT-2.

    Parameters
    ----------
    n_layer, n_head, n_embd : int
        GPT-2 shape (defaults: 2 layers, 4 heads, 64 wide). Measured on ``synthetic(seed=0)``
        (whole-catalog HR@10 on held-out items): 64 wide generalises better than 128 (the
        wider model memorises users' item sets: train-item HR 0.59 vs held-out 0.43 on the
        small test world) and trains ~1.7x faster per epoch.
    n_positions : int
        Longest sequence (prompt + answer) in tokens.
    vocab_size : int
        Largest size of the byte-level BPE vocabulary (256 bytes + merges); training stops
        earlier when every piece is a single token.
    pretokenizer : {"phrases", "words"}
        Where BPE merges may not cross: "phrases" (between punctuation, so a title seen often
        becomes a single token, like the item tokens of item-indexing LLM recommenders) or
        "words" (GPT-2-like space-led words; slower, titles take ~6 tokens).
    epochs : int
        Passes over the training examples (privacy auditors compare leakage by epochs).
    max_examples : int or None
        Most training examples seen over all epochs (``None``: no cap). On a large dataset
        the run stops after ``max_examples`` examples, the schedule shortened to match, and
        the last pass may be partial. The default 100,000 leaves the recipe of every
        synthetic world in this project untouched (up to 600 users: about 80,000 examples
        over 12 epochs) and trains MovieLens-100K (99,057 examples) for one pass, about 4
        minutes on 2 cores, instead of 12 passes in 50 minutes; ML-1M sees 10% of a pass.
        A cap that does not bind leaves the model's cache key as it was.
    batch_size : int
        Examples per optimisation step.
    lr, weight_decay, warmup : float
        AdamW learning rate (linear warm-up over ``warmup`` of the steps, then cosine decay).
    dropout : float
        Dropout in embeddings, attention and residual paths.
    profile_share : float
        Share of training prompts that state the user's sensitive attributes (a random
        non-empty subset of them, so each attribute is also stated alone).
    prompt_loss_weight : float
        Per-token weight of the language-modelling loss on the prompt tokens (the history
        titles are themselves a sequence of items: more next-item signal per forward pass);
        answer tokens have weight 1. An example's loss is divided by its answer length.
    short_history_share : float
        Share of training prompts whose shown history is cut to a random length between 0
        (cold start) and the full window: the model also learns to recommend from a short
        history, where the stated profile carries most of the information (FaiRLLM-style
        prompts state the profile with little or no history).
    context : {"prefix", "cloze"}
        Which history a training prompt shows for the target ``history[t]``: "prefix" (the
        items before it, a causal next-item task) or "cloze" (up to ``max_history`` of the
        user's other train items, drawn at random and kept in time order: BERT4Rec-style
        cloze training, one example per train item, more varied contexts).
    template : PromptTemplate
        The prompt format (also used to score and rank after training). The default shows
        each history item's genres after its title (item metadata in the prompt, as in
        LLM-recommendation prompts); the answer is the bare title.
    """

    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    n_positions: int = 512
    vocab_size: int = 4096
    pretokenizer: str = "phrases"
    epochs: int = 12
    max_examples: int | None = 100_000
    batch_size: int = 32
    lr: float = 5e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    dropout: float = 0.1
    profile_share: float = 0.5
    prompt_loss_weight: float = 0.3
    short_history_share: float = 0.3
    context: str = "cloze"
    template: PromptTemplate = field(default_factory=lambda: PromptTemplate(show_genres=True))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["template"] = asdict(self.template)
        return d

    def steps(self, n_examples: int) -> tuple[int, int]:
        """``(steps per full pass, total optimisation steps)`` for ``n_examples``: every
        epoch, or ``ceil(max_examples / batch_size)`` steps when that is fewer."""
        if self.max_examples is not None and (isinstance(self.max_examples, bool)
                                              or int(self.max_examples) < 1):
            raise ValueError(f"max_examples must be None or an integer >= 1, got "
                             f"{self.max_examples!r}")
        per_epoch = math.ceil(n_examples / self.batch_size)
        total = per_epoch * self.epochs
        if self.max_examples is not None:
            total = min(total, max(1, math.ceil(self.max_examples / self.batch_size)))
        return per_epoch, total

    def caps(self, n_examples: int) -> bool:
        """Whether ``max_examples`` cuts a run over ``n_examples`` short."""
        per_epoch, total = self.steps(n_examples)
        return total < per_epoch * self.epochs


def _n_examples(data: Any, config: TinyLMConfig) -> int:
    """How many examples :func:`_examples` makes: one per train row (cloze), or one per
    train row after each user's first (prefix)."""
    n = int(len(data.train))
    return n if config.context == "cloze" else n - int(data.train["user_id"].nunique())


def _examples(data: Any, config: TinyLMConfig, seed: int, sample_weight: Any,
              draw: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    """(prompts, answers, weights): one example per user and train position (see ``context``)."""
    if config.context not in ("prefix", "cloze"):
        raise ValueError(f"context must be 'prefix' or 'cloze', got {config.context!r}")
    if not 0.0 <= config.short_history_share <= 1.0:
        raise ValueError("short_history_share must be in [0, 1], got "
                         f"{config.short_history_share}")
    train = data.train.reset_index(drop=True)
    if sample_weight is None:
        weights = np.ones(len(train))
    else:
        weights = np.asarray(sample_weight, dtype=float).reshape(-1)
        if len(weights) != len(train):
            raise ValueError(f"sample_weight has {len(weights)} entries but data.train has "
                             f"{len(train)} rows; give one weight per train interaction")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("sample_weight must be finite and >= 0")
    # draw > 0: a fresh draw of the random parts (contexts, stated profiles), one per epoch
    rng = np.random.default_rng([seed, 7] if draw == 0 else [seed, 7, draw])
    template, titles = config.template, data.titles
    genres = dict(zip(data.items["item_id"], data.items["genres"]))
    prompts, answers, w = [], [], []
    cloze = config.context == "cloze"
    for user, rows in train.groupby("user_id", sort=False).indices.items():
        items = train["item_id"].to_numpy()[rows]
        profile = data.user_attributes(user)
        for t in range(0 if cloze else 1, len(items)):
            stated = {}
            if profile and rng.random() < config.profile_share:
                # a random non-empty subset of the attributes: each clause is also seen
                # alone at the start of a prompt, as counterfactual audits state it
                keep = rng.random(len(profile)) < 0.5
                keep[rng.integers(len(profile))] = True
                stated = {a: v for (a, v), k in zip(profile.items(), keep) if k}
            if cloze:
                others = np.delete(np.arange(len(items)), t)
                context = items[np.sort(rng.permutation(others)[:template.max_history])]
            else:
                context = items[max(0, t - template.max_history):t]
            shown = len(context)
            if config.short_history_share > 0 and rng.random() < config.short_history_share:
                shown = int(rng.integers(0, shown + 1))
            req = Request(user, history=tuple(context[len(context) - shown:]), profile=stated)
            prompts.append(template.render(req, titles, genres))
            answers.append(template.continuation(titles[items[t]]))
            w.append(weights[rows[t]])
    w = np.asarray(w, dtype=float)
    if w.sum() <= 0:
        raise ValueError("sample_weight is zero for every training example")
    return prompts, answers, w / w.mean()


def _train_tokenizer(texts: list[str], vocab_size: int, pieces: str = "phrases") -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    if pieces not in _PIECES:
        raise ValueError(f"pretokenizer must be one of {sorted(_PIECES)}, got {pieces!r}")
    # byte-level BPE like GPT-2 (any text round-trips), merges confined to the pieces
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_PIECES[pieces]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[_SPECIAL],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=_SPECIAL,
                                   eos_token=_SPECIAL, pad_token=_SPECIAL,
                                   unk_token=_SPECIAL)


def _folder_key(data: Any, config: TinyLMConfig, seed: int, sample_weight: Any) -> str:
    import hashlib

    if sample_weight is None:
        wkey = "none"
    else:
        arr = np.ascontiguousarray(np.asarray(sample_weight, dtype=np.float64))
        wkey = hashlib.sha256(arr.tobytes()).hexdigest()[:16]
    recipe = config.to_dict()
    if not config.caps(_n_examples(data, config)):
        del recipe["max_examples"]  # not binding: the same run (and key) as before the cap
    return stable_hash(_FORMAT_VERSION, data.fingerprint(), recipe, seed, wkey)


def train_tiny_lm(data: Any, seed: int = 0, *, config: TinyLMConfig | None = None,
                  sample_weight: Any = None, cache_dir: str | os.PathLike | None = None,
                  progress: bool = True, init_from: Any = None,
                  **recommender_options: Any) -> HFRecommender:
    """Train (or load from cache) the tiny GPT-2 recommender on ``data.train``.

    Parameters
    ----------
    data : AuditDataset
        Training data (its train split) and catalog.
    seed : int
        Seeds torch, numpy and the order of examples: same seed, same weights.
    config : TinyLMConfig
        Architecture and recipe.
    sample_weight : array-like, optional
        One loss weight per row of ``data.train`` (the row of the target interaction);
        reweighting mitigations use it. Normalised to mean 1 over the examples.
    cache_dir : path, optional
        Root of the model cache (default :func:`recaudit._paths.cache_dir`); the model lives in
        ``<cache_dir>/tiny_lm/<hash>`` and is re-used when present. Until it is published,
        the run keeps a checkpoint after every epoch in ``<hash>.partial/checkpoint.pt``
        (weights, optimizer, schedule, random states); a run killed midway resumes from it
        with the same final weights, and it is deleted once the model is published.
    progress : bool
        Show a tqdm bar with the running loss.
    init_from : HFRecommender or path, optional
        Pre-train and fine-tune: start from this trained tiny LM (a model folder, e.g. one
        trained on other users) instead of random weights, keeping its tokenizer and
        architecture (``config``'s architecture fields are then ignored; its recipe applies).
    **recommender_options
        Passed to :class:`HFRecommender` (``length_normalize``, ``batch_size``, ``mode`` ...).

    Returns
    -------
    HFRecommender
        Loaded from the saved folder, with the ``train`` capability (``fit`` re-trains with
        the same config).

    Examples
    --------
    >>> import recaudit as ra                                          # doctest: +SKIP
    >>> model = ra.models.train_tiny_lm(ra.datasets.synthetic(seed=0))  # doctest: +SKIP
    """
    config = config if config is not None else TinyLMConfig()
    root = cache_root(cache_dir)
    base = _init_folder(init_from)
    key = _folder_key(data, config, seed, sample_weight)
    if base is not None:
        key = stable_hash(key, "init_from", _hash_files(base))
    folder = root / "tiny_lm" / key
    if not (folder / "model.safetensors").exists():
        _train_to_folder(data, config, seed, sample_weight, folder, progress, init_from=base)

    def recipe(new_data: Any, seed: int = 0, sample_weight: Any = None) -> HFRecommender:
        return train_tiny_lm(new_data, seed, config=config, sample_weight=sample_weight,
                             cache_dir=root, progress=progress, init_from=base,
                             **recommender_options)

    return HFRecommender(folder, data, config.template, recipe=recipe, **recommender_options)


def _init_folder(init_from: Any) -> Path | None:
    """The model folder a fine-tuning run starts from (None: from scratch)."""
    if init_from is None:
        return None
    folder = getattr(init_from, "path", init_from)
    if folder is None:
        raise ValueError("init_from: the model has no folder (it was not loaded from one); "
                         "pass a model returned by train_tiny_lm or a model folder")
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"init_from: {folder} is not a transformers model folder "
                                "(no config.json)")
    return folder


def _sum_ce(model: Any, hidden: Any, target: Any, where: Any) -> Any:
    """Per-example summed cross-entropy over the ``where`` positions (LM head only there)."""
    import torch

    logits = model.lm_head(hidden[:, :-1][where])
    tok_loss = torch.nn.functional.cross_entropy(logits, target[where], reduction="none")
    per_row = torch.zeros(target.shape, dtype=tok_loss.dtype)
    per_row[where] = tok_loss
    return per_row.sum(-1)


def _train_to_folder(data: Any, config: TinyLMConfig, seed: int, sample_weight: Any,
                     folder: Path, progress: bool, on_epoch: Any = None,
                     init_from: Path | None = None) -> None:
    import torch
    from tqdm.auto import tqdm
    from transformers import GPT2Config, GPT2LMHeadModel

    started = time.perf_counter()
    prompts, answers, weights = _examples(data, config, seed, sample_weight)
    # the tokenizer sees the training text, every catalog title and every profile phrase
    extra = [config.template.continuation(t) for t in data.titles.values()]
    extra += [config.template.profile_sentence({a: v}) for a in data.sensitive
              for v in data.attribute_values(a)]
    extra.append(config.template.candidates_intro)
    if init_from is not None:  # fine-tune: the pre-trained model's tokenizer and weights
        from transformers import AutoTokenizer

        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(init_from)
    else:
        tokenizer = _train_tokenizer([p + a for p, a in zip(prompts, answers)] + extra,
                                     config.vocab_size, config.pretokenizer)
    n_positions = (config.n_positions if init_from is None
                   else GPT2Config.from_pretrained(init_from).n_positions)
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
    longest = max(len(p) + len(a) for p, a in zip(p_ids, a_ids))
    if longest > n_positions:
        raise ValueError(f"a training example has {longest} tokens but n_positions is "
                         f"{n_positions}; raise TinyLMConfig.n_positions")

    torch.manual_seed(seed)
    gconf = GPT2Config(vocab_size=len(tokenizer), n_positions=config.n_positions,
                       n_embd=config.n_embd, n_layer=config.n_layer, n_head=config.n_head,
                       resid_pdrop=config.dropout, embd_pdrop=config.dropout,
                       attn_pdrop=config.dropout, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if init_from is not None:
        with quiet_transformers():
            model = GPT2LMHeadModel.from_pretrained(init_from, dtype=torch.float32)
    else:
        model = GPT2LMHeadModel(gconf)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = len(prompts)
    assert n == _n_examples(data, config), "_n_examples is out of step with _examples"
    steps_per_epoch, total = config.steps(n)
    warm = max(1, int(config.warmup * total))

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    rng = np.random.default_rng([seed, 11])
    lengths = np.array([len(p) + len(a) for p, a in zip(p_ids, a_ids)])
    pad = tokenizer.pad_token_id
    bar = tqdm(total=total, desc="training tiny LM", disable=not progress, leave=False)
    losses: list[float] = []
    resample = config.context == "cloze" or config.short_history_share > 0
    done = 0
    # a checkpoint after every epoch in <folder>.partial, keyed by the cache key (which
    # names every setting) and the tokenizer; a killed run resumes after its last epoch
    ckpt_path = checkpoint_path(folder)
    vocab = stable_hash(sorted(tokenizer.get_vocab().items()))
    first = 0
    ckpt = load_checkpoint(ckpt_path, folder.name)
    if ckpt is not None and ckpt.get("vocab") == vocab:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        set_rng_state(rng, ckpt["numpy_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        done, losses, first = int(ckpt["done"]), list(ckpt["losses"]), int(ckpt["epoch"]) + 1
        bar.update(done)
    for _epoch in range(first, math.ceil(total / steps_per_epoch)):
        if resample and _epoch > 0:  # fresh random contexts each epoch (augmentation)
            prompts, answers, weights = _examples(data, config, seed, sample_weight, _epoch)
            p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
            a_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
            lengths = np.array([len(p) + len(a) for p, a in zip(p_ids, a_ids)])
            if lengths.max() > n_positions:
                raise ValueError(f"a training example has {lengths.max()} tokens but "
                                 f"n_positions is {n_positions}; raise "
                                 "TinyLMConfig.n_positions")
        # shuffle, then sort within windows of 50 batches by length: little padding, seeded
        perm = rng.permutation(n)
        window = config.batch_size * 50
        perm = np.concatenate([w[np.argsort(lengths[w], kind="stable")]
                               for w in np.array_split(perm, max(1, math.ceil(n / window)))])
        batches = [perm[i:i + config.batch_size] for i in range(0, n, config.batch_size)]
        for b in rng.permutation(len(batches))[:total - done]:
            done += 1
            idx = batches[b]
            width = int(lengths[idx].max())
            inp = torch.full((len(idx), width), pad, dtype=torch.long)
            att = torch.zeros((len(idx), width), dtype=torch.long)
            kind = torch.zeros((len(idx), width), dtype=torch.long)  # 1 answer, 2 prompt
            for row, e in enumerate(idx):
                seq = p_ids[e] + a_ids[e]
                inp[row, :len(seq)] = torch.tensor(seq)
                att[row, :len(seq)] = 1
                kind[row, 1:len(p_ids[e])] = 2
                kind[row, len(p_ids[e]):len(seq)] = 1
            hidden = model.transformer(input_ids=inp, attention_mask=att).last_hidden_state
            target, kind = inp[:, 1:], kind[:, 1:]
            answer = kind == 1
            n_answer = answer.sum(-1).clamp(min=1)
            ex_loss = _sum_ce(model, hidden, target, answer)
            if config.prompt_loss_weight > 0:
                ex_loss = ex_loss + config.prompt_loss_weight * _sum_ce(
                    model, hidden, target, kind == 2)
            ex_loss = ex_loss / n_answer
            w = torch.as_tensor(weights[idx], dtype=ex_loss.dtype)
            loss = (w * ex_loss).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        save_checkpoint(ckpt_path, {
            "key": folder.name, "vocab": vocab, "epoch": _epoch, "done": done,
            "losses": losses, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "numpy_rng": rng_state(rng),
            "torch_rng": torch.get_rng_state()})
        if on_epoch is not None:  # a hook for tuning experiments
            model.eval()
            on_epoch(_epoch, model, tokenizer)
            model.train()
    bar.close()
    model.eval()

    with publish_folder(folder, "model.safetensors") as tmp:
        with quiet_transformers():
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        meta = {"format_version": _FORMAT_VERSION, "seed": seed, "config": config.to_dict(),
                "data_fingerprint": data.fingerprint(), "data_name": data.name,
                "n_examples": n, "steps": total, "epochs_run": round(total / steps_per_epoch, 3),
                "weighted": sample_weight is not None,
                "train_seconds": round(time.perf_counter() - started, 2),
                "final_loss": float(np.mean(losses[-steps_per_epoch:])) if losses else None}
        (tmp / "recaudit_tiny_lm.json").write_text(json.dumps(meta, indent=2))
    drop_partial(folder)
