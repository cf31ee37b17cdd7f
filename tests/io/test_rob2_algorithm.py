"""The RoB 2 algorithms against the guidance's decision paths, written out by hand.

Source: Higgins JPT, Savović J, Page MJ, Sterne JAC (eds.), Revised Cochrane risk-of-bias tool
for randomized trials (RoB 2), full guidance document, 22 August 2019: the algorithm figure of
each domain (individually randomized parallel-group trials), and Sterne et al., BMJ
2019;366:l4898, Table 2 (overall judgement). Each PATHS table below is one figure read from
its root to each leaf: a leaf is the set of answers along its branch and the judgement at its
end. Every combination of answers the guidance allows is enumerated; exactly one path must
match it (the table is complete and its paths disjoint), and the function must give that
path's judgement. Exact comparison (judgements are categories).
"""

from __future__ import annotations

import itertools

import pytest

from trialsynth.io.review.rob2 import QUESTIONS, allowed_answers, suggest_domain, suggest_overall

LOW, SOME, HIGH = "low", "some concerns", "high"
YES, NO = {"Y", "PY"}, {"N", "PN"}
YES_NI, NO_NI = YES | {"NI"}, NO | {"NI"}
NI = {"NI"}


def _is(a, q, codes):
    return a[q] in codes


def _aware(a):  # "Y/PY/NI to 2.1 or 2.2"
    return not (a["2.1"] in NO and a["2.2"] in NO)


# Domain 1, figure: 1.2 first.
D1_PATHS = [
    ({"1.2": YES, "1.1": YES_NI, "1.3": NO_NI}, LOW),
    ({"1.2": YES, "1.1": YES_NI, "1.3": YES}, SOME),
    ({"1.2": YES, "1.1": NO}, SOME),
    ({"1.2": NI, "1.3": NO_NI}, SOME),
    ({"1.2": NI, "1.3": YES}, HIGH),
    ({"1.2": NO}, HIGH),
]

# Domain 2, effect of assignment: part 1 (2.1–2.5) and part 2 (2.6–2.7), then combined.
D2A_PART1 = [
    (lambda a: a["2.1"] in NO and a["2.2"] in NO, LOW),
    (lambda a: _aware(a) and _is(a, "2.3", NO), LOW),
    (lambda a: _aware(a) and _is(a, "2.3", NI), SOME),
    (lambda a: _aware(a) and _is(a, "2.3", YES) and _is(a, "2.4", NO), SOME),
    (lambda a: _aware(a) and _is(a, "2.3", YES) and _is(a, "2.4", YES_NI) and _is(a, "2.5", YES), SOME),
    (lambda a: _aware(a) and _is(a, "2.3", YES) and _is(a, "2.4", YES_NI) and _is(a, "2.5", NO_NI), HIGH),
]
D2A_PART2 = [
    (lambda a: _is(a, "2.6", YES), LOW),
    (lambda a: _is(a, "2.6", NO_NI) and _is(a, "2.7", NO), SOME),
    (lambda a: _is(a, "2.6", NO_NI) and _is(a, "2.7", YES_NI), HIGH),
]
#: The guidance's combination of the two parts: low only if both are low, high if either is.
D2A_COMBINED = {
    (LOW, LOW): LOW, (LOW, SOME): SOME, (LOW, HIGH): HIGH,
    (SOME, LOW): SOME, (SOME, SOME): SOME, (SOME, HIGH): HIGH,
    (HIGH, LOW): HIGH, (HIGH, SOME): HIGH, (HIGH, HIGH): HIGH,
}  # fmt: skip

# Domain 2, effect of adhering (2.3–2.5 "if applicable": NA where the review does not address it).
_NO_NA = NO | {"NA"}


def _no_problem(a):  # 2.4 and 2.5 both NA/N/PN
    return a["2.4"] in _NO_NA and a["2.5"] in _NO_NA


def _problem(a):  # either 2.4 or 2.5 Y/PY/NI
    return a["2.4"] in YES_NI or a["2.5"] in YES_NI


D2B_PATHS = [
    (lambda a: not _aware(a) and _no_problem(a), LOW),
    (lambda a: not _aware(a) and _problem(a) and _is(a, "2.6", YES), SOME),
    (lambda a: not _aware(a) and _problem(a) and _is(a, "2.6", NO_NI), HIGH),
    (lambda a: _aware(a) and _is(a, "2.3", YES | {"NA"}) and _no_problem(a), LOW),
    (lambda a: _aware(a) and _is(a, "2.3", YES | {"NA"}) and _problem(a) and _is(a, "2.6", YES), SOME),
    (lambda a: _aware(a) and _is(a, "2.3", YES | {"NA"}) and _problem(a) and _is(a, "2.6", NO_NI), HIGH),
    (lambda a: _aware(a) and _is(a, "2.3", NO_NI) and _is(a, "2.6", YES), SOME),
    (lambda a: _aware(a) and _is(a, "2.3", NO_NI) and _is(a, "2.6", NO_NI), HIGH),
]

