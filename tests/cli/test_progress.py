"""Progress of long work: the steps reported through trialsynth._core.progress (per outcome of a
review, per file of a records import), and no progress bar when standard error is not a terminal."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from trialsynth._core.progress import listening
from trialsynth.cli.main import main
from trialsynth.workflow.runner import analyse_review

BCG = Path(__file__).resolve().parents[2] / "src" / "trialsynth" / "examples" / "bcg"


class _Recorder:
    def __init__(self, log: list, description: str, total) -> None:
        self.log = log
        log.append(("start", description, total))

    def advance(self, amount: float = 1, label: str = "") -> None:
        self.log.append(("advance", amount, label))

    def close(self) -> None:
        self.log.append(("close",))


def test_review_reports_one_step_per_outcome_and_analysis_set():
    log: list = []
    with listening(lambda description, total: _Recorder(log, description, total)):
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
