"""GRADE ratings per outcome from ``grade.csv``, overriding and extending review.toml's ``[outcomes.grade]``.

review.toml is hand-written TOML with comments; Python's ``tomllib`` reads it but cannot write
it back, and rewriting it would change the rest of the file. So ratings entered one at a time
(by :mod:`trialsynth.io.review.assess`, the web page or the CLI) go to ``grade.csv``, one row
per outcome and domain: ``rating`` and ``reason``, ``who`` and ``when``. A row there replaces
the same outcome's domain in review.toml; the other keys of the grade table (assumed control
risk, OIS, note) stay in review.toml.

Domains: the five that lower the certainty of evidence (Guyatt et al., J Clin Epidemiol
2011;64:383-94; GRADE guidelines 4–8) rated 0, -1 or -2, and the three that can raise it
(GRADE guidelines 9, Guyatt et al., J Clin Epidemiol 2011;64:1311-6): ``large_effect`` 0, +1
or +2, ``dose_response`` and ``plausible_confounding`` 0 or +1. Every rating other than 0
needs its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io.review._csv import read_table
from trialsynth.io.review.model import GRADE_DOMAINS, Grade, GradeDomain, Outcome
from trialsynth.io.review.rob import check_when, known_id

GRADE_FILE = "grade.csv"
GRADE_REQUIRED = ("outcome", "domain", "rating")
GRADE_OPTIONAL = ("reason", "who", "when")
GRADE_COLUMNS = (*GRADE_REQUIRED, *GRADE_OPTIONAL)
#: The domains that can raise the certainty, with their allowed ratings (GRADE guidelines 9).
UPGRADE_RATINGS = {"large_effect": (0, 1, 2), "dose_response": (0, 1), "plausible_confounding": (0, 1)}
RATINGS = {**dict.fromkeys(GRADE_DOMAINS, (0, -1, -2)), **UPGRADE_RATINGS}


@dataclass(frozen=True)
class GradeRating:
    """One row of grade.csv."""

    outcome: str
    domain: str
    rating: int
    reason: str
    who: str
    when: str
    row: int


def read_grade_csv(path: Path, outcome_ids: Sequence[str]) -> tuple[GradeRating, ...]:
    """Read and check ``grade.csv``; raise :class:`InputError` naming file, row and column."""
    table = read_table(path, required=GRADE_REQUIRED, optional=GRADE_OPTIONAL)

    def fail(message: str, row: int, column: str) -> InputError:
        return InputError(message, file=table.source, row=row, column=table.name(column))

    out: list[GradeRating] = []
    seen: dict[tuple[str, str], int] = {}
    for number, cells in table:
        outcome = known_id(table, cells, number, "outcome", outcome_ids)
        domain = table.cell(cells, "domain").strip()
        if domain not in RATINGS:
            raise fail(
                f"'{domain}' is not a GRADE domain: write one of {', '.join(RATINGS)}", number, "domain"
            )
        if (outcome, domain) in seen:
            raise fail(
                f"outcome '{outcome}' rates {domain} twice (rows {seen[outcome, domain]} and {number})",
                number,
                "domain",
            )
        seen[outcome, domain] = number
        text = table.cell(cells, "rating").strip().replace("\u2212", "-")
        allowed = RATINGS[domain]
        try:
            rating = int(text)
        except ValueError:
            rating = None
        if rating not in allowed:
            shown = f"'{text}'" if text else "a blank rating"
            choices = ", ".join(f"{r:+d}" if r else "0" for r in allowed)
            raise fail(
                f"{shown} is not a rating of {domain}: write {choices}",
                number,
                "rating",
            )
        reason = table.cell(cells, "reason")
        if rating != 0 and not reason.strip():
            raise fail(f"{domain} is rated {rating:+d}: give the reason", number, "reason")
        problem = check_when(table.cell(cells, "when"))
        if problem:
            raise fail(problem, number, "when")
        out.append(
            GradeRating(
                outcome=outcome,
                domain=domain,
                rating=int(rating),
                reason=reason,
                who=table.cell(cells, "who").strip(),
                when=table.cell(cells, "when").strip(),
                row=number,
            )
        )
    return tuple(out)


def apply_grade_csv(outcomes: Iterable[Outcome], ratings: Sequence[GradeRating]) -> tuple[Outcome, ...]:
    """The outcomes with grade.csv's ratings over review.toml's. While some of the five domains
    that lower certainty are rated but not all (ratings entered one at a time), the certainty
    is "not assessed" and the ratings so far are kept as ``Grade.pending``."""
    out = []
    for outcome in outcomes:
        rows = [r for r in ratings if r.outcome == outcome.id]
        if not rows:
            out.append(outcome)
            continue
        grade = outcome.grade or Grade()
        down = {d.domain: d for d in grade.domains}
        up = {d.domain: d for d in grade.upgrades}
        for r in rows:
            target = up if r.domain in UPGRADE_RATINGS else down
            target[r.domain] = GradeDomain(domain=r.domain, rating=r.rating, reason=r.reason)
        if len(down) < len(GRADE_DOMAINS):
            # rating in progress (edits arrive one domain at a time): not assessed until all five
            rated = tuple(down[d] for d in GRADE_DOMAINS if d in down)
            out.append(replace(outcome, grade=replace(grade, domains=(), pending=rated)))
            continue
        grade = replace(
            grade,
            domains=tuple(down[d] for d in GRADE_DOMAINS if d in down),
            upgrades=tuple(up[d] for d in UPGRADE_RATINGS if d in up),
        )
        out.append(replace(outcome, grade=grade))
    return tuple(out)
