"""The plain-text copy of the record store, for git: one CSV per table in ``REVIEW_DIR/records/``.

Every table of the store is written whole (history included), ordered by its id, with a
fixed column order, UTF-8 and ``\\n`` line ends, so the same store always gives the same
bytes and a change in the store shows as a readable diff. Lists (authors, keywords) are
written as JSON arrays, the parsed fields as a JSON object, the raw record verbatim.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from trialsynth.io.records.store import TABLES, RecordStore

__all__ = ["EXPORT_DIR", "export_store"]

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


def export_store(store: RecordStore, review_dir: str | Path) -> list[Path]:
    """Write every table as CSV into ``review_dir/records/``; return the files written.

    Each file is written to a temporary name and renamed, so a crash never leaves half a file.
    """
    folder = Path(review_dir) / EXPORT_DIR
    folder.mkdir(exist_ok=True)
    written = []
    for table in TABLES:
        rows = store.rows(table)
        columns = store.columns(table)
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in columns])
        path = folder / _FILE_NAMES[table]
        tmp = path.with_suffix(".csv.tmp")
        tmp.write_bytes(buffer.getvalue().encode("utf-8"))
        os.replace(tmp, path)
        written.append(path)
    return written
