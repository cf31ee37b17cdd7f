"""PRISMA 2020 flow counts: one frozen object, whoever computed it.

The counts follow the PRISMA 2020 flow diagram for new systematic reviews that included
searches of databases and registers (Page et al., BMJ 2021;372:n71, Figure 1; the
optional "other methods" column is the second block below). They come either from the
review's record store (records imported, de-duplicated and screened with trialsynth) or
from the ``[prisma]`` table of ``review.toml`` when the screening was done elsewhere;
``origin`` says which.

The boxes are linked by arithmetic (records screened = records identified − duplicates
removed − records removed for other reasons, and so on down the diagram).
:func:`check_prisma` lists every place where the entered numbers break that arithmetic,
so that a diagram is never drawn with boxes that do not add up without the reviewer
being told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trialsynth._core.errors import InputError
from trialsynth._core.serialize import JsonResult

__all__ = ["PrismaCounts", "check_prisma", "prisma_from_mapping"]


def _frozen(mapping: Mapping[str, int] | None) -> tuple[tuple[str, int], ...]:
    return tuple((str(k), int(v)) for k, v in (mapping or {}).items())


@dataclass(frozen=True)
class PrismaCounts(JsonResult):
    """The numbers in the boxes of a PRISMA 2020 flow diagram.

    Mappings are kept as tuples of ``(label, count)`` pairs in the order given, so the
    object is hashable and the diagram lists sources and reasons as the review does.

    Identification (databases and registers): ``databases`` and ``registers`` give the
    records identified per source; ``duplicates_removed``, ``automation_removed`` (marked
    ineligible by automation tools) and ``other_removed`` are removed before screening.
    Screening: ``records_screened``, ``records_excluded``, ``reports_sought``,
    ``reports_not_retrieved``, ``reports_assessed``, ``reports_excluded`` (reason,
    count). Included: ``studies_included`` and ``reports_included``.
    Other methods (optional, ``None`` when not used): ``other_sources`` (e.g. websites,
    citation searching), ``other_reports_sought``, ``other_reports_not_retrieved``,
    ``other_reports_assessed``, ``other_reports_excluded``.
    """

    databases: tuple[tuple[str, int], ...]
    registers: tuple[tuple[str, int], ...]
    duplicates_removed: int
    automation_removed: int
    other_removed: int
    records_screened: int
    records_excluded: int
    reports_sought: int
    reports_not_retrieved: int
    reports_assessed: int
    reports_excluded: tuple[tuple[str, int], ...]
    studies_included: int
    reports_included: int
    other_sources: tuple[tuple[str, int], ...] = ()
    other_reports_sought: int | None = None
    other_reports_not_retrieved: int | None = None
    other_reports_assessed: int | None = None
    other_reports_excluded: tuple[tuple[str, int], ...] = ()
    origin: str = "review.toml"
    notes: tuple[str, ...] = field(default=())

    @property
    def records_identified(self) -> int:
        """Records identified from databases and registers together."""
        return sum(n for _, n in self.databases) + sum(n for _, n in self.registers)

    @property
    def reports_excluded_total(self) -> int:
        return sum(n for _, n in self.reports_excluded)

    @property
    def uses_other_methods(self) -> bool:
        return bool(self.other_sources) or self.other_reports_sought is not None

    #: JSON: the diagram's boxes grouped as in PRISMA 2020, mappings as objects in order, totals included.
    __json_fields__ = ("origin", "identification", "screening", "other_methods", "included", "notes")

    @property
    def identification(self) -> dict:
        """The identification boxes (databases and registers)."""
        return {
            "databases": dict(self.databases),
            "registers": dict(self.registers),
            "records_identified": self.records_identified,
            "duplicates_removed": self.duplicates_removed,
            "automation_removed": self.automation_removed,
            "other_removed": self.other_removed,
        }

    @property
    def screening(self) -> dict:
        """The screening boxes."""
        return {
            "records_screened": self.records_screened,
            "records_excluded": self.records_excluded,
            "reports_sought": self.reports_sought,
            "reports_not_retrieved": self.reports_not_retrieved,
            "reports_assessed": self.reports_assessed,
            "reports_excluded": dict(self.reports_excluded),
            "reports_excluded_total": self.reports_excluded_total,
        }

    @property
    def other_methods(self) -> dict | None:
        """The other-methods column, or None when the review did not use one."""
        if not self.uses_other_methods:
            return None
        return {
            "sources": dict(self.other_sources),
            "reports_sought": self.other_reports_sought,
            "reports_not_retrieved": self.other_reports_not_retrieved,
            "reports_assessed": self.other_reports_assessed,
            "reports_excluded": dict(self.other_reports_excluded),
        }

    @property
    def included(self) -> dict:
        """The included box."""
        return {"studies": self.studies_included, "reports": self.reports_included}


def check_prisma(counts: PrismaCounts) -> list[str]:
    """Every place where the boxes do not add up, as sentences; empty when consistent.

    The identities are those implied by the PRISMA 2020 diagram: each box is the box
    above it minus what left the flow between them. Reports included can come from both
    columns, so the last identity is checked against their sum.
    """
    problems: list[str] = []

    def expect(name: str, got: int, want: int, how: str) -> None:
        if got != want:
            problems.append(f"{name} is {got}, but {how} gives {want}")

    for label, value in (
        *(("databases: " + k, v) for k, v in counts.databases),
        *(("registers: " + k, v) for k, v in counts.registers),
        ("duplicates_removed", counts.duplicates_removed),
        ("automation_removed", counts.automation_removed),
        ("other_removed", counts.other_removed),
        ("records_screened", counts.records_screened),
        ("records_excluded", counts.records_excluded),
        ("reports_sought", counts.reports_sought),
        ("reports_not_retrieved", counts.reports_not_retrieved),
        ("reports_assessed", counts.reports_assessed),
        *(("reports_excluded: " + k, v) for k, v in counts.reports_excluded),
        ("studies_included", counts.studies_included),
        ("reports_included", counts.reports_included),
    ):
        if value < 0:
            problems.append(f"{label} is negative ({value})")

    removed = counts.duplicates_removed + counts.automation_removed + counts.other_removed
    expect(
        "records_screened",
        counts.records_screened,
        counts.records_identified - removed,
        f"records identified ({counts.records_identified}) minus records removed before screening "
        f"({removed})",
    )
    expect(
        "reports_sought",
        counts.reports_sought,
        counts.records_screened - counts.records_excluded,
        "records screened minus records excluded",
    )
    expect(
        "reports_assessed",
        counts.reports_assessed,
        counts.reports_sought - counts.reports_not_retrieved,
        "reports sought minus reports not retrieved",
    )
    included = counts.reports_assessed - counts.reports_excluded_total
    how = "reports assessed minus reports excluded"
    if counts.uses_other_methods:
        sought = counts.other_reports_sought or 0
        not_retrieved = counts.other_reports_not_retrieved or 0
        assessed = counts.other_reports_assessed
        if assessed is not None:
            expect(
                "other_reports_assessed",
                assessed,
                sought - not_retrieved,
                "other reports sought minus other reports not retrieved",
            )
            included += assessed - sum(n for _, n in counts.other_reports_excluded)
            how += ", in both columns"
    expect("reports_included", counts.reports_included, included, how)
    if counts.studies_included > counts.reports_included:
        problems.append(
            f"studies_included ({counts.studies_included}) exceeds reports_included "
            f"({counts.reports_included}); every included study has at least one report"
        )
    return problems


_INT_KEYS = (
    "duplicates_removed",
    "automation_removed",
    "other_removed",
    "records_screened",
    "records_excluded",
    "reports_sought",
    "reports_not_retrieved",
    "reports_assessed",
    "studies_included",
    "reports_included",
)
_OPTIONAL_INT_KEYS = ("other_reports_sought", "other_reports_not_retrieved", "other_reports_assessed")
_MAP_KEYS = ("databases", "registers", "reports_excluded", "other_sources", "other_reports_excluded")
_DEFAULT_ZERO = ("automation_removed", "other_removed", "reports_not_retrieved")


def prisma_from_mapping(table: Mapping[str, object], *, file: str | None = None) -> PrismaCounts:
    """Counts from a plain mapping, e.g. the ``[prisma]`` table of ``review.toml``.

    Integers must be whole and non-negative; the per-source and per-reason counts are
    tables of label = count. Keys in ``_DEFAULT_ZERO`` may be left out (0); the others
    are required. Unknown keys are refused by name, so a typo never drops a count. An
    error about one key carries it (``databases.PubMed`` for a source) in ``column``, so
    that a caller can point at its line.
    """
    allowed = {*_INT_KEYS, *_OPTIONAL_INT_KEYS, *_MAP_KEYS, "notes"}
    for key in table:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise InputError(
                f"[prisma] has an unknown key '{key}'; known keys: {known}", file=file, column=key
            )

    def integer(key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"[prisma] {key} must be a whole number, not {value!r}", file=file, column=key)
        if value < 0:
            raise InputError(f"[prisma] {key} must not be negative ({value})", file=file, column=key)
        return value

    ints: dict[str, int] = {}
    for key in _INT_KEYS:
        if key not in table:
            if key in _DEFAULT_ZERO:
                ints[key] = 0
                continue
            raise InputError(f"[prisma] is missing '{key}'", file=file)
        ints[key] = integer(key, table[key])
    optional: dict[str, int | None] = {k: integer(k, table[k]) for k in _OPTIONAL_INT_KEYS if k in table}
    maps: dict[str, tuple[tuple[str, int], ...]] = {}
    for key in _MAP_KEYS:
        value = table.get(key, {})
        if not isinstance(value, Mapping):
            raise InputError(f"[prisma] {key} must be a table of label = count", file=file, column=key)
        maps[key] = _frozen({str(k): integer(f"{key}.{k}", v) for k, v in value.items()})
    if not maps["databases"] and not maps["registers"]:
        raise InputError(
            "[prisma] needs the records identified per source in 'databases' or 'registers'", file=file
        )
    notes = table.get("notes", ())
    if isinstance(notes, str):
        notes = (notes,)
    if not isinstance(notes, list | tuple) or not all(isinstance(n, str) for n in notes):
        raise InputError("[prisma] notes must be a text or a list of texts", file=file, column="notes")
    counts: dict[str, Any] = {**ints, **optional, **maps}
    return PrismaCounts(**counts, origin="review.toml", notes=tuple(notes))
