"""How fast the command line answers: ``trialsynth --help`` and ``trialsynth pool`` on a 3-row CSV,
beside ``python -c pass`` and ``python -c "import numpy"``, each as the median wall time of
``--repeat`` fresh processes (after one untimed warm-up run of each), and as ratios to
``import numpy``. The target (issue 16 §3): ``pool`` within 1.5× ``import numpy``.

Run with ``make bench`` or ``python benchmarks/cli_startup.py [--repeat N]``. The last line printed is
one JSON object: case → seconds, and ratio_* → the ratio to ``import numpy``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
THREE_TRIALS = (
    "study,events_treatment,n_treatment,events_control,n_control\n"
    "Aronson 1948,4,123,11,139\nFerguson & Simes 1949,6,306,29,303\nRosenthal 1960,3,231,11,220\n"
)


def _time(args: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system of the child) of ``repeat`` runs."""
    subprocess.run(args, check=True, capture_output=True, env=env)  # warm-up: disk cache, .pyc
    wall, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, env=env)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per case (median)")
    opts = parser.parse_args()
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "three.csv"
        csv.write_text(THREE_TRIALS, encoding="utf-8")
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import numpy'": [py, "-c", "import numpy"],
            "trialsynth --help": [py, "-m", "trialsynth", "--help"],
            "trialsynth pool (3 rows)": [py, "-m", "trialsynth", "pool", str(csv), "--measure", "RR"],
        }
        timed = {name: _time(args, opts.repeat, env) for name, args in cases.items()}
    wall_np, cpu_np = timed["python -c 'import numpy'"]
    print(f"CLI start-up, median of {opts.repeat} runs ({py}); CPU = user + system time, steadier than")
    print("wall time on a shared machine:")
    for name, (wall, cpu) in timed.items():
        print(
            f"  {name:<26} wall {wall * 1000:7.1f} ms  {wall / wall_np:5.2f}× import numpy   "
            f"CPU {cpu * 1000:7.1f} ms  {cpu / cpu_np:5.2f}×"
        )
    out = {}
    for name, (wall, cpu) in timed.items():
        out[name] = {"wall": wall, "cpu": cpu, "ratio_wall": wall / wall_np, "ratio_cpu": cpu / cpu_np}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
