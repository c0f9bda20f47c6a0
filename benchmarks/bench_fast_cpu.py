"""torch's oneDNN linear kernel against nn.Linear (MKL) on MiniLM's shapes, and MiniLM encoding.

Prints GFLOPS of ``nn.Linear`` and of :class:`recaudit.models._fast_cpu.OneDNNLinear` for the
encoder's three linear shapes at a batch of 64 prompts of 80 tokens, then the time to encode
512 prompt-like texts with ``encode_padded`` with the swap (default) and without it
(``RECAUDIT_ONEDNN=0``, in a subprocess, since the encoder is loaded once per process),
fastest of ``--repeats`` in each of two
alternating runs per side, and the largest difference between the two embeddings.

Usage::

    python benchmarks/bench_fast_cpu.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _gflops(layer, x, flops: float, repeats: int = 20) -> float:
    layer(x)
    start = time.perf_counter()
    for _ in range(repeats):
        layer(x)
    return flops / ((time.perf_counter() - start) / repeats) / 1e9


def _encode(out: str, repeats: int) -> None:
    from recaudit.models.encoders._embedding import encode_padded

    rng = np.random.default_rng(0)
    words = "the a movie star wars toy story love night day man woman city dark king".split()
    texts = [" ".join(rng.choice(words, rng.integers(40, 90))) for _ in range(512)]
    encode_padded(texts[:8])  # load the encoder
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        vectors = encode_padded(texts)
        best = min(best, time.perf_counter() - start)
    np.save(out, vectors)
    print(f"{best:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--encode-worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.encode_worker:
        _encode(args.encode_worker, args.repeats)
        return 0

    import torch

    from recaudit.models import _fast_cpu

    op = _fast_cpu._kernel()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN linear "
          f"{'available' if op is not None else 'NOT available (nothing to compare)'}")
    if op is None:
        return 0
    rows = 64 * 80
    with torch.inference_mode():
        for k, n in [(384, 384), (384, 1536), (1536, 384)]:
            x, linear = torch.randn(rows, k), torch.nn.Linear(k, n)
            fast = _fast_cpu.OneDNNLinear(linear, op)
            flops = 2.0 * rows * k * n
            a, b = _gflops(linear, x, flops), _gflops(fast, x, flops)
            print(f"  linear {rows}x{k} @ {k}x{n}: nn.Linear {a:6.0f} GFLOPS, oneDNN "
                  f"{b:6.0f} GFLOPS ({b / a:.2f}x)")
    times: dict[str, float] = {}
    vectors = {}
    with tempfile.TemporaryDirectory() as tmp:
        for flag in ("0", "1", "1", "0"):  # alternating: a load spike hits both sides
            out = str(Path(tmp) / f"v{flag}.npy")
            env = {**os.environ, "RECAUDIT_ONEDNN": flag, "TRANSFORMERS_VERBOSITY": "error"}
            done = subprocess.run([sys.executable, __file__, "--encode-worker", out,
                                   "--repeats", str(args.repeats)], env=env, check=True,
                                  capture_output=True, text=True)
            times[flag] = min(times.get(flag, float("inf")), float(done.stdout.split()[-1]))
            vectors[flag] = np.load(out)
    diff = float(np.abs(vectors["0"] - vectors["1"]).max())
    print(f"  encode_padded, 512 texts of 40-90 words: MKL {times['0']:.2f} s, oneDNN "
          f"{times['1']:.2f} s ({times['0'] / times['1']:.2f}x); max |diff| {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
