"""Excel input: a pool table or a review folder's studies/outcomes as an .xlsx sheet.

Every workbook is built here with openpyxl from the same rows as a CSV file; the results must be
identical to the CSV path's (same numbers in, so exactly equal out), and the BCG trials
(Colditz et al., JAMA 1994; metafor's dat.bcg) pooled from the workbook must give metafor 3.8.1's
REML estimate pinned in tests/fixtures/reviews_metafor.json by validation/review_fixtures.R
(``rma(measure = "RR", ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg, data = dat.bcg)``),
to 1e-9 relative. Errors must name the file, the sheet, the row and the column, in one line.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import warnings
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io import xlsx
from trialsynth.io.poolcsv import read_pool_csv
from trialsynth.io.review import load_review
from trialsynth.stats.meta import pool_input
from trialsynth.workflow.runner import EXAMPLES, analyse_review

ROOT = Path(__file__).parents[2]
BCG = EXAMPLES / "bcg"
COUNTS = ("events_treatment", "n_treatment", "events_control", "n_control")


def _bcg_rows() -> list[list[str]]:
    with (BCG / "outcomes.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [["study", *COUNTS]] + [[r["study"], *(r[c] for c in COUNTS)] for r in rows]


def _typed(cell: str):
    """A CSV cell as a spreadsheet user would type it: numbers as numbers, text as text."""
    if cell == "":
        return None
    try:
        return int(cell)
    except ValueError:
        try:
            return float(cell)
        except ValueError:
            return cell


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _metafor_bcg_reml() -> dict:
    cases = json.loads((ROOT / "tests" / "fixtures" / "reviews_metafor.json").read_text())["cases"]
    return next(c for c in cases if c["review"] == "bcg" and c["method"] == "REML")


# ----------------------------------------------------------------------- the pool table


def test_pool_table_from_xlsx_equals_csv_and_metafor(tmp_path):
    rows = _bcg_rows()
    book = _workbook(
        tmp_path / "bcg.xlsx",
        {"Notes": [["see the other sheet"]], "Trials": [[_typed(c) for c in r] for r in rows]},
    )
    from_csv = read_pool_csv(_csv(tmp_path / "bcg.csv", rows), measure="RR")
    from_xlsx = read_pool_csv(f"{book}#Trials", measure="RR")
    assert from_xlsx.source == f"{book}, sheet 'Trials'"
    assert from_xlsx.labels == from_csv.labels and from_xlsx.rows == from_csv.rows
    for column in COUNTS:
        assert from_xlsx.values[column].tolist() == from_csv.values[column].tolist()
    a, b = pool_input(from_csv, method="REML"), pool_input(from_xlsx, method="REML")
    assert (a.estimate, a.se, a.tau2, a.q) == (b.estimate, b.se, b.tau2, b.q)
    metafor = _metafor_bcg_reml()
    assert b.estimate == pytest.approx(metafor["estimate"], rel=1e-9)
    assert b.se == pytest.approx(metafor["se"], rel=1e-9)


def test_numbers_as_stored_not_as_displayed(tmp_path):
    book = _workbook(
        tmp_path / "hr.xlsx",
        {"S": [["study", "log_estimate", "se"], ["a", -0.123456789012345, 0.2], ["b", 0.1, 0.3]]},
    )
    sheet = openpyxl.load_workbook(book)
    sheet["S"]["B2"].number_format = "0.0"  # the spreadsheet shows -0.1
    sheet.save(book)
    data = read_pool_csv(book, measure="HR")  # the first sheet by default
    assert data.values["log_estimate"].tolist() == [-0.123456789012345, 0.1]


def test_formula_cells_use_the_saved_value_or_are_refused(tmp_path):
    rows = [["study", "log_estimate", "se"], ["a", -0.2, "=0.1+0.1"], ["b", 0.1, 0.3]]
    book = _workbook(tmp_path / "f.xlsx", {"S": rows})
    with pytest.raises(InputError) as caught:
        read_pool_csv(book, measure="HR")
    assert str(caught.value).startswith(
        f"{book}, sheet 'S', row 2, column 'se': the cell holds a formula (=0.1+0.1)"
    )
    assert "without a saved value" in str(caught.value)
    # A spreadsheet saves the formula's value beside it (<f>…</f><v>…</v>): that value is used.
    saved = tmp_path / "saved.xlsx"
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(saved, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                text = data.decode("utf-8")
                text, n = re.subn(r"<f>0\.1\+0\.1</f><v\s*/?>(</v>)?", "<f>0.1+0.1</f><v>0.2</v>", text)
                assert n == 1
                data = text.encode("utf-8")
            dst.writestr(item, data)
    assert read_pool_csv(saved, measure="HR").values["se"].tolist() == [0.2, 0.3]


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        ("twelve", "n_treatment", "'twelve' is not a number"),
        (date(2021, 3, 4), "n_treatment", "the cell holds a date (2021-03-04"),
        (True, "events_treatment", "the cell holds TRUE where a number is expected"),
        ("#DIV/0!", "events_control", "the cell holds the spreadsheet error #DIV/0!"),
    ],
)
def test_bad_cells_are_one_line_errors_naming_sheet_row_and_column(tmp_path, cell, column, message):
    rows = [[_typed(c) for c in r] for r in _bcg_rows()[:5]]
    rows[3][1 + COUNTS.index(column)] = cell
    book = _workbook(tmp_path / "bad.xlsx", {"Trials": rows})
    with pytest.raises(InputError) as caught:
        read_pool_csv(book, measure="RR")
    text = str(caught.value)
    assert text.startswith(f"{book}, sheet 'Trials', row 4, column '{column}': "), text
    assert message in text and "\n" not in text


def test_missing_column_and_missing_sheet(tmp_path):
    rows = [r[:2] + r[3:] for r in _bcg_rows()[:3]]  # without n_treatment
    book = _workbook(tmp_path / "m.xlsx", {"Trials": [[_typed(c) for c in r] for r in rows]})
    missing = r"sheet 'Trials', row 1: no set of columns usable for RR .*lacks n_treatment\)$"
    with pytest.raises(InputError, match=missing):
        read_pool_csv(book, measure="RR")
    with pytest.raises(
        InputError, match=r"m\.xlsx: the workbook has no sheet 'Other' \(its sheets: Trials\)"
    ):
        read_pool_csv(f"{book}#Other", measure="RR")
    fake = tmp_path / "fake.xlsx"
    fake.write_text("study,log_estimate,se\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"not an Excel \.xlsx workbook"):
        read_pool_csv(fake, measure="HR")


def test_sheet_above_the_row_limit_is_refused(tmp_path, monkeypatch):
    # The documented limit is xlsx.MAX_ROWS (100,000 rows); lowered here so the test is quick.
    assert xlsx.MAX_ROWS == 100_000
    monkeypatch.setattr(xlsx, "MAX_ROWS", 10)
    rows = [["study", "log_estimate", "se"]] + [[f"s{i}", 0.1 * i, 0.2] for i in range(12)]
    book = _workbook(tmp_path / "big.xlsx", {"S": rows})
    with pytest.raises(InputError, match=r"big\.xlsx, sheet 'S': the sheet has more than 10 rows"):
        read_pool_csv(book, measure="HR")
    monkeypatch.setattr(xlsx, "MAX_UNPACKED_BYTES", 100)
    with pytest.raises(InputError, match="unpacks to"):
        read_pool_csv(book, measure="HR")


def test_cli_pool_reads_a_sheet(tmp_path):
    rows = _bcg_rows()
    book = _workbook(tmp_path / "bcg.xlsx", {"Trials": [[_typed(c) for c in r] for r in rows]})
    cmd = [sys.executable, "-m", "trialsynth", "pool", "--measure", "RR", "--method", "REML", "--json"]
    out = subprocess.run([*cmd, f"{book}#Trials"], capture_output=True, text=True, check=True)
    ref = subprocess.run(
        [*cmd, str(_csv(tmp_path / "bcg.csv", rows))], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)["estimate"] == json.loads(ref.stdout)["estimate"]
    bad = subprocess.run([*cmd, f"{book}#Nope"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "no sheet 'Nope'" in bad.stderr


# ----------------------------------------------------------------------- the review folder


def _as_workbooks(folder: Path, stems=("studies", "outcomes")) -> None:
    for stem in stems:
        with (folder / f"{stem}.csv").open(encoding="utf-8", newline="") as handle:
            rows = [[_typed(c) for c in r] for r in csv.reader(handle)]
        _workbook(folder / f"{stem}.xlsx", {stem: rows})
        (folder / f"{stem}.csv").unlink()


def test_review_folder_with_workbooks_equals_csv(tmp_path):
    folder = tmp_path / "crt"
    shutil.copytree(EXAMPLES / "imaging-guided-crt", folder)
    _as_workbooks(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        ours, reference = analyse_review(folder), analyse_review(EXAMPLES / "imaging-guided-crt")
    assert ours.review.files["outcomes.csv"] == f"{folder / 'outcomes.xlsx'}, sheet 'outcomes'"
    compared = 0
    for a, b in zip(reference.outcomes, ours.outcomes, strict=True):
        assert (a.primary is None) == (b.primary is None)
        if a.primary is not None:
            assert (a.primary.estimate, a.primary.se, a.primary.tau2) == (
                b.primary.estimate,
                b.primary.se,
                b.primary.tau2,
            )
            compared += 1
    assert compared == 8


def test_review_folder_errors_name_the_sheet(tmp_path):
    folder = tmp_path / "bcg"
    shutil.copytree(BCG, folder)
    _as_workbooks(folder, ("studies",))
    book = openpyxl.load_workbook(folder / "studies.xlsx")
    book["studies"]["D3"] = date(1949, 1, 1)  # year of the second study, turned into a date
    book.save(folder / "studies.xlsx")
    with pytest.raises(InputError) as caught:
        load_review(folder)
    assert str(caught.value).startswith(
        f"{folder / 'studies.xlsx'}, sheet 'studies', row 3, column 'year': the cell holds a date"
    )
    _csv(folder / "studies.csv", [["id"]])
    with pytest.raises(InputError, match=r"both studies\.csv and studies\.xlsx are in the folder"):
        load_review(folder)
