"""Prompt + LM tuning on a tiny LM pre-trained on other users.

P-tuning v2 (Liu et al., ACL 2022; the "prompt + LM tuning" branch of Liu et al.'s survey,
ACM Computing Surveys 2023): a ``peft`` soft prompt, as in prompt tuning (Lester et al.,
EMNLP 2021), and every weight of the LM tuned together, two AdamW parameter groups (a large
learning rate for the prompt, a small one for the LM). Scoring goes through the same
soft-prompt module as ``prompt_tuning``. Trained on the audited users' cloze examples with the
answer-token loss (:mod:`._shared`), cached in ``<cache_dir>/prompt_lm_tuning/<hash>`` with
``recaudit_prompt_lm_tuning.json`` (the per-epoch losses).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...contract import stable_hash
from ..lm import HFRecommender, quiet_transformers
from ._prompt_tuning import PromptTunedRecommender, _peft_config, _soft_prompt_module
from ._shared import (
    arm_checkpoint,
    arm_keys,
    arm_start,
    build_arm,
    check_recipe,
    publish_arm,
    soft_prompt_hidden,
    train_on_cloze,
    training_record,
)


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
        check_recipe(self)


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
                     sample_weight: Any, progress: bool, on_epoch: Any = None,
                     checkpoint: Any = None) -> tuple[Any, list[float], list[float]]:
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
    losses, epochs = train_on_cloze(soft_prompt_hidden(peft_model, nv), lm, opt,
                                    prompt + weights, base, data, config, seed, sample_weight,
                                    nv, "prompt + LM tuning", progress, on_epoch=on_epoch,
                                    checkpoint=checkpoint)
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
    root, base, folder = arm_start("prompt_lm_tuning", data, pretrain_data, seed, config, lm_config,
                                   sample_weight, cache_dir, progress)

    def write(tmp: Path) -> dict[str, Any]:
        started = time.perf_counter()
        peft_model, losses, epochs = _train_prompt_lm(base, data, config, seed, sample_weight,
                                                      progress,
                                                      checkpoint=arm_checkpoint(folder))
        with quiet_transformers():
            peft_model.save_pretrained(tmp / "adapter")
            peft_model.get_base_model().save_pretrained(tmp / "lm", safe_serialization=True)
            base.tokenizer.save_pretrained(tmp / "lm")
        return training_record("prompt_lm_tuning", base, data, config, seed, sample_weight,
                               losses, epochs, started)

    publish_arm(folder, "prompt_lm_tuning", write)
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


# ====================================================================== model kind
def prompt_lm_tuning_keys() -> list[str]:
    """The keys a ``{kind: prompt_lm_tuning}`` entry accepts."""
    return arm_keys(PromptLMConfig)


def build_prompt_lm_tuning(opts: dict[str, Any], data: Any,
                           ctx: Any) -> PromptLMTunedRecommender:
    """The ``prompt_lm_tuning`` model kind's builder (``recaudit.models._kinds``)."""
    return build_arm(train_prompt_lm_tuning, PromptLMConfig, opts, data, ctx)
