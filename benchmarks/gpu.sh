#!/usr/bin/env bash
# One GPU, one command, a few minutes: HFRecommender scoring throughput per dtype and batch size
# (the tiny LM and a random-weight GPT-2-small-shaped model), then a `recaudit demo --quick`
# style audit of the tiny LM with the model on the GPU. Exits 0 with a message when torch sees
# no CUDA GPU.
#
#   bash benchmarks/gpu.sh [OUT_DIR]      # default OUT_DIR: reports/gpu
#
# Environment: PYTHON (default .venv/bin/python, else python3), DEVICE (default cuda; DEVICE=cpu
# is a dry run of the whole script on the CPU, minutes on 2 cores), BATCH_SIZES (16,64,256),
# SWEEP_REQUESTS (256).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
DEVICE="${DEVICE:-cuda}"
OUT="${1:-reports/gpu}"

BATCH_SIZES="${BATCH_SIZES:-16,64,256}"
SWEEP_REQUESTS="${SWEEP_REQUESTS:-256}"
if [[ "$DEVICE" != cpu* ]] &&
    ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null
then
    echo "gpu.sh: no CUDA GPU visible to torch ($("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null || echo 'torch not importable')); nothing to measure."
    exit 0
fi
mkdir -p "$OUT"
export TOKENIZERS_PARALLELISM=false
export RECAUDIT_CACHE_DIR="${RECAUDIT_CACHE_DIR:-$(mktemp -d)}"
"$PY" -c "import torch; p = torch.cuda.get_device_properties(0) if torch.cuda.is_available() else None; print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB' if p else 'no GPU (dry run)', '; torch', torch.__version__)"

BENCH=(benchmarks/bench_models.py --users 200 --items 100 --epochs 2 --device "$DEVICE"
       --cache-dir "$RECAUDIT_CACHE_DIR" --sweep-only --sweep-requests "$SWEEP_REQUESTS"
       --dtypes float32,bfloat16 --batch-sizes "$BATCH_SIZES")
echo "== scoring throughput: tiny LM (float32 / bfloat16 x batch sizes) =="
"$PY" "${BENCH[@]}" --sweep-shape tiny
echo "== scoring throughput: GPT-2-small shape, random weights (~90M parameters) =="
"$PY" "${BENCH[@]}" --sweep-shape gpt2-small

echo "== audit on the GPU (demo --quick settings) =="
"$PY" - "$OUT" "$DEVICE" <<'PY'
import sys, time
import torch
import recaudit as ra
from recaudit.cli import _print_summary, _quiet_transformers, quick_config

out, device = sys.argv[1], sys.argv[2]
_quiet_transformers()
data = ra.datasets.synthetic(n_users=80, n_items=50, seed=0)
model = ra.models.train_tiny_lm(data, seed=0, config=ra.models.TinyLMConfig(epochs=2),
                                progress=False, device=device)
print(f"model {model!r} on {next(model.model.parameters()).device}")
start = time.perf_counter()
report = ra.audit(model, data, None, config=quick_config(), seed=0, progress=False,
                  out_json=f"{out}/gpu_demo.json", title="recaudit demo --quick on a GPU")
report.to_html(f"{out}/gpu_demo.html")
_print_summary(report)
peak = (f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if torch.cuda.is_available()
        else "n/a")
print(f"audit {time.perf_counter() - start:.1f} s; peak GPU memory {peak}; "
      f"wrote {out}/gpu_demo.html")
PY
