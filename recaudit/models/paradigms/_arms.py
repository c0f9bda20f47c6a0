"""The built-in recommendation paradigms, each a ``Recommender`` built on one dataset.

A paradigm study audits the same users with models trained the way each paradigm trains
(Geng et al., "Recommendation as Language Processing", RecSys 2022; the trustworthy LLM
recommendation tutorial this project follows):

- ``tiny_lm``: the embedded GPT-2 trained from scratch on the audited users' histories
  (:func:`~recaudit.models.train_tiny_lm`);
- ``pretrain_fine_tune``: pre-train and fine-tune: the same GPT-2 pre-trained on other users,
  then fine-tuned on the audited users (``train_tiny_lm(..., init_from=)``);
- ``embedding``: pre-train, prompt and predict, zero-shot: the packaged MiniLM sentence
  encoder reads the history titles, nothing is trained (:class:`EmbeddingRecommender`);
- ``prompt_tuning``: a soft prompt learnt with ``peft`` on a frozen LM pre-trained on other
  users (:func:`~recaudit.models.train_prompt_tuning`);
- ``zero_shot_lm``: tuning-free prompting: that pre-trained LM asked as is, no update;
- ``few_shot_lm``: in-context prompting: the same frozen LM with other users' history ->
  next item demonstrations in the prompt (:func:`~recaudit.models.train_few_shot_lm`);
- ``lora``: adapter fine-tuning: peft LoRA adapters on the frozen pre-trained LM
  (:func:`~recaudit.models.train_lora`);
- ``prompt_lm_tuning``: prompt + LM tuning: a soft prompt and the LM's weights tuned together
  (:func:`~recaudit.models.train_prompt_lm_tuning`);
- ``instruction_tuning``: instruction tuning (TALLRec): the pre-trained LM tuned on yes/no
  "will I like X?" instructions, ranking by P(Yes)
  (:func:`~recaudit.models.train_instruction_tuning`);
- classic non-language references: ``most_popular``, ``item_knn`` (item-to-item
  co-occurrence) and ``sasrec`` (ID-based causal self-attention).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Label -> model entry of the default study (the order of the report's tables).
DEFAULT_PARADIGMS: dict[str, dict[str, Any]] = {
    "fine_tuned_lm": {"kind": "tiny_lm"},
    "pretrained_fine_tuned_lm": {"kind": "pretrain_fine_tune"},
    "zero_shot_minilm": {"kind": "embedding"},
    "prompt_tuning": {"kind": "prompt_tuning"},
    "zero_shot_lm": {"kind": "zero_shot_lm"},
    "few_shot_lm": {"kind": "few_shot_lm"},
    "lora": {"kind": "lora"},
    "prompt_lm_tuning": {"kind": "prompt_lm_tuning"},
    "instruction_tuning": {"kind": "instruction_tuning"},
    "most_popular": {"kind": "most_popular"},
    "item_knn": {"kind": "item_knn"},
    "sasrec": {"kind": "sasrec"},
}


def build_paradigm(entry: Mapping[str, Any], data: Any, *, seed: int = 0,
                   pretrain_data: Any = None, progress: bool = True) -> Any:
    """The model a ``{kind:, **options}`` entry describes, trained (or loaded) on ``data``.

    Parameters
    ----------
    entry : mapping
        ``kind`` (a name in :data:`recaudit.models.MODEL_KINDS`) and its options: ``TinyLMConfig`` fields for
        ``tiny_lm``; ``SoftPromptConfig`` fields and ``lm`` (``TinyLMConfig`` fields of the
        frozen LM) for ``prompt_tuning``; ``TinyLMConfig`` fields (the fine-tuning recipe)
        and ``lm`` (the pre-training recipe) for ``pretrain_fine_tune``; ``SASRecConfig``
        fields for ``sasrec``;
        ``n_neighbors``/``shrink`` for ``item_knn``; the adapters' keywords otherwise.
    data : AuditDataset
        The audited users.
    seed : int
        Training seed (an entry's own ``seed`` wins).
    pretrain_data : AuditDataset, optional
        Other users, required by ``prompt_tuning`` and ``pretrain_fine_tune``.

    Examples
    --------
    >>> import recaudit as ra
    >>> data = ra.datasets.synthetic(n_users=40, n_items=30, seed=0)
    >>> build_paradigm({"kind": "item_knn", "n_neighbors": 10}, data)
    ItemKNN(n_neighbors=10, shrink=10.0)
    """
    from ...errors import UnknownNameError
    from .._kinds import BuildContext, build_model, model_kind

    try:
        model_kind(entry.get("kind"))
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None
    return build_model(entry, data, BuildContext(seed=seed, pretrain_data=pretrain_data,
                                                 progress=progress))


def build_paradigms(data: Any, entries: Mapping[str, Any] | None = None, *,
                    pretrain_data: Any = None, seed: int = 0,
                    progress: bool = True) -> dict[str, Any]:
    """``{label: model}`` for every entry (default :data:`DEFAULT_PARADIGMS`).

    Examples
    --------
    >>> import recaudit as ra                                                 # doctest: +SKIP
    >>> others, audited = ra.models.split_users(ra.datasets.synthetic(n_users=600))  # doctest: +SKIP
    >>> models = ra.models.build_paradigms(audited, pretrain_data=others)     # doctest: +SKIP
    """
    entries = DEFAULT_PARADIGMS if entries is None else entries
    return {str(label): build_paradigm(entry, data, seed=seed, pretrain_data=pretrain_data,
                                       progress=progress)
            for label, entry in entries.items()}
