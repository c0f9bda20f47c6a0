"""Adapter fine-tuning (LoRA) and prompt + LM tuning on a tiny LM pre-trained on other users.

Two more branches of the "pre-train, prompt and predict" family the tutorial surveys (Geng
et al., "Recommendation as Language Processing (P5)", RecSys 2022; Liu et al., "Pre-train,
Prompt, and Predict", ACM Computing Surveys 2023, whose taxonomy separates tuning-free
prompting, fixed-LM prompt tuning, fixed-prompt LM tuning and prompt + LM tuning):

- ``lora``: adapter fine-tuning. Hu et al., "LoRA: Low-Rank Adaptation of Large Language
  Models", ICLR 2022, as TALLRec (Bao et al., RecSys 2023) tunes an LLM recommender: the
  pre-trained LM is frozen and low-rank updates ``B A`` (rank ``r``, scale ``alpha / r``) of
  its projection matrices are learnt with ``peft.LoraConfig``. GPT-2's projections are
  ``Conv1D`` modules (weights stored input x output), hence ``fan_in_fan_out=True``. For
  inference the adapter is merged (``merge_and_unload``) into a copy of the base: a plain
  GPT-2 folder the fast :class:`~recaudit.models.HFRecommender` scorer reads like any model.
- ``prompt_lm_tuning``: prompt + LM tuning (P-tuning v2, Liu et al., ACL 2022; the survey's
  "prompt + LM tuning"): a ``peft`` soft prompt, as in prompt tuning (Lester et al., EMNLP
  2021), and every weight of the LM tuned together, two AdamW parameter groups (a large
  learning rate for the prompt, a small one for the LM). Scoring goes through the same
  soft-prompt module as ``prompt_tuning``.

Both start from ``train_tiny_lm(pretrain_data, seed, config=lm_config)`` (the same cached
base as ``prompt_tuning`` and ``pretrain_fine_tune``), train on the audited users' training
prompts only, with the examples and the loss of prompt tuning (one cloze example per train
item, answer tokens only), and are cached in ``<cache_dir>/<kind>/<hash>``, the hash over
both datasets, the base's weights, every config field, the seed and the sample weights. The
saved folder's ``recaudit_<kind>.json`` records the per-epoch training losses.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..._paths import cache_root
from ...contract import stable_hash
from .._artifacts import publish_folder
from ..lm import HFRecommender, quiet_transformers
from ._prompt_tuning import (
    PromptTunedRecommender,
    _examples,
    _peft_config,
    _soft_prompt_module,
    answer_batch,
)

_FORMAT_VERSION = 1
_GPT2_PROJECTIONS = ("c_attn", "c_proj", "c_fc")


@dataclass(frozen=True)
class LoRAConfig:
    """LoRA adapter shape and training recipe.

    Parameters
    ----------
    r : int
        Rank of each low-rank update.
    alpha : float
        LoRA scale numerator: the update is ``(alpha / r) B A``.
    dropout : float
        Dropout on the adapter's input (the frozen LM itself runs without dropout).
    target_modules : tuple of str
        GPT-2 modules that get an adapter (suffix match): ``c_attn`` (query/key/value),
        ``c_proj`` (attention and MLP output projections), ``c_fc`` (MLP input).
    epochs, batch_size : int
        Passes over the audited users' training examples, examples per step.
    lr : float
        AdamW learning rate of the adapter matrices (constant; gradients clipped at norm 1).
    profile_share : float
        Share of training prompts that state the user's sensitive attributes.

    Defaults measured at the paradigm study's sizes (synthetic 300 users x 200 items, half
    pre-training a ``TinyLMConfig(epochs=5)`` base, 2 cores): at lr 5e-3 the loss on fresh
    contexts falls through epoch 5 (2.42, 2.38, 2.35, 2.35, 2.34) and flattens after, 1e-2
    and 2e-2 oscillate; 5 epochs take about 1.5 s each beyond the shared base. Rank 8 on
    every projection (``c_attn``, ``c_proj``, ``c_fc``) as in LoRA's GPT-2 experiments.
    """

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = _GPT2_PROJECTIONS
    epochs: int = 5
    batch_size: int = 32
    lr: float = 5e-3
    profile_share: float = 0.5

    def __post_init__(self) -> None:
        mods = self.target_modules
        mods = (mods,) if isinstance(mods, str) else tuple(str(m) for m in mods)
        if not mods:
            raise ValueError("LoRAConfig.target_modules is empty; name GPT-2 modules such as "
                             f"{list(_GPT2_PROJECTIONS)}")
        object.__setattr__(self, "target_modules", mods)
        if int(self.r) < 1:
            raise ValueError(f"LoRAConfig.r must be >= 1, got {self.r}")
        _check_recipe(self)


@dataclass(frozen=True)
class PromptLMConfig:
    """Soft prompt + LM tuning recipe.

    Parameters
    ----------
    num_virtual_tokens, init, init_text :
        The soft prompt, as :class:`~recaudit.models.SoftPromptConfig`.
    epochs, batch_size : int
        Passes over the audited users' training examples, examples per step.
    lr : float
        AdamW learning rate of the soft prompt (large, as in prompt tuning).
    lm_lr : float
        AdamW learning rate of the LM's weights (small: they start pre-trained).
    weight_decay : float
        AdamW weight decay of the LM's weights (none on the prompt).
    profile_share : float
        Share of training prompts that state the user's sensitive attributes.

    Defaults measured at the paradigm study's sizes (see :class:`LoRAConfig`): the prompt as
    ``prompt_tuning``'s (8 tokens, lr 3e-2); the LM at 3e-4 for 2 epochs, since tuning all
    of a tiny LM on 150 users overfits (the loss keeps falling while NDCG@10 of held-out
    items drops with more epochs or lm_lr 1e-3 and 3e-3). About 2 s an epoch.
    """

    num_virtual_tokens: int = 8
    init: str = "sample_vocab"
    init_text: str = "Recommend the next movie for this user."
    epochs: int = 2
    batch_size: int = 32
    lr: float = 3e-2
    lm_lr: float = 3e-4
    weight_decay: float = 0.0
    profile_share: float = 0.5

    def __post_init__(self) -> None:
        if int(self.num_virtual_tokens) < 1:
            raise ValueError("PromptLMConfig.num_virtual_tokens must be >= 1, got "
                             f"{self.num_virtual_tokens}")
        _check_recipe(self)


def _check_recipe(config: Any) -> None:
    name = type(config).__name__
    if int(config.epochs) < 1 or int(config.batch_size) < 1:
        raise ValueError(f"{name}.epochs and batch_size must be >= 1, got {config.epochs} "
                         f"and {config.batch_size}")
    if not 0.0 <= float(config.profile_share) <= 1.0:
        raise ValueError(f"{name}.profile_share must be in [0, 1], got {config.profile_share}")


# ====================================================================== shared pieces
def _pretrained_base(data: Any, pretrain_data: Any, seed: int, lm_config: Any, root: Path,
                     progress: bool) -> HFRecommender:
    """The tiny LM pre-trained on ``pretrain_data`` (cached), after checking the split."""
    from ..lm import train_tiny_lm

    shared = set(data.user_ids) & set(pretrain_data.user_ids)
    if shared:
        raise ValueError(f"pretrain_data and data share {len(shared)} user(s) (e.g. "
                         f"{sorted(shared)[:3]}); the LM must be pre-trained on other users: "
                         "use recaudit.models.split_users")
    kwargs = {"config": lm_config} if lm_config is not None else {}
    base = train_tiny_lm(pretrain_data, seed, cache_dir=root, progress=progress, **kwargs)
    if base.path is None:
        raise ValueError("train_tiny_lm returned a model without a folder; cannot cache")
    return base


def _folder(root: Path, kind: str, data: Any, base: HFRecommender, config: Any, seed: int,
            sample_weight: Any) -> Path:
    wkey = ("none" if sample_weight is None else
            stable_hash(np.round(np.asarray(sample_weight, dtype=float), 12).tolist()))
    return root / kind / stable_hash(_FORMAT_VERSION, kind, data.fingerprint(),
                                     base.fingerprint(), asdict(config), seed, wkey)


def _answer_loss(lm_head: Any, hidden: Any, inp: Any, answer: Any,
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


def optimizer_step(opt: Any, loss: Any, params: list[Any], losses: list[float],
                   bar: Any) -> None:
    """One step on ``loss`` (gradients clipped at norm 1), logged in ``losses`` and ``bar``."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    losses.append(float(loss.detach()))
    bar.update(1)
    bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")


