"""Read one sheet of an Excel workbook (``.xlsx``) as rows of text cells, defensively.

The cells become the same text a CSV file would hold, so that the tables read from a workbook
go through exactly the validation of the CSV path (:mod:`trialsynth.io.poolcsv`,
:mod:`trialsynth.io.review`) and its one-line errors, which here name the file, the sheet, the
row (as the spreadsheet numbers it) and the column.

* **Numbers as typed.** A number cell gives the number stored in the workbook, never the text
  the spreadsheet displays (a cell showing 0.5 under a one-decimal format that holds 0.48 gives
  ``0.48``): whole numbers without a decimal point, others as the shortest decimal that reads
  back to the same double. Text cells are kept verbatim and validated as in a CSV file.
* **Formulas.** A formula cell gives the value the spreadsheet saved with it (its cached
  value); a formula without a saved value (a workbook written by a program and never opened
  in a spreadsheet) is an error, as is a cell holding a spreadsheet error (``#DIV/0!``).
* **Dates and TRUE/FALSE** in a column that holds numbers are errors (a spreadsheet turns
  ``1-2`` into a date); in text columns they are written as ISO dates and TRUE/FALSE.
* **Limits** (checked while reading, before anything large is held in memory):
  :data:`MAX_BYTES` for the file, :data:`MAX_UNPACKED_BYTES` for its unpacked parts,
  :data:`MAX_ROWS` rows and :data:`MAX_COLUMNS` columns per sheet.

The workbook is read with openpyxl in read-only mode (rows are streamed from the file).
"""

from __future__ import annotations

import datetime as _dt
import os
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from trialsynth._core.errors import InputError

#: Largest workbook read (bytes on disk).
MAX_BYTES = 50 * 2**20
#: Largest total size of the workbook's parts once unpacked (an .xlsx file is a zip archive;
#: the limit stops a small file that unpacks to gigabytes).
MAX_UNPACKED_BYTES = 400 * 2**20
#: Most rows read from a sheet (counted from row 1 to the last row that has any cell).
MAX_ROWS = 100_000
#: Most columns read from a sheet.
MAX_COLUMNS = 1_000

SUFFIXES = (".xlsx",)


def split_sheet(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """``"trials.xlsx#Sheet 2"`` → ``("trials.xlsx", "Sheet 2")``; other paths are returned
    unchanged with no sheet. A name is split only after an ``.xlsx`` ending."""
    text = os.fspath(path)
    head, sep, sheet = text.rpartition("#")
    if sep and head.lower().endswith(SUFFIXES) and not os.path.exists(text):
        return head, sheet
    return text, None


def is_workbook(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (optionally with ``#Sheet``) names an Excel workbook."""
    return split_sheet(path)[0].lower().endswith(SUFFIXES)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _number_text(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _open(file: str):
    """Both views of the workbook: formulas as written, and the values saved with them."""
    from openpyxl import load_workbook

    try:
        size = os.stat(file).st_size
    except FileNotFoundError:
        raise InputError("the file does not exist", file=file) from None
    except OSError as exc:
        raise InputError(f"the file cannot be read ({exc.strerror or exc})", file=file) from None
    if not Path(file).is_file():
        raise InputError("this is a folder, not a file", file=file)
    if size > MAX_BYTES:
        raise InputError(f"the workbook is larger than {MAX_BYTES // 2**20} MiB", file=file)
    try:
        with zipfile.ZipFile(file) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise InputError(
            "this is not an Excel .xlsx workbook (an .xls file must be saved as .xlsx first)", file=file
        ) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise InputError(
            f"the workbook unpacks to {unpacked} bytes, above the limit of {MAX_UNPACKED_BYTES} bytes",
            file=file,
        )
    try:
        formulas = load_workbook(file, read_only=True, data_only=False)
        values = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise InputError(f"the workbook cannot be read ({type(exc).__name__}: {exc})", file=file) from None
    return formulas, values


def read_sheet(
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    numeric: Collection[str] = (),
) -> tuple[str, list[tuple[int, list[str]]]]:
    """The rows of one sheet as ``(source, [(row number, cells), ...])``.

    ``path`` may end in ``#Sheet`` (or give ``sheet``); the default is the workbook's first
    sheet. ``source`` names the file and the sheet for messages (``trials.xlsx, sheet
    'Trials'``). ``numeric`` lists the columns (names as in the header row, any case) that hold
    numbers: dates and TRUE/FALSE there are errors. Rows are numbered as the spreadsheet shows
    them; cells are text, as a CSV reader would give them.
    """
    file, named = split_sheet(path)
    sheet = sheet if sheet is not None else named
    formulas, values = _open(file)
    try:
        names = formulas.sheetnames
        if sheet is None:
            sheet = names[0]
        elif sheet not in names:
            listed = ", ".join(names)
            raise InputError(f"the workbook has no sheet '{sheet}' (its sheets: {listed})", file=file)
        source = f"{file}, sheet '{sheet}'"
        wanted = {c.strip().casefold() for c in numeric}
        records: list[tuple[int, list[str]]] = []
        header: list[str] | None = None
        rows = zip(
            formulas[sheet].iter_rows(min_row=1),
            values[sheet].iter_rows(min_row=1, values_only=True),
            strict=False,
        )
        for number, (cells, cached) in enumerate(rows, start=1):
            if number > MAX_ROWS:
                raise InputError(
                    f"the sheet has more than {MAX_ROWS} rows (the limit for a table of trials)", file=source
                )
            if len(cells) > MAX_COLUMNS:
                raise InputError(f"the sheet has more than {MAX_COLUMNS} columns", file=source, row=number)
            texts = []
            for index, cell in enumerate(cells):
                column = header[index].strip() if header is not None and index < len(header) else ""
                where: dict[str, Any] = {
                    "file": source,
                    "row": number,
                    "column": column or _column_letter(index),
                }
                value = cell.value
                kind = getattr(cell, "data_type", "n")
                if kind == "f":
                    value = cached[index] if index < len(cached) else None
                    if value is None:
                        raise InputError(
                            f"the cell holds a formula ({cell.value}) without a saved value: open the "
                            "workbook in a spreadsheet and save it, or type the number",
                            **where,
                        )
                if kind == "e":
                    raise InputError(f"the cell holds the spreadsheet error {value}", **where)
                texts.append(_cell_text(value, column.casefold() in wanted, where))
            while texts and not texts[-1].strip():
                texts.pop()
            if header is None and any(t.strip() for t in texts):
                header = texts
            records.append((number, texts))
        return source, records
    finally:
        formulas.close()
        values.close()


def _cell_text(value: object, numeric: bool, where: dict) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        if numeric:
            raise InputError(f"the cell holds {str(value).upper()} where a number is expected", **where)
        return str(value).upper()
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        if numeric:
            raise InputError(
                f"the cell holds a date ({value.isoformat()}) where a number is expected (a "
                "spreadsheet turns entries such as 1-2 into dates; format the column as text or number)",
                **where,
            )
        return value.isoformat()
    return str(value)
