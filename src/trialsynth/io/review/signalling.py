"""RoB 2 signalling answers of a review folder: ``rob2_signalling.csv``.

One row per study, outcome and signalling question: the ``answer`` (Y, PY, PN, N, NI, or NA
where the guidance offers it), the ``variant`` of domain 2 (``assignment`` or ``adhering``,
one per study and outcome), an optional ``comment`` (the quote or reason), and ``who`` and
``when`` (ISO 8601) of the answer. The algorithm of :mod:`trialsynth.io.review.rob2` turns the
answers into the suggested judgement of each domain and overall; ``risk_of_bias.csv`` holds
the judgements the reviewers entered, which may differ from the suggestion (they then show
side by side in the report, and the entered judgement has its support text).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io.review._csv import read_table
from trialsynth.io.review.rob import DOMAINS, RiskOfBias, check_when, known_id
from trialsynth.io.review.rob2 import (
    QUESTIONS,
    VARIANTS,
    Suggestion,
    allowed_answers,
    suggest_domain,
    suggest_overall,
)

SIGNALLING_FILE = "rob2_signalling.csv"
SIGNALLING_REQUIRED = ("study", "outcome", "variant", "question", "answer")
SIGNALLING_OPTIONAL = ("comment", "who", "when")
SIGNALLING_COLUMNS = (*SIGNALLING_REQUIRED, *SIGNALLING_OPTIONAL)


@dataclass(frozen=True)
class SignallingAnswer:
    """One answer of ``rob2_signalling.csv`` (``row`` its row number in the file)."""

    study: str
    outcome: str
    variant: str
    question: str
    answer: str
    comment: str = ""
    who: str = ""
    when: str = ""
    row: int = 0


@dataclass(frozen=True)
class Rob2Assessment:
    """The signalling answers of one study and outcome and what the algorithm suggests:
    ``domains`` one :class:`~trialsynth.io.review.rob2.Suggestion` per domain D1–D5,
    ``overall`` the suggested overall judgement (None while a domain is incomplete)."""

    study: str
    outcome: str
    variant: str
    answers: tuple[SignallingAnswer, ...]
    domains: tuple[Suggestion, ...]
    overall: str | None

    def suggested(self, domain: str) -> str | None:
        """The suggested judgement of ``"D1"`` … ``"D5"`` or ``"overall"``."""
        if domain == "overall":
            return self.overall
        return self.domains[DOMAINS.index(domain)].judgement

    def answer(self, question: str) -> SignallingAnswer | None:
        return next((a for a in self.answers if a.question == question), None)


def assess(study: str, outcome: str, variant: str, answers: Iterable[SignallingAnswer]) -> Rob2Assessment:
    """The suggestions of the algorithm for one study and outcome's answers."""
    answers = tuple(answers)
    codes = {a.question: a.answer for a in answers}
    domains = tuple(suggest_domain(d, codes, variant) for d in DOMAINS)
    overall = suggest_overall({s.domain: s.judgement for s in domains})
    return Rob2Assessment(study, outcome, variant, answers, domains, overall)


def read_signalling(
    path: Path, study_ids: Collection[str], outcome_ids: Collection[str]
) -> tuple[Rob2Assessment, ...]:
    """Read and check ``rob2_signalling.csv``; raise :class:`InputError` naming file, row and column."""
    table = read_table(path, required=SIGNALLING_REQUIRED, optional=SIGNALLING_OPTIONAL)

    def fail(message: str, row: int, column: str) -> InputError:
        return InputError(message, file=table.source, row=row, column=table.name(column))

    groups: dict[tuple[str, str], list[SignallingAnswer]] = {}
    variants: dict[tuple[str, str], tuple[str, int]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for number, cells in table:
        study = known_id(table, cells, number, "study", study_ids)
        outcome = known_id(table, cells, number, "outcome", outcome_ids)
        variant = table.cell(cells, "variant").strip().lower()
        if variant not in VARIANTS:
            raise fail(
                f"'{variant}' is not a RoB 2 variant: write assignment (effect of assignment to the "
                "intervention) or adhering (effect of adhering to it)",
                number,
                "variant",
            )
        key = (study, outcome)
        first = variants.setdefault(key, (variant, number))
        if first[0] != variant:
            raise fail(
                f"study '{study}', outcome '{outcome}' is assessed with variant '{first[0]}' in row "
                f"{first[1]}: one variant per study and outcome",
                number,
                "variant",
            )
        question = table.cell(cells, "question").strip()
        allowed = allowed_answers(variant, question)
        if not allowed:
            numbers = ", ".join(q.number for q in QUESTIONS[variant])
            raise fail(
                f"'{question}' is not a signalling question of the {variant} variant ({numbers})",
                number,
                "question",
            )
        if (study, outcome, question) in seen:
            raise fail(
                f"question {question} of study '{study}', outcome '{outcome}' is answered twice "
                f"(rows {seen[study, outcome, question]} and {number})",
                number,
                "question",
            )
        seen[study, outcome, question] = number
        answer = table.cell(cells, "answer").strip().upper()
        if answer not in allowed:
            shown = f"'{answer}'" if answer else "a blank answer"
            raise fail(
                f"{shown} is not an answer to question {question}: write {', '.join(allowed)}",
                number,
                "answer",
            )
        when = table.cell(cells, "when")
        problem = check_when(when)
        if problem:
            raise fail(problem, number, "when")
        groups.setdefault(key, []).append(
            SignallingAnswer(
                study=study,
                outcome=outcome,
                variant=variant,
                question=question,
                answer=answer,
                comment=table.cell(cells, "comment"),
                who=table.cell(cells, "who").strip(),
                when=when.strip(),
                row=number,
            )
        )
    return tuple(assess(s, o, variants[s, o][0], rows) for (s, o), rows in groups.items())


@dataclass(frozen=True)
class JudgementCheck:
    """An entered judgement beside the algorithm's suggestion (``entered`` None when
    risk_of_bias.csv has no row; ``suggested`` None while the answers are incomplete)."""

    study: str
    outcome: str
    domain: str
    suggested: str | None
    entered: str | None
    support: str

    @property
    def differs(self) -> bool:
        return None not in (self.suggested, self.entered) and self.suggested != self.entered


def compare_judgements(
    assessments: Iterable[Rob2Assessment], entered: Iterable[RiskOfBias]
) -> tuple[JudgementCheck, ...]:
    """Every domain (and overall) of every assessed study and outcome: suggested beside entered."""
    judged = {(r.study, r.outcome): r for r in entered}
    out = []
    for a in assessments:
        row = judged.get((a.study, a.outcome))
        for i, domain in enumerate((*DOMAINS, "overall")):
            out.append(
                JudgementCheck(
                    study=a.study,
                    outcome=a.outcome,
                    domain=domain,
                    suggested=a.suggested(domain),
                    entered=None if row is None else row.judgement(domain),
                    support="" if row is None else row.support[i],
                )
            )
    return tuple(out)