def _train(hidden: Callable[[Any, Any], Any], lm: Any, opt: Any, params: list[Any],
           base: HFRecommender, data: Any, config: Any, seed: int, sample_weight: Any,
           n_virtual: int, desc: str, progress: bool,
           on_epoch: Callable[[int], None] | None = None) -> tuple[list[float], list[float]]:
    """Optimise ``params`` on the audited users' cloze examples: (step losses, epoch means).

    ``hidden(input_ids, attention_mask)`` returns the last hidden states aligned with the
    input ids; the examples are prompt tuning's (``_prompt_tuning._examples``, a fresh draw
    of contexts and stated profiles per epoch) and the loss its answer-token loss. The
    learning rate is constant, so the first E epochs of a longer run are an E-epoch run
    (``on_epoch(epoch)``, a hook for tuning experiments, sees each).
    """
    import torch
    from tqdm.auto import tqdm

    tok = base.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    dev = next(lm.parameters()).device
    limit = lm.config.n_positions - n_virtual
    rng = np.random.default_rng([seed, 43])
    losses: list[float] = []
    epochs: list[float] = []
    bar = None
    for epoch in range(config.epochs):
        prompts, answers, weights = _examples(data, base.template, config, seed, sample_weight,
                                              epoch)
        p_ids = tok(prompts, add_special_tokens=False)["input_ids"]
        a_ids = tok(answers, add_special_tokens=False)["input_ids"]
        lengths = np.array([len(p) + len(a) for p, a in zip(p_ids, a_ids)])
        if lengths.max() > limit:
            raise ValueError(f"a training example has {lengths.max()} tokens but the LM takes "
                             f"{limit}; use a shorter template.max_history")
        order = rng.permutation(len(prompts))
        batches = [order[i:i + config.batch_size]
                   for i in range(0, len(order), config.batch_size)]
        if bar is None:
            bar = tqdm(total=len(batches) * config.epochs, desc=desc, disable=not progress,
                       leave=False)
        start = len(losses)
        for idx in batches:
            inp, att, answer = answer_batch(idx, p_ids, a_ids, lengths, pad)
            inp, att, answer = inp.to(dev), att.to(dev), answer.to(dev)
            per_ex = _answer_loss(lm.lm_head, hidden(inp, att), inp, answer)
            w = torch.as_tensor(weights[idx], dtype=per_ex.dtype, device=dev)
            optimizer_step(opt, (w * per_ex).mean(), params, losses, bar)
        epochs.append(float(np.mean(losses[start:])))
        if on_epoch is not None:
            on_epoch(epoch)
    if bar is not None:
        bar.close()
    return losses, epochs


