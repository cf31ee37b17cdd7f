"""``trialsynth rob2``: answers and ratings from a terminal, on a SYNTHETIC folder (expected
suggestions read off the RoB 2 guidance's figures by hand, see tests/io/test_rob2_folder.py)."""

from __future__ import annotations

from click.testing import CliRunner

from tests.io.test_rob2_folder import BRAVO, _folder
from trialsynth.cli.main import main
from trialsynth.io.review import load_review


def _run(*args):
    return CliRunner().invoke(main, ["rob2", *map(str, args)])


def test_show_answer_and_grade(tmp_path):
    folder = _folder(tmp_path, BRAVO[:2])
    shown = _run("show", folder)
    assert shown.exit_code == 0
    assert "D1       suggested: -              entered: low  needs 1.3" in shown.output
    done = _run("answer", folder, "bravo", "events", "1.3", "Y", "--who", "ann", "--comment", "age differs")
    assert done.exit_code == 0 and "saved bravo / events 1.3 = Y" in done.output
    # 1.2 PY → 1.1 Y → 1.3 Y: some concerns; entered low
    assert "D1       suggested: some concerns  entered: low  DIFFERS" in _run("show", folder).output
    stale = _run("answer", folder, "bravo", "events", "1.3", "N", "--who", "bob", "--expected", "absent")
    assert stale.exit_code == 2 and "changed by ann" in stale.output and "\n" == stale.output[-1]
    bad = _run("grade", folder, "events", "imprecision", "--rating", -1, "--who", "ann")
    assert bad.exit_code == 2 and "imprecision is rated -1: give the reason" in bad.output
    ok = _run(
        "grade", folder, "events", "imprecision", "--rating", -1, "--who", "ann", "--reason", "few events"
    )
    assert ok.exit_code == 0
    assert [d.domain for d in load_review(folder).outcome("events").grade.pending] == ["imprecision"]
