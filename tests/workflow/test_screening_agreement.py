"""κ, AC1, conflict counts and how conflicts were resolved in the screening summary
(``screen --summary --json``), on a six-record review decided by two reviewers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.screening_data import make_review
from trialsynth.cli import main
from trialsynth.workflow.screening.session import ScreeningSession, screening_summary

TOL = 1e-12  # exact decimals worked by hand; room for floating-point rounding only


def test_summary_has_kappa_ac1_conflicts_and_resolutions(tmp_path):
    review = make_review(tmp_path / "review")
    ann = ScreeningSession(review, "ann", rank=False)
    bob = ScreeningSession(review, "bob", rank=False)
    for rid, a, b in [
        (1, "include", "exclude"),
        (2, "exclude", "exclude"),
        (3, "maybe", "include"),
        (4, "exclude", "exclude"),
        (5, "exclude", "exclude"),
        (6, "include", "include"),
    ]:
        ann.decide(rid, a)
        bob.decide(rid, b)
    ScreeningSession(review, "carol", rank=False).resolve(1, "include")
    ann.resolve(3, "include")
    st = screening_summary(review)["title_abstract"]
    pair = st["agreement"][0]
    assert (pair["records"], pair["agreed"], pair["conflicts"]) == (6, 4, 2)
    # table over (include, exclude, maybe), ann rows, bob columns:
    #   include: (1, 1, 0); exclude: (0, 3, 0); maybe: (1, 0, 0); n = 6, p_o = 4/6
    # margins ann (2, 3, 1)/6, bob (2, 4, 0)/6
    # κ: p_e = (2·2 + 3·4 + 1·0)/36 = 16/36; κ = (24/36 − 16/36)/(20/36) = 8/20 = 0.4
    # AC1: π = (2, 3.5, 0.5)/6; Σ π(1 − π) = (2·4 + 3.5·2.5 + 0.5·5.5)/36 = (8 + 8.75 + 2.75)/36 = 19.5/36
    #      p_e = 19.5/72; AC1 = (48/72 − 19.5/72)/(52.5/72) = 28.5/52.5
    assert pair["kappa"] == pytest.approx(0.4, abs=TOL)
    assert pair["ac1"] == pytest.approx(28.5 / 52.5, abs=TOL)
    assert st["conflict_resolution"] == {"consensus": 1, "third_reviewer": 1, "open": 0}
    out = CliRunner().invoke(main, ["screen", str(review), "--summary", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["title_abstract"]["agreement"][0]["ac1"] == pytest.approx(28.5 / 52.5)
    text = CliRunner().invoke(main, ["screen", str(review), "--summary"]).output
    assert "Cohen's kappa 0.400; Gwet's AC1 0.543; 2 conflicts" in text and "third reviewer 1" in text
