"""One entry point for the tables users give: a CSV file or a sheet of an Excel workbook.

:func:`read_rows` returns the rows of either as text cells numbered as a spreadsheet shows
them, so that the pool table (:mod:`trialsynth.io.poolcsv`) and the review folder's tables
(:mod:`trialsynth.io.review`) validate both the same way. A CSV file is UTF-8 (a byte-order
mark is fine); a workbook is ``FILE.xlsx`` (its first sheet) or ``FILE.xlsx#Sheet``, read by
:mod:`trialsynth.io.xlsx`.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Collection
from dataclasses import dataclass

from trialsynth._core.errors import InputError, read_user_file
from trialsynth._core.limits import check_rows, max_table_bytes


def _xlsx():
    from trialsynth.io import xlsx

    return xlsx


@dataclass(frozen=True)
class Rows:
    """A table's rows: ``source`` names it in messages (the file, and the sheet of a workbook);
    ``records`` are ``(row number, cells)`` for every row, blank ones included."""

    source: str
    records: tuple[tuple[int, list[str]], ...]


def read_rows(path: str | os.PathLike[str], *, numeric: Collection[str] = ()) -> Rows:
    """The rows of a CSV file or of a workbook's sheet (see the module docstring).

    ``numeric`` names the columns that hold numbers (for a workbook: a date or TRUE/FALSE
    there is an error). Raises :class:`InputError` naming the file (and sheet), row and column.
    """
    # The workbook reader (zipfile, bz2, lzma, shutil) is imported only for a name with ".xlsx" in
    # it, which every workbook's has, so that pooling a CSV file starts quickly (issue 16).
    if ".xlsx" in os.fspath(path).lower() and _xlsx().is_workbook(path):
        sheet_source, sheet_records = _xlsx().read_sheet(path, numeric=numeric)
        return Rows(sheet_source, tuple(sheet_records))
    source = os.fspath(path)
    # Size limits before the file is read whole (trialsynth._core.limits; docs/limits.md).
    data = read_user_file(path, max_bytes=max_table_bytes(), limit_variable="TRIALSYNTH_MAX_TABLE_MB")
    check_rows(data, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise InputError(
            f"the file is not UTF-8 text (byte 0x{bad}); save it as 'CSV UTF-8' from your spreadsheet",
            file=source,
            row=line,
        ) from None
    records: list[tuple[int, list[str]]] = []
    number = 0
    try:
        for number, record in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            records.append((number, record))
    except csv.Error as exc:
        raise InputError(f"the file cannot be read as CSV ({exc})", file=source, row=number + 1) from None
    return Rows(source, tuple(records))
