"""The RoB 2 algorithms: signalling questions and the judgement each set of answers suggests.

Written from the published tool for individually randomized, parallel-group trials:
Sterne JAC, Savović J, Page MJ, et al. *RoB 2: a revised tool for assessing risk of bias in
randomised trials.* BMJ 2019;366:l4898 (Table 2: the overall judgement), and Higgins JPT,
Savović J, Page MJ, Sterne JAC (eds.), *Revised Cochrane risk-of-bias tool for randomized
trials (RoB 2), full guidance document*, 22 August 2019 (riskofbias.info): the signalling
questions of each domain and the algorithm figure that maps their answers to a suggested
judgement (domain 1: the figure of section 5; domain 2: both variants, "effect of
assignment" 2.1–2.7 and "effect of adhering" 2.1–2.6; domains 3, 4, 5). The question labels
below are our own short paraphrases; the guidance's wording is the reference.

Answers are ``Y`` (yes), ``PY`` (probably yes), ``PN`` (probably no), ``N`` (no), ``NI`` (no
information) and ``NA`` (not applicable) where the guidance offers it: for questions asked only
after certain answers to earlier ones, and for the "if applicable" questions 2.3–2.5 of the
adhering variant (the deviations the review team chose not to address).

This lives in ``io/review`` beside the file readers because it is plain logic over the review
folder's answers (strings, not arrays: nothing for ``stats``), and the folder loader, which
must not import ``workflow``, computes the suggestions when it reads ``rob2_signalling.csv``.

The functions are pure: ``suggest_domain(domain, answers, variant)`` takes a mapping from
question number (``"1.1"``) to answer and returns a :class:`Suggestion` with the judgement (or
None while a question on the algorithm's path is unanswered), the questions the path read,
and the ones it still needs. :func:`suggest_overall` applies the overall rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "ANSWERS",
    "ANSWER_NAMES",
    "QUESTIONS",
    "VARIANTS",
    "Question",
    "Suggestion",
    "allowed_answers",
    "question",
    "suggest_domain",
    "suggest_overall",
]

#: Every answer code, and its meaning.
ANSWER_NAMES = {
    "Y": "yes",
    "PY": "probably yes",
    "PN": "probably no",
    "N": "no",
    "NI": "no information",
    "NA": "not applicable",
}
ANSWERS = tuple(ANSWER_NAMES)
#: Domain 2 comes in two variants, chosen by the review's effect of interest.
VARIANTS = ("assignment", "adhering")

LOW, SOME, HIGH = "low", "some concerns", "high"
_ORDER = (LOW, SOME, HIGH)


@dataclass(frozen=True)
class Question:
    """A signalling question: ``number`` ("2.3"), its ``domain`` ("D2"), a short ``label``
    (our paraphrase) and the ``answers`` the guidance offers for it."""

    number: str
    domain: str
    label: str
    answers: tuple[str, ...]

    @property
    def na_allowed(self) -> bool:
        return "NA" in self.answers


def _q(number: str, label: str, na: bool = False) -> Question:
    answers = ANSWERS if na else ANSWERS[:-1]
    if number == "3.2":  # the guidance offers no "no information" here (NA, Y, PY, PN, N)
        answers = tuple(a for a in answers if a != "NI")
    return Question(number, f"D{number.split('.')[0]}", label, answers)


_COMMON = (
    _q("1.1", "Allocation sequence random?"),
    _q("1.2", "Allocation sequence concealed until enrolment and assignment?"),
    _q("1.3", "Baseline differences suggesting a problem with randomization?"),
)
_LATER = (
    _q("3.1", "Outcome data available for all, or nearly all, randomized participants?"),
    _q("3.2", "If not: evidence that the result was not biased by missing outcome data?", True),
    _q("3.3", "If not: could missingness depend on the outcome's true value?", True),
    _q("3.4", "If so: is it likely that missingness depended on the true value?", True),
    _q("4.1", "Method of measuring the outcome inappropriate?"),
    _q("4.2", "Could measurement or ascertainment differ between groups?"),
    _q("4.3", "Outcome assessors aware of the intervention received?", True),
    _q("4.4", "If so: could that knowledge have influenced the assessment?", True),
    _q("4.5", "If so: is it likely that it did?", True),
    _q("5.1", "Analysed per a plan finalized before unblinded outcome data were available?"),
    _q("5.2", "Result likely selected from several eligible outcome measurements?"),
    _q("5.3", "Result likely selected from several eligible analyses?"),
)
#: The signalling questions of each variant, in order (domain 2 differs between them).
QUESTIONS: Mapping[str, tuple[Question, ...]] = {
    "assignment": (
        *_COMMON,
        _q("2.1", "Participants aware of their assigned intervention?"),
        _q("2.2", "Carers and people delivering the interventions aware of the assignment?"),
        _q("2.3", "If aware: deviations from the intended intervention because of the trial context?", True),
        _q("2.4", "If so: were these deviations likely to have affected the outcome?", True),
        _q("2.5", "If so: were these deviations balanced between groups?", True),
        _q("2.6", "Appropriate analysis for the effect of assignment (e.g. ITT)?"),
        _q(
            "2.7",
            "If not: potential for a substantial impact of analysing outside the randomized groups?",
            True,
        ),
        *_LATER,
    ),
    "adhering": (
        *_COMMON,
        _q("2.1", "Participants aware of their assigned intervention?"),
        _q("2.2", "Carers and people delivering the interventions aware of the assignment?"),
        _q(
            "2.3",
            "If applicable and aware: important non-protocol interventions balanced between groups?",
            True,
        ),
        _q(
            "2.4",
            "If applicable: failures in implementing the intervention that could affect the outcome?",
            True,
        ),
        _q("2.5", "If applicable: non-adherence that could affect participants' outcomes?", True),
        _q("2.6", "If needed: appropriate analysis for the effect of adhering?", True),
        *_LATER,
    ),
}


def question(variant: str, number: str) -> Question | None:
    """The question ``number`` of ``variant``, or None when the variant has no such question."""
    return next((q for q in QUESTIONS.get(variant, ()) if q.number == number), None)


def allowed_answers(variant: str, number: str) -> tuple[str, ...]:
    """The answers the guidance allows for one question (``NA`` only where it applies)."""
    q = question(variant, number)
    return () if q is None else q.answers


@dataclass(frozen=True)
class Suggestion:
    """The algorithm's judgement for one domain: ``judgement`` (``low``, ``some concerns`` or
    ``high``; None while ``missing`` lists questions on the path that have no answer yet),
    ``path`` the questions read, in order, and ``unused`` the answered questions off the path
    (the guidance would have them ``NA``; they do not change the judgement)."""

    domain: str
    judgement: str | None
    path: tuple[str, ...]
    missing: tuple[str, ...]
    unused: tuple[str, ...] = ()


class _Unanswered(Exception):
    def __init__(self, number: str) -> None:
        self.number = number


_YES, _NO = ("Y", "PY"), ("N", "PN")


#: Questions whose ``NA`` is a real answer on the algorithm's path: the adhering variant's
#: "if applicable" questions, NA when the review does not address that kind of deviation.
#: Elsewhere NA means "the condition of this question is not met", so an NA on the path
#: (where the condition is met) is no answer, and the question is listed as missing.
_NA_ON_PATH = {"adhering": ("2.3", "2.4", "2.5")}


class _Reader:
    """Reads answers along the path and remembers which questions it read."""

    def __init__(self, answers: Mapping[str, str], variant: str) -> None:
        self.answers = {k: (v or "").strip().upper() for k, v in answers.items()}
        self.na_ok = _NA_ON_PATH.get(variant, ())
        self.path: list[str] = []

    def __call__(self, number: str) -> str:
        self.path.append(number)
        value = self.answers.get(number, "")
        if not value or (value == "NA" and number not in self.na_ok):
            raise _Unanswered(number)
        return value

    def both_no(self, first: str, second: str) -> bool:
        """Both answers N/PN (reading both, so that both are on the path)."""
        one, two = self(first), self(second)
        return one in _NO and two in _NO


def _d1(a: _Reader) -> str:
    # Figure, domain 1: start at concealment (1.2).
    concealed = a("1.2")
    if concealed in _NO:
        return HIGH
    if concealed == "NI":
        return HIGH if a("1.3") in _YES else SOME
    if a("1.1") in _NO:
        return SOME
    return SOME if a("1.3") in _YES else LOW


def _d2_assignment(a: _Reader) -> str:
    # Part 1 (2.1–2.5): deviations arising because of the trial context.
    if a.both_no("2.1", "2.2"):
        part1 = LOW
    else:
        context = a("2.3")
        if context in _NO:
            part1 = LOW
        elif context == "NI":
            part1 = SOME
        elif a("2.4") in _NO:
            part1 = SOME
        else:
            part1 = SOME if a("2.5") in _YES else HIGH
    # Part 2 (2.6–2.7): the analysis.
    if a("2.6") in _YES:
        part2 = LOW
    else:
        part2 = HIGH if a("2.7") in (*_YES, "NI") else SOME
    return _worst((part1, part2))


def _d2_adhering(a: _Reader) -> str:
    blinded = a.both_no("2.1", "2.2")
    if not blinded and a("2.3") in (*_NO, "NI"):
        problems = True  # important non-protocol interventions unbalanced (or no information)
    else:
        implementing, adherence = a("2.4"), a("2.5")
        problems = implementing in (*_YES, "NI") or adherence in (*_YES, "NI")
    if not problems:
        return LOW
    return SOME if a("2.6") in _YES else HIGH


def _d3(a: _Reader) -> str:
    if a("3.1") in _YES:
        return LOW
    if a("3.2") in _YES:
        return LOW
    if a("3.3") in _NO:
        return LOW
    return HIGH if a("3.4") in (*_YES, "NI") else SOME


def _d4(a: _Reader) -> str:
    if a("4.1") in _YES:
        return HIGH
    differ = a("4.2")
    if differ in _YES:
        return HIGH
    # 4.2 N/PN: the branch that can end low; 4.2 NI: the same questions, at best some concerns.
    best = LOW if differ in _NO else SOME
    if a("4.3") in _NO:
        return best
    if a("4.4") in _NO:
        return best
    return HIGH if a("4.5") in (*_YES, "NI") else SOME


def _d5(a: _Reader) -> str:
    measurements, analyses = a("5.2"), a("5.3")
    if measurements in _YES or analyses in _YES:
        return HIGH
    if "NI" in (measurements, analyses):
        return SOME
    return LOW if a("5.1") in _YES else SOME


_ALGORITHMS: dict[tuple[str, str], Callable[[_Reader], str]] = {
    ("D1", "assignment"): _d1,
    ("D1", "adhering"): _d1,
    ("D2", "assignment"): _d2_assignment,
    ("D2", "adhering"): _d2_adhering,
    ("D3", "assignment"): _d3,
    ("D3", "adhering"): _d3,
    ("D4", "assignment"): _d4,
    ("D4", "adhering"): _d4,
    ("D5", "assignment"): _d5,
    ("D5", "adhering"): _d5,
}


def suggest_domain(domain: str, answers: Mapping[str, str], variant: str = "assignment") -> Suggestion:
    """The judgement the guidance's algorithm suggests for ``domain`` ("D1" … "D5").

    ``answers`` maps question numbers to answer codes (questions of other domains are
    ignored); ``variant`` chooses domain 2's questions. Raises ValueError for an unknown
    domain or variant (the file readers check user input before calling this).
    """
    if (domain, variant) not in _ALGORITHMS:
        raise ValueError(f"no RoB 2 algorithm for domain {domain!r}, variant {variant!r}")
    reader = _Reader(answers, variant)
    try:
        judgement: str | None = _ALGORITHMS[domain, variant](reader)
        missing: tuple[str, ...] = ()
    except _Unanswered as gap:
        judgement, missing = None, (gap.number,)
    path = tuple(reader.path)
    prefix = domain[1:] + "."
    unused = tuple(
        q.number
        for q in QUESTIONS[variant]
        if q.number.startswith(prefix)
        and q.number not in path
        and reader.answers.get(q.number, "") not in ("", "NA")
    )
    return Suggestion(domain=domain, judgement=judgement, path=path, missing=missing, unused=unused)


def _worst(judgements) -> str:
    return max(judgements, key=_ORDER.index)


def suggest_overall(judgements: Mapping[str, str | None]) -> str | None:
    """The overall judgement RoB 2 suggests from the five domain judgements (Sterne et al.
    2019, Table 2): low when every domain is low; high when any domain is high; otherwise some
    concerns. None while any domain has no judgement. (Table 2 also lets reviewers judge the
    overall risk high when several domains have some concerns; that is their judgement, not
    the algorithm's, and ``risk_of_bias.csv`` accepts it.)"""
    values = [judgements.get(d) for d in ("D1", "D2", "D3", "D4", "D5")]
    if any(v is None for v in values):
        return None
    return _worst(values)