def _meta(kind: str, base: HFRecommender, data: Any, config: Any, seed: int,
          sample_weight: Any, losses: list[float], epochs: list[float], started: float,
          **extra: Any) -> dict[str, Any]:
    head = max(1, len(losses) // (10 * len(epochs)))
    return {"format_version": _FORMAT_VERSION, "kind": kind, "seed": seed,
            "config": asdict(config), "base_fingerprint": base.fingerprint(),
            "base_path": str(base.path), "data_fingerprint": data.fingerprint(),
            "weighted": sample_weight is not None, "steps": len(losses),
            "train_seconds": round(time.perf_counter() - started, 2),
            "epoch_losses": epochs, "first_loss": float(np.mean(losses[:head])),
            "final_loss": epochs[-1], **extra}


def _root(cache_dir: str | os.PathLike | None) -> Path:
    return cache_root(cache_dir)


# ====================================================================== LoRA
_LORA_META = "recaudit_lora.json"


class LoRARecommender(HFRecommender):
    """The pre-trained LM with its LoRA adapter merged in, scored like any HF model.

    Build it with :func:`train_lora`. ``path`` is the merged model's folder, ``adapter_path``
    the peft adapter, ``base_path`` the frozen pre-trained LM it was learnt on. The
    fingerprint adds the cache key (every setting) to the merged weights'.
    """

    def __init__(self, folder: Path, data: Any, template: Any, *, base_path: Path,
                 adapter_path: Path, **options: Any) -> None:
        super().__init__(folder, data, template, **options)
        self.base_path = Path(base_path)
        self.adapter_path = Path(adapter_path)

    def fingerprint(self) -> str:
        return "LoRARecommender-" + stable_hash(super().fingerprint(),
                                                self.adapter_path.parent.name)

    def __repr__(self) -> str:
        return f"LoRARecommender(adapter={str(self.adapter_path)!r})"


def _lora_peft_config(config: LoRAConfig) -> Any:
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.CAUSAL_LM, r=int(config.r),
                      lora_alpha=float(config.alpha), lora_dropout=float(config.dropout),
                      target_modules=list(config.target_modules), fan_in_fan_out=True,
                      bias="none")


