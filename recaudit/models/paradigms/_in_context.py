"""Tuning-free prompting of the pre-trained tiny LM: zero-shot and in-context (few-shot).

Two paradigms of the "pre-train, prompt and predict" family that update no weight at all
(the tuning-free prompting branch of the taxonomy in Liu et al., "Pre-train, Prompt, and
Predict", ACM Computing Surveys 2023; Geng et al., P5, RecSys 2022):

- ``zero_shot_lm``: the tiny GPT-2 pre-trained with :func:`~recaudit.models.train_tiny_lm` on
  *other* users (the same base LM as ``prompt_tuning``'s, shared through its cache) asked
  about the audited users as is, in the template it was pre-trained on: the zero-shot LLM
  rankers of Dai et al. ("Uncovering ChatGPT's Capabilities in Recommender Systems",
  RecSys 2023) and Hou et al. ("Large Language Models are Zero-Shot Rankers for
  Recommender Systems", ECIR 2024), at a tiny scale.
- ``few_shot_lm``: the same frozen base with ``n_demonstrations`` in-context examples
  before the audited user's prompt (Brown et al., "Language Models are Few-Shot Learners",
  NeurIPS 2020; demonstrations for recommendation as in Dai et al. 2023 and in TALLRec's
  in-context baseline, Bao et al., RecSys 2023). A demonstration is another user's (from
  ``pretrain_data``) train history and next train item, rendered with the same
  :class:`~recaudit.models.PromptTemplate` as the query and followed by its answer
  continuation, so it reads exactly like a pre-training example.

Neither trains: building an arm pre-trains (or loads from the cache) the shared base LM and
then binds it, unchanged, to the audited dataset. There is no training loss to fall; the
tests check instead that the weights equal the base folder's. ``fit`` (the ``train``
capability) binds the same recipe to new data (a membership shadow model is the same
frozen LM) and refuses ``sample_weight``: there is no loss to weight.

Demonstrations (``few_shot_lm``):

- **pool**: every ``pretrain_data`` user with at least two train items gives one
  demonstration, history = their train items but the last (the last
  ``max_demo_history`` shown), answer = their last train item. The audited users never
  appear in it (the two datasets must share no user), so no audited user's items, let alone
  held-out ones, are shown.
- **selection** (deterministic given the seed and the request, so the engine cache and
  re-runs agree): ``"random"``: a seeded draw per user id (the same demonstrations for a
  user whatever the profile or candidates asked about); ``"similar"``: the pool ranked by the
  Jaccard overlap of the demonstration's items with the query's shown history (ties in the
  seeded random order), kNN demonstration selection.
- **order**: the first chosen demonstration sits next to the query (the most similar one
  for ``"similar"``), the others before it.
- **prompt budget**: the whole prompt (demonstrations + query) takes at most
  ``min(prompt_budget, n_positions)`` tokens minus the longest continuation that may be
  scored after it (the longest catalog or overridden title + end marker; + 2 generated
  tokens in ``mode="generate"``). Demonstrations are added in selection order; one that
  does not fit has its history cut, oldest items first, down to one item; if it still does
  not fit, it and every later one are dropped. A query that alone exceeds the budget gets no
  demonstration. :meth:`FewShotLMRecommender.demonstrations` lists what a request's prompt
  holds; :meth:`~FewShotLMRecommender.render` is the exact text scored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..._paths import cache_root
from ...contract import Request, stable_hash
from ..lm import HFRecommender
from ._shared import (
    FORMAT_VERSION,
    arm_keys,
    build_arm,
    pretrained_base,
    publish_arm,
    run_record,
)

SELECTIONS = ("random", "similar")
#: Rendered prompts memoised per recommender (a request is rendered once per call).
_RENDER_MEMO = 50_000


@dataclass(frozen=True)
class FewShotConfig:
    """How many demonstrations, which, and how much prompt they may take.

    Parameters
    ----------
    n_demonstrations : int
        Demonstrations before the query at most (0: the zero-shot prompt). Default 2, the
        smallest few-shot prompt with more than one example: on the tiny LM each one adds
        ~46 tokens and moves the query past the positions it was pre-trained at (examples
        of at most 60 tokens), so more cost scoring time and do not help. Measured on the
        paradigm study's world (synthetic 300 x 200, half the users pre-training the
        ``epochs=5`` base, 200 audited users, whole-catalog NDCG@10 / HR@10): 0 (zero-shot)
        0.136 / 0.240, 1: 0.134 / 0.227, 2: 0.131 / 0.233, 4: 0.126 / 0.220 (random 0.041 /
        0.080; 95% intervals about +-0.04).
    selection : {"random", "similar"}
        Seeded random demonstrations per user, or the most similar other users' (Jaccard
        overlap with the query's shown history).
    prompt_budget : int or None
        Most prompt tokens (demonstrations + query) plus the longest scored continuation;
        ``None``: the base LM's ``n_positions`` (512); never above it.
    max_demo_history : int or None
        History items shown per demonstration (``None``: the template's ``max_history``).
    """

    n_demonstrations: int = 2
    selection: str = "random"
    prompt_budget: int | None = None
    max_demo_history: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n_demonstrations, bool) or int(self.n_demonstrations) < 0:
            raise ValueError(f"n_demonstrations must be an integer >= 0, got "
                             f"{self.n_demonstrations!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {list(SELECTIONS)}, got "
                             f"{self.selection!r}")
        if self.prompt_budget is not None and (isinstance(self.prompt_budget, bool)
                                               or int(self.prompt_budget) < 1):
            raise ValueError(f"prompt_budget must be None or an integer >= 1, got "
                             f"{self.prompt_budget!r}")
        if self.max_demo_history is not None and (isinstance(self.max_demo_history, bool)
                                                  or int(self.max_demo_history) < 1):
            raise ValueError(f"max_demo_history must be None or an integer >= 1, got "
                             f"{self.max_demo_history!r}")


@dataclass(frozen=True)
class Demonstration:
    """One in-context example: another user's history and the item that came next."""

    user_id: str
    history: tuple[str, ...]
    answer: str


# ====================================================================== recommenders
class ZeroShotLMRecommender(HFRecommender):
    """The pre-trained base LM, unchanged, bound to the audited users (no update at all).

    Build it with :func:`train_zero_shot_lm`. ``path`` is the base LM's folder;
    ``folder`` the arm's record in the cache. Its fingerprint adds the arm's key (the
    audited data among it) to the weights' and template's, so it never shares engine-cache
    answers or report rows with the base model bound to its pre-training users.
    """

    _tag = "ZeroShotLM"

    def __init__(self, path_or_model: Any, data: Any, template: Any, *, folder: Path,
                 key: str, **options: Any) -> None:
        super().__init__(path_or_model, data, template, **options)
        self.folder = Path(folder)
        self.key = str(key)
        self._own_fingerprint: str | None = None

    def fingerprint(self) -> str:
        if self._own_fingerprint is None:
            self._own_fingerprint = f"{self._tag}-" + stable_hash(super().fingerprint(),
                                                                 self.key)
        return self._own_fingerprint

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base={str(self.path)!r}, mode={self.mode!r})"


