"""GGUF checkpoints as transformers model folders, converted once and cached.

transformers reads a GGUF file through the ``gguf`` package
(``AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)``) and dequantizes every
tensor to float32: 15-45 s on 2 cores for a 135M-270M model. :func:`gguf_folder` does that
once per file *content* and saves the result as an ordinary model folder (``config.json``,
``model.safetensors``, the tokenizer) under ``<cache_dir>/gguf/<sha256[:16]>/``, so a
second load reads safetensors in seconds. The folder holds ``recaudit-gguf.json`` naming
the source file, its sha256 and architecture; :class:`~._hf.HFRecommender` takes the sha256
as its weights identity, so the fingerprint (the engine's cache key) follows the GGUF file's
content, not its path.

Bad files fail before any conversion, in one line (:class:`~recaudit.errors.ModelLoadError`):
not a GGUF file, a truncated or corrupt one, or an architecture transformers cannot load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..._paths import cache_dir
from ...errors import MissingDependencyError, ModelLoadError

#: The file in a converted folder that names its source.
MANIFEST = "recaudit-gguf.json"
_MAGIC = b"GGUF"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def resolve_gguf(path: str | os.PathLike, gguf_file: str | None = None) -> Path:
    """The GGUF file meant by ``path`` (a ``.gguf`` file, or a folder + ``gguf_file``)."""
    p = Path(path)
    if gguf_file is not None:
        p = p / gguf_file
    if p.is_dir():
        found = sorted(p.glob("*.gguf"))
        if len(found) != 1:
            raise ModelLoadError(f"{p}: a folder with {len(found)} .gguf files; name one with "
                                 "gguf_file=")
        p = found[0]
    if not p.is_file():
        raise ModelLoadError(f"{p}: no such GGUF file")
    return p


def read_architecture(path: Path) -> str:
    """``general.architecture`` of a GGUF file; a one-line error for a file that is not one."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != _MAGIC:
        raise ModelLoadError(f"{path}: not a GGUF file (it starts with {head!r}, a GGUF file "
                             "with b'GGUF')")
    try:
        from gguf import GGUFReader
    except ImportError:
        raise MissingDependencyError(
            "loading a GGUF checkpoint needs the gguf package: pip install 'recaudit[llm]' "
            "(or pip install gguf)") from None
    try:
        reader = GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except KeyError:
        raise ModelLoadError(f"{path}: a GGUF file without general.architecture") from None
    except Exception as exc:  # truncated or damaged: numpy memmap/struct errors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"{path}: corrupt or truncated GGUF file ({reason})") from None


def supported_architectures() -> frozenset[str]:
    """Architectures transformers can load from GGUF (its own mapping, read at call time)."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    return frozenset(a for a in GGUF_CONFIG_MAPPING if a not in ("general", "tokenizer"))


def gguf_folder(path: str | os.PathLike, gguf_file: str | None = None, *,
                root: str | os.PathLike | None = None, sha256: str | None = None) -> Path:
    """A transformers model folder converted from a GGUF file (cached by content).

    Parameters
    ----------
    path, gguf_file : the ``.gguf`` file, or its folder and file name.
    root : where converted folders live (default ``<cache_dir>/gguf``).
    sha256 : the file's known sha256, to skip hashing it (packaged files check it once).

    Examples
    --------
    >>> folder = gguf_folder("models/", "SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +SKIP
    >>> HFRecommender(folder, data)                                         # doctest: +SKIP
    """
    src = resolve_gguf(path, gguf_file)
    digest = sha256 or sha256_file(src)
    base = Path(root).expanduser() if root is not None else cache_dir() / "gguf"
    target = base / digest[:16]
    if (target / MANIFEST).is_file() and (target / "config.json").is_file():
        return target
    arch = read_architecture(src)
    supported = supported_architectures()
    if arch not in supported:
        raise ModelLoadError(f"{src}: GGUF architecture {arch!r} is not one transformers can "
                             f"load (it reads {', '.join(sorted(supported))})")
    print(f"recaudit: converting {src.name} to a transformers folder (once; cached in "
          f"{target})", file=sys.stderr)
    model, tokenizer = _convert(src, arch)
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}-", dir=base))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MANIFEST).write_text(json.dumps(
            {"source": str(src), "sha256": digest, "architecture": arch,
             "parameters": int(sum(p.numel() for p in model.parameters()))}, indent=2))
        try:
            os.replace(tmp, target)  # atomic: a crash never leaves a half-written folder
        except OSError:  # another process converted it first
            if not (target / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(src: Path, arch: str) -> tuple[Any, Any]:
    """Dequantize a GGUF file with transformers (the slow step, done once per file)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
    except MissingDependencyError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"{src}: transformers could not load this {arch!r} GGUF file "
                             f"({reason})") from None
    # the weights are plain float32 tensors now: drop the GGUF "quantizer" so the model
    # saves (and reloads) as an ordinary transformers folder
    model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    return model, tokenizer


def gguf_manifest(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of a converted folder, or ``None`` for an ordinary model folder."""
    f = Path(folder) / MANIFEST
    if not f.is_file():
        return None
    return json.loads(f.read_text())