D3_PATHS = [
    ({"3.1": YES}, LOW),
    ({"3.1": NO_NI, "3.2": YES}, LOW),
    ({"3.1": NO_NI, "3.2": NO, "3.3": NO}, LOW),
    ({"3.1": NO_NI, "3.2": NO, "3.3": YES_NI, "3.4": NO}, SOME),
    ({"3.1": NO_NI, "3.2": NO, "3.3": YES_NI, "3.4": YES_NI}, HIGH),
]

D4_PATHS = [
    ({"4.1": YES}, HIGH),
    ({"4.1": NO_NI, "4.2": YES}, HIGH),
    ({"4.1": NO_NI, "4.2": NO, "4.3": NO}, LOW),
    ({"4.1": NO_NI, "4.2": NO, "4.3": YES_NI, "4.4": NO}, LOW),
    ({"4.1": NO_NI, "4.2": NO, "4.3": YES_NI, "4.4": YES_NI, "4.5": NO}, SOME),
    ({"4.1": NO_NI, "4.2": NO, "4.3": YES_NI, "4.4": YES_NI, "4.5": YES_NI}, HIGH),
    ({"4.1": NO_NI, "4.2": NI, "4.3": NO}, SOME),
    ({"4.1": NO_NI, "4.2": NI, "4.3": YES_NI, "4.4": NO}, SOME),
    ({"4.1": NO_NI, "4.2": NI, "4.3": YES_NI, "4.4": YES_NI, "4.5": NO}, SOME),
    ({"4.1": NO_NI, "4.2": NI, "4.3": YES_NI, "4.4": YES_NI, "4.5": YES_NI}, HIGH),
]

D5_PATHS = [
    (lambda a: a["5.2"] in YES or a["5.3"] in YES, HIGH),
    (lambda a: a["5.2"] in NO_NI and a["5.3"] in NO_NI and "NI" in (a["5.2"], a["5.3"]), SOME),
    (lambda a: a["5.2"] in NO and a["5.3"] in NO and a["5.1"] in YES, LOW),
    (lambda a: a["5.2"] in NO and a["5.3"] in NO and a["5.1"] in NO_NI, SOME),
]


def _matches(condition, answers):
    if callable(condition):
        return condition(answers)
    return all(answers[q] in codes for q, codes in condition.items())


def _expected(paths, answers):
    """The judgement of the one path that matches; None when none does (an NA on the path)."""
    hits = [judgement for condition, judgement in paths if _matches(condition, answers)]
    assert len(hits) <= 1, f"paths overlap for {answers}"
    return hits[0] if hits else None


def _combinations(variant, domain):
    numbers = [q.number for q in QUESTIONS[variant] if q.domain == domain]
    choices = [allowed_answers(variant, n) for n in numbers]
    for values in itertools.product(*choices):
        yield dict(zip(numbers, values, strict=True))


def _check(domain, variant, expected_of):
    count = judged = 0
    for answers in _combinations(variant, domain):
        expected = expected_of(answers)
        got = suggest_domain(domain, answers, variant)
        assert got.judgement == expected, (answers, got)
        if expected is None:
            # no path matched: some question on the function's path was answered NA where its
            # condition holds; it must be reported as missing, never judged
            assert got.missing and answers[got.missing[0]] == "NA", (answers, got)
        count += 1
        judged += expected is not None
    return count, judged


def test_domain1_every_combination():
    count, judged = _check("D1", "assignment", lambda a: _expected(D1_PATHS, a))
    assert (count, judged) == (125, 125)  # 5 × 5 × 5 answers, no NA in domain 1


def test_domain2_assignment_every_combination():
    def expected(a):
        p1, p2 = _expected(D2A_PART1, a), _expected(D2A_PART2, a)
        # an NA where a question applies leaves its part without a judgement
        return None if p1 is None or p2 is None else D2A_COMBINED[p1, p2]

    count, judged = _check("D2", "assignment", expected)
    assert count == 5 * 5 * 6 * 6 * 6 * 5 * 6
    assert judged > 0


def test_domain2_adhering_every_combination():
    count, judged = _check("D2", "adhering", lambda a: _expected(D2B_PATHS, a))
    assert count == 5 * 5 * 6 * 6 * 6 * 6 and judged > 0


def test_domain3_every_combination():
    count, _ = _check("D3", "assignment", lambda a: _expected(D3_PATHS, a))
    assert count == 5 * 5 * 6 * 6  # 3.2 offers NA, Y, PY, PN, N (no NI)


def test_domain4_every_combination():
    count, _ = _check("D4", "assignment", lambda a: _expected(D4_PATHS, a))
    assert count == 5 * 5 * 6 * 6 * 6


def test_domain5_every_combination():
    count, judged = _check("D5", "adhering", lambda a: _expected(D5_PATHS, a))
    assert (count, judged) == (125, 125)


