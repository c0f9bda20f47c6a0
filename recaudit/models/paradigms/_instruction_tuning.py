"""Instruction tuning (TALLRec): yes/no "will I like X?" instructions, ranked by P(Yes).

Bao, Zhang, Zhang, Wang, Feng & He, "TALLRec: An Effective and Efficient Tuning Framework to
Align Large Language Model with Recommendation", RecSys 2023. The LM pre-trained on other
users is tuned on recommendation instructions: the user's history (and, on a share of the
prompts, the stated profile), a question naming one target item, and the answer "Yes" or
"No", the loss on the answer only (TALLRec's ``train_on_inputs=False``). A candidate is
scored, as in TALLRec's ``evaluate.py``, by the probability of "Yes" renormalised over the
two answers, ``P(Yes) / (P(Yes) + P(No))`` at the first answer token where they differ; the
recommender returns its logarithm, so ``rank`` orders candidates (or the catalog) by it and
``nll(target)`` is ``-log`` of it: the instruction loss of the target as a positive example.

Conventions where this differs from TALLRec, and why:

- **Every weight tuned, not LoRA.** TALLRec tunes LoRA adapters of LLaMA-7B, which already
  reads English. The tiny LM has never seen "Yes" or "No": LoRA on it learns the answer
  format but not to tell items apart, while tuning every weight (AdamW) does
  (docs/measurements.md has the study's numbers). LoRA on the same base is the ``lora`` arm.
- **Implicit feedback.** TALLRec's "Yes" / "No" come from ratings (> 3 liked). The audited
  data are interactions, so each train interaction held out of its own context (the cloze
  examples every LM arm trains on, :func:`~recaudit.models.paradigms._shared.cloze_requests`) is
  a "Yes", and ``n_negatives`` items drawn uniformly from those the user has not interacted
  with in the train split are "No" under the same prompt: the usual conversion of implicit
  feedback to binary labels (TALLRec's data are balanced; 3 negatives here, see
  :class:`InstructionConfig`). Uniform negatives make popular items more often "Yes", a
  popularity signal the popularity-bias auditor then measures.
- **Multi-token answers.** LLaMA has one token each for "Yes" and "No" and TALLRec reads
  their two logits at the first answer position. The tiny LM's byte-level tokenizer splits
  them (" Yes\\n" = "Ġ", "Y", "es", "Ċ"; " No\\n" = "Ġ", "No", "Ċ"), so the same rule is
  applied at the first position where the two answers' tokens differ: after the shared
  "Ġ", ``P("Y") / (P("Y") + P("No"))``. Training reads every answer token, as TALLRec's
  does.
- **One prompt pass per user.** The question's shared text ends the prompt and the item
  follows it, so the prompt is scored once and every candidate is one continuation (``" " +
  title``, ``answer_cue``, the answers' shared tokens) after which both decisive tokens are
  read (:func:`~._hf_scoring.score_batch` with ``next_tokens``), as every other LM arm
  scores titles. Training packs a prompt's questions the same way (:func:`packed_batch`).
  Each part is tokenized on its own, in training and in scoring alike, so both read the same
  tokens.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ...contract import stable_hash
from ..lm import HFRecommender, quiet_transformers, score_batch, score_prompts
from ._shared import (
    Checkpoint,
    answer_loss,
    arm_checkpoint,
    arm_keys,
    arm_start,
    build_arm,
    cloze_requests,
    publish_arm,
    run_epochs,
    training_record,
)


@dataclass(frozen=True)
class InstructionConfig:
    """Instruction wording, negative sampling and the tuning recipe.

    Parameters
    ----------
    question : str
        The prompt's last line, before the item's title (it replaces the template's
        ``answer_cue``): "... I have watched: A; B.\\nWill I like" + " Title" + "?" + " Yes".
    answer_cue : str
        Text after the title, before the answer.
    yes, no : str
        The two answers (each follows one space and ends with the template's end marker).
    n_negatives : int
        "No" examples per "Yes" example: items drawn uniformly from those the user has not
        interacted with in the train split (without replacement per example).
    epochs : int
        Passes over the audited users' train interactions (fresh contexts, stated profiles
        and negatives each epoch).
    batch_size : int
        Prompts per step; each carries its "Yes" and its ``n_negatives`` "No" examples.
    lr, weight_decay : float
        AdamW on every weight of the LM (constant learning rate, gradients clipped at 1).
    profile_share : float
        Share of training prompts that state the user's sensitive attributes.
    max_prompts : int or None
        Most training prompts over all epochs (``None``: no cap); the run stops there, the
        last epoch partial. TALLRec itself tunes on a few hundred samples. The default
        20,000 does not bind at the paradigm study's sizes (1,596 prompts x 5 epochs) and
        keeps MovieLens-100K's audited half (about 50,000 train interactions an epoch) to
        some 1,250 steps instead of 15,000.

    Defaults measured at the paradigm study's sizes (synthetic 300 users x 200 items, half
    pre-training a ``TinyLMConfig(epochs=5)`` base; NDCG@10 of held-out items over the whole
    catalog, seeds 0/1/2, the zero-shot base 0.136/0.143/0.145): 3 negatives at lr 2e-3 for
    5 epochs reach 0.154/0.137/0.161, about 17 s a seed on 2 cores. One negative (TALLRec's
    balance) at lr 1e-3 stays at chance on seed 1 (0.067 after 6 epochs, seed 0 0.158):
    more "No" questions per prompt, nearly free when packed, make the signal steady. Without
    the LM's dropout training is 30% faster but seed 1 collapses (0.086).
    """

    question: str = "Will I like"
    answer_cue: str = "?"
    yes: str = "Yes"
    no: str = "No"
    n_negatives: int = 3
    epochs: int = 5
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.0
    profile_share: float = 0.5
    max_prompts: int | None = 20_000

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.max_prompts is not None and (isinstance(self.max_prompts, bool)
                                             or int(self.max_prompts) < 1):
            raise ValueError(f"{name}.max_prompts must be None or an integer >= 1, got "
                             f"{self.max_prompts!r}")
        for field in ("question", "yes", "no"):
            if not str(getattr(self, field)).strip():
                raise ValueError(f"{name}.{field} is empty")
        if self.yes.strip() == self.no.strip():
            raise ValueError(f"{name}.yes and no are the same answer ({self.yes!r})")
        if int(self.n_negatives) < 1:
            raise ValueError(f"{name}.n_negatives must be >= 1, got {self.n_negatives}")
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise ValueError(f"{name}.epochs and batch_size must be >= 1, got {self.epochs} "
                             f"and {self.batch_size}")
        if not 0.0 <= float(self.profile_share) <= 1.0:
            raise ValueError(f"{name}.profile_share must be in [0, 1], got "
                             f"{self.profile_share}")


def instruction_template(template: Any, config: InstructionConfig) -> Any:
    """The template whose prompts end with the question (``answer_cue = config.question``)."""
    return dataclasses.replace(template, answer_cue=config.question)


class _Pieces:
    """The token ids of the instruction's parts, each tokenized on its own (cached)."""

    def __init__(self, tokenizer: Any, template: Any, config: InstructionConfig) -> None:
        @functools.lru_cache(maxsize=200_000)
        def encode(text: str) -> tuple[int, ...]:
            return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])

        self.encode = encode
        end = template.end_marker
        self.cue = self.encode(config.answer_cue) if config.answer_cue else ()
        self.yes = self.encode(" " + config.yes.strip() + end)
        self.no = self.encode(" " + config.no.strip() + end)
        # the answers' shared first tokens, then the first token where they differ
        d = next((j for j, (a, b) in enumerate(zip(self.yes, self.no)) if a != b), None)
        if d is None:
            raise ValueError(f"the answers {config.yes!r} and {config.no!r} tokenize so that "
                             "one starts the other; choose answers that differ in a token")
        self.shared = self.yes[:d]
        self.decisive = (self.yes[d], self.no[d])

    def item(self, title: str) -> tuple[int, ...]:
        """The continuation up to the answer: the title and the cue."""
        return self.encode(" " + title) + self.cue


