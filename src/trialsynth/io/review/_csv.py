"""Reading the review folder's CSV files strictly, keeping every cell verbatim.

Row numbers are those a spreadsheet shows: the header is row 1 (or the row it is on when
blank rows precede it) and the first data row is the next one. Column names are matched
after stripping surrounding whitespace, ignoring case; messages use the user's spelling.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from trialsynth._core.errors import InputError, read_user_file
from trialsynth._core.limits import check_rows, max_table_bytes


@dataclass(frozen=True)
class Table:
    """A CSV file: its header as written, and its non-blank rows padded to the header's width."""

    source: str
    header: tuple[str, ...]
    header_row: int
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    index: dict[str, int]  # canonical (stripped, case-folded) name -> position

    def has(self, name: str) -> bool:
        return name.casefold() in self.index

    def name(self, column: str) -> str:
        """The user's spelling of a column (stripped), for messages."""
        return self.header[self.index[column.casefold()]].strip()

    def cell(self, cells: tuple[str, ...], column: str) -> str:
        """A cell as written (verbatim); blank when the column is absent."""
        position = self.index.get(column.casefold())
        return "" if position is None else cells[position]

    def __iter__(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        return iter(self.rows)


def read_table(
    path: Path,
    *,
    required: Collection[str],
    optional: Collection[str] = (),
    open_columns: bool = False,
) -> Table:
    """Read ``path``; raise :class:`InputError` for anything malformed.

    ``required`` columns must be present. Unless ``open_columns``, any column that is not
    in ``required`` or ``optional`` is an error (a misspelt column would otherwise be
    ignored silently).
    """
    source = str(path)
    data = read_user_file(path, max_bytes=max_table_bytes(), limit_variable="TRIALSYNTH_MAX_TABLE_MB")
    check_rows(data, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start : exc.start + 1].hex()}); "
            "save it as 'CSV UTF-8'",
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

    nonblank = [(n, r) for n, r in records if any(cell.strip() for cell in r)]
    if not nonblank:
        raise InputError("the file is empty (it needs a header row)", file=source)
    header_row, header = nonblank[0]
    width = len(header)

    index: dict[str, int] = {}
    for i, name in enumerate(header):
        key = name.strip().casefold()
        if not key:
            continue
        if key in index:
            raise InputError(
                f"the column name '{name.strip()}' appears twice (columns {index[key] + 1} and {i + 1})",
                file=source,
                row=header_row,
                column=name.strip(),
            )
        index[key] = i

    rows: list[tuple[int, tuple[str, ...]]] = []
    for n, record in nonblank[1:]:
        if len(record) > width:
            if any(cell.strip() for cell in record[width:]):
                raise InputError(
                    f"this row has {len(record)} cells but the header has only {width} columns",
                    file=source,
                    row=n,
                )
            record = record[:width]
        record = record + [""] * (width - len(record))
        for i, name in enumerate(header):
            if not name.strip() and record[i].strip():
                raise InputError(
                    f"column {i + 1} has data ('{record[i]}') but no name in the header row",
                    file=source,
                    row=n,
                )
        rows.append((n, tuple(record)))

    table = Table(source, tuple(header), header_row, tuple(rows), index)

    missing = [c for c in required if not table.has(c)]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(the columns are: {', '.join(h.strip() for h in header if h.strip())})",
            file=source,
            row=header_row,
            column=missing[0],
        )
    if not open_columns:
        known = {c.casefold() for c in (*required, *optional)}
        for name in header:
            if name.strip() and name.strip().casefold() not in known:
                raise InputError(
                    f"unknown column '{name.strip()}'{_suggest(name.strip(), [*required, *optional])}",
                    file=source,
                    row=header_row,
                    column=name.strip(),
                )
    return table


def _suggest(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word.casefold(), [c.casefold() for c in choices], n=1)
    lookup = {c.casefold(): c for c in choices}
    if close:
        return f"; did you mean '{lookup[close[0]]}'?"
    return f"; the accepted columns are: {', '.join(choices)}"
