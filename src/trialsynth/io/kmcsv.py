"""Reading digitised Kaplan–Meier curves and their numbers-at-risk tables (CSV), defensively.

Two files, one row per point, arms named in an ``arm`` column (names matched after stripping
spaces, case ignored):

``curves`` -- ``arm, time, survival``: the points a digitiser gives (survival as a proportion,
    0 to 1; a column ``survival_percent`` instead holds percentages).
``at risk`` -- ``arm, time, n_risk``: the numbers-at-risk table printed under the figure, starting
    at time 0 with the arm's size.

Both are read by the review folder's strict CSV reader; every problem is an
:class:`~trialsynth._core.errors.InputError` naming the file, the row (the header is row 1) and the
column.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io.review._csv import read_table

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: Refused above this many rows: a digitised curve has hundreds of points, not millions.
MAX_ROWS = 100_000


def _number(text: str, where: dict) -> float:
    cell = text.strip().replace("\u2212", "-")
    if not cell:
        raise InputError("the cell is blank", **where)
    if not _NUMBER.fullmatch(cell):
        raise InputError(f"'{text.strip()}' is not a number", **where)
    value = float(cell)
    if not math.isfinite(value):
        raise InputError(f"'{text.strip()}' is too large to be a number", **where)
    return value


def _read(path, value_columns: tuple[str, ...]) -> tuple[dict[str, tuple[list[float], list[float]]], str]:
    """Per arm, the ``time`` column and the first of ``value_columns`` present; returns its name too."""
    source = os.fspath(path)
    present = None
    table = read_table(Path(source), required=["arm", "time"], open_columns=True)
    for column in value_columns:
        if table.has(column):
            present = column
            break
    if present is None:
        raise InputError(
            f"missing column {' or '.join(value_columns)} (columns needed: arm, time, {value_columns[0]})",
            file=source,
            row=table.header_row,
        )
    if not table.rows:
        raise InputError("the file has a header row but no rows below it", file=source, row=table.header_row)
    if len(table.rows) > MAX_ROWS:
        raise InputError(f"more than {MAX_ROWS:,} rows: not a digitised curve", file=source)
    arms: dict[str, tuple[list[float], list[float]]] = {}
    for number, cells in table:
        arm = table.cell(cells, "arm").strip()
        if not arm:
            raise InputError("the cell is blank", file=source, row=number, column=table.name("arm"))
        if any(ord(ch) < 32 for ch in arm):
            raise InputError("the arm name holds a control character", file=source, row=number, column="arm")
        times, values = arms.setdefault(arm, ([], []))
        times.append(_number(table.cell(cells, "time"), {"file": source, "row": number, "column": "time"}))
        values.append(_number(table.cell(cells, present), {"file": source, "row": number, "column": present}))
    return arms, present


def read_km_curves(path) -> dict[str, tuple[list[float], list[float]]]:
    """``{arm: (times, survival proportions)}`` from a digitised-curve CSV (module docstring)."""
    arms, column = _read(path, ("survival", "survival_percent"))
    if column == "survival_percent":
        return {arm: (t, [v / 100 for v in s]) for arm, (t, s) in arms.items()}
    return arms


def read_numbers_at_risk(path) -> dict[str, tuple[list[float], list[float]]]:
    """``{arm: (times, numbers at risk)}`` from a numbers-at-risk CSV (module docstring)."""
    arms, _ = _read(path, ("n_risk",))
    return arms