def log_p_yes(log_yes: np.ndarray, log_no: np.ndarray) -> np.ndarray:
    """``log(P(Yes) / (P(Yes) + P(No)))`` from the two answers' log-probabilities."""
    diff = np.asarray(log_yes, dtype=float) - np.asarray(log_no, dtype=float)
    return -np.logaddexp(0.0, -diff)


# ====================================================================== training
class InstructionRow(NamedTuple):
    """One training prompt and its answered questions ("Yes" first, then the "No"s)."""

    prompt: list[int]
    #: Per question: the item's title and cue, then the answer (token ids).
    questions: list[list[int]]
    #: Per question: how many of its last tokens are the answer (the loss reads those).
    answer_lengths: list[int]
    weight: float


def instruction_rows(data: Any, template: Any, config: InstructionConfig, seed: int,
                     sample_weight: Any, draw: int, tokenizer: Any) -> list[InstructionRow]:
    """One epoch's rows: per cloze request (a train item held out of its context,
    :func:`~recaudit.models.paradigms._shared.cloze_requests`) the prompt, one "Yes" question
    for that item and ``n_negatives`` "No" questions for items the user has not interacted
    with in the train split. Weights are the rows' sample weights scaled to mean 1."""
    pieces = _Pieces(tokenizer, template, config)
    titles = data.titles
    genres = dict(zip(data.items["item_id"], data.items["genres"]))
    catalog = list(data.item_ids)
    seen = {u: set(g) for u, g in data.train.groupby("user_id", sort=False)["item_id"]}
    unseen: dict[str, np.ndarray] = {}
    rng = np.random.default_rng([seed, 47, draw])
    texts, questions, weights = [], [], []
    for req, item, weight in cloze_requests(data, template, config, seed, sample_weight, draw):
        pool = unseen.get(req.user_id)
        if pool is None:
            pool = unseen[req.user_id] = np.array([i for i in catalog
                                                   if i not in seen[req.user_id]])
        negatives = rng.choice(pool, min(int(config.n_negatives), len(pool)), replace=False)
        texts.append(template.render(req, titles, genres))
        questions.append([(item, pieces.yes), *((str(n), pieces.no) for n in negatives)])
        weights.append(weight)
    prompts = tokenizer(texts, add_special_tokens=False)["input_ids"]
    w = np.asarray(weights, dtype=float)
    w = w / w.mean()
    return [InstructionRow(prompt, [list(pieces.item(titles[i]) + a) for i, a in qs],
                           [len(a) for _i, a in qs], float(wt))
            for prompt, qs, wt in zip(prompts, questions, w)]


