"""Two screeners in the PRISMA output: Cohen's κ, Gwet's AC1, conflicts and how they were
resolved, in ``prisma --json``, the ``prisma`` text, the report's PRISMA notes and the web
page's API, on a 2 × 2 include/exclude table worked by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.screening_data import make_review
from trialsynth.cli import main
from trialsynth.report.sections import agreement_sentences
from trialsynth.workflow.screening.session import ScreeningSession

TOL = 1e-12  # exact fractions worked by hand; room for floating-point rounding only

# ann's decision, bob's decision on records 1–6
DECISIONS = [
    (1, "include", "include"),
    (2, "include", "exclude"),
    (3, "exclude", "exclude"),
    (4, "exclude", "exclude"),
    (5, "exclude", "include"),
    (6, "exclude", "exclude"),
]
# 2 × 2 table, ann rows, bob columns, (include, exclude): [[1, 1], [1, 3]], n = 6
# p_o = (1 + 3)/6 = 4/6; margins ann (2, 4)/6, bob (2, 4)/6
# Cohen: p_e = (2·2 + 4·4)/36 = 20/36; κ = (24/36 − 20/36)/(16/36) = 4/16 = 0.25
# Gwet (q = 2): π = (2/6, 4/6); p_e = Σ π(1 − π)/(q − 1) = 2 · (1/3)(2/3) = 4/9;
#   AC1 = (6/9 − 4/9)/(5/9) = 2/5 = 0.4
KAPPA, AC1 = 0.25, 0.4


def _review(tmp_path):
    review = make_review(tmp_path / "review")
    ann = ScreeningSession(review, "ann", rank=False)
    bob = ScreeningSession(review, "bob", rank=False)
    for rid, a, b in DECISIONS:
        ann.decide(rid, a)
        bob.decide(rid, b)
    ScreeningSession(review, "carol", rank=False).resolve(2, "include")  # a third reviewer
    ann.resolve(5, "exclude")  # consensus: one of the two
    ann.close()
    bob.close()
    return review


def test_prisma_json_and_text_carry_kappa_and_ac1(tmp_path):
    review = _review(tmp_path)
    out = CliRunner().invoke(main, ["prisma", str(review), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output[out.output.index("{") :])
    stage = doc["screening_agreement"]["title_abstract"]
    pair = stage["agreement"][0]
    assert pair["reviewers"] == ["ann", "bob"]
    assert (pair["records"], pair["agreed"], pair["conflicts"]) == (6, 4, 2)
    assert pair["kappa"] == pytest.approx(KAPPA, abs=TOL)
    assert pair["ac1"] == pytest.approx(AC1, abs=TOL)
    assert stage["conflict_resolution"] == {"consensus": 1, "third_reviewer": 1, "open": 0}
    assert "full_text" not in doc["screening_agreement"]  # nobody screened full texts
    text = CliRunner().invoke(main, ["prisma", str(review)]).output
    assert "title/abstract, ann and bob: 6 records both decided, 2 conflicts" in text
    assert "Cohen's kappa 0.250, Gwet's AC1 0.400" in text


def test_report_notes_carry_kappa_and_ac1(tmp_path):
    review = _review(tmp_path)
    assert agreement_sentences(review) == [
        "Title and abstract screening: ann and bob both decided 6 records and disagreed on 2 "
        "(Cohen's κ 0.25, Gwet's AC1 0.40); conflicts resolved by consensus 1, by a third "
        "reviewer 1, open 0."
    ]
    assert agreement_sentences(tmp_path) == []  # a folder without a record store


def test_web_api_gives_the_agreement(tmp_path):
    from trialsynth.web.screening import Screening

    review = _review(tmp_path)
    with ScreeningSession(review, "ann", rank=False) as session:
        got = Screening(session).agreement()
    assert got["stage"] == "title_abstract"
    pair = got["agreement"]["agreement"][0]
    assert pair["kappa"] == pytest.approx(KAPPA, abs=TOL) and pair["ac1"] == pytest.approx(AC1, abs=TOL)