def test_questions_of_each_variant():
    numbers = {v: [q.number for q in qs] for v, qs in QUESTIONS.items()}
    common = [
        "1.1",
        "1.2",
        "1.3",
        "3.1",
        "3.2",
        "3.3",
        "3.4",
        "4.1",
        "4.2",
        "4.3",
        "4.4",
        "4.5",
        "5.1",
        "5.2",
        "5.3",
    ]
    assert sorted(numbers["assignment"]) == sorted([*common, "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"])
    assert sorted(numbers["adhering"]) == sorted([*common, "2.1", "2.2", "2.3", "2.4", "2.5", "2.6"])
    # NA is offered exactly for the conditional ("If …" / "if applicable") questions
    na = {v: sorted(q.number for q in qs if q.na_allowed) for v, qs in QUESTIONS.items()}
    assert na["assignment"] == ["2.3", "2.4", "2.5", "2.7", "3.2", "3.3", "3.4", "4.3", "4.4", "4.5"]
    assert na["adhering"] == ["2.3", "2.4", "2.5", "2.6", "3.2", "3.3", "3.4", "4.3", "4.4", "4.5"]


def test_unanswered_question_on_the_path_is_missing():
    got = suggest_domain("D1", {"1.2": "Y", "1.1": "PY"})
    assert got.judgement is None and got.missing == ("1.3",) and got.path == ("1.2", "1.1", "1.3")
    # 1.2 "no": high whatever 1.1 and 1.3 say, so they are not needed
    assert suggest_domain("D1", {"1.2": "N"}).judgement == HIGH


def test_answers_off_the_path_are_listed_not_used():
    got = suggest_domain("D3", {"3.1": "Y", "3.3": "Y", "3.4": "NA"})
    assert got.judgement == LOW and got.unused == ("3.3",)


@pytest.mark.parametrize(
    ("variant", "answers", "expected"),
    [
        # A double-blind placebo-controlled drug trial analysed by ITT, central randomization,
        # 2% lost, objective outcome (death), registered analysis plan: low in every domain.
        (
            "assignment",
            {
                "1.1": "Y",
                "1.2": "Y",
                "1.3": "N",
                "2.1": "N",
                "2.2": "N",
                "2.6": "Y",
                "3.1": "Y",
                "4.1": "N",
                "4.2": "N",
                "4.3": "N",
                "5.1": "Y",
                "5.2": "N",
                "5.3": "N",
            },
            {"D1": LOW, "D2": LOW, "D3": LOW, "D4": LOW, "D5": LOW, "overall": LOW},
        ),
        # An open-label surgical trial: no information on concealment but balanced groups;
        # surgeons switched some patients because of the trial (2.3 Y), likely affecting the outcome,
        # unbalanced (2.5 N); per-protocol analysis of 20% of patients (2.7 Y); 30% missing
        # self-reported pain, missingness likely related to pain; assessors (patients) aware and
        # likely influenced; analysis plan not available.
        (
            "assignment",
            {
                "1.1": "Y",
                "1.2": "NI",
                "1.3": "N",
                "2.1": "Y",
                "2.2": "Y",
                "2.3": "Y",
                "2.4": "PY",
                "2.5": "N",
                "2.6": "N",
                "2.7": "Y",
                "3.1": "N",
                "3.2": "N",
                "3.3": "Y",
                "3.4": "PY",
                "4.1": "N",
                "4.2": "N",
                "4.3": "Y",
                "4.4": "Y",
                "4.5": "PY",
                "5.1": "NI",
                "5.2": "N",
                "5.3": "NI",
            },
            {"D1": SOME, "D2": HIGH, "D3": HIGH, "D4": HIGH, "D5": SOME, "overall": HIGH},
        ),
        # Effect of adhering, blinded trial with 15% non-adherence that could matter (2.5 Y), the
        # review addressing non-adherence only (2.4 NA), analysed with an IV method (2.6 Y).
        (
            "adhering",
            {
                "1.1": "Y",
                "1.2": "PY",
                "1.3": "NI",
                "2.1": "N",
                "2.2": "PN",
                "2.3": "NA",
                "2.4": "NA",
                "2.5": "Y",
                "2.6": "PY",
                "3.1": "PY",
                "4.1": "N",
                "4.2": "NI",
                "4.3": "N",
                "5.1": "Y",
                "5.2": "N",
                "5.3": "N",
            },
            {"D1": LOW, "D2": SOME, "D3": LOW, "D4": SOME, "D5": LOW, "overall": SOME},
        ),
    ],
)
def test_worked_examples(variant, answers, expected):
    got = {d: suggest_domain(d, answers, variant).judgement for d in ("D1", "D2", "D3", "D4", "D5")}
    assert got == {k: v for k, v in expected.items() if k != "overall"}
    assert suggest_overall(got) == expected["overall"]


def test_overall_rule():
    # Sterne et al. 2019, Table 2: low if all low; high if any high; otherwise some concerns.
    assert suggest_overall(dict.fromkeys(("D1", "D2", "D3", "D4", "D5"), LOW)) == LOW
    assert suggest_overall({"D1": LOW, "D2": SOME, "D3": LOW, "D4": SOME, "D5": LOW}) == SOME
    assert suggest_overall({"D1": LOW, "D2": SOME, "D3": HIGH, "D4": LOW, "D5": LOW}) == HIGH
    assert suggest_overall({"D1": LOW, "D2": None, "D3": LOW, "D4": LOW, "D5": LOW}) is None