def packed_batch(rows: list[InstructionRow], pad: int, float_mask: bool = False
                 ) -> dict[str, Any]:
    """One step's rows packed: each prompt, then its questions side by side after it.

    A question's tokens sit at the positions right after its prompt and attend to the
    prompt and to their own question's earlier tokens only (a 4-D mask, as the scorer packs
    titles), so each question reads exactly as if it were alone after its prompt and one
    prompt pass serves all of them. Returns the model inputs (``input_ids``,
    ``position_ids``, ``attention_mask``) and, for the loss, ``answer`` (the answer tokens'
    positions), ``question`` (the question index of each position, -1 elsewhere) and
    ``weight`` (one per question).
    """
    import torch

    width = max(len(r.prompt) + sum(map(len, r.questions)) for r in rows)
    n = len(rows)
    inp = np.full((n, width), pad, dtype=np.int64)
    pos = np.zeros((n, width), dtype=np.int64)
    seg = np.full((n, width), -2, dtype=np.int64)  # -1: prompt, q >= 0: question q, -2: pad
    answer = np.zeros((n, width), dtype=bool)
    weight: list[float] = []
    for b, row in enumerate(rows):
        p = len(row.prompt)
        inp[b, :p] = row.prompt
        pos[b, :p] = np.arange(p)
        seg[b, :p] = -1
        at = p
        for q, n_answer in zip(row.questions, row.answer_lengths):
            m = len(q)
            inp[b, at:at + m] = q
            pos[b, at:at + m] = p + np.arange(m)
            seg[b, at:at + m] = len(weight)
            answer[b, at + m - n_answer:at + m] = True
            weight.append(row.weight)
            at += m
    seg_t = torch.from_numpy(seg)
    order = torch.arange(width)
    causal = order[None, :, None] >= order[None, None, :]
    same = seg_t[:, :, None] == seg_t[:, None, :]
    prompt_key = (seg_t == -1)[:, None, :]
    allowed = causal & (prompt_key | same) & (seg_t[:, :, None] > -2)
    allowed |= torch.eye(width, dtype=torch.bool)[None]  # padding sees itself (no NaN rows)
    allowed = allowed[:, None]
    if float_mask:
        allowed = torch.zeros(allowed.shape).masked_fill_(~allowed, torch.finfo(torch.float32).min)
    return {"input_ids": torch.from_numpy(inp), "position_ids": torch.from_numpy(pos),
            "attention_mask": allowed, "answer": torch.from_numpy(answer),
            "question": seg_t, "weight": torch.tensor(weight)}


