"""``trialsynth screen``: the terminal session driven key by key (CliRunner feeds click.getchar
from its input), then once in a real pseudo-terminal."""

import os
import select
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from tests.screening_data import RECORDS, make_review
from trialsynth.cli import main
from trialsynth.io.records.store import open_store


@pytest.fixture
def review(tmp_path):
    return make_review(tmp_path / "review")


def _run(args, keys, env=None):
    return CliRunner().invoke(main, args, input=keys, env=env, catch_exceptions=False)


def _current(review, stage="title_abstract"):
    with open_store(review) as store:
        return {(d.record_id, d.reviewer): (d.decision, d.reason) for d in store.decisions(stage)}


def test_keys_record_decisions_skip_and_undo(review):
    # import order: 1 include, 2 exclude; then ranked: 3 and 6 (the other lead-placement
    # RCTs) first. s skips the one shown, m marks the next maybe, u undoes that maybe,
    # x is refused, m again, q quits.
    result = _run(["screen", str(review), "--reviewer", "ann"], "iesmuxmq")
    assert result.exit_code == 0, result.output
    assert "unknown key 'x'" in result.output
    assert "undid your maybe" in result.output
    assert "This session: 4 decisions recorded, 1 undone." in result.output
    current = _current(review)
    assert current[(1, "ann")] == ("include", "")
    assert current[(2, "ann")] == ("exclude", "")
    (maybe,) = [rid for (rid, _), (d, _) in current.items() if d == "maybe"]
    assert maybe in (3, 6)  # a lead-placement trial, ranked first by the model
    assert len(current) == 3
    with open_store(review) as store:
        assert len(store.decisions("title_abstract", history=True)) == 4  # the undone maybe stays
    # the CSV copy is written on quitting
    assert (review / "records" / "decisions.csv").read_text(encoding="utf-8").count("\n") == 5


def test_reviewer_from_the_environment_and_finishing_the_stage(review):
    result = _run(["screen", str(review)], "i" * 6, env={"TRIALSYNTH_REVIEWER": "bob"})
    assert result.exit_code == 0, result.output
    assert "Nothing left to screen at this stage for you." in result.output
    assert {k: v for k, v in _current(review).items()} == {(i, "bob"): ("include", "") for i in range(1, 7)}


def test_reviewer_is_required(review):
    result = CliRunner().invoke(main, ["screen", str(review)], env={"TRIALSYNTH_REVIEWER": ""})
    assert result.exit_code == 2
    assert "--reviewer" in result.output


def test_review_without_records_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["screen", str(tmp_path), "--reviewer", "ann"])
    assert result.exit_code == 2
    assert "no record store yet" in result.output


def test_record_text_is_shown_with_control_characters_escaped(tmp_path):
    records = (("Title with \x1b[2J an escape", "Abstract \x07 bell.", "Roe, R.", 2021, "J"),)
    review = make_review(tmp_path / "r", records)
    result = _run(["screen", str(review), "--reviewer", "ann"], "q")
    assert "Title with \\x1b[2J an escape" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output


def test_full_text_exclusion_asks_for_the_reason(tmp_path):
    review = make_review(tmp_path / "r", reasons=["Not randomized", "Wrong population", "No outcome data"])
    with open_store(review) as store:
        store.set_reviewers_required(1)
    _run(["screen", str(review), "--reviewer", "ann", "--no-rank"], "iiiiee" + "q")  # 1-4 in, 5-6 out
    # full text: records 1-4. e then 'x' cancels; e 2 → Wrong population; i; e 3; m
    result = _run(
        ["screen", str(review), "--reviewer", "ann", "--stage", "full_text", "--no-rank"], "exe2ie3mq"
    )
    assert result.exit_code == 0, result.output
    assert "1  Not randomized" in result.output and "cancelled" in result.output
    assert _current(review, "full_text") == {
        (1, "ann"): ("exclude", "Wrong population"),
        (2, "ann"): ("include", ""),
        (3, "ann"): ("exclude", "No outcome data"),
        (4, "ann"): ("maybe", ""),
    }


