"""rob2_signalling.csv and grade.csv in a review folder, and the editing API (io/review/assess.py).

A SYNTHETIC review (tests/fixtures/reviews/rob-example: invented trials and judgements); the
expected suggestions are read off the RoB 2 guidance's algorithm figures (22 Aug 2019) by hand,
path by path, in the comments.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.review import load_review
from trialsynth.io.review.assess import (
    ABSENT,
    StaleEdit,
    add_risk_of_bias,
    read_domain_judgement,
    read_grade_rating,
    read_signalling_answer,
    set_domain_judgement,
    set_grade_rating,
    set_signalling_answer,
)
from trialsynth.io.review.signalling import compare_judgements

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "reviews" / "rob-example"
HEAD = "study,outcome,variant,question,answer,comment,who,when"
# bravo (entered: D2 some concerns, the rest low): open label, deviations not reported.
BRAVO = [
    "bravo,events,assignment,1.1,Y,computer list,ann,2026-12-01",
    "bravo,events,assignment,1.2,PY,central phone,ann,2026-12-01",
    "bravo,events,assignment,1.3,N,,ann,2026-12-01",
    "bravo,events,assignment,2.1,Y,open label,ann,2026-12-01",
    "bravo,events,assignment,2.2,Y,,ann,2026-12-01",
    "bravo,events,assignment,2.3,NI,not reported,ann,2026-12-01",
    "bravo,events,assignment,2.6,Y,ITT,ann,2026-12-01",
    "bravo,events,assignment,3.1,PY,2% lost,ann,2026-12-01",
    "bravo,events,assignment,4.1,N,,ann,2026-12-01",
    "bravo,events,assignment,4.2,N,,ann,2026-12-01",
    "bravo,events,assignment,4.3,Y,,ann,2026-12-01",
    "bravo,events,assignment,4.4,N,objective,ann,2026-12-01",
    "bravo,events,assignment,5.1,N,no plan found,ann,2026-12-01",
    "bravo,events,assignment,5.2,N,,ann,2026-12-01",
    "bravo,events,assignment,5.3,N,,ann,2026-12-01",
]


def _folder(tmp_path, lines=BRAVO, header=HEAD):
    folder = tmp_path / "review"
    shutil.copytree(EXAMPLE, folder)
    (folder / "rob2_signalling.csv").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return folder


def test_suggestions_from_the_answers_and_the_entered_judgements_beside_them(tmp_path):
    review = load_review(_folder(tmp_path))
    (bravo,) = review.rob2_signalling_for("events")
    # D1: 1.2 PY → 1.1 Y → 1.3 N: low.  D2 part 1: aware, 2.3 NI: some concerns; part 2: 2.6 Y:
    # low; worst: some concerns.  D3: 3.1 PY: low.  D4: 4.1 N, 4.2 N, 4.3 Y, 4.4 N: low.
    # D5: 5.2 N, 5.3 N, 5.1 N: some concerns.  Overall (worst): some concerns.
    assert [s.judgement for s in bravo.domains] == ["low", "some concerns", "low", "low", "some concerns"]
    assert bravo.overall == "some concerns"
    assert bravo.answer("2.3").comment == "not reported" and bravo.answer("2.3").who == "ann"
    checks = {c.domain: c for c in compare_judgements(review.rob2_signalling, review.risk_of_bias)}
    # risk_of_bias.csv entered D5 low (the reviewers' judgement, kept): differs, with support
    assert checks["D5"].differs and (checks["D5"].suggested, checks["D5"].entered) == ("some concerns", "low")
    assert checks["D5"].support == "Registered plan (invented)"
    assert not checks["D2"].differs and not checks["overall"].differs


@pytest.mark.parametrize(
    ("line", "column", "words"),
    [
        ("alpha,events,assignment,1.4,Y,,,", "question", "'1.4' is not a signalling question"),
        ("alpha,events,assignment,1.1,maybe,,,", "answer", "'MAYBE' is not an answer to question 1.1"),
        ("alpha,events,assignment,1.1,NA,,,", "answer", "write Y, PY, PN, N, NI"),
        ("alpha,events,assignment,3.2,NI,,,", "answer", "write Y, PY, PN, N, NA"),
        ("bravo,events,adhering,1.1,Y,,,", "variant", "one variant per study and outcome"),
        ("bravo,events,assignment,1.1,N,,,", "question", "answered twice"),
        ("bravo,events,per-protocol,1.1,N,,,", "variant", "not a RoB 2 variant"),
        ("zulu,events,assignment,1.1,N,,,", "study", "unknown study 'zulu'"),
        ("alpha,deaths,assignment,1.1,N,,,", "outcome", "unknown outcome 'deaths'"),
        ("alpha,events,assignment,1.1,N,,,yesterday", "when", "not an ISO 8601 date"),
    ],
)
def test_bad_rows_name_file_row_and_column(tmp_path, line, column, words):
    folder = _folder(tmp_path, [*BRAVO, line])
    with pytest.raises(InputError) as error:
        load_review(folder)
    assert error.value.row == len(BRAVO) + 2 and error.value.column == column
    assert words in str(error.value) and "rob2_signalling.csv" in str(error.value)
    assert "\n" not in str(error.value)


def test_incomplete_answers_give_no_suggestion_and_name_the_missing_question(tmp_path):
    review = load_review(_folder(tmp_path, BRAVO[:2]))
    (bravo,) = review.rob2_signalling
    d1 = bravo.domains[0]
    assert d1.judgement is None and d1.missing == ("1.3",) and bravo.overall is None


# ---------------------------------------------------------------------------- editing


def test_set_answer_new_then_stale_edit_is_refused_with_who_and_when(tmp_path):
    folder = _folder(tmp_path)
    loaded = read_signalling_answer(folder, "alpha", "events", "1.2")
    assert loaded.token == ABSENT and not loaded.exists
    first = set_signalling_answer(
        folder, study="alpha", outcome="events", variant="assignment", question="1.2", answer="py",
        comment="sealed envelopes", who="ann", when="2026-12-06T10:00:00Z", expected=loaded.token,
    )  # fmt: skip
    assert first.values["answer"] == "py" and first.who == "ann"
    # bob loaded the row before ann's edit: his edit is refused, naming ann and her time
    with pytest.raises(StaleEdit, match=r"changed by ann at 2026-12-06T10:00:00Z since you loaded it"):
        set_signalling_answer(
            folder, study="alpha", outcome="events", variant="assignment", question="1.2", answer="N",
            who="bob", expected=loaded.token,
        )  # fmt: skip
    review = load_review(folder)
    alpha = next(a for a in review.rob2_signalling if a.study == "alpha")
    assert alpha.answer("1.2").answer == "PY" and alpha.answer("1.2").comment == "sealed envelopes"
    # an edit against the current token goes through; a different row never conflicts
    again = set_signalling_answer(
        folder, study="alpha", outcome="events", variant="assignment", question="1.2", answer="N",
        who="bob", expected=read_signalling_answer(folder, "alpha", "events", "1.2").token,
    )  # fmt: skip
    assert again.token != first.token and again.who == "bob" and again.when.endswith("Z")
    bravo_11 = read_signalling_answer(folder, "bravo", "events", "1.1")
    assert bravo_11.values["comment"] == "computer list"
    # 1.2 N: the figure ends at high for alpha's D1
    alpha = next(a for a in load_review(folder).rob2_signalling if a.study == "alpha")
    assert alpha.domains[0].judgement == "high"


def test_an_invalid_edit_writes_nothing(tmp_path):
    folder = _folder(tmp_path)
    before = (folder / "rob2_signalling.csv").read_bytes()
    token = read_signalling_answer(folder, "bravo", "events", "1.1").token
    with pytest.raises(InputError, match=r"'NA' is not an answer to question 1.1") as error:
        set_signalling_answer(
            folder, study="bravo", outcome="events", variant="assignment", question="1.1", answer="NA",
            who="ann", expected=token,
        )  # fmt: skip
    assert error.value.file == str(folder / "rob2_signalling.csv") and error.value.column == "answer"
    assert (folder / "rob2_signalling.csv").read_bytes() == before
    with pytest.raises(InputError, match="who"):
        set_signalling_answer(
            folder, study="bravo", outcome="events", variant="assignment", question="1.1", answer="N",
            who=" ", expected=token,
        )  # fmt: skip


def test_concurrent_edits_of_one_row_one_wins_one_is_refused(tmp_path):
    folder = _folder(tmp_path)
    token = read_signalling_answer(folder, "bravo", "events", "5.1").token
    outcomes: list[str] = []

    def edit(who, answer):
        try:
            set_signalling_answer(
                folder, study="bravo", outcome="events", variant="assignment", question="5.1",
                answer=answer, who=who, expected=token,
            )  # fmt: skip
            outcomes.append("saved")
        except StaleEdit:
            outcomes.append("refused")

    threads = [threading.Thread(target=edit, args=(w, a)) for w, a in (("ann", "Y"), ("bob", "PN"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "saved"]


def test_domain_judgement_may_differ_from_the_suggestion_but_needs_support(tmp_path):
    folder = _folder(tmp_path)
    row = read_domain_judgement(folder, "bravo", "events")
    with pytest.raises(InputError, match="support"):
        set_domain_judgement(
            folder, study="bravo", outcome="events", domain="D5", judgement="low", support="",
            who="ann", expected=row.token,
        )  # fmt: skip
    # D3 high with overall "some concerns" breaks RoB 2's overall rule: refused as at load
    with pytest.raises(InputError, match="lower than the worst domain judgement"):
        set_domain_judgement(
            folder, study="bravo", outcome="events", domain="D3", judgement="high", support="30% lost",
            who="ann", expected=row.token,
        )  # fmt: skip
    new = set_domain_judgement(
        folder, study="bravo", outcome="events", domain="D5", judgement="low",
        support="Plan registered before unblinding (registry)", who="ann", when="2026-12-06T11:00:00Z",
        expected=row.token,
    )  # fmt: skip
    review = load_review(folder)
    bravo = next(r for r in review.risk_of_bias if r.study == "bravo")
    assert bravo.judgement("D5") == "low" and bravo.support[4].startswith("Plan registered")
    assert bravo.who == "ann" and bravo.when == "2026-12-06T11:00:00Z"
    # the other rows are unchanged
    assert [r.domains for r in review.risk_of_bias if r.study != "bravo"] == [
        r.domains for r in load_review(EXAMPLE).risk_of_bias if r.study != "bravo"
    ]
    with pytest.raises(StaleEdit, match="changed by ann at 2026-12-06T11:00:00Z"):
        set_domain_judgement(
            folder, study="bravo", outcome="events", domain="D1", judgement="low", support="x",
            who="bob", expected=row.token,
        )  # fmt: skip
    assert new.token == read_domain_judgement(folder, "bravo", "events").token


def test_first_risk_of_bias_row_is_added_whole(tmp_path):
    folder = _folder(tmp_path)
    (folder / "risk_of_bias.csv").unlink()
    with pytest.raises(InputError, match="enter all five domains and overall first"):
        set_domain_judgement(
            folder, study="alpha", outcome="events", domain="D1", judgement="low", support="x",
            who="ann", expected=ABSENT,
        )  # fmt: skip
    judged = {"D1": "low", "D2": "some concerns", "D3": "low", "D4": "low", "D5": "some concerns"}
    add_risk_of_bias(
        folder, study="alpha", outcome="events", judgements={**judged, "overall": "high"},
        support={d: f"why {d}" for d in (*judged, "overall")}, source="Review team", who="ann",
    )  # fmt: skip
    (alpha,) = load_review(folder).risk_of_bias
    # overall high with two domains of some concerns: allowed by RoB 2 (Sterne 2019, Table 2)
    assert alpha.overall == "high" and alpha.support[5] == "why overall"
    with pytest.raises(StaleEdit, match="changed by ann"):
        add_risk_of_bias(
            folder, study="alpha", outcome="events", judgements={**judged, "overall": "high"},
            support={d: "x" for d in (*judged, "overall")}, source="Review team", who="bob",
        )  # fmt: skip


def test_grade_ratings_one_at_a_time(tmp_path):
    folder = _folder(tmp_path)
    assert load_review(folder).outcome("events").grade is None
    domains = ("risk_of_bias", "inconsistency", "indirectness", "imprecision")
    for domain, rating in zip(domains, (-1, 0, 0, -1), strict=True):
        token = read_grade_rating(folder, "events", domain).token
        reason = "" if rating == 0 else f"{domain} reason"
        set_grade_rating(
            folder, outcome="events", domain=domain, rating=rating, reason=reason, who="ann", expected=token
        )
    grade = load_review(folder).outcome("events").grade
    # four of five rated: in progress, not assessed
    assert grade.certainty == "not assessed" and [d.domain for d in grade.pending] == list(domains)
    set_grade_rating(folder, outcome="events", domain="publication_bias", rating=0, reason="",
                     who="ann", expected=ABSENT)  # fmt: skip
    grade = load_review(folder).outcome("events").grade
    # high − 1 − 1 = low
    assert grade.certainty == "low" and grade.pending == ()
    assert [(d.domain, d.rating) for d in grade.domains if d.rating] == [
        ("risk_of_bias", -1),
        ("imprecision", -1),
    ]
    set_grade_rating(folder, outcome="events", domain="large_effect", rating=1, reason="RR 0.2",
                     who="bob", expected=ABSENT)  # fmt: skip
    assert load_review(folder).outcome("events").grade.certainty == "moderate"  # low + 1
    with pytest.raises(InputError, match="give the reason"):
        token = read_grade_rating(folder, "events", "inconsistency").token
        set_grade_rating(folder, outcome="events", domain="inconsistency", rating=-2, reason=" ",
                         who="bob", expected=token)  # fmt: skip
    with pytest.raises(InputError, match=r"write 0, \+1$"):
        set_grade_rating(folder, outcome="events", domain="dose_response", rating=2, reason="x",
                         who="bob", expected=ABSENT)  # fmt: skip
    with pytest.raises(StaleEdit, match="changed by ann"):
        set_grade_rating(folder, outcome="events", domain="imprecision", rating=0, reason="",
                         who="bob", expected=ABSENT)  # fmt: skip
