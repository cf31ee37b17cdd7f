"""Reading a network meta-analysis table (CSV), defensively.

Two layouts, recognised by their columns (names matched after stripping spaces, case ignored):

``arms`` -- one row per arm: ``study``, ``treatment`` and
    ``events``, ``n`` (OR, RR: whole numbers, 0 ≤ events ≤ n, n > 0), or
    ``mean``, ``sd``, ``n`` (MD, SMD: sd > 0).
``contrasts`` -- one row per pair of arms: ``study``, ``treatment_1``, ``treatment_2``, the effect of
    treatment_1 against treatment_2 on the analysis scale and its standard error: ``estimate``, ``se``
    for MD and SMD, ``log_estimate``, ``se`` (natural log) for OR, RR and HR, as in the pool CSV.
    Optional ``n_1``, ``n_2``: the arms' sizes (for the network graph). A multi-arm study gives every
    pair of its arms.

The file is read by the review folder's strict CSV reader (:func:`trialsynth.io.review._csv.read_table`:
UTF-8, a column name twice or a row longer than the header is an error). Every problem is an
:class:`~trialsynth._core.errors.InputError` naming the file, the row (as a spreadsheet
shows it: the header is row 1) and the column. Blank rows are ignored; a blank cell in a row that is not
blank is an error (leaving an arm out would change the study).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialsynth._core import bounds
from trialsynth._core.errors import InputError
from trialsynth.io.review._csv import read_table

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
RATIO = ("OR", "RR", "HR")


@dataclass(frozen=True)
class NetworkTable:
    """The parsed table: its layout, the columns' values (numbers as floats) and each row's number."""

    layout: str
    columns: dict[str, list]
    rows: list[int]


def _number(text: str, where: dict[str, Any]) -> float:
    candidate = text.replace("\u2212", "-")
    if not _NUMBER.fullmatch(candidate):
        raise InputError(f"'{text}' is not a number", **where)
    value = float(candidate)
    if not math.isfinite(value):
        raise InputError(f"'{text}' is too large to be a number", **where)
    return value


def _check(column: str, value: float, text: str, where: dict[str, Any]) -> None:
    if column in ("n", "n_1", "n_2") and (value <= 0 or not value.is_integer()):
        raise InputError(f"a number of patients must be a whole number above 0, not '{text}'", **where)
    if column == "events" and (value < 0 or not value.is_integer()):
        raise InputError(f"a number of events must be a whole number, 0 or more, not '{text}'", **where)
    if column in ("sd", "se") and value <= 0:
        name = "standard deviation" if column == "sd" else "standard error"
        raise InputError(f"a {name} must be above 0, not '{text}'", **where)
    # The plausible-value bounds of the pool CSV (trialsynth._core.bounds).
    if column in ("n", "n_1", "n_2", "events"):
        if value > bounds.MAX_COUNT:
            raise InputError(f"'{text}' is more than any trial can report (at most 1e+09 per arm)", **where)
    elif column in ("sd", "se"):
        if not bounds.MIN_SPREAD <= value <= bounds.MAX_MAGNITUDE:
            raise InputError(f"'{text}' is outside the range a trial can report (1e-10 to 1e+10)", **where)
    elif column == "log_estimate":
        if abs(value) > bounds.MAX_LOG_RATIO:
            raise InputError(f"a log ratio of '{text}' is implausible (beyond ln 1e10)", **where)
    elif abs(value) > bounds.MAX_MAGNITUDE:
        raise InputError(f"'{text}' is beyond the magnitude a trial can report (1e+10)", **where)


def read_network_csv(path: str | os.PathLike[str], *, measure: str) -> NetworkTable:
    """Read and check a network table (module docstring) for ``measure`` (OR, RR, MD, SMD, HR)."""
    source = os.fspath(path)
    measure = measure.upper()
    table = read_table(Path(source), required=["study"], open_columns=True)
    if not table.rows:
        raise InputError("the file has a header row but no rows below it", file=source, row=table.header_row)
    header_row = table.header_row
    arms = table.has("treatment")
    contrasts = table.has("treatment_1") or table.has("treatment_2")
    if arms and contrasts:
        raise InputError(
            "the file has both a 'treatment' column (one row per arm) and 'treatment_1'/'treatment_2' "
            "(one row per comparison); keep one layout",
            file=source,
            row=header_row,
        )
    if arms:
        if measure == "HR":
            raise InputError(
                "hazard ratios cannot be formed from arm rows; give contrast rows (study, treatment_1, "
                "treatment_2, log_estimate, se)",
                file=source,
            )
        numeric = ["events", "n"] if measure in ("OR", "RR") else ["mean", "sd", "n"]
        text_cols = ["study", "treatment"]
        layout = "arms"
    elif contrasts:
        value_col = "log_estimate" if measure in RATIO else "estimate"
        if measure in RATIO and not table.has("log_estimate") and table.has("estimate"):
            raise InputError(
                f"for {measure} a comparison is given as log_estimate (the natural log of the {measure}) "
                "with its se; rename the column if 'estimate' already holds the log",
                file=source,
                row=header_row,
                column=table.name("estimate"),
            )
        numeric = [value_col, "se"] + [c for c in ("n_1", "n_2") if table.has(c)]
        text_cols = ["study", "treatment_1", "treatment_2"]
        layout = "contrasts"
    else:
        raise InputError(
            "no 'treatment' column (one row per arm) nor 'treatment_1' and 'treatment_2' (one row per "
            "comparison)",
            file=source,
            row=header_row,
        )
    missing = [c for c in text_cols + numeric if not table.has(c)]
    if missing:
        need = ", ".join(text_cols + numeric)
        raise InputError(
            f"missing column(s) {', '.join(missing)}; {measure} {layout} rows need {need}",
            file=source,
            row=header_row,
        )
    columns: dict[str, list] = {c: [] for c in text_cols + numeric}
    rows: list[int] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, cells in table:
        for c in text_cols + numeric:
            where: dict[str, Any] = {"file": source, "row": number, "column": table.name(c)}
            cell = table.cell(cells, c).strip()
            if not cell:
                raise InputError("the cell is blank", **where)
            if c in text_cols:
                columns[c].append(cell)
            else:
                value = _number(cell, where)
                _check(c, value, cell, where)
                columns[c].append(value)
        where = {"file": source, "row": number}
        if layout == "arms":
            if measure in ("OR", "RR") and columns["events"][-1] > columns["n"][-1]:
                raise InputError(
                    f"{columns['events'][-1]:g} events among {columns['n'][-1]:g} patients",
                    column=table.name("events"),
                    **where,
                )
            key = (columns["study"][-1], columns["treatment"][-1])
        else:
            if columns["treatment_1"][-1] == columns["treatment_2"][-1]:
                raise InputError(
                    f"treatment_1 and treatment_2 are the same ('{columns['treatment_1'][-1]}')", **where
                )
            key = (columns["study"][-1], *sorted((columns["treatment_1"][-1], columns["treatment_2"][-1])))
        if key in seen:
            what = "arm" if layout == "arms" else "comparison"
            raise InputError(f"the same {what} as row {seen[key]} ({', '.join(key)})", **where)
        seen[key] = number
        rows.append(number)
    return NetworkTable(layout, columns, rows)
