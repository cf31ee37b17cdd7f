"""What the 20,000-case fuzz run (``pytest -m slow tests/io/test_fuzz_parsers.py``, records-csv,
seed 1515) found in the CSV records parser, reduced to the input that triggers each (issue 15).

* A cell that starts with ``[`` is read as a JSON list of authors or keywords; brackets nested
  thousands deep made ``json.loads`` raise RecursionError (cases 1934, 6796, 10149, 19731,
  19803: mutation "nest"). Such a cell is now taken as text.
* A header cell holding a carriage return (a quoted cell, mutation "text"/"flip") went into the
  "no title column" error, so the one-line InputError had a line break (cases 2257, 5243,
  19468). Every line-break character of ``str.splitlines`` is now a space in an InputError.
"""

from __future__ import annotations

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.records.parsers import parse_text

DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize("column", ["Authors", "Author Keywords"])
def test_deeply_nested_list_cell_is_text_not_a_recursion_error(column):
    header = "Authors,Title,Year,Author Keywords\n"
    cells = {"Authors": '"Doe J."', "Author Keywords": "trial"}
    cells[column] = f'"{DEEP}"'
    text = header + f"{cells['Authors']},A randomised trial,2020,{cells['Author Keywords']}\n"
    result = parse_text(text, "csv", "f.csv")
    (record,) = result.records
    assert record.title == "A randomised trial"
    # Not a list of strings: the cell is kept as one value (the bracket text itself).
    kept = record.authors if column == "Authors" else record.keywords
    assert kept == (DEEP,)


def test_records_export_with_unreadable_fields_cell_skips_the_row():
    header = "import_id,title,fields,raw\n"
    text = header + f'1,A trial,"{DEEP}",raw text\n2,Another trial,"{{}}",raw\n'
    result = parse_text(text, "csv", "records.csv")
    assert [r.title for r in result.records] == ["Another trial"]
    assert result.skipped == 1


@pytest.mark.parametrize("brk", ["\r", "\n", "\v", "\f", "\x1c", "\x85", "\u2028", "\u2029"])
def test_no_title_column_error_is_one_line_whatever_the_header_holds(brk):
    text = f'Authors,"Head{brk}er",Year\n"Doe J.",x,2020\n'
    with pytest.raises(InputError) as err:
        parse_text(text, "csv", "f.csv")
    message = str(err.value)
    assert "no title column" in message
    assert len(message.splitlines()) == 1 and "Head er" in message
