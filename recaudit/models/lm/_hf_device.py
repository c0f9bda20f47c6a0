"""Where an ``HFRecommender`` runs: device and dtype selection, and the out-of-memory back-off.

:func:`resolve_device` picks the torch device (the first CUDA GPU when there is one, else
Apple's MPS, else the CPU), :func:`resolve_dtype` reads a dtype name, and
:class:`BatchBackoff` runs a job over consecutive batches, halving the batch (and the share of
the title-chunk budgets) and retrying when a batch runs out of memory; the size that fitted
is kept for later calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

#: Starting batch size for ``batch_size="auto"`` (backs off on out-of-memory errors). On a
#: CPU, bigger batches spill the caches: with the tiny LM on one thread, 16 prompts x 20
#: candidates score 1.6x faster than one request at a time, 64 only 1.1x.
_AUTO_BATCH = {"cpu": 16, "accelerator": 256}
#: Accepted ``dtype`` names.
_DTYPES = {"float32": "float32", "fp32": "float32", "float": "float32",
           "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16", "half": "float16"}


def is_out_of_memory(exc: BaseException) -> bool:
    """True for ``torch.cuda.OutOfMemoryError`` and for RuntimeErrors saying out of memory."""
    import torch

    for oom in (getattr(torch, "OutOfMemoryError", None),
                getattr(torch.cuda, "OutOfMemoryError", None)):
        if oom is not None and isinstance(exc, oom):
            return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def resolve_device(device: Any = None, model: Any = None) -> str:
    """The torch device string for ``device``.

    ``None`` keeps a given model that already sits on an accelerator there, else works like
    ``"auto"``: the first CUDA GPU when torch sees one, else Apple's MPS, else the CPU. An
    explicit device that is not available raises ``ValueError``.
    """
    import torch

    if device is None and model is not None:
        try:
            current = next(model.parameters()).device
        except (StopIteration, AttributeError, TypeError):
            current = None
        if current is not None and current.type != "cpu":
            return str(current)
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be None, 'auto', 'cpu', 'cuda', 'cuda:N' or another "
                         f"torch device, got {device!r}") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU "
                             "(torch.cuda.is_available() is False: a CPU-only torch build or "
                             "no GPU); use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but torch sees only "
                             f"{torch.cuda.device_count()} CUDA GPU(s)")
    return str(dev)


def resolve_dtype(dtype: Any) -> Any:
    """``None`` (keep the model's dtype) or the torch dtype named by ``dtype``."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = _DTYPES.get(str(dtype).replace("torch.", "").lower())
    if name is None:
        raise ValueError(f"dtype must be None, 'float32', 'bfloat16' or 'float16', got {dtype!r}")
    return getattr(torch, name)


class BatchBackoff:
    """Batches of a job, halved on out-of-memory errors; the size that fitted is kept.

    Parameters
    ----------
    size : int
        Items per batch to start with.

    Attributes
    ----------
    size : int
        Items per batch now (after any back-off).
    scale : float
        Share of the title-chunk budgets (halved with the batch).
    backoffs : int
        Out-of-memory back-offs so far (each halved the batch and retried).
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.scale = 1.0
        self.backoffs = 0

    def run(self, order: Sequence[int],
            run: Callable[[list[int]], Any]) -> Iterator[tuple[list[int], Any]]:
        """``run`` over consecutive parts of ``order``, halving the batch on out-of-memory.

        The batch size that fitted is remembered (:attr:`size`), and the title chunk
        budgets shrink with it (:attr:`scale`). The error is re-raised when even one prompt
        does not fit with the budgets at 1/4096 of their size.
        """
        import torch

        pos = 0
        while pos < len(order):
            part = list(order[pos:pos + self.size])
            try:
                result = run(part)
            except Exception as exc:
                if not is_out_of_memory(exc) or (len(part) == 1 and self.scale < 2**-12):
                    raise
                del exc  # drop the traceback's references to the failed batch's tensors
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                self.backoffs += 1
                self.size = max(1, len(part) // 2)
                self.scale /= 2
                continue
            pos += len(part)
            yield part, result