def _question_loss(lm: Any, batch: dict[str, Any]) -> Any:
    """Weighted mean over questions of the mean cross-entropy of each one's answer tokens."""
    hidden = lm.transformer(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                            attention_mask=batch["attention_mask"]).last_hidden_state
    weight = batch["weight"]
    per_question = answer_loss(lm.lm_head, hidden, batch["input_ids"], batch["answer"],
                                owner=batch["question"], n=len(weight))
    return (weight.to(per_question.dtype) * per_question).mean()


def _train(base: HFRecommender, data: Any, config: InstructionConfig, seed: int,
           sample_weight: Any, progress: bool,
           checkpoint: Any = None) -> tuple[list[float], list[float]]:
    """Tune every weight of ``base.model`` (in place) on the instructions: (step losses,
    epoch means). The LM trains with its own dropout, as when it was pre-trained;
    ``config.max_prompts`` caps the prompts over all epochs."""
    import torch

    lm = base.model
    tok = base.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    template = instruction_template(base.template, config)
    float_mask = lm.config._attn_implementation == "eager"
    dev = next(lm.parameters()).device
    torch.manual_seed(seed)
    for p in lm.parameters():
        p.requires_grad_(True)
    params = list(lm.parameters())
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    lm.train()
    rng = np.random.default_rng([seed, 53])
    used = [0, 0]  # prompts trained on so far, prompts of one epoch

    def batches_of(epoch: int) -> list[list[InstructionRow]] | None:
        rows = instruction_rows(data, template, config, seed, sample_weight, epoch, tok)
        used[1] = len(rows)
        longest = max(len(r.prompt) + max(map(len, r.questions)) for r in rows)
        if longest > lm.config.n_positions:
            raise ValueError(f"a training question has {longest} tokens but the LM takes "
                             f"{lm.config.n_positions}; use a shorter template.max_history")
        order = rng.permutation(len(rows))
        if config.max_prompts is not None:  # the cap over all epochs
            order = order[:max(0, int(config.max_prompts) - used[0])]
            if not len(order):
                return None
        used[0] += len(order)
        return [[rows[i] for i in order[k:k + config.batch_size]]
                for k in range(0, len(order), config.batch_size)]

    def loss_of(rows: list[InstructionRow]) -> Any:
        batch = packed_batch(rows, pad, float_mask)
        return _question_loss(lm, {k: v.to(dev) for k, v in batch.items()})

    def total_steps() -> int:
        total = used[1] * config.epochs
        if config.max_prompts is not None:
            total = min(total, int(config.max_prompts))
        return math.ceil(total / config.batch_size)

    losses, epochs = run_epochs(config.epochs, batches_of, loss_of, opt, params,
                                desc="instruction tuning", progress=progress,
                                total_steps=total_steps,
                                checkpoint=None if checkpoint is None else Checkpoint(
                                    checkpoint.path, checkpoint.key, [rng], used))
    lm.eval()
    return losses, epochs


# ====================================================================== the recommender
class InstructionTunedRecommender(HFRecommender):
    """The instruction-tuned LM, ranking by ``log P(Yes)`` (score mode only).

    Build it with :func:`train_instruction_tuning`. ``path`` is the tuned LM's folder,
    ``pretrained_path`` the LM it started from. ``score``, ``rank`` and ``nll`` read
    ``log(P(Yes) / (P(Yes) + P(No)))`` of "Will I like <title>?" under the user's prompt
    (``nll`` its negative); ``length_normalize`` does not apply. The ``gradients``
    capability is not declared: attributions of this model would have to explain the
    answer's probability, not a title's, which the gradient explainers do not ask.
    """

    def __init__(self, folder: Path, data: Any, template: Any, *,
                 instruction: InstructionConfig, pretrained_path: Path,
                 **options: Any) -> None:
        if options.get("mode", "score") != "score":
            raise ValueError("an instruction-tuned recommender ranks by P(Yes) (mode='score');"
                             " it does not generate titles")
        if options.get("length_normalize"):
            raise ValueError("length_normalize does not apply to an instruction-tuned "
                             "recommender: it scores P(Yes), not a title's likelihood")
        super().__init__(folder, data, instruction_template(template, instruction), **options)
        self.instruction = instruction
        self.pretrained_path = Path(pretrained_path)
        self._pieces = _Pieces(self.tokenizer, self.template, instruction)

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        return super().capabilities - {"gradients"}

    def gradient_handle(self) -> Any:
        raise self._missing("gradients")

    def fingerprint(self) -> str:
        return "InstructionTunedRecommender-" + stable_hash(super().fingerprint(),
                                                            Path(self.path).parent.name)

    def _score(self, requests: Any, pools: Any,
               normalize: bool | None = None) -> list[np.ndarray]:
        """``log P(Yes)`` per (request, item): the prompt scored once, each item's question
        once, the two answers' decisive tokens read after it (TALLRec's first-token rule)."""
        pieces = self._pieces
        prompts = [tuple(self._encode(self.render(r)) or [self._pad_id]) for r in requests]
        conts = [[pieces.item(self.template.title(i, r, self.data.titles)) + pieces.shared
                  for i in pool] for r, pool in zip(requests, pools)]

        def batch(p: list[list[int]], c: list[list[list[int]]]) -> list[np.ndarray]:
            return score_batch(self._kernel(), p, c, next_tokens=pieces.decisive)

        rows = score_prompts(prompts, conts, backoff=self._backoff, score_batch=batch,
                             normalize=False)
        return [log_p_yes(r[:, 1], r[:, 2]) if len(r) else np.zeros(0) for r in rows]

    def __repr__(self) -> str:
        return f"InstructionTunedRecommender(path={str(self.path)!r})"


