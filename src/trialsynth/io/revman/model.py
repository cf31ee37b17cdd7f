"""What a RevMan file holds, read into plain frozen objects (before it becomes a review folder).

Both readers (:mod:`trialsynth.io.revman.rm5` for the ``.rm5`` XML file and
:mod:`trialsynth.io.revman.csvexport` for RevMan's CSV export) produce a :class:`RevManFile`.
Attribute names follow RevMan 5's own (``EVENTS_1``, ``EFFECT_SIZE``, ``CHI2`` ...), and
every value is kept as the text the file holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: RevMan's outcome types: dichotomous, continuous, generic inverse variance, O − E and variance.
KINDS = ("DICH", "CONT", "IV", "IPD")

#: The numbers a user enters per study, by outcome type (the rest of a data element's
#: numbers are RevMan's own results).
ENTERED = {
    "DICH": ("EVENTS_1", "TOTAL_1", "EVENTS_2", "TOTAL_2"),
    "CONT": ("MEAN_1", "SD_1", "TOTAL_1", "MEAN_2", "SD_2", "TOTAL_2"),
    "IV": ("ESTIMATE", "SE"),
    "IPD": ("O_E", "VAR"),
}
#: Entered numbers that a study may leave out (IV and IPD group sizes are for display only).
OPTIONAL_ENTERED = {"IV": ("TOTAL_1", "TOTAL_2"), "IPD": ("TOTAL_1", "TOTAL_2")}

#: RevMan's computed results, as stored per study, per subgroup and per outcome.
_ESTIMATE = ("EFFECT_SIZE", "CI_START", "CI_END", "LOG_EFFECT_SIZE", "LOG_CI_START", "LOG_CI_END")
STUDY_RESULTS = (
    *_ESTIMATE,
    "SE",
    "VAR",
    "WEIGHT",
    "O_E",
)
POOLED_RESULTS = (
    *_ESTIMATE,
    "Z",
    "P_Z",
    "CHI2",
    "DF",
    "P_CHI2",
    "I2",
    "TAU2",
    "WEIGHT",
)
#: The test for subgroup differences (stored on the outcome).
SUBGROUP_TEST_RESULTS = ("Q", "P_Q", "I2_Q")


@dataclass(frozen=True)
class RevManStudy:
    """An included study: RevMan's ``ID`` (or, from a CSV export, its name), name and year."""

    key: str
    name: str
    year: str
    data_source: str
    where: str


@dataclass(frozen=True)
class RevManData:
    """One study's data in one outcome (a ``*_DATA`` element or a study row of the CSV).

    ``entered`` holds the numbers the reviewer typed (``EVENTS_1`` ...), ``stored`` RevMan's
    results for the study; ``subgroup`` is the index into the outcome's subgroups.
    """

    study: str
    subgroup: int | None
    entered: Mapping[str, str]
    stored: Mapping[str, str]
    where: str


@dataclass(frozen=True)
class RevManSubgroup:
    no: str
    name: str
    stored: Mapping[str, str]
    where: str


@dataclass(frozen=True)
class RevManOutcome:
    """One analysis: its settings, RevMan's stored results, its subgroups and data.

    ``measure`` is RevMan's code (OR, RR, RD, PETO_OR, MD, SMD) or, for generic inverse
    variance and O − E outcomes, the effect measure's name as written (``Hazard Ratio``).
    ``method`` is MH, IV, PETO or EXP_O_E_VAR; ``totals`` YES, SUB or NO.
    """

    comparison_no: str
    comparison_name: str
    no: str
    revman_id: str
    name: str
    kind: str
    measure: str
    method: str
    random: bool
    ci_study: float
    ci_total: float
    totals: str
    has_subgroups: bool
    subgroup_test: bool
    swap_events: bool
    log_data: bool | None  # generic inverse variance: data on the log scale (None: not stated)
    group_label_1: str
    group_label_2: str
    graph_label_1: str
    graph_label_2: str
    units: str
    stored: Mapping[str, str]
    where: str
    subgroups: tuple[RevManSubgroup, ...]
    data: tuple[RevManData, ...]

    @property
    def number(self) -> str:
        """RevMan's numbering, e.g. ``1.2`` (comparison 1, outcome 2)."""
        return f"{self.comparison_no}.{self.no}"


@dataclass(frozen=True)
class RevManFile:
    """Everything imported from one RevMan file. ``flavour`` is ``"rm5"`` or ``"csv"``;
    ``precision`` describes how RevMan's results are stored (doubles in .rm5, eight decimals
    in the CSV export); ``skipped`` lists what could not be imported, with the reason."""

    source: str
    flavour: str
    title: str
    revman_version: str
    studies: tuple[RevManStudy, ...]
    outcomes: tuple[RevManOutcome, ...]
    skipped: tuple[str, ...]

    @property
    def precision(self) -> str:
        return "double" if self.flavour == "rm5" else "8 decimals"
