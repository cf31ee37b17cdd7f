"""Progress of long work: the steps reported through trialsynth._core.progress (per outcome of a
review, per file of a records import), and no progress bar when standard error is not a terminal."""

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
