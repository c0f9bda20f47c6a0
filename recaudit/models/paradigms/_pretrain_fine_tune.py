"""Pre-train and fine-tune: the tiny GPT-2 pre-trained on other users, then every weight
fine-tuned on the audited users with the tiny LM's own recipe (``train_tiny_lm`` with
``init_from``), the classic transfer-learning arm of the paradigm study."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ._shared import arm_keys


def pretrain_fine_tune_keys() -> list[str]:
    """The keys a ``{kind: pretrain_fine_tune}`` entry accepts: the fine-tuning's
    ``TinyLMConfig`` fields at the top, the pre-training's under ``lm``."""
    from ..lm import TinyLMConfig

    return list(dict.fromkeys([*arm_keys(), *(f.name for f in fields(TinyLMConfig))]))


def build_pretrain_fine_tune(opts: dict[str, Any], data: Any, ctx: Any) -> Any:
    """The ``pretrain_fine_tune`` model kind's builder (``recaudit.models._kinds``)."""
    from ..lm import TinyLMConfig, train_tiny_lm

    lm = opts.pop("lm", None)
    names = [f.name for f in fields(TinyLMConfig)]
    cfg = {k: opts.pop(k) for k in list(opts) if k in names}
    opts.setdefault("progress", ctx.progress)
    store = {k: opts[k] for k in ("cache_dir", "progress") if k in opts}
    base = train_tiny_lm(ctx.pretrain_data, ctx.seed,
                         config=TinyLMConfig(**lm) if lm else None, **store)
    return train_tiny_lm(data, ctx.seed, config=TinyLMConfig(**cfg), init_from=base, **opts)