def train_instruction_tuning(data: Any, pretrain_data: Any, seed: int = 0, *,
                             config: InstructionConfig | None = None, lm_config: Any = None,
                             sample_weight: Any = None,
                             cache_dir: str | os.PathLike | None = None,
                             progress: bool = True,
                             **recommender_options: Any) -> InstructionTunedRecommender:
    """Pre-train the tiny LM on ``pretrain_data``, then tune it on yes/no instructions.

    Parameters are those of :func:`~recaudit.models.train_lora` with ``config`` an
    :class:`InstructionConfig`. The instructions come from ``data``'s train split (a "Yes"
    per train interaction held out of its context, ``n_negatives`` "No" per "Yes"). The
    tuned LM (``lm/``, a transformers folder) and ``recaudit_instruction_tuning.json``
    (per-epoch losses) are stored in ``<cache_dir>/instruction_tuning/<hash>``, the hash
    over both datasets, the base LM's weights, every config field, the seed and the sample
    weights.

    Returns
    -------
    InstructionTunedRecommender
        Ranks by ``log P(Yes)``; with the ``train`` capability.

    Examples
    --------
    >>> import recaudit as ra                                            # doctest: +SKIP
    >>> others, audited = ra.models.split_users(ra.datasets.synthetic(), 0.5)  # doctest: +SKIP
    >>> model = ra.models.train_instruction_tuning(audited, others)      # doctest: +SKIP
    """
    config = config if config is not None else InstructionConfig()
    if not isinstance(config, InstructionConfig):
        raise TypeError(f"config must be an InstructionConfig, got {type(config).__name__}")
    root, base, folder = arm_start("instruction_tuning", data, pretrain_data, seed, config, lm_config,
                                   sample_weight, cache_dir, progress)

    def write(tmp: Path) -> dict[str, Any]:
        started = time.perf_counter()
        losses, epochs = _train(base, data, config, seed, sample_weight, progress,
                                checkpoint=arm_checkpoint(folder))
        with quiet_transformers():
            base.model.save_pretrained(tmp / "lm", safe_serialization=True)
            base.tokenizer.save_pretrained(tmp / "lm")
        return training_record("instruction_tuning", base, data, config, seed, sample_weight,
                               losses, epochs, started)

    publish_arm(folder, "instruction_tuning", write)

    def recipe(new_data: Any, seed: int = 0,
               sample_weight: Any = None) -> InstructionTunedRecommender:
        return train_instruction_tuning(new_data, pretrain_data, seed, config=config,
                                        lm_config=lm_config, sample_weight=sample_weight,
                                        cache_dir=root, progress=progress,
                                        **recommender_options)

    return InstructionTunedRecommender(folder / "lm", data, base.template,
                                       instruction=config, pretrained_path=base.path,
                                       recipe=recipe, **recommender_options)


# ====================================================================== model kind
def instruction_tuning_keys() -> list[str]:
    """The keys an ``{kind: instruction_tuning}`` entry accepts."""
    return arm_keys(InstructionConfig)


def build_instruction_tuning(opts: dict[str, Any], data: Any,
                             ctx: Any) -> InstructionTunedRecommender:
    """The ``instruction_tuning`` model kind's builder (``recaudit.models._kinds``)."""
    return build_arm(train_instruction_tuning, InstructionConfig, opts, data, ctx)
