"""What every training paradigm shares: the pre-trained base, the cached run, the training
examples and loop, and the builder of its model kind.

An arm (``prompt_tuning``, ``lora``, ``instruction_tuning`` ...) is: the LM pre-trained on
*other* users (:func:`pretrained_base`), something learnt on the audited users' cloze
examples (:func:`cloze_requests` / :func:`cloze_examples`, batched by :func:`answer_batch`,
optimised by :func:`run_epochs` on :func:`answer_loss`), stored once per setting in
``<cache>/<kind>/<hash>`` (:func:`arm_folder`) with one manifest format
(:func:`publish_arm`, :func:`training_record`), and built from a spec entry by
:func:`build_arm` with the keys :func:`arm_keys` lists. A new arm writes its model, its
recipe and one line in the kind table; nothing here changes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
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

#: Version of the cache layout and manifest of every arm (part of every folder's key).
FORMAT_VERSION = 1

#: Spec keys every arm accepts besides its config's fields (``lm``: the base LM's
#: ``TinyLMConfig`` fields; ``batch_size`` is the config's when it has one, else the
#: recommender's scoring batch).
ENTRY_KEYS = ("kind", "seed", "cache_dir", "progress", "lm", "length_normalize", "device",
              "batch_size")


# ====================================================================== the base and the cache
def check_recipe(config: Any) -> None:
    """The recipe fields every trained arm's config has: epochs, batch size, profile share."""
    name = type(config).__name__
    if int(config.epochs) < 1 or int(config.batch_size) < 1:
        raise ValueError(f"{name}.epochs and batch_size must be >= 1, got {config.epochs} "
                         f"and {config.batch_size}")
    if not 0.0 <= float(config.profile_share) <= 1.0:
        raise ValueError(f"{name}.profile_share must be in [0, 1], got {config.profile_share}")


def pretrained_base(data: Any, pretrain_data: Any, seed: int, lm_config: Any, root: Path,
                    progress: bool) -> Any:
    """The LM every pre-trained arm starts from: ``train_tiny_lm`` on ``pretrain_data``
    (cached, shared by every arm of the same ``lm_config`` and seed), after checking that
    no audited user is among them."""
    from ..lm import train_tiny_lm

    if pretrain_data is None:
        raise ValueError("pretrain_data is required: users other than the audited ones to "
                         "pre-train the LM on (recaudit.data.split_users)")
    shared = set(data.user_ids) & set(pretrain_data.user_ids)
    if shared:
        raise ValueError(f"pretrain_data and data share {len(shared)} user(s) (e.g. "
                         f"{sorted(shared)[:3]}); the LM must be pre-trained on other users: "
                         "use recaudit.data.split_users")
    kwargs = {"config": lm_config} if lm_config is not None else {}
    base = train_tiny_lm(pretrain_data, seed, cache_dir=root, progress=progress, **kwargs)
    if base.path is None:
        raise ValueError("train_tiny_lm returned a model without a folder; cannot cache")
    return base


def weights_key(sample_weight: Any) -> str:
    """The sample weights' part of a cache key (``"none"`` without any)."""
    if sample_weight is None:
        return "none"
    return stable_hash(np.round(np.asarray(sample_weight, dtype=float), 12).tolist())


def arm_folder(root: Path, kind: str, data: Any, base: Any, config: Any, seed: int,
               sample_weight: Any) -> Path:
    """``<root>/<kind>/<hash>``: the hash over the audited data, the base LM's weights, every
    config field, the seed and the sample weights."""
    return root / kind / stable_hash(FORMAT_VERSION, kind, data.fingerprint(),
                                     base.fingerprint(), asdict(config), seed,
                                     weights_key(sample_weight))


def arm_start(kind: str, data: Any, pretrain_data: Any, seed: int, config: Any,
              lm_config: Any, sample_weight: Any, cache_dir: Any,
              progress: bool) -> tuple[Path, Any, Path]:
    """``(cache root, pre-trained base, the arm's folder)``: where every trained arm starts."""
    root = cache_root(cache_dir)
    base = pretrained_base(data, pretrain_data, seed, lm_config, root, progress)
    return root, base, arm_folder(root, kind, data, base, config, seed, sample_weight)