class FewShotLMRecommender(ZeroShotLMRecommender):
    """The frozen base LM prompted with demonstrations of other users (in-context learning).

    :meth:`render` prepends the request's demonstrations to the template's prompt, and
    scoring and generation read prompts through :meth:`render`, so the ``prompt``
    capability returns exactly what is scored. Build it with :func:`train_few_shot_lm`.
    """

    _tag = "FewShotLM"

    def __init__(self, path_or_model: Any, data: Any, template: Any, *,
                 pool: Sequence[Demonstration], config: FewShotConfig, seed: int,
                 folder: Path, key: str, **options: Any) -> None:
        super().__init__(path_or_model, data, template, folder=folder, key=key, **options)
        self.demo_pool = tuple(pool)
        self.config = config
        self.seed = int(seed)
        n_positions = int(self.model.config.n_positions)
        self.budget = min(n_positions, config.prompt_budget or n_positions)
        self._longest = max(len(self._encode(self.template.continuation(t)))
                            for t in data.titles.values())
        self._pool_sets = [frozenset(d.history) | {d.answer} for d in self.demo_pool]
        self._memo: dict[Request, tuple[str, tuple[Demonstration, ...]]] = {}

    # ------------------------------------------------------------------ demonstrations
    def _choose(self, request: Request) -> list[int]:
        """Pool indices in priority order (deterministic given seed and request)."""
        n = min(int(self.config.n_demonstrations), len(self.demo_pool))
        if n == 0:
            return []
        user_key = int(stable_hash(request.user_id)[:8], 16)
        rng = np.random.default_rng([self.seed, 59, user_key])
        order = rng.permutation(len(self.demo_pool))
        if self.config.selection == "similar":
            shown = set(request.history[-self.template.max_history:])
            sim = np.array([len(shown & s) / max(1, len(shown | s))
                            for s in self._pool_sets])
            order = order[np.argsort(-sim[order], kind="stable")]
        return [int(i) for i in order[:n]]

    def _demo_text(self, demo: Demonstration, history: tuple[str, ...]) -> str:
        titles = self.data.titles
        prompt = self.template.render(Request(demo.user_id, history=history), titles,
                                      self._genres)
        return prompt + self.template.continuation(titles[demo.answer])

    def _limit(self, request: Request) -> int:
        """Most prompt tokens: the budget minus the longest continuation scored after it."""
        longest = max([self._longest, *(len(self._encode(self.template.continuation(t)))
                                        for t in request.item_text_dict.values())])
        if self.mode == "generate":
            longest += 2  # generation runs up to the longest title + 2 tokens
        return self.budget - longest

    def _assemble(self, request: Request) -> tuple[str, tuple[Demonstration, ...]]:
        got = self._memo.get(request)
        if got is not None:
            return got
        query = super().render(request)
        limit = self._limit(request)
        texts: list[str] = []  # in priority order; the prompt shows them reversed
        used: list[Demonstration] = []

        def fits(extra: str) -> bool:
            text = "".join(reversed([*texts, extra])) + query
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) <= limit

        for i in self._choose(request):
            demo = self.demo_pool[i]
            for cut in range(len(demo.history)):  # drop the oldest items until it fits
                history = demo.history[cut:]
                text = self._demo_text(demo, history)
                if fits(text):
                    texts.append(text)
                    used.append(Demonstration(demo.user_id, history, demo.answer))
                    break
            else:
                break  # it does not fit even with one item: no more demonstrations
        got = ("".join(reversed(texts)) + query, tuple(used))
        if len(self._memo) < _RENDER_MEMO:
            self._memo[request] = got
        return got

    def demonstrations(self, request: Request) -> tuple[Demonstration, ...]:
        """The demonstrations in this request's prompt, nearest to the query first (as cut
        to the budget)."""
        return self._assemble(request)[1]

    def render(self, request: Request) -> str:
        return self._assemble(request)[0]

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_memo"] = {}
        return state

    def __repr__(self) -> str:
        c = self.config
        return (f"FewShotLMRecommender(base={str(self.path)!r}, "
                f"n_demonstrations={c.n_demonstrations}, selection={c.selection!r}, "
                f"budget={self.budget})")


