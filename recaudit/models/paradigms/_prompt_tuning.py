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

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lm import HFRecommender, quiet_transformers
from ._shared import (
    arm_checkpoint,
    arm_keys,
    arm_start,
    build_arm,
    pretrained_base,
    publish_arm,
    soft_prompt_hidden,
    train_on_cloze,
    training_record,
)


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


def _train_soft_prompt(base: HFRecommender, data: Any, config: SoftPromptConfig, seed: int,
                      sample_weight: Any, progress: bool, on_epoch: Any = None,
                      checkpoint: Any = None) -> tuple[Any, list[float], list[float]]:
    """Wrap ``base.model`` with a fresh soft prompt (in place) and train only the prompt.

    The frozen LM runs without dropout; gradients are not clipped (the large learning rate
    of prompt tuning needs no guard) and the example order is its own seeded stream.
    """
    import torch
    from peft import get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(base.model, _peft_config(config, base.path))
    peft_model.eval()  # the frozen LM without dropout; only the soft prompt trains
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    nv = int(config.num_virtual_tokens)
    losses, epochs = train_on_cloze(soft_prompt_hidden(peft_model, nv),
                                    peft_model.get_base_model(), opt, params, base, data,
                                    config, seed, sample_weight, nv, "prompt tuning",
                                    progress, max_grad_norm=None, order_stream=37,
                                    on_epoch=on_epoch, checkpoint=checkpoint)
    return peft_model, losses, epochs


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

    config = config if config is not None else SoftPromptConfig()
    root, base, folder = arm_start("prompt_tuning", data, pretrain_data, seed, config, lm_config,
                                   sample_weight, cache_dir, progress)

    def write(tmp: Path) -> dict[str, Any]:
        started = time.perf_counter()
        peft_model, losses, epochs = _train_soft_prompt(
            base, data, config, seed, sample_weight, progress,
            checkpoint=arm_checkpoint(folder))
        with quiet_transformers():
            peft_model.save_pretrained(tmp)
        return training_record("prompt_tuning", base, data, config, seed, sample_weight,
                               losses, epochs, started)

    if publish_arm(folder, "prompt_tuning", write):
        # training wrapped base.model in place: load a clean frozen copy for inference
        base = pretrained_base(data, pretrain_data, seed, lm_config, root, progress)
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


# ====================================================================== model kind
def prompt_tuning_keys() -> list[str]:
    """The keys a ``{kind: prompt_tuning}`` entry accepts."""
    return arm_keys(SoftPromptConfig)


def build_prompt_tuning(opts: dict[str, Any], data: Any, ctx: Any) -> HFRecommender:
    """The ``prompt_tuning`` model kind's builder (``recaudit.models._kinds``)."""
    return build_arm(train_prompt_tuning, SoftPromptConfig, opts, data, ctx)
