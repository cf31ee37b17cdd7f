"""Progress of long work: the steps reported through trialsynth._core.progress (per outcome of a
review, per file of a records import, per chunk of a simulation; fit_batch's chunks are in
tests/stats/test_batch_progress.py), bars on a terminal (a pseudo-terminal here), and none when
standard error is not a terminal or with ``--quiet``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.progress_helpers import Recorder, run_on_terminal
from trialsynth._core.progress import listening
from trialsynth.cli.main import main
from trialsynth.workflow.runner import analyse_review

SRC = Path(__file__).resolve().parents[2] / "src"
BCG = SRC / "trialsynth" / "examples" / "bcg"


def test_review_reports_one_step_per_outcome_and_analysis_set():
    log: list = []
    with listening(lambda description, total: Recorder(log, description, total)):
        analysis = analyse_review(BCG)
    assert len(analysis.outcomes) == 1  # dat.bcg: one outcome (tb), one analysis set (main)
    assert log[0] == ("start", "Analyses", 1)
    assert ("advance", 0, "tb (main)") in log and ("advance", 1, "") in log and log[-1] == ("close",)


def test_no_progress_bar_when_not_a_terminal(tmp_path):
    result = CliRunner().invoke(main, ["run", str(BCG), "--out", str(tmp_path), "--no-pdf"])
    assert result.exit_code == 0, result.output
    assert "Analyses" not in result.output and "━" not in result.output
    result = CliRunner().invoke(main, ["--quiet", "run", str(BCG), "--out", str(tmp_path), "--no-pdf", "-q"])
    assert result.exit_code == 0 and "━" not in result.output


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_bars_on_a_terminal_and_none_with_quiet(tmp_path):
    """On a terminal, ``run`` draws its bars per outcome and per figure (rich, imported only when
    the first task starts); ``--quiet`` (of the group or of ``run``) draws none."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "trialsynth", "run", str(BCG), "--out", str(tmp_path), "--no-pdf"]
    status, stderr = run_on_terminal(command, env)
    assert status == 0, stderr[-2000:]
    assert "Analyses" in stderr and "Figures" in stderr and "━" in stderr
    for quiet in ([*command[:3], "--quiet", *command[3:]], [*command, "--quiet"]):
        status, stderr = run_on_terminal(quiet, env)
        assert status == 0, stderr[-2000:]
        assert "Analyses" not in stderr and "━" not in stderr


RECORDS = SRC.parent / "tests" / "fixtures" / "records"
#: 10 replications of one scenario in chunks of 4 (see docs/simulate.md for the spec format).
TINY_SIMULATION = (
    'seed = 7\nreplications = 10\nchunk_size = 4\n[[estimator]]\nmethod = "REML"\n'
    '[[scenario]]\nname = "chunks"\nk = 5\ntau2 = 0.05\neffect = 0.2\n'
    'vi = { distribution = "chi2", df = 4, scale = 0.2 }\n'
)


def test_records_import_reports_one_step_per_file(tmp_path):
    files = [str(RECORDS / name) for name in ("pubmed.nbib", "embase.ris")]
    log: list = []
    with listening(lambda description, total: Recorder(log, description, total)):
        result = CliRunner().invoke(
            main, ["records", "import", str(tmp_path), *files, "--search-date", "2024-05-01"]
        )
    assert result.exit_code == 0, result.output
    assert log == [
        ("start", "Importing", 2),
        ("advance", 0, files[0]),
        ("advance", 1, ""),
        ("advance", 0, files[1]),
        ("advance", 1, ""),
        ("close",),
    ]


def test_simulate_reports_one_step_per_chunk(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SIMULATION, encoding="utf-8")
    args = ["simulate", str(spec), "--out", str(tmp_path / "out"), "--workers", "1", "--no-plot"]
    log: list = []
    with listening(lambda description, total: Recorder(log, description, total)):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        quiet = CliRunner().invoke(main, [*args, "--no-progress"])
        assert quiet.exit_code == 0, quiet.output
    # 10 replications in chunks of 4: 4, 4, 2; --no-progress reports no task at all.
    assert log == [
        ("start", "Replications", 10),
        ("advance", 4, ""),
        ("advance", 4, ""),
        ("advance", 2, ""),
        ("close",),
    ]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_simulate_bar_on_a_terminal_and_none_with_quiet(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SIMULATION, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "trialsynth", "simulate", str(spec), "--out", str(tmp_path / "o")]
    command += ["--workers", "1", "--no-plot"]
    status, stderr = run_on_terminal(command, env)
    assert status == 0, stderr[-2000:]
    assert "Replications" in stderr and "10/10" in stderr
    status, stderr = run_on_terminal([*command[:3], "--quiet", *command[3:]], env)
    assert status == 0, stderr[-2000:]
    assert "Replications" not in stderr