# ====================================================================== building
def _no_weights(sample_weight: Any, kind: str) -> None:
    if sample_weight is not None:
        raise ValueError(f"{kind} trains nothing on the audited users (a frozen LM "
                         "prompted as is): sample_weight has no loss to weight")


def train_zero_shot_lm(data: Any, pretrain_data: Any, seed: int = 0, *,
                       lm_config: Any = None, cache_dir: str | os.PathLike | None = None,
                       progress: bool = True,
                       **recommender_options: Any) -> ZeroShotLMRecommender:
    """The LM pre-trained on ``pretrain_data``, used zero-shot on ``data`` (no update).

    Parameters
    ----------
    data : AuditDataset
        The audited users (only bound: the model never trains on them).
    pretrain_data : AuditDataset
        Other users (no user in common with ``data``) the LM is pre-trained on with
        :func:`~recaudit.models.train_tiny_lm` (cached there, shared with every arm of the
        same ``lm_config`` and seed).
    seed : int
        Seeds the base LM's pre-training.
    lm_config : TinyLMConfig, optional
        The base LM's recipe (default: ``train_tiny_lm``'s).
    cache_dir : path, optional
        Cache root (default ``$RECAUDIT_CACHE_DIR`` or ``~/.cache/recaudit``); the arm's
        record (no weights: it trains nothing) is ``<cache_dir>/zero_shot_lm/<hash>``, keyed
        by the audited data, the base LM (folder and weights) and the seed.
    **recommender_options
        Passed to :class:`HFRecommender` (``length_normalize``, ``batch_size`` ...).

    Returns
    -------
    ZeroShotLMRecommender
        With the ``train`` capability: ``fit(new_data, seed=)`` binds the same recipe to
        ``new_data`` (``sample_weight`` raises: nothing is trained).

    Examples
    --------
    >>> import recaudit as ra                                               # doctest: +SKIP
    >>> others, audited = ra.models.split_users(ra.datasets.synthetic(n_users=300))  # doctest: +SKIP
    >>> model = ra.models.train_zero_shot_lm(audited, others)               # doctest: +SKIP
    """
    started = time.perf_counter()
    root = cache_root(cache_dir)
    base = pretrained_base(data, pretrain_data, seed, lm_config, root, progress)
    key = stable_hash(FORMAT_VERSION, "zero_shot_lm", data.fingerprint(), base.path.name,
                      base.fingerprint(), seed)
    folder = root / "zero_shot_lm" / key
    publish_arm(folder, "zero_shot_lm", lambda tmp: run_record(
        "zero_shot_lm", base, data, seed, trained=False,
        build_seconds=round(time.perf_counter() - started, 2)))

    def recipe(new_data: Any, seed: int = 0, sample_weight: Any = None) -> HFRecommender:
        _no_weights(sample_weight, "zero_shot_lm")
        return train_zero_shot_lm(new_data, pretrain_data, seed, lm_config=lm_config,
                                  cache_dir=root, progress=progress, **recommender_options)

    return ZeroShotLMRecommender(base.path, data, base.template, folder=folder, key=key,
                                 recipe=recipe, **recommender_options)


