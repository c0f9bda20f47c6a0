"""Prompt tuning: a soft prompt learned with ``peft`` on a frozen language model.

Lester, Al-Rfou & Constant, "The Power of Scale for Parameter-Efficient Prompt Tuning",
EMNLP 2021; as a recommendation paradigm, e.g. PEPLER (Li et al., TOIS 2023) and the
"prompt tuning" branch of the pre-train, prompt and predict survey (Geng et al., RecSys
2022). The language model is the embedded tiny GPT-2 pre-trained with
:func:`~recaudit.models.train_tiny_lm` on *other* users (a disjoint set), then frozen; only
``num_virtual_tokens`` input embeddings prepended to every prompt are learnt
(``peft.PromptTuningConfig``), on the audited users' training prompts (the same template,
cloze contexts, stated profiles on a share of them). The result is an
:class:`~recaudit.models.HFRecommender` whose scores and likelihoods come from the peft model,
so every auditor reaches it through the path a real LLM takes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..._paths import cache_root
from ...contract import Request, stable_hash
from .._artifacts import publish_folder
from ..lm import HFRecommender, quiet_transformers

_FORMAT_VERSION = 1


@dataclass(frozen=True)
class SoftPromptConfig:
    """Soft-prompt size and training recipe.

    Parameters
    ----------
    num_virtual_tokens : int
        Learnt input embeddings prepended to every prompt.
    init : {"sample_vocab", "random", "text"}
        ``peft.PromptTuningInit``: copies of random vocabulary embeddings (default, the same
        scale as real tokens), N(0, 1), or the embeddings of ``init_text``.
    init_text : str
        Text whose token embeddings start the soft prompt when ``init="text"``.
    epochs, batch_size : int
        Passes over the audited users' training examples, examples per step.
    lr : float
        AdamW learning rate of the soft prompt (prompt tuning needs a large one).
    profile_share : float
        Share of training prompts that state the user's sensitive attributes (a random
        non-empty subset), as the tiny LM's own recipe does.
    """

    num_virtual_tokens: int = 8
    init: str = "sample_vocab"
    init_text: str = "Recommend the next movie for this user."
    epochs: int = 3
    batch_size: int = 32
    lr: float = 3e-2
    profile_share: float = 0.5


def _soft_prompt_module(peft_model: Any) -> Any:
    """A causal-LM module the HFRecommender scorer can drive with a key/value cache.

    The first call (no cache) reads the soft prompt from the peft model
    (``get_prompt``) and places it before the prompt: its positions are 0..n-1 and the
    prompt's are shifted by n, so a left-padded prompt with explicit ``position_ids`` and an
    ``attention_mask`` reads exactly as unpadded. The logits of the virtual positions are
    dropped so they align with ``input_ids``. Calls that continue a cache go to the frozen
    base model with positions shifted by n and the mask extended over the virtual tokens
    (the soft prompt is already in the cache). A 2-D 0/1 mask, a 4-D boolean mask or a 4-D
    additive float mask (0 = visible) gets the virtual columns prepended as visible.
    """
    import inspect

    import torch

    base = peft_model.get_base_model()
    n_virtual = int(peft_model.active_peft_config.num_virtual_tokens)
    base_cache_kw = ("cache" if "cache" in inspect.signature(base.forward).parameters
                     else "past_key_values")

    class SoftPromptLM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.peft_model = peft_model
            self.n_virtual = n_virtual

        @property
        def config(self) -> Any:
            return base.config

        def get_input_embeddings(self) -> Any:
            return base.get_input_embeddings()

        def forward(self, input_ids: Any = None, attention_mask: Any = None,
                    inputs_embeds: Any = None, position_ids: Any = None, cache: Any = None,
                    past_key_values: Any = None, use_cache: Any = None, **kwargs: Any) -> Any:
            nv = self.n_virtual
            past = cache if cache is not None else past_key_values
            if inputs_embeds is None:
                inputs_embeds = base.get_input_embeddings()(input_ids)
            batch, length = inputs_embeds.shape[:2]
            if attention_mask is not None:  # the virtual tokens are always visible
                m = attention_mask
                keep = (torch.ones if m.dtype == torch.bool or m.dim() == 2 else torch.zeros)(
                    (*m.shape[:-1], nv), dtype=m.dtype, device=m.device)
                attention_mask = torch.cat([keep, m], -1)
            if past is not None and past.get_seq_length() > 0:
                if position_ids is None:
                    start = past.get_seq_length()
                    position_ids = torch.arange(start, start + length,
                                                device=inputs_embeds.device)[None]
                else:
                    position_ids = position_ids + nv
                return base(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                            position_ids=position_ids, use_cache=use_cache,
                            **{base_cache_kw: past}, **kwargs)
            soft = self.peft_model.get_prompt(batch_size=batch).to(inputs_embeds.dtype)
            if position_ids is not None:
                position_ids = torch.cat([torch.arange(nv, device=position_ids.device)
                                          .expand(batch, nv), position_ids + nv], 1)
            out = base(inputs_embeds=torch.cat([soft, inputs_embeds], 1),
                       attention_mask=attention_mask, position_ids=position_ids,
                       use_cache=use_cache, **kwargs)
            extra = out.logits.shape[1] - length
            if extra > 0:
                out.logits = out.logits[:, extra:]
            return out

    return SoftPromptLM().eval()


class PromptTunedRecommender(HFRecommender):
    """An :class:`HFRecommender` over a frozen LM with a learnt soft prompt (score mode only).

    Build it with :func:`train_prompt_tuning`. ``base_path`` is the frozen model's folder and
    ``adapter_path`` the peft adapter folder.
    """

    def __init__(self, module: Any, tokenizer: Any, data: Any, template: Any, *,
                 base_path: Path, adapter_path: Path, **options: Any) -> None:
        if options.get("mode", "score") != "score":
            raise ValueError("a prompt-tuned recommender ranks by scoring (mode='score'); free "
                             "generation through a soft prompt is not supported")
        super().__init__((module, tokenizer), data, template, **options)
        self.base_path = Path(base_path)
        self.adapter_path = Path(adapter_path)

    def __repr__(self) -> str:
        return (f"PromptTunedRecommender(adapter={str(self.adapter_path)!r}, "
                f"num_virtual_tokens={self.model.n_virtual})")


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


def _examples(data: Any, template: Any, config: SoftPromptConfig, seed: int,
              sample_weight: Any, draw: int) -> tuple[list[str], list[str], np.ndarray]:
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


def _peft_config(config: SoftPromptConfig, base_folder: Path) -> Any:
    from peft import PromptTuningConfig, PromptTuningInit, TaskType

    inits = {"sample_vocab": PromptTuningInit.SAMPLE_VOCAB, "random": PromptTuningInit.RANDOM,
             "text": PromptTuningInit.TEXT}
    if config.init not in inits:
        raise ValueError(f"SoftPromptConfig.init must be one of {sorted(inits)}, got "
                         f"{config.init!r}")
    extra = ({"prompt_tuning_init_text": config.init_text,
              "tokenizer_name_or_path": str(base_folder)} if config.init == "text" else {})
    return PromptTuningConfig(task_type=TaskType.CAUSAL_LM,
                              num_virtual_tokens=config.num_virtual_tokens,
                              prompt_tuning_init=inits[config.init], **extra)


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


def _train_adapter(base: HFRecommender, data: Any, config: SoftPromptConfig, seed: int,
                   sample_weight: Any, folder: Path, progress: bool) -> None:
    import torch
    from peft import get_peft_model
    from tqdm.auto import tqdm

    started = time.perf_counter()
    torch.manual_seed(seed)
    peft_model = get_peft_model(base.model, _peft_config(config, base.path))
    peft_model.eval()  # the frozen LM without dropout; only the soft prompt trains
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    tok = base.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    nv = config.num_virtual_tokens
    rng = np.random.default_rng([seed, 37])
    n_steps = None
    losses: list[float] = []
    bar = None
    for epoch in range(config.epochs):
        prompts, answers, weights = _examples(data, base.template, config, seed,
                                              sample_weight, epoch)
        p_ids = tok(prompts, add_special_tokens=False)["input_ids"]
        a_ids = tok(answers, add_special_tokens=False)["input_ids"]
        lengths = np.array([len(p) + len(a) for p, a in zip(p_ids, a_ids)])
        limit = base.model.config.n_positions - nv
        if lengths.max() > limit:
            raise ValueError(f"a training example has {lengths.max()} tokens but the frozen "
                             f"LM takes {limit} after {nv} virtual tokens; use fewer "
                             "num_virtual_tokens or a shorter template.max_history")
        order = rng.permutation(len(prompts))
        batches = [order[i:i + config.batch_size]
                   for i in range(0, len(order), config.batch_size)]
        if bar is None:
            n_steps = len(batches) * config.epochs
            bar = tqdm(total=n_steps, desc="prompt tuning", disable=not progress, leave=False)
        for idx in batches:
            inp, att, answer = answer_batch(idx, p_ids, a_ids, lengths, pad)
            logits = peft_model(input_ids=inp, attention_mask=att).logits[:, nv:-1]
            target, where = inp[:, 1:], answer[:, 1:]
            tok_loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
            tok_loss = (tok_loss.view(target.shape) * where).sum(-1) / where.sum(-1).clamp(min=1)
            loss = (torch.as_tensor(weights[idx], dtype=tok_loss.dtype) * tok_loss).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    if bar is not None:
        bar.close()
    with publish_folder(folder, "adapter_config.json") as tmp:
        with quiet_transformers():
            peft_model.save_pretrained(tmp)
        meta = {"format_version": _FORMAT_VERSION, "seed": seed, "config": asdict(config),
                "base_fingerprint": base.fingerprint(), "base_path": str(base.path),
                "data_fingerprint": data.fingerprint(), "weighted": sample_weight is not None,
                "steps": n_steps, "train_seconds": round(time.perf_counter() - started, 2),
                "first_loss": float(np.mean(losses[:max(1, len(losses) // (
                    10 * max(1, config.epochs)))])) if losses else None,
                "final_loss": float(np.mean(losses[-max(1, len(losses) // max(
                    1, config.epochs)):])) if losses else None}
        (tmp / "recaudit_prompt_tuning.json").write_text(json.dumps(meta, indent=2))


def train_prompt_tuning(data: Any, pretrain_data: Any, seed: int = 0, *,
                        config: SoftPromptConfig | None = None, lm_config: Any = None,
                        sample_weight: Any = None, cache_dir: str | os.PathLike | None = None,
                        progress: bool = True, **recommender_options: Any) -> HFRecommender:
    """Pre-train the tiny LM on ``pretrain_data``, freeze it, learn a soft prompt on ``data``.

    Parameters
    ----------
    data : AuditDataset
        The audited users: the soft prompt is learnt on their training prompts.
    pretrain_data : AuditDataset
        Other users (no user in common with ``data``) the frozen LM is pre-trained on, with
        :func:`~recaudit.models.train_tiny_lm` (cached there).
    seed : int
        Seeds the LM pre-training, the soft prompt's initialisation and its training order.
    config : SoftPromptConfig
        Soft-prompt size and recipe.
    lm_config : TinyLMConfig, optional
        The frozen LM's recipe (default: ``train_tiny_lm``'s).
    sample_weight : array-like, optional
        One loss weight per row of ``data.train``.
    cache_dir : path, optional
        Cache root (default ``$RECAUDIT_CACHE_DIR`` or ``~/.cache/recaudit``); the adapter is
        stored in ``<cache_dir>/prompt_tuning/<hash>`` keyed by both datasets, the frozen
        LM's weights, the config, the seed and the weights.
    **recommender_options
        Passed to :class:`HFRecommender` (``length_normalize``, ``batch_size`` ...).

    Returns
    -------
    PromptTunedRecommender
        With the ``train`` capability: ``fit(new_data, seed=)`` learns a new soft prompt on
        the same frozen LM recipe.

    Examples
    --------
    >>> import recaudit as ra                                            # doctest: +SKIP
    >>> world = ra.datasets.synthetic(n_users=600, seed=0)                # doctest: +SKIP
    >>> others, audited = ra.models.split_users(world, pretrain_share=0.5)  # doctest: +SKIP
    >>> model = ra.models.train_prompt_tuning(audited, others)            # doctest: +SKIP
    """
    from peft import PeftModel

    from ..lm import train_tiny_lm

    config = config if config is not None else SoftPromptConfig()
    shared = set(data.user_ids) & set(pretrain_data.user_ids)
    if shared:
        raise ValueError(f"pretrain_data and data share {len(shared)} user(s) (e.g. "
                         f"{sorted(shared)[:3]}); the frozen LM must be pre-trained on other "
                         "users: use recaudit.models.split_users")
    root = cache_root(cache_dir)
    lm_kwargs = {"config": lm_config} if lm_config is not None else {}
    base = train_tiny_lm(pretrain_data, seed, cache_dir=root, progress=progress, **lm_kwargs)
    if base.path is None:
        raise ValueError("train_tiny_lm returned a model without a folder; cannot cache")
    if sample_weight is None:
        wkey = "none"
    else:
        wkey = stable_hash(np.round(np.asarray(sample_weight, dtype=float), 12).tolist())
    folder = root / "prompt_tuning" / stable_hash(
        _FORMAT_VERSION, data.fingerprint(), base.fingerprint(), asdict(config), seed, wkey)
    if not (folder / "adapter_config.json").exists():
        _train_adapter(base, data, config, seed, sample_weight, folder, progress)
        # training wrapped base.model in place: load a clean frozen copy for inference
        base = train_tiny_lm(pretrain_data, seed, cache_dir=root, progress=progress,
                             **lm_kwargs)
    with quiet_transformers():
        peft_model = PeftModel.from_pretrained(base.model, folder)
    peft_model.eval()
    module = _soft_prompt_module(peft_model)

    def recipe(new_data: Any, seed: int = 0, sample_weight: Any = None) -> HFRecommender:
        return train_prompt_tuning(new_data, pretrain_data, seed, config=config,
                                   lm_config=lm_config, sample_weight=sample_weight,
                                   cache_dir=root, progress=progress, **recommender_options)

    return PromptTunedRecommender(module, base.tokenizer, data, base.template,
                                  base_path=base.path, adapter_path=folder, recipe=recipe,
                                  **recommender_options)
