"""Broken or hostile input files give a one-line InputError, never a traceback (issue 15)."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.records.parsers import parse_bibtex
from trialsynth.io.review import load_review
from trialsynth.io.revman import read_revman

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FLOW = FIXTURES / "reviews" / "flow"
RM5 = FIXTURES / "revman" / "types.rm5"
REVMAN_CSV = FIXTURES / "revman" / "export.csv"


def _one_line(error: InputError) -> str:
    text = str(error)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    "nested",
    [
        "deep = " + "[" * 1000 + "]" * 1000,  # tomllib: RecursionError before the fix
        "deep = " + "{a = " * 1000 + "1" + "}" * 1000,
    ],
)
def test_review_toml_nested_1000_levels_is_a_clear_error(tmp_path, nested):
    folder = tmp_path / "flow"
    shutil.copytree(FLOW, folder)
    path = folder / "review.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[extra]\n" + nested + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_review(folder)
    assert (
        _one_line(info.value) == f"{path}: arrays or inline tables are nested too deeply to read "
        "(a review.toml needs two or three levels)"
    )


def test_review_toml_with_a_100000_digit_number(tmp_path):
    # Found by the fuzz test: tomllib raised a bare ValueError (Python's int digit limit).
    folder = tmp_path / "flow"
    shutil.copytree(FLOW, folder)
    path = folder / "review.toml"
    text = path.read_text(encoding="utf-8") + "\n[extra]\nn = " + "9" * 100_000 + "\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_review(folder)
    assert _one_line(info.value) == f"{path}: a number in the file has too many digits to be read"


def test_rm5_with_a_duplicated_comparison_number(tmp_path):
    text = RM5.read_text(encoding="utf-8")
    numbers = re.findall(r'<COMPARISON ID="[^"]*" NO="(\d+)"', text)
    assert numbers == ["1", "2"]
    path = tmp_path / "dup.rm5"
    path.write_text(re.sub(r'(<COMPARISON ID="[^"]*" NO=")2"', r'\g<1>1"', text, count=1), encoding="utf-8")
    with pytest.raises(
        InputError, match=r"line \d+: <COMPARISON>: comparison number 1 is used twice \(also on line \d+\)"
    ):
        read_revman(path)  # KeyError 'EVENTS_1' in the import before the fix


@pytest.mark.parametrize("encoding", ["bogus-encoding", "x-no-such-charset"])
def test_rm5_whose_xml_declaration_names_an_unknown_encoding(tmp_path, encoding):
    path = tmp_path / "enc.rm5"
    path.write_text(
        RM5.read_text(encoding="utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"'),
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        read_revman(path)  # LookupError before the fix
    assert _one_line(info.value).startswith(f"{path}, line 1: the XML declaration names an unknown encoding")


def _rows():
    with REVMAN_CSV.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def test_revman_csv_with_duplicated_numbers(tmp_path):
    rows = _rows()
    with pytest.raises(InputError, match="comparison number 1 is used twice"):
        read_revman(_write(tmp_path / "c.csv", [*rows, rows[1]]))
    with pytest.raises(InputError, match=r"outcome number 1\.1 is used twice"):
        read_revman(_write(tmp_path / "o.csv", [*rows[:3], rows[2], *rows[3:]]))


def test_revman_csv_with_every_column_missing_in_turn(tmp_path):
    rows = _rows()
    for i in range(len(rows[0])):
        path = _write(tmp_path / f"m{i}.csv", [r[:i] + r[i + 1 :] for r in rows])
        try:
            read_revman(path)
        except InputError as exc:
            _one_line(exc)


def test_bibtexparser_prints_nothing_and_its_reason_is_in_our_report(capfd):
    result = parse_bibtex("@article{ok, title={Fine}}\n\n@article{broken title={x}}\n", "refs.bib")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # bibtexparser logged "Parsing of `@article` block ... aborted" to stderr
    assert [r.title for r in result.records] == ["Fine"]
    assert result.warnings == [
        "refs.bib, line 3: malformed BibTeX entry: Expected comma after entry key, but found =; "
        "the record was skipped"
    ]