def _train_lora(base: HFRecommender, data: Any, config: LoRAConfig, seed: int,
                sample_weight: Any, progress: bool,
                on_epoch: Any = None) -> tuple[Any, list[float], list[float]]:
    """Wrap ``base.model`` in a fresh LoRA adapter (in place) and train only the adapter."""
    import torch
    from peft import get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(base.model, _lora_peft_config(config))
    peft_model.eval()  # the frozen LM without dropout ...
    for name, module in peft_model.named_modules():
        if "lora_dropout" in name:
            module.train()  # ... the adapter's own dropout on
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    lm = peft_model.get_base_model()  # GPT2LMHeadModel with the adapters injected

    def hidden(inp: Any, att: Any) -> Any:
        return lm.transformer(input_ids=inp, attention_mask=att).last_hidden_state

    losses, epochs = _train(hidden, lm, opt, params, base, data, config, seed, sample_weight,
                            0, "LoRA", progress, on_epoch)
    peft_model.eval()
    return peft_model, losses, epochs


def _merged_lora(base_folder: Path, adapter_folder: Path) -> Any:
    """A plain GPT-2 module: a fresh copy of the base with the adapter merged in."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(base_folder)
        merged = PeftModel.from_pretrained(model, adapter_folder).merge_and_unload()
    return merged.eval()


def train_lora(data: Any, pretrain_data: Any, seed: int = 0, *,
               config: LoRAConfig | None = None, lm_config: Any = None,
               sample_weight: Any = None, cache_dir: str | os.PathLike | None = None,
               progress: bool = True, **recommender_options: Any) -> LoRARecommender:
    """Pre-train the tiny LM on ``pretrain_data``, freeze it, learn a LoRA adapter on ``data``.

    Parameters
    ----------
    data : AuditDataset
        The audited users: the adapter is learnt on their training prompts.
    pretrain_data : AuditDataset
        Other users (none in common with ``data``) the base LM is pre-trained on with
        :func:`~recaudit.models.train_tiny_lm` (cached there; shared with the other arms
        that name the same ``lm_config``).
    seed : int
        Seeds the pre-training, the adapter's initialisation and its training order.
    config : LoRAConfig
        Adapter shape and recipe.
    lm_config : TinyLMConfig, optional
        The base LM's recipe (default: ``train_tiny_lm``'s).
    sample_weight : array-like, optional
        One loss weight per row of ``data.train``.
    cache_dir : path, optional
        Cache root (default ``$RECAUDIT_CACHE_DIR`` or ``~/.cache/recaudit``); the adapter and
        the merged model are stored in ``<cache_dir>/lora/<hash>`` (``adapter/``,
        ``merged/``, ``recaudit_lora.json`` with the per-epoch losses).
    **recommender_options
        Passed to :class:`HFRecommender` (``length_normalize``, ``device`` ...).

    Returns
    -------
    LoRARecommender
        An :class:`HFRecommender` over the merged model, with the ``train`` capability
        (``fit(new_data, seed=)`` learns a new adapter on the same base recipe).

    Examples
    --------
    >>> import recaudit as ra                                            # doctest: +SKIP
    >>> others, audited = ra.models.split_users(ra.datasets.synthetic(), 0.5)  # doctest: +SKIP
    >>> model = ra.models.train_lora(audited, others)                    # doctest: +SKIP
    """
    config = config if config is not None else LoRAConfig()
    root = _root(cache_dir)
    base = _pretrained_base(data, pretrain_data, seed, lm_config, root, progress)
    folder = _folder(root, "lora", data, base, config, seed, sample_weight)
    if not (folder / _LORA_META).exists():
        started = time.perf_counter()
        peft_model, losses, epochs = _train_lora(base, data, config, seed, sample_weight,
                                                 progress)
        with publish_folder(folder, _LORA_META) as tmp:
            with quiet_transformers():
                peft_model.save_pretrained(tmp / "adapter")
                merged = _merged_lora(base.path, tmp / "adapter")
                merged.save_pretrained(tmp / "merged", safe_serialization=True)
                base.tokenizer.save_pretrained(tmp / "merged")
            trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
            meta = _meta("lora", base, data, config, seed, sample_weight, losses, epochs,
                         started, trainable_parameters=int(trainable))
            (tmp / _LORA_META).write_text(json.dumps(meta, indent=2))

    def recipe(new_data: Any, seed: int = 0, sample_weight: Any = None) -> LoRARecommender:
        return train_lora(new_data, pretrain_data, seed, config=config, lm_config=lm_config,
                          sample_weight=sample_weight, cache_dir=root, progress=progress,
                          **recommender_options)

    return LoRARecommender(folder / "merged", data, base.template, base_path=base.path,
                           adapter_path=folder / "adapter", recipe=recipe,
                           **recommender_options)


# ====================================================================== prompt + LM tuning
_PLM_META = "recaudit_prompt_lm_tuning.json"


class PromptLMTunedRecommender(PromptTunedRecommender):
    """A soft prompt on an LM tuned with it (score mode only).

    Build it with :func:`train_prompt_lm_tuning`. ``base_path`` is the *tuned* LM's folder,
    ``adapter_path`` the soft prompt, ``pretrained_path`` the LM it started from.
    """

    def __init__(self, module: Any, tokenizer: Any, data: Any, template: Any, *,
                 pretrained_path: Path, **options: Any) -> None:
        super().__init__(module, tokenizer, data, template, **options)
        self.pretrained_path = Path(pretrained_path)

    def fingerprint(self) -> str:  # the weights' (LM and prompt) and the cache key
        return "PromptLMTunedRecommender-" + stable_hash(super().fingerprint(),
                                                         self.adapter_path.parent.name)

    def __repr__(self) -> str:
        return (f"PromptLMTunedRecommender(adapter={str(self.adapter_path)!r}, "
                f"num_virtual_tokens={self.model.n_virtual})")


def _train_prompt_lm(base: HFRecommender, data: Any, config: PromptLMConfig, seed: int,
                     sample_weight: Any, progress: bool,
                     on_epoch: Any = None) -> tuple[Any, list[float], list[float]]:
    """Wrap ``base.model`` with a soft prompt (in place) and train prompt and LM together."""
    import torch
    from peft import get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(base.model, _peft_config(config, base.path))
    lm = peft_model.get_base_model()
    prompt = [p for p in peft_model.prompt_encoder.parameters()]
    for p in lm.parameters():  # peft froze the LM: prompt + LM tuning trains it too
        p.requires_grad_(True)
    weights = list(lm.parameters())
    opt = torch.optim.AdamW([{"params": prompt, "lr": config.lr, "weight_decay": 0.0},
                             {"params": weights, "lr": config.lm_lr,
                              "weight_decay": config.weight_decay}])
    nv = int(config.num_virtual_tokens)
    peft_model.train()  # the LM's own dropout, as when it was pre-trained

    def hidden(inp: Any, att: Any) -> Any:
        emb = lm.get_input_embeddings()(inp)
        soft = peft_model.get_prompt(batch_size=len(inp)).to(emb.dtype)
        mask = torch.cat([torch.ones((len(inp), nv), dtype=att.dtype, device=att.device), att],
                         1)
        out = lm.transformer(inputs_embeds=torch.cat([soft, emb], 1), attention_mask=mask)
        return out.last_hidden_state[:, nv:]

    losses, epochs = _train(hidden, lm, opt, prompt + weights, base, data, config, seed,
                            sample_weight, nv, "prompt + LM tuning", progress, on_epoch)
    peft_model.eval()
    return peft_model, losses, epochs


def train_prompt_lm_tuning(data: Any, pretrain_data: Any, seed: int = 0, *,
                           config: PromptLMConfig | None = None, lm_config: Any = None,
                           sample_weight: Any = None,
                           cache_dir: str | os.PathLike | None = None, progress: bool = True,
                           **recommender_options: Any) -> PromptLMTunedRecommender:
    """Pre-train the tiny LM on ``pretrain_data``, then tune a soft prompt and the LM on ``data``.

    Parameters are those of :func:`train_lora` with ``config`` a :class:`PromptLMConfig`; the
    tuned LM (a transformers folder, ``lm/``) and the soft prompt (``adapter/``) are stored in
    ``<cache_dir>/prompt_lm_tuning/<hash>`` with ``recaudit_prompt_lm_tuning.json`` (the
    per-epoch losses).

    Returns
    -------
    PromptLMTunedRecommender
        Scores through the soft-prompt module of ``prompt_tuning`` on the tuned LM; with the
        ``train`` capability.

    Examples
    --------
    >>> import recaudit as ra                                            # doctest: +SKIP
    >>> others, audited = ra.models.split_users(ra.datasets.synthetic(), 0.5)  # doctest: +SKIP
    >>> model = ra.models.train_prompt_lm_tuning(audited, others)        # doctest: +SKIP
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if recommender_options.get("mode", "score") != "score":
        raise ValueError("a prompt + LM tuned recommender ranks by scoring (mode='score'); "
                         "free generation through a soft prompt is not supported")
    config = config if config is not None else PromptLMConfig()
    root = _root(cache_dir)
    base = _pretrained_base(data, pretrain_data, seed, lm_config, root, progress)
    folder = _folder(root, "prompt_lm_tuning", data, base, config, seed, sample_weight)
    if not (folder / _PLM_META).exists():
        started = time.perf_counter()
        peft_model, losses, epochs = _train_prompt_lm(base, data, config, seed, sample_weight,
                                                      progress)
        with publish_folder(folder, _PLM_META) as tmp:
            with quiet_transformers():
                peft_model.save_pretrained(tmp / "adapter")
                peft_model.get_base_model().save_pretrained(tmp / "lm", safe_serialization=True)
                base.tokenizer.save_pretrained(tmp / "lm")
            meta = _meta("prompt_lm_tuning", base, data, config, seed, sample_weight, losses,
                         epochs, started)
            (tmp / _PLM_META).write_text(json.dumps(meta, indent=2))
    with quiet_transformers():
        lm = AutoModelForCausalLM.from_pretrained(folder / "lm")
        tokenizer = AutoTokenizer.from_pretrained(folder / "lm")
        peft_model = PeftModel.from_pretrained(lm, folder / "adapter")
    peft_model.eval()

    def recipe(new_data: Any, seed: int = 0,
               sample_weight: Any = None) -> PromptLMTunedRecommender:
        return train_prompt_lm_tuning(new_data, pretrain_data, seed, config=config,
                                      lm_config=lm_config, sample_weight=sample_weight,
                                      cache_dir=root, progress=progress, **recommender_options)

    return PromptLMTunedRecommender(_soft_prompt_module(peft_model), tokenizer, data,
                                    base.template, base_path=folder / "lm",
                                    adapter_path=folder / "adapter", pretrained_path=base.path,
                                    recipe=recipe, **recommender_options)