@dataclass
class Checkpoint:
    """Where :func:`run_epochs` keeps its checkpoint after every epoch, and what else it saves.

    ``path`` is the file, ``key`` the run's cache key (a checkpoint with another key is never
    resumed). Besides the trained parameters, the optimizer and torch's CPU random state, it
    saves the state of every numpy ``Generator`` in ``generators`` and the items of
    ``counters`` (a list the loop mutates between epochs), restored in place on resume.
    """

    path: Path
    key: str
    generators: list[Any] = field(default_factory=list)
    counters: list[Any] | None = None

    def with_generator(self, gen: Any) -> Checkpoint:
        """A copy that also saves and restores ``gen``."""
        return Checkpoint(self.path, self.key, [*self.generators, gen], self.counters)


def arm_checkpoint(folder: Path) -> Checkpoint:
    """The checkpoint of the run that publishes ``folder`` (:func:`arm_folder`):
    ``<folder>.partial/checkpoint.pt``, keyed by the folder's hash; :func:`publish_arm`
    deletes it once the arm is published."""
    return Checkpoint(checkpoint_path(folder), folder.name)


def manifest_name(kind: str) -> str:
    """The manifest file of an arm's folder; its presence marks the folder complete."""
    return f"recaudit_{kind}.json"


def run_record(kind: str, base: Any, data: Any, seed: int, **fields_: Any) -> dict[str, Any]:
    """The manifest fields every arm writes (then its own ``fields_``)."""
    return {"format_version": FORMAT_VERSION, "kind": kind, "seed": seed,
            "base_path": str(base.path), "base_fingerprint": base.fingerprint(),
            "data_fingerprint": data.fingerprint(), **fields_}