def demonstration_pool(pretrain_data: Any, max_history: int) -> list[Demonstration]:
    """One demonstration per ``pretrain_data`` user with >= 2 train items (sorted by id):
    the last ``max_history`` of their train items but the last, then the last."""
    pool = []
    for user, items in sorted(pretrain_data.train_histories.items()):
        if len(items) >= 2:
            pool.append(Demonstration(str(user), tuple(items[:-1][-max_history:]),
                                      str(items[-1])))
    return pool


def train_few_shot_lm(data: Any, pretrain_data: Any, seed: int = 0, *,
                      config: FewShotConfig | None = None, lm_config: Any = None,
                      cache_dir: str | os.PathLike | None = None, progress: bool = True,
                      **recommender_options: Any) -> FewShotLMRecommender:
    """The LM pre-trained on ``pretrain_data``, prompted on ``data`` with demonstrations.

    Parameters
    ----------
    data : AuditDataset
        The audited users (only bound: nothing is trained on them).
    pretrain_data : AuditDataset
        Other users: the base LM is pre-trained on them (as for :func:`train_zero_shot_lm`)
        and the demonstrations are theirs. Same catalog as ``data``, no user in common.
    seed : int
        Seeds the base LM's pre-training and the choice of demonstrations.
    config : FewShotConfig
        Number, selection and prompt budget of the demonstrations.
    lm_config : TinyLMConfig, optional
        The base LM's recipe (default: ``train_tiny_lm``'s).
    cache_dir : path, optional
        Cache root; the arm's record is ``<cache_dir>/few_shot_lm/<hash>``, keyed by both
        datasets, the base LM, the config and the seed.
    **recommender_options
        Passed to :class:`HFRecommender` (``length_normalize``, ``batch_size`` ...).

    Returns
    -------
    FewShotLMRecommender
        With the ``train`` capability (binds the same recipe to new data).

    Examples
    --------
    >>> import recaudit as ra                                               # doctest: +SKIP
    >>> others, audited = ra.models.split_users(ra.datasets.synthetic(n_users=300))  # doctest: +SKIP
    >>> model = ra.models.train_few_shot_lm(audited, others)                # doctest: +SKIP
    >>> print(model.render(audited.request(audited.user_ids[0])))          # doctest: +SKIP
    """
    started = time.perf_counter()
    config = config if config is not None else FewShotConfig()
    root = cache_root(cache_dir)
    base = pretrained_base(data, pretrain_data, seed, lm_config, root, progress)
    missing = set(pretrain_data.item_ids) - set(data.titles)
    if missing:
        raise ValueError(f"pretrain_data has {len(missing)} item(s) not in data's catalog "
                         f"(e.g. {sorted(missing)[:3]}); demonstrations need one catalog")
    pool = demonstration_pool(pretrain_data,
                              config.max_demo_history or base.template.max_history)
    key = stable_hash(FORMAT_VERSION, "few_shot_lm", data.fingerprint(),
                      pretrain_data.fingerprint(), base.path.name, base.fingerprint(),
                      asdict(config), seed)
    folder = root / "few_shot_lm" / key
    publish_arm(folder, "few_shot_lm", lambda tmp: run_record(
        "few_shot_lm", base, data, seed, config=asdict(config),
        pretrain_fingerprint=pretrain_data.fingerprint(),
        pool_users=[d.user_id for d in pool], trained=False,
        build_seconds=round(time.perf_counter() - started, 2)))

    def recipe(new_data: Any, seed: int = 0, sample_weight: Any = None) -> HFRecommender:
        _no_weights(sample_weight, "few_shot_lm")
        return train_few_shot_lm(new_data, pretrain_data, seed, config=config,
                                 lm_config=lm_config, cache_dir=root, progress=progress,
                                 **recommender_options)

    return FewShotLMRecommender(base.path, data, base.template, pool=pool, config=config,
                                seed=seed, folder=folder, key=key, recipe=recipe,
                                **recommender_options)


# ====================================================================== model kinds
def zero_shot_lm_keys() -> list[str]:
    """The keys a ``{kind: zero_shot_lm}`` entry accepts."""
    return arm_keys()


def few_shot_lm_keys() -> list[str]:
    """The keys a ``{kind: few_shot_lm}`` entry accepts."""
    return arm_keys(FewShotConfig)


def build_zero_shot_lm(opts: dict[str, Any], data: Any, ctx: Any) -> ZeroShotLMRecommender:
    """The ``zero_shot_lm`` model kind's builder (``ctx``: a ``BuildContext``)."""
    return build_arm(train_zero_shot_lm, None, opts, data, ctx)


def build_few_shot_lm(opts: dict[str, Any], data: Any, ctx: Any) -> FewShotLMRecommender:
    """The ``few_shot_lm`` model kind's builder: FewShotConfig fields, ``lm`` and the
    recommender options."""
    return build_arm(train_few_shot_lm, FewShotConfig, opts, data, ctx)
