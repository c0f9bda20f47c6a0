"""Faster CPU kernels for the same float32 model: oneDNN linears, a fused tanh GELU.

torch runs ``nn.Linear`` on the CPU through its BLAS (MKL in the official wheels); torch's
own oneDNN kernel, ``torch.ops.mkldnn._linear_pointwise`` (the op ``torch.compile`` lowers
CPU linears to), is faster on the shapes here (``benchmarks/bench_fast_cpu.py``;
docs/measurements.md). Both compute in float32: outputs agree to float rounding, the same
noise as a change of batch shape (see CONTRIBUTING, "Floats are not bitwise across
shapes").

:func:`use_onednn_linears` swaps a model's ``nn.Linear`` modules for :class:`OneDNNLinear`
in place. It is a no-op where oneDNN is absent (non-x86 builds), when the op is missing from
this torch, when a trial call fails, or when ``RECAUDIT_ONEDNN=0``. An ``OneDNNLinear`` falls
back to ``torch.nn.functional.linear`` whenever autograd is recording (the oneDNN op has no
backward), off the CPU, and for dtypes other than float32, so a swapped model still
trains, runs gradients (Captum) and moves to a GPU unchanged in results.

:func:`use_fused_tanh_gelu` replaces transformers' ``NewGELUActivation`` (GPT-2's
``gelu_new``: the tanh approximation written as five elementwise torch ops) by
``PytorchGELUTanh`` (the same formula in one fused kernel, ``F.gelu(approximate="tanh")``);
summed title log-probabilities move by float rounding only.

Hand-written rather than ``torch.compile``, which needs a C++ toolchain at run time and a
compile per model and shape family.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def _kernel() -> Any | None:
    """``torch.ops.mkldnn._linear_pointwise``, or ``None`` where it cannot run."""
    if os.environ.get("RECAUDIT_ONEDNN", "1") == "0":
        return None
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        op = torch.ops.mkldnn._linear_pointwise
        x, w, b = torch.ones(2, 3), torch.ones(4, 3), torch.zeros(4)
        with torch.inference_mode():
            y = op(x, w, b, "none", [], "")
        if y.shape != (2, 4) or not torch.allclose(y, torch.full((2, 4), 3.0)):
            return None
    except Exception:  # not in this build, or refused on this CPU
        return None
    return op


class OneDNNLinear(nn.Module):
    """A float32 ``nn.Linear`` (optionally followed by GELU) on oneDNN for CPU inference.

    Holds the original module's parameters (same names, same state dict). ``gelu=True``
    fuses the exact (erf) GELU after the product, as BERT's intermediate layer applies it.
    """

    def __init__(self, linear: nn.Linear, op: Any, gelu: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.gelu = gelu
        self._op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast = (x.device.type == "cpu" and x.dtype == torch.float32
                and self.weight.dtype == torch.float32
                and not (torch.is_grad_enabled()
                         and (x.requires_grad or self.weight.requires_grad)))
        if not fast:
            y = F.linear(x, self.weight, self.bias)
            return F.gelu(y) if self.gelu else y
        return self._op(x, self.weight, self.bias, "gelu" if self.gelu else "none",
                        [], "none" if self.gelu else "")

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"gelu={self.gelu}")


def use_onednn_linears(model: nn.Module) -> int:
    """Swap ``model``'s ``nn.Linear`` modules for :class:`OneDNNLinear`; return how many.

    A BERT intermediate block (``dense`` then an exact-GELU ``intermediate_act_fn``) gets the
    GELU fused into its linear. Returns 0 and changes nothing when the kernel is unavailable.
    """
    op = _kernel()
    if op is None:
        return 0
    swapped = 0
    for module in list(model.modules()):
        fuse = (isinstance(getattr(module, "dense", None), nn.Linear)
                and _is_exact_gelu(getattr(module, "intermediate_act_fn", None)))
        for name, child in list(module.named_children()):
            if type(child) is nn.Linear:
                gelu = fuse and name == "dense"
                setattr(module, name, OneDNNLinear(child, op, gelu=gelu))
                swapped += 1
        if fuse:
            module.intermediate_act_fn = nn.Identity()
    return swapped


def _is_exact_gelu(act: Any) -> bool:
    """The erf GELU: ``nn.GELU()`` or transformers' ``GELUActivation`` (not tanh approx.)."""
    if isinstance(act, nn.GELU):
        return act.approximate == "none"
    return (type(act).__name__ == "GELUActivation"
            and getattr(act, "act", None) is F.gelu)  # the python erf variant computes the same


def use_fused_tanh_gelu(model: nn.Module) -> int:
    """Swap ``NewGELUActivation`` modules for ``PytorchGELUTanh``; return how many.

    Both compute ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``; the fused kernel
    rounds differently in the last bits. Honours ``RECAUDIT_ONEDNN=0`` (every fast-kernel
    swap off, for a bitwise comparison with the plain model).
    """
    if os.environ.get("RECAUDIT_ONEDNN", "1") == "0":
        return 0
    try:
        from transformers.activations import NewGELUActivation, PytorchGELUTanh
    except ImportError:  # an older or newer transformers: keep the model as it is
        return 0
    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is NewGELUActivation:
                setattr(module, name, PytorchGELUTanh())
                swapped += 1
    return swapped
