"""``ExplainingLM``: adds the ``explain`` capability to a recommender (language models first).

Two ways to explain the top recommendation ``t`` of a request:

- ``"leave_one_out"`` (post-hoc, any model with ``nll`` or ``score``): cite the history item
  whose removal lowers ``log p(t | request)`` the most, phrased "Because you watched <title>,
  we recommend <title>.". All leave-one-out requests of all users go to the model in one
  batched call.
- ``"generate"`` (self-explanation, models with ``gradients`` and ``prompt``, i.e. a torch
  causal LM and its tokenizer): append the recommended title and a cue ("Because I
  watched:") to the prompt and let the LM write the title it gives as its reason; the text
  is mapped back to the catalog. A title that matches no catalog item is cited as the raw
  text, so auditors count it as a citation outside the history (a hallucination).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..contract import DelegatingRecommender, Explanation, Request, stable_hash
from ..models.prompts import CatalogMatcher

ExplainMode = Literal["leave_one_out", "generate"]


class ExplainingLM(DelegatingRecommender):
    """A recommender wrapper with an ``explain`` capability; everything else is delegated.

    Parameters
    ----------
    model : Recommender
        Typically an :class:`~recaudit.models.HFRecommender`.
    data : AuditDataset
        Catalog titles.
    mode : {"leave_one_out", "generate"}
        How the cited item is chosen (see the module docstring).
    cue : str
        Text after the recommendation that asks the LM for its reason (``generate``).
    max_new_tokens : int
        Generation budget for the reason (``generate``).

    Examples
    --------
    >>> lm = ra.models.train_tiny_lm(data, seed=0)                      # doctest: +SKIP
    >>> ex = ExplainingLM(lm, data).explain([data.request("u0001")])   # doctest: +SKIP
    >>> ex[0].text                                                       # doctest: +SKIP
    'Because you watched The Silent River (1994), we recommend Golden Empire (1980).'
    """

    def __init__(self, model: Any, data: Any, *, mode: ExplainMode = "leave_one_out",
                 cue: str = "Because I watched:", max_new_tokens: int = 32) -> None:
        if mode not in ("leave_one_out", "generate"):
            raise ValueError(f"mode must be 'leave_one_out' or 'generate', got {mode!r}")
        caps = set(model.capabilities)
        if mode == "leave_one_out" and not caps & {"nll", "score"}:
            raise ValueError("mode='leave_one_out' needs a model with 'nll' or 'score'; it "
                             f"declares {sorted(caps)}")
        if mode == "generate" and not {"gradients", "prompt"} <= caps:
            raise ValueError("mode='generate' needs a language model with 'gradients' (the "
                             f"torch model and tokenizer) and 'prompt'; it declares {sorted(caps)}")
        self.model = model
        self.data = data
        self.mode = mode
        self.cue = cue
        self.max_new_tokens = int(max_new_tokens)
        self.capabilities = frozenset(caps | {"explain"})
        self._matcher: CatalogMatcher | None = None  # built on first use

    # ------------------------------------------------------------------ delegation
    def fingerprint(self) -> str:
        return "ExplainingLM-" + stable_hash(self.model.fingerprint(), self.mode, self.cue)

    def __getattr__(self, name: str) -> Any:  # template, match_title, ... of the wrapped LM
        if name in ("model", "__setstate__"):
            raise AttributeError(name)
        return getattr(self.model, name)

    # ------------------------------------------------------------------ explain
    def _title(self, item: str, request: Request) -> str:
        return request.item_text_dict.get(item, self.data.titles.get(item, item))

    def explain(self, requests: Sequence[Request], k: int = 1) -> list[Explanation]:
        """One explanation per request, for its top recommendation."""
        requests = list(requests)
        tops = [r.items[0] if r.items else None for r in self.model.rank(requests, max(1, k))]
        if self.mode == "leave_one_out":
            cited = self._leave_one_out(requests, tops)
        else:
            cited = self._generate(requests, tops)
        out = []
        for req, item, c in zip(requests, tops, cited):
            if item is None:
                out.append(Explanation("", "No recommendation.", ()))
                continue
            rec = self._title(item, req)
            if c is None:
                out.append(Explanation(item, f"We recommend {rec}.", ()))
                continue
            name = self._title(c, req) if c in self.data.titles else c
            out.append(Explanation(item, f"Because you watched {name}, we recommend {rec}.",
                                   (c,)))
        return out

    def _leave_one_out(self, requests: list[Request], tops: list[str | None],
                       ) -> list[str | None]:
        reqs, targets, owners = [], [], []
        for n, (req, t) in enumerate(zip(requests, tops)):
            if t is None or not req.history:
                continue
            h = req.history
            variants = [req] + [req.replace(history=h[:j] + h[j + 1:]) for j in range(len(h))]
            reqs += variants
            targets += [t] * len(variants)
            owners += [n] * len(variants)
        if not reqs:
            return [None] * len(requests)
        if "nll" in self.model.capabilities:
            logp = -np.asarray(self.model.nll([r.replace(candidates=None) for r in reqs],
                                              targets), dtype=float)
        else:
            logp = np.array([float(s[0]) for s in self.model.score(
                [r.replace(candidates=(t,)) for r, t in zip(reqs, targets)])])
        owners_arr = np.asarray(owners)
        out: list[str | None] = [None] * len(requests)
        for n in set(owners):
            vals = logp[owners_arr == n]
            drop = vals[0] - vals[1:]
            out[n] = requests[n].history[int(np.argmax(drop))]
        return out

    def _match(self, title: str) -> str | None:
        """The model's own title matcher, else a :class:`CatalogMatcher` of the catalog (the
        same rule: exact, folded or normalised, fuzzy)."""
        match = getattr(self.model, "match_title", None)
        if callable(match):
            return match(title)
        if self._matcher is None:
            self._matcher = CatalogMatcher(self.data.titles)
        return self._matcher.match(title)

    def _generate(self, requests: list[Request], tops: list[str | None]) -> list[str | None]:
        import torch

        handle = self.model.gradient_handle()
        lm, tok = handle.model, handle.tokenizer
        template = getattr(self.model, "template", None)
        end = getattr(template, "end_marker", "\n")
        cont = (template.continuation if hasattr(template, "continuation")
                else (lambda t: " " + t + end))
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        out: list[str | None] = [None] * len(requests)
        todo = [n for n, t in enumerate(tops) if t is not None]
        device = next(lm.parameters()).device
        for start in range(0, len(todo), 16):
            chunk = todo[start:start + 16]
            prompts = [tok(self.model.render(requests[n]) + cont(self._title(tops[n],
                                                                            requests[n]))
                           + self.cue, add_special_tokens=False)["input_ids"] for n in chunk]
            width = max(len(p) for p in prompts)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, p in enumerate(prompts):
                ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[r, width - len(p):] = 1
            with torch.inference_mode():
                gen = lm.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                  max_new_tokens=self.max_new_tokens, do_sample=False,
                                  pad_token_id=pad)
            for r, n in enumerate(chunk):
                text = tok.decode(gen[r, width:], skip_special_tokens=True).strip()
                title = text.split(end, 1)[0].strip() if end else text
                if title:
                    out[n] = self._match(title) or title
        return out
