"""Run every benchmark in this folder, one after the other (``make bench``).

Each script prints its own figures (ratios, times, memory); this runner adds nothing but
the order and a header per script. Pass script names to run only those.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["bench_models.py", "bench_engine.py", "bench_scale.py", "fairness_tiny_lm.py",
         "privacy_epochs.py",
         "robustness_figures.py", "explanation_figures.py", "ablation_tiny_lm.py",
         "paradigm_study.py"]


def main(argv: list[str]) -> int:
    scripts = argv or [s for s in ORDER if (HERE / s).exists()]
    failed = []
    for name in scripts:
        print(f"\n===== {name} =====", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / name)])
        print(f"----- {name}: exit {rc}, {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