def test_conflicts_are_listed_and_resolved(review):
    _run(["screen", str(review), "--reviewer", "ann", "--no-rank"], "ieie" + "q")
    _run(["screen", str(review), "--reviewer", "bob", "--no-rank"], "iiee" + "q")
    # conflicts: 2 (ann exclude, bob include) and 3 (ann include, bob exclude)
    result = _run(["screen", str(review), "--reviewer", "carol", "--conflicts"], "iuse" + "q")
    assert result.exit_code == 0, result.output
    assert "Conflict 1 of 2" in result.output
    assert "  ann: exclude" in result.output and "  bob: include" in result.output
    assert "→ include (third reviewer)" in result.output
    assert "record 2 is in conflict again" in result.output
    with open_store(review) as store:
        resolutions = {
            r["record_id"]: (r["decision"], r["resolved_by"], r["note"]) for r in store.resolutions()
        }
        assert resolutions == {3: ("exclude", "carol", "third reviewer")}
        assert [s.record_id for s in store.conflicts("title_abstract")] == [2]
    result = _run(["screen", str(review), "--reviewer", "ann", "--conflicts"], "i")
    assert "→ include (consensus)" in result.output
    assert "No conflicts left at this stage." in result.output


def _read_until(fd, text: bytes, timeout: float = 60.0) -> bytes:
    out = b""
    end = time.monotonic() + timeout
    while text not in out:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {text!r}; got {out[-400:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pseudo-terminal")
def test_in_a_real_pseudo_terminal(review):
    # Keys reach the command one at a time through a pty, without Enter: raw mode works.
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trialsynth", "screen", str(review), "--reviewer", "ann", "--no-rank"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
        start_new_session=True,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(slave)
    try:
        _read_until(master, RECORDS[0][0].encode())
        os.write(master, b"i")
        _read_until(master, RECORDS[1][0].encode())
        os.write(master, b"e")
        _read_until(master, RECORDS[2][0].encode())
        os.write(master, b"q")
        tail = _read_until(master, b"This session: 2 decisions recorded, 0 undone.")
        assert b"This session" in tail
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert _current(review) == {(1, "ann"): ("include", ""), (2, "ann"): ("exclude", "")}


def test_summary_counts_kappa_and_conflicts(review):
    import json

    # ann: 1 i, 2 e, 3 i, 4 e, 5 i, 6 e; bob: 1 i, 2 e, 3 e, 4 e, 5 i, 6 m
    _run(["screen", str(review), "--reviewer", "ann", "--no-rank"], "ieieie")
    _run(["screen", str(review), "--reviewer", "bob", "--no-rank"], "ieeeim")
    result = CliRunner().invoke(
        main, ["screen", str(review), "--summary", "--json"], env={"TRIALSYNTH_REVIEWER": ""}
    )
    assert result.exit_code == 0, result.output
    ta = json.loads(result.output)["title_abstract"]
    # agreed: 1 (i), 2 (e), 4 (e), 5 (i); conflicts: 3 (i/e), 6 (e/m)
    assert (ta["records"], ta["agreed"], ta["conflict"], ta["pending"]) == (6, 4, 2, 0)
    assert (ta["included"], ta["excluded"]) == (2, 2)
    assert ta["reviewers"] == {
        "ann": {"include": 3, "exclude": 3, "maybe": 0},
        "bob": {"include": 2, "exclude": 3, "maybe": 1},
    }
    # Cohen's kappa by hand: p_o = 4/6. Marginals ann (i 3, e 3, m 0), bob (i 2, e 3, m 1):
    # p_e = (3·2 + 3·3 + 0·1)/36 = 15/36. κ = (4/6 − 15/36)/(1 − 15/36) = (9/36)/(21/36) = 3/7.
    (pair,) = ta["agreement"]
    assert pair["reviewers"] == ["ann", "bob"] and (pair["records"], pair["agreed"]) == (6, 4)
    assert pair["kappa"] == pytest.approx(3 / 7, abs=1e-15)
    assert [c["record_id"] for c in ta["conflicts"]] == [3, 6]
    text = CliRunner().invoke(main, ["screen", str(review), "--summary"]).output
    assert "ann and bob: agree on 4 of 6 records both decided; Cohen's kappa 0.429" in text
    assert "conflict [6]" in text and "bob: maybe" in text


def test_kappa_is_not_defined_when_chance_agreement_is_certain():
    from trialsynth.workflow.screening.session import cohen_kappa

    assert cohen_kappa([]) is None
    assert cohen_kappa([("exclude", "exclude")] * 4) is None
    # complete disagreement on two balanced categories: p_o = 0, p_e = 1/2, κ = −1
    assert cohen_kappa([("include", "exclude"), ("exclude", "include")]) == -1.0
