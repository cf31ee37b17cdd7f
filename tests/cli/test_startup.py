"""The command line answers at once: ``trialsynth --help`` and ``trialsynth COMMAND --help`` import
none of numpy, scipy, pandas, matplotlib (checked with ``python -X importtime`` in a subprocess,
which lists every module imported), and ``pool`` on a small table imports neither numba, pandas
nor matplotlib, nor the modules of the other commands. The timings are in ``make bench``
(benchmarks/cli_startup.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trialsynth.cli.main import LAZY_COMMANDS, main

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("numpy", "scipy", "pandas", "matplotlib", "starlette", "uvicorn", "anyio")


def _imported(args: list[str]) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trialsynth", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")
    }


@pytest.mark.parametrize("command", [None, *sorted({*main.commands, *LAZY_COMMANDS})])
def test_help_imports_no_numerics(command):
    modules = _imported(["--help"] if command is None else [command, "--help"])
    assert "click" in modules  # the importtime listing works
    top = {m.split(".")[0] for m in modules}
    assert not top & set(HEAVY), sorted(top & set(HEAVY))


def test_small_pool_imports_only_what_it_needs(tmp_path):
    path = tmp_path / "three.csv"
    path.write_text(
        "study,events_treatment,n_treatment,events_control,n_control\n"
        "A,4,123,11,139\nB,6,306,29,303\nC,3,231,11,220\n",
        encoding="utf-8",
    )
    modules = _imported(["pool", str(path), "--measure", "RR"])
    top = {m.split(".")[0] for m in modules}
    assert "numpy" in top
    assert not top & {"numba", "pandas", "matplotlib"}, sorted(top & {"numba", "pandas", "matplotlib"})
    commands = {m for m in modules if m.startswith("trialsynth.cli.")} - {
        "trialsynth.cli.main",
        "trialsynth.cli.progress",
    }
    assert not commands, commands
