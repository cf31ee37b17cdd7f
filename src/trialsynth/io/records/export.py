"""The plain-text copy of the record store, for git: one CSV per table in ``REVIEW_DIR/records/``.

Every table of the store is written whole (history included), ordered by its id, with a
fixed column order, UTF-8 and ``\\n`` line ends, so the same store always gives the same
bytes and a change in the store shows as a readable diff. Lists (authors, keywords) are
written as JSON arrays, the parsed fields as a JSON object, the raw record verbatim.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula: a record title such as ``=HYPERLINK(...)`` from a database
export would become live in Excel or LibreOffice ("CSV injection", OWASP). Such cells are
written with a leading apostrophe, which spreadsheets take as "this is text" and do not
show; a cell that itself starts with an apostrophe gets one more, so the escape can be undone
exactly (:func:`unescape_cell`, used when the export is imported again). The store keeps the
exact value.
"""

from __future__ import annotations

from pathlib import Path

from trialsynth.io.atomic import replace_file
from trialsynth.io.records.store import TABLES, RecordStore

__all__ = ["EXPORT_DIR", "escape_cell", "export_store", "unescape_cell"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection"),
#: and the apostrophe itself so that the escape is reversible.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def escape_cell(value: str) -> str:
    """``value`` with a leading apostrophe if a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def unescape_cell(value: str) -> str:
    """Undo :func:`escape_cell`."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


#: Folder of the CSV copy inside the review folder.
EXPORT_DIR = "records"

_FILE_NAMES = {
    "imports": "imports.csv",
    "records": "records.csv",
    "duplicate_pairs": "duplicate_pairs.csv",
    "duplicate_decisions": "duplicate_decisions.csv",
    "decisions": "decisions.csv",
    "resolutions": "resolutions.csv",
    "retrievals": "retrievals.csv",
    "study_links": "study_links.csv",
    "withdrawals": "withdrawals.csv",
    "removals": "removals.csv",
}


def _csv_line(cells) -> str:
    """One RFC 4180 row ending in ``\\n``: as :mod:`csv`'s minimal quoting, except that a cell
    with a carriage return is quoted too (``csv.writer`` with ``\\n`` line ends leaves it bare,
    and a reader then splits the row there)."""
    out = []
    for cell in cells:
        text = str(cell)
        if any(ch in text for ch in ',"\r\n'):
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    return ",".join(out) + "\n"


def _cell(value) -> object:
    if value is None:
        return ""
    return escape_cell(value) if isinstance(value, str) else value


def export_store(store: RecordStore, review_dir: str | Path) -> list[Path]:
    """Write every table as CSV into ``review_dir/records/``; return the files written.

    Each file is written to a temporary name and renamed, so a crash never leaves half a file.
    Text cells are escaped against formula injection (:func:`escape_cell`).
    """
    folder = Path(review_dir) / EXPORT_DIR
    folder.mkdir(exist_ok=True)
    written = []
    for table in TABLES:
        rows = store.rows(table)
        columns = store.columns(table)
        lines = [_csv_line(columns)]
        lines += [_csv_line([_cell(row[c]) for c in columns]) for row in rows]
        written.append(replace_file(folder / _FILE_NAMES[table], "".join(lines)))
    return written
