"""The command line answers at once: ``trialsynth --help`` and ``trialsynth COMMAND --help`` import
none of numpy, scipy, pandas, matplotlib (checked with ``python -X importtime`` in a subprocess,
which lists every module imported), and ``pool`` on a small table imports none of the modules in
:data:`NOT_FOR_SMALL_POOL` (whether or not standard error is a terminal), nor the modules of the
other commands. The timings are in ``make bench`` (benchmarks/cli_startup.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.progress_helpers import run_on_terminal
from trialsynth.cli.main import LAZY_COMMANDS, main

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("numpy", "scipy", "pandas", "matplotlib", "starlette", "uvicorn", "anyio")
THREE_ROWS = (
    "study,events_treatment,n_treatment,events_control,n_control\n"
    "A,4,123,11,139\nB,6,306,29,303\nC,3,231,11,220\n"
)

#: Top-level modules that ``trialsynth pool`` on a 3-row table must not import, with the reason
#: (each costs start-up time: issue 16 asks for ``pool`` within 1.5× ``python -c "import numpy"``).
NOT_FOR_SMALL_POOL = {
    "scipy": "about as costly as numpy; small inputs use trialsynth._core.dist",
    "numba": "only a large stack of fits is compiled",
    "pandas": "the pool table is read with csv",
    "matplotlib": "pool draws no figure",
    "rich": "progress bars are drawn only when a task starts, and pool reports none",
    "statistics": "brings fractions, decimal and random; the normal quantile comes from _statistics",
    "zipfile": "the workbook reader (with bz2, lzma, shutil) is for .xlsx names only",
    "pathlib": "brings urllib and ipaddress; serialize checks paths only once pathlib is loaded",
    "json": "needed only with --json",
}


def _importtime_lines(text: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in text.splitlines() if line.startswith("import time:")}


def _imported(args: list[str]) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trialsynth", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return _importtime_lines(proc.stderr)


def _imported_on_terminal(args: list[str]) -> set[str]:
    """As :func:`_imported`, with standard error a pseudo-terminal (where progress bars are drawn)."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    status, stderr = run_on_terminal([sys.executable, "-X", "importtime", "-m", "trialsynth", *args], env)
    assert status == 0, stderr[-2000:]
    return _importtime_lines(stderr)


@pytest.mark.parametrize("command", [None, *sorted({*main.commands, *LAZY_COMMANDS})])
def test_help_imports_no_numerics(command):
    modules = _imported(["--help"] if command is None else [command, "--help"])
    assert "click" in modules  # the importtime listing works
    top = {m.split(".")[0] for m in modules}
    assert not top & set(HEAVY), sorted(top & set(HEAVY))


@pytest.mark.parametrize(
    ("terminal", "extra"),
    [(False, []), (False, ["--json"]), pytest.param(True, [], marks=pytest.mark.skipif(
        not hasattr(os, "openpty"), reason="needs a pseudo-terminal"))],
)  # fmt: skip
def test_small_pool_imports_only_what_it_needs(tmp_path, terminal, extra):
    path = tmp_path / "three.csv"
    path.write_text(THREE_ROWS, encoding="utf-8")
    args = ["pool", str(path), "--measure", "RR", *extra]
    modules = _imported_on_terminal(args) if terminal else _imported(args)
    top = {m.split(".")[0] for m in modules}
    assert "numpy" in top and "click" in top  # the importtime listing works
    forbidden = set(NOT_FOR_SMALL_POOL) - ({"json"} if "--json" in extra else set())
    assert not top & forbidden, {m: NOT_FOR_SMALL_POOL[m] for m in top & forbidden}
    commands = {m for m in modules if m.startswith("trialsynth.cli.")} - {
        "trialsynth.cli.main",
        "trialsynth.cli.progress",
    }
    assert not commands, commands


def test_forbidden_list_is_checked_against_a_listing_that_has_them(tmp_path):
    """The check above can fail: a workbook pool imports zipfile, ``--json`` imports json (so the
    names are spelled as importtime lists them)."""
    path = tmp_path / "three.csv"
    path.write_text(THREE_ROWS, encoding="utf-8")
    top = {m.split(".")[0] for m in _imported(["pool", str(path), "--measure", "RR", "--json"])}
    assert "json" in top
    missing = tmp_path / "absent.xlsx"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trialsynth", "pool", str(missing), "--measure", "RR"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2  # a missing file: one line, status 2
    assert "zipfile" in {m.split(".")[0] for m in _importtime_lines(proc.stderr)}
