"""Risk of bias (RoB 2) judgements of a review folder: ``risk_of_bias.csv``.

RoB 2 (Sterne et al., BMJ 2019;366:l4898) judges each result of a randomized trial in five
domains and overall, as *low*, *some concerns* or *high* risk of bias, each with the support for
the judgement. One row per study and outcome; the file is optional.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io.review._csv import read_table

#: The five RoB 2 domains (Sterne et al. 2019, Table 1), in order.
DOMAINS = ("D1", "D2", "D3", "D4", "D5")
DOMAIN_NAMES = {
    "D1": "Randomization process",
    "D2": "Deviations from intended interventions",
    "D3": "Missing outcome data",
    "D4": "Measurement of the outcome",
    "D5": "Selection of the reported result",
}
#: Judgements, from least to most concern.
JUDGEMENTS = ("low", "some concerns", "high")

ROB_REQUIRED = (
    "study",
    "outcome",
    *DOMAINS,
    "overall",
    *(f"{d}_support" for d in DOMAINS),
    "overall_support",
    "source",
)
ROB_OPTIONAL = ("note", "who", "when")


@dataclass(frozen=True)
class RiskOfBias:
    """One study's RoB 2 assessment of one outcome: ``domains`` D1–D5 and ``overall`` (each one of
    :data:`JUDGEMENTS`), ``support`` the texts supporting D1–D5 and overall, verbatim."""

    study: str
    outcome: str
    domains: tuple[str, ...]
    overall: str
    support: tuple[str, ...]
    source: str
    note: str
    row: int
    who: str = ""
    when: str = ""

    def judgement(self, domain: str) -> str:
        """The judgement of ``"D1"`` … ``"D5"`` or ``"overall"``."""
        if domain == "overall":
            return self.overall
        return self.domains[DOMAINS.index(domain)]

    def as_dict(self) -> dict[str, str]:
        """``{"D1": …, …, "D5": …, "overall": …}``."""
        return {**dict(zip(DOMAINS, self.domains, strict=True)), "overall": self.overall}


def check_when(value: str) -> str | None:
    """None when ``value`` is blank or an ISO 8601 date or date-time; else the problem."""
    text = value.strip()
    if not text:
        return None
    try:
        _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"'{text}' is not an ISO 8601 date or time (write 2026-12-06 or 2026-12-06T14:05:00Z)"
    return None


def known_id(table, cells, number: int, column: str, known: Collection[str]) -> str:
    """The stripped id in ``column`` if it is one of ``known`` (study ids, outcome ids); else an
    :class:`InputError` naming the file, row and column and where the ids are declared."""
    value = table.cell(cells, column).strip()
    if value not in known:
        where = "not in studies.csv" if column == "study" else f"review.toml declares: {', '.join(known)}"
        shown = f"unknown {column} '{value}' ({where})" if value else f"the {column} is blank"
        raise InputError(shown, file=table.source, row=number, column=table.name(column))
    return value


def _when(table, cells, number: int) -> str:
    value = table.cell(cells, "when")
    problem = check_when(value)
    if problem:
        raise InputError(problem, file=table.source, row=number, column=table.name("when"))
    return value.strip()


def read_risk_of_bias(
    path: Path, study_ids: Collection[str], outcome_ids: Collection[str]
) -> tuple[RiskOfBias, ...]:
    """Read and check ``risk_of_bias.csv``; raise :class:`InputError` naming file, row and column.

    Judgements must be written exactly as ``low``, ``some concerns`` or ``high``; every judgement
    needs its support text and every row its source. The overall judgement must follow RoB 2's
    rule (Sterne et al. 2019): at least the worst domain judgement; *high* with no domain judged
    high only when two or more domains have some concerns; *low* only when every domain is low.
    """
    table = read_table(path, required=ROB_REQUIRED, optional=ROB_OPTIONAL)

    def fail(message: str, row: int, column: str) -> InputError:
        return InputError(message, file=table.source, row=row, column=table.name(column))

    def text(cells, row: int, column: str) -> str:
        value = table.cell(cells, column)
        if not value.strip():
            raise fail("this cell must not be blank", row, column)
        return value

    def judged(cells, row: int, column: str) -> str:
        value = table.cell(cells, column).strip()
        if value not in JUDGEMENTS:
            shown = f"'{value}'" if value else "a blank cell"
            raise fail(f"{shown} is not a RoB 2 judgement: write low, some concerns or high", row, column)
        return value

    out: list[RiskOfBias] = []
    seen: dict[tuple[str, str], int] = {}
    for number, cells in table:
        study = text(cells, number, "study").strip()
        if study not in study_ids:
            raise fail(f"unknown study '{study}' (not in studies.csv)", number, "study")
        outcome = known_id(table, cells, number, "outcome", outcome_ids)
        key = (study, outcome)
        if key in seen:
            raise fail(
                f"study '{study}' is assessed twice for outcome '{outcome}' (rows {seen[key]} and {number})",
                number,
                "study",
            )
        seen[key] = number
        domains = tuple(judged(cells, number, d) for d in DOMAINS)
        overall = judged(cells, number, "overall")
        rank = [JUDGEMENTS.index(j) for j in domains]
        worst, level = max(rank), JUDGEMENTS.index(overall)
        if level < worst:
            raise fail(
                f"overall '{overall}' is lower than the worst domain judgement '{JUDGEMENTS[worst]}' "
                "(RoB 2: the overall risk of bias is at least that of every domain)",
                number,
                "overall",
            )
        if level > worst and not (overall == "high" and rank.count(1) >= 2):
            raise fail(
                f"overall '{overall}' is higher than every domain judgement; RoB 2 allows this only as "
                "'high' when two or more domains have some concerns",
                number,
                "overall",
            )
        support = tuple(text(cells, number, f"{d}_support") for d in (*DOMAINS, "overall"))
        out.append(
            RiskOfBias(
                study=study,
                outcome=outcome,
                domains=domains,
                overall=overall,
                support=support,
                source=text(cells, number, "source"),
                note=table.cell(cells, "note"),
                row=number,
                who=table.cell(cells, "who").strip(),
                when=_when(table, cells, number),
            )
        )
    return tuple(out)
