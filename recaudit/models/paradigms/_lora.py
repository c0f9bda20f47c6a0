"""Adapter fine-tuning (LoRA) on a tiny LM pre-trained on other users.

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022, as TALLRec (Bao et
al., RecSys 2023) tunes an LLM recommender; one branch of the "pre-train, prompt and predict"
family the tutorial surveys (Liu et al., ACM Computing Surveys 2023). The pre-trained LM is
frozen and low-rank updates ``B A`` (rank ``r``, scale ``alpha / r``) of its projection
matrices are learnt with ``peft.LoraConfig``. GPT-2's projections are ``Conv1D`` modules
(weights stored input x output), hence ``fan_in_fan_out=True``. For inference the adapter is
merged (``merge_and_unload``) into a copy of the base: a plain GPT-2 folder the fast
:class:`~recaudit.models.HFRecommender` scorer reads like any model.

It starts from the cached base every pre-trained arm shares, trains on the audited users'
cloze examples with the answer-token loss (:mod:`._shared`), and is cached in
``<cache_dir>/lora/<hash>`` with ``recaudit_lora.json`` (the per-epoch training losses).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...contract import stable_hash
from ..lm import HFRecommender, quiet_transformers
from ._shared import (
    arm_checkpoint,
    arm_keys,
    arm_start,
    build_arm,
    check_recipe,
    publish_arm,
    train_on_cloze,
    training_record,
)

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
        check_recipe(self)



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
                sample_weight: Any, progress: bool, on_epoch: Any = None,
                checkpoint: Any = None) -> tuple[Any, list[float], list[float]]:
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

    losses, epochs = train_on_cloze(hidden, lm, opt, params, base, data, config, seed,
                                    sample_weight, 0, "LoRA", progress, on_epoch=on_epoch,
                                    checkpoint=checkpoint)
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
    root, base, folder = arm_start("lora", data, pretrain_data, seed, config, lm_config,
                                   sample_weight, cache_dir, progress)

    def write(tmp: Path) -> dict[str, Any]:
        started = time.perf_counter()
        peft_model, losses, epochs = _train_lora(base, data, config, seed, sample_weight,
                                                 progress, checkpoint=arm_checkpoint(folder))
        with quiet_transformers():
            peft_model.save_pretrained(tmp / "adapter")
            merged = _merged_lora(base.path, tmp / "adapter")
            merged.save_pretrained(tmp / "merged", safe_serialization=True)
            base.tokenizer.save_pretrained(tmp / "merged")
        trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
        return training_record("lora", base, data, config, seed, sample_weight, losses,
                               epochs, started, trainable_parameters=int(trainable))

    publish_arm(folder, "lora", write)

    def recipe(new_data: Any, seed: int = 0, sample_weight: Any = None) -> LoRARecommender:
        return train_lora(new_data, pretrain_data, seed, config=config, lm_config=lm_config,
                          sample_weight=sample_weight, cache_dir=root, progress=progress,
                          **recommender_options)

    return LoRARecommender(folder / "merged", data, base.template, base_path=base.path,
                           adapter_path=folder / "adapter", recipe=recipe,
                           **recommender_options)


# ====================================================================== model kind
def lora_keys() -> list[str]:
    """The keys a ``{kind: lora}`` entry accepts."""
    return arm_keys(LoRAConfig)


def build_lora(opts: dict[str, Any], data: Any, ctx: Any) -> LoRARecommender:
    """The ``lora`` model kind's builder (``recaudit.models._kinds``)."""
    return build_arm(train_lora, LoRAConfig, opts, data, ctx)
