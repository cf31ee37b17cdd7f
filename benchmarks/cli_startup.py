"""How fast the command line answers: ``trialsynth --help``, ``trialsynth pool --help`` and
``trialsynth pool`` on a 3-row CSV, beside ``python -c pass`` and ``python -c "import numpy"``,
each timed over ``--repeat`` fresh processes (after one untimed warm-up run of each) and given as
ratios to ``import numpy``. The target (issue 16 §3): ``pool`` within 1.5× ``import numpy``.

Two timings per case: the median CPU time of the child (user + system; steady on a shared machine,
where other processes stretch wall time but not CPU time) and the best wall time (the run least
disturbed by others). The cases run interleaved (one run of each, ``--repeat`` times over), so a
burst of load on the machine falls on all of them alike.

Bytecode: an installed package has its ``.pyc`` files (pip compiles them). So that a source
checkout is timed the same way, the runs use a fresh ``PYTHONPYCACHEPREFIX`` (a temporary folder,
filled by the warm-up run; the checkout gets no ``__pycache__``) even when the environment sets
``PYTHONDONTWRITEBYTECODE``. ``--no-bytecode`` times instead compiling every module's source on
every run (``PYTHONDONTWRITEBYTECODE=1``, no cache), which is slower for trialsynth's own modules
only (numpy's and the standard library's ``.pyc`` files are read as usual).

Run with ``make bench`` or ``python benchmarks/cli_startup.py [--repeat N] [--no-bytecode]``. The
last line printed is one JSON object: case → wall_best, cpu_median, wall_median (seconds) and their
ratios to ``import numpy``.
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
REFERENCE = "python -c 'import numpy'"


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _environment(pycache: str, bytecode: bool) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=21, help="timed runs per case (default 21)")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="compile trialsynth's sources on every run (no .pyc)"
    )
    opts = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        env = _environment(str(Path(tmp) / "pycache"), not opts.no_bytecode)
        csv = Path(tmp) / "three.csv"
        csv.write_text(THREE_TRIALS, encoding="utf-8")
        cases = {
            "python -c pass": [py, "-c", "pass"],
            REFERENCE: [py, "-c", "import numpy"],
            "trialsynth --help": [py, "-m", "trialsynth", "--help"],
            "trialsynth pool --help": [py, "-m", "trialsynth", "pool", "--help"],
            "trialsynth pool (3 rows)": [py, "-m", "trialsynth", "pool", str(csv), "--measure", "RR"],
        }
        for args in cases.values():
            _run(args, env)  # warm-up: disk cache, .pyc files
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(opts.repeat):
            for name, args in cases.items():
                runs[name].append(_run(args, env))
    timed = {
        name: {
            "wall_best": min(w for w, _ in values),
            "cpu_median": statistics.median(c for _, c in values),
            "wall_median": statistics.median(w for w, _ in values),
        }
        for name, values in runs.items()
    }
    ref = timed[REFERENCE]
    for values in timed.values():
        for key in ("wall_best", "cpu_median", "wall_median"):
            values[f"ratio_{key}"] = values[key] / ref[key]
    mode = "sources compiled on every run" if opts.no_bytecode else "from .pyc files"
    print(f"CLI start-up, {opts.repeat} runs per case, {mode} ({py}).")
    print("CPU = user + system time of the child, median; wall = best run (median in brackets);")
    print("ratios to python -c 'import numpy':")
    for name, v in timed.items():
        print(
            f"  {name:<26} CPU {v['cpu_median'] * 1000:6.1f} ms {v['ratio_cpu_median']:5.2f}×   "
            f"wall {v['wall_best'] * 1000:6.1f} ms {v['ratio_wall_best']:5.2f}×   "
            f"[{v['wall_median'] * 1000:6.1f} ms {v['ratio_wall_median']:5.2f}×]"
        )
    print(json.dumps(timed))


if __name__ == "__main__":
    main()