# ====================================================================== model kinds
#: Entry keys besides the config's fields (``lm``: the base LM's TinyLMConfig fields).
_ENTRY_KEYS = ("kind", "seed", "cache_dir", "progress", "lm", "length_normalize", "device")


def _config_fields(cls: Any) -> list[str]:
    return [f.name for f in fields(cls)]


def lora_keys() -> list[str]:
    """The keys a ``{kind: lora}`` entry accepts."""
    return list(dict.fromkeys([*_ENTRY_KEYS, *_config_fields(LoRAConfig)]))


def prompt_lm_tuning_keys() -> list[str]:
    """The keys a ``{kind: prompt_lm_tuning}`` entry accepts."""
    return list(dict.fromkeys([*_ENTRY_KEYS, *_config_fields(PromptLMConfig)]))


def _build(train: Callable[..., Any], config_cls: Any, opts: dict[str, Any], data: Any,
           ctx: Any) -> Any:
    from ..lm import TinyLMConfig

    names = _config_fields(config_cls)
    cfg = {k: opts.pop(k) for k in list(opts) if k in names}
    lm = opts.pop("lm", None)
    opts.setdefault("progress", ctx.progress)
    return train(data, ctx.pretrain_data, ctx.seed, config=config_cls(**cfg),
                 lm_config=TinyLMConfig(**lm) if lm else None, **opts)


def build_lora(opts: dict[str, Any], data: Any, ctx: Any) -> LoRARecommender:
    """The ``lora`` model kind's builder (``recaudit.models._kinds``)."""
    return _build(train_lora, LoRAConfig, opts, data, ctx)


def build_prompt_lm_tuning(opts: dict[str, Any], data: Any,
                           ctx: Any) -> PromptLMTunedRecommender:
    """The ``prompt_lm_tuning`` model kind's builder (``recaudit.models._kinds``)."""
    return _build(train_prompt_lm_tuning, PromptLMConfig, opts, data, ctx)