def training_record(kind: str, base: Any, data: Any, config: Any, seed: int,
                    sample_weight: Any, losses: Sequence[float], epochs: Sequence[float],
                    started: float, **extra: Any) -> dict[str, Any]:
    """The manifest of a trained arm: the recipe, the steps and the loss curve."""
    head = max(1, len(losses) // (10 * max(1, len(epochs))))
    return run_record(kind, base, data, seed, config=asdict(config),
                      weighted=sample_weight is not None, steps=len(losses),
                      train_seconds=round(time.perf_counter() - started, 2),
                      epoch_losses=list(epochs),
                      first_loss=float(np.mean(losses[:head])) if len(losses) else None,
                      final_loss=epochs[-1] if len(epochs) else None, **extra)


def publish_arm(folder: Path, kind: str,
                write: Callable[[Path], Mapping[str, Any]]) -> bool:
    """Build the arm's folder once: unless its manifest exists, ``write(staging)`` puts the
    arm's files into a staging folder and returns the manifest, written last; the folder is
    then published in one step (:func:`~recaudit.models._artifacts.publish_folder`).
    Returns whether it was built now. The training checkpoint (:func:`arm_checkpoint`) is
    deleted once the folder is published."""
    name = manifest_name(kind)
    if (folder / name).exists():
        return False
    with publish_folder(folder, name) as tmp:
        record = write(tmp)
        (tmp / name).write_text(json.dumps(dict(record), indent=2))
    drop_partial(folder)
    return True


# ====================================================================== training examples
def cloze_requests(data: Any, template: Any, config: Any, seed: int, sample_weight: Any,
                   draw: int) -> Iterator[tuple[Request, str, float]]:
    """``(request, target item, weight)``: one cloze example per user and train item.

    The context is a random subset (``template.max_history`` at most, in order) of the
    user's other train items; a share ``config.profile_share`` of the requests states a
    random non-empty subset of the user's sensitive attributes. Seeded by
    ``(seed, draw)``; the weight is the row's ``sample_weight`` (1 without one).
    """
    train = data.train.reset_index(drop=True)
    weights = (np.ones(len(train)) if sample_weight is None
               else np.asarray(sample_weight, dtype=float).reshape(-1))
    if len(weights) != len(train):
        raise ValueError(f"sample_weight has {len(weights)} entries but data.train has "
                         f"{len(train)} rows; give one weight per train interaction")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("sample_weight must be finite, >= 0 and not all 0")
    rng = np.random.default_rng([seed, 31, draw])
    item_col = train["item_id"].to_numpy()
    for user, rows in train.groupby("user_id", sort=False).indices.items():
        items = item_col[rows]
        profile = data.user_attributes(user)
        for t in range(len(items)):
            stated = {}
            if profile and rng.random() < config.profile_share:
                keep = rng.random(len(profile)) < 0.5
                keep[rng.integers(len(profile))] = True
                stated = {a: v for (a, v), k in zip(profile.items(), keep) if k}
            others = np.delete(np.arange(len(items)), t)
            context = items[np.sort(rng.permutation(others)[:template.max_history])]
            yield (Request(user, history=tuple(context), profile=stated), items[t],
                   float(weights[rows[t]]))


def cloze_examples(data: Any, template: Any, config: Any, seed: int, sample_weight: Any,
                   draw: int) -> tuple[list[str], list[str], np.ndarray]:
    """(prompts, answers, weights) of :func:`cloze_requests`, weights scaled to mean 1.

    Built with the public ``PromptTemplate`` so prompts look exactly like audit prompts.
    """
    titles = data.titles
    genres = dict(zip(data.items["item_id"], data.items["genres"]))
    prompts, answers, w = [], [], []
    for req, item, weight in cloze_requests(data, template, config, seed, sample_weight,
                                            draw):
        prompts.append(template.render(req, titles, genres))
        answers.append(template.continuation(titles[item]))
        w.append(weight)
    w = np.asarray(w, dtype=float)
    return prompts, answers, w / w.mean()


def answer_batch(idx: Any, p_ids: list[list[int]], a_ids: list[list[int]],
                 lengths: np.ndarray, pad: int) -> tuple[Any, Any, Any]:
    """One right-padded batch of prompt + answer examples: ``(input_ids, attention_mask,
    answer)``, ``answer`` marking the answer tokens (the only ones the loss reads)."""
    import torch

    width = int(lengths[idx].max())
    inp = torch.full((len(idx), width), pad, dtype=torch.long)
    att = torch.zeros((len(idx), width), dtype=torch.long)
    answer = torch.zeros((len(idx), width), dtype=torch.bool)
    for row, e in enumerate(idx):
        seq = p_ids[e] + a_ids[e]
        inp[row, :len(seq)] = torch.tensor(seq)
        att[row, :len(seq)] = 1
        answer[row, len(p_ids[e]):len(seq)] = True
    return inp, att, answer


# ====================================================================== the loss and the loop
def answer_loss(lm_head: Any, hidden: Any, inp: Any, answer: Any,
                owner: Any = None, n: int | None = None) -> Any:
    """Mean cross-entropy of the answer tokens per example (the LM head on those only).

    An example is a row of ``inp``, or, with ``owner`` (the example index of every
    position, as ``inp``) and ``n`` examples, a segment of a packed row.
    """
    import torch

    where = answer[:, 1:]
    logits = lm_head(hidden[:, :-1][where])
    tok = torch.nn.functional.cross_entropy(logits, inp[:, 1:][where], reduction="none")
    if owner is None:
        rows, n = where.nonzero()[:, 0], len(inp)
    else:
        rows = owner[:, 1:][where]
    total = torch.zeros(n, dtype=tok.dtype, device=tok.device).index_add_(0, rows, tok)
    count = torch.zeros(n, dtype=tok.dtype, device=tok.device).index_add_(
        0, rows, torch.ones_like(tok))
    return total / count.clamp(min=1)


def optimizer_step(opt: Any, loss: Any, params: list[Any], losses: list[float], bar: Any,
                   max_grad_norm: float | None = 1.0) -> None:
    """One step on ``loss`` (gradients clipped at ``max_grad_norm`` unless ``None``),
    logged in ``losses`` and ``bar``."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    opt.step()
    losses.append(float(loss.detach()))
    bar.update(1)
    bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")


def run_epochs(n_epochs: int, batches_of: Callable[[int], Sequence[Any] | None],
               loss_of: Callable[[Any], Any], opt: Any, params: list[Any], *, desc: str,
               progress: bool, total_steps: Callable[[], int] | None = None,
               max_grad_norm: float | None = 1.0,
               on_epoch: Callable[[int], None] | None = None,
               checkpoint: Checkpoint | None = None
               ) -> tuple[list[float], list[float]]:
    """The training loop of every arm: (step losses, epoch means).

    ``batches_of(epoch)`` gives the epoch's batches (``None`` ends training early),
    ``loss_of(batch)`` the loss of one. ``total_steps()`` (asked after the first epoch's
    batches are known; default: their number times ``n_epochs``) sizes the progress bar.
    The learning rate is constant, so the first E epochs of a longer run are an E-epoch run
    (``on_epoch(epoch)``, a hook for tuning experiments, sees each).

    With a ``checkpoint``, the loop saves after every epoch (before ``on_epoch``) and, when
    the file holds this run's checkpoint, resumes after its epoch with the same parameters,
    optimizer and random states: the final weights are those of an uninterrupted run.
    """
    import torch
    from tqdm.auto import tqdm

    losses: list[float] = []
    epochs: list[float] = []
    bar = None
    first = 0
    ckpt = load_checkpoint(checkpoint.path, checkpoint.key) if checkpoint else None
    if ckpt is not None and [tuple(p.shape) for p in params] == [
            tuple(t.shape) for t in ckpt["params"]]:
        with torch.no_grad():
            for p, saved in zip(params, ckpt["params"]):
                p.copy_(saved)
        opt.load_state_dict(ckpt["optimizer"])
        for gen, state in zip(checkpoint.generators, ckpt["numpy_rngs"], strict=True):
            set_rng_state(gen, state)
        if checkpoint.counters is not None:
            checkpoint.counters[:] = ckpt["counters"]
        torch.set_rng_state(ckpt["torch_rng"])
        losses, epochs, first = list(ckpt["losses"]), list(ckpt["epochs"]), ckpt["epoch"] + 1
    for epoch in range(first, n_epochs):
        batches = batches_of(epoch)
        if batches is None:
            break
        if bar is None:
            total = total_steps() if total_steps is not None else len(batches) * n_epochs
            bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
        start = len(losses)
        for batch in batches:
            optimizer_step(opt, loss_of(batch), params, losses, bar, max_grad_norm)
        epochs.append(float(np.mean(losses[start:])))
        if checkpoint is not None:
            save_checkpoint(checkpoint.path, {
                "key": checkpoint.key, "epoch": epoch, "losses": losses, "epochs": epochs,
                "params": [p.detach() for p in params], "optimizer": opt.state_dict(),
                "numpy_rngs": [rng_state(g) for g in checkpoint.generators],
                "counters": list(checkpoint.counters or []),
                "torch_rng": torch.get_rng_state()})
        if on_epoch is not None:
            on_epoch(epoch)
    if bar is not None:
        bar.close()
    return losses, epochs


def train_on_cloze(hidden: Callable[[Any, Any], Any], lm: Any, opt: Any, params: list[Any],
                   base: Any, data: Any, config: Any, seed: int, sample_weight: Any,
                   n_virtual: int, desc: str, progress: bool, *,
                   max_grad_norm: float | None = 1.0, order_stream: int = 43,
                   on_epoch: Callable[[int], None] | None = None,
                   checkpoint: Checkpoint | None = None
                   ) -> tuple[list[float], list[float]]:
    """Optimise ``params`` on the audited users' cloze examples (a fresh draw of contexts
    and stated profiles per epoch), the loss on the answer tokens only, each example
    weighted by its sample weight: (step losses, epoch means).

    ``hidden(input_ids, attention_mask)`` returns the last hidden states aligned with the
    input ids (after ``n_virtual`` soft-prompt positions, when there are any).
    ``checkpoint``: see :func:`run_epochs` (the example order's generator is added to it).
    """
    import torch

    tok = base.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    dev = next(lm.parameters()).device
    limit = lm.config.n_positions - n_virtual
    rng = np.random.default_rng([seed, order_stream])
    n_examples = len(data.train)

    def batches_of(epoch: int) -> list[tuple[Any, ...]]:
        prompts, answers, weights = cloze_examples(data, base.template, config, seed,
                                                   sample_weight, epoch)
        p_ids = tok(prompts, add_special_tokens=False)["input_ids"]
        a_ids = tok(answers, add_special_tokens=False)["input_ids"]
        lengths = np.array([len(p) + len(a) for p, a in zip(p_ids, a_ids)])
        if lengths.max() > limit:
            after = f" after {n_virtual} virtual tokens" if n_virtual else ""
            raise ValueError(f"a training example has {lengths.max()} tokens but the LM takes "
                             f"{limit}{after}; use a shorter template.max_history")
        order = rng.permutation(len(prompts))
        return [(order[i:i + config.batch_size], p_ids, a_ids, lengths, weights)
                for i in range(0, len(order), config.batch_size)]

    def loss_of(batch: tuple[Any, ...]) -> Any:
        idx, p_ids, a_ids, lengths, weights = batch
        inp, att, answer = (t.to(dev) for t in answer_batch(idx, p_ids, a_ids, lengths, pad))
        per_example = answer_loss(lm.lm_head, hidden(inp, att), inp, answer)
        w = torch.as_tensor(weights[idx], dtype=per_example.dtype, device=dev)
        return (w * per_example).mean()

    return run_epochs(config.epochs, batches_of, loss_of, opt, params, desc=desc,
                      progress=progress, max_grad_norm=max_grad_norm, on_epoch=on_epoch,
                      checkpoint=checkpoint.with_generator(rng) if checkpoint else None,
                      total_steps=lambda: math.ceil(n_examples / config.batch_size)
                      * config.epochs)


def soft_prompt_hidden(peft_model: Any, n_virtual: int) -> Callable[[Any, Any], Any]:
    """``hidden(input_ids, attention_mask)`` of a peft prompt-tuning model: the soft prompt
    before the embedded input, the hidden states of the input positions only."""
    import torch

    lm = peft_model.get_base_model()

    def hidden(inp: Any, att: Any) -> Any:
        emb = lm.get_input_embeddings()(inp)
        soft = peft_model.get_prompt(batch_size=len(inp)).to(emb.dtype)
        ones = torch.ones((len(inp), n_virtual), dtype=att.dtype, device=att.device)
        out = lm.transformer(inputs_embeds=torch.cat([soft, emb], 1),
                             attention_mask=torch.cat([ones, att], 1))
        return out.last_hidden_state[:, n_virtual:]

    return hidden


# ====================================================================== the model kind
def config_fields(cls: Any) -> list[str]:
    """The field names of a config dataclass."""
    return [f.name for f in fields(cls)]


def arm_keys(config_cls: Any = None) -> list[str]:
    """The keys a spec entry of an arm accepts: :data:`ENTRY_KEYS` and its config's fields."""
    own = config_fields(config_cls) if config_cls is not None else []
    return list(dict.fromkeys([*ENTRY_KEYS, *own]))


def build_arm(train: Callable[..., Any], config_cls: Any, opts: dict[str, Any], data: Any,
              ctx: Any) -> Any:
    """The model of one arm from its spec entry (``opts`` without ``kind``): the config's
    fields become ``config``, ``lm`` the base LM's ``TinyLMConfig``, the rest goes to
    ``train`` (``cache_dir``, ``progress``) and the recommender. ``ctx`` is the kind
    table's ``BuildContext`` (the pre-training users and the seed)."""
    from ..lm import TinyLMConfig

    kwargs: dict[str, Any] = {}
    if config_cls is not None:
        names = config_fields(config_cls)
        kwargs["config"] = config_cls(**{k: opts.pop(k) for k in list(opts) if k in names})
    lm = opts.pop("lm", None)
    opts.setdefault("progress", ctx.progress)
    return train(data, ctx.pretrain_data, ctx.seed,
                 lm_config=TinyLMConfig(**lm) if lm else None, **kwargs, **opts)
