"""Tests for trialsynth.io.poolcsv: reading pooling tables defensively."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.poolcsv import PoolInput, parse_pool_table, read_pool_csv

BINARY = "study,events_treatment,n_treatment,events_control,n_control\n"
CONTINUOUS = "study,mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control\n"
HR_PVALUE = "study,p_value,events,direction,n_treatment,n_control\n"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path so that messages name the file as 'trials.csv'."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text: str, name: str = "trials.csv") -> str:
    Path(name).write_bytes(text.encode("utf-8"))
    return name


def read(text: str, measure: str = "OR") -> PoolInput:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no unexpected warnings
        return read_pool_csv(write(text), measure=measure)


def error(text: str, measure: str = "OR") -> InputError:
    with pytest.raises(InputError) as info:
        read_pool_csv(write(text), measure=measure)
    return info.value


def assert_where(exc: InputError, row: int | None, column: str | None, file: str = "trials.csv") -> None:
    assert exc.file == file
    assert exc.row == row
    assert exc.column == column
    prefix = ", ".join(
        [file] + ([f"row {row}"] if row is not None else []) + ([f"column '{column}'"] if column else [])
    )
    assert str(exc).startswith(prefix + ": ")
    assert "\n" not in str(exc)


# --------------------------------------------------------------------------- happy paths


def test_binary_table(here: Path) -> None:
    data = read(BINARY + "A,10,100,20,100\nB,5,50,8,52\n", measure="or")
    assert data.source == "trials.csv"
    assert data.measure == "OR"
    assert data.labels == ("A", "B")
    assert data.kinds == ("binary", "binary")
    assert data.rows == (2, 3)
    assert set(data.values) == {"events_treatment", "n_treatment", "events_control", "n_control"}
    np.testing.assert_array_equal(data.values["events_control"], [20.0, 8.0])
    assert data.values["n_control"].dtype == np.float64
    assert data.direction == ("", "")
    assert data.p_bound.dtype == bool
    assert not data.p_bound.any()
    assert data.skipped == ()
    assert data.extra_columns == {}
    assert len(data) == 2


def test_arrays_are_read_only(here: Path) -> None:
    data = read(BINARY + "A,10,100,20,100\n")
    with pytest.raises(ValueError):
        data.values["n_treatment"][0] = 1.0
    with pytest.raises(ValueError):
        data.p_bound[0] = True


def test_mixed_forms_per_row_for_or(here: Path) -> None:
    text = (
        "study,events_treatment,n_treatment,events_control,n_control,estimate,ci_lower,ci_upper,log_estimate,se\n"
        "Counts,10,100,20,100,,,,,\n"
        "WithCI,,,,,0.60,0.40,0.90,,\n"
        "LogSE,,,,,,,,-0.51,0.2\n"
    )
    data = read(text)
    assert data.kinds == ("binary", "generic_ci", "generic_log_se")
    v = data.values
    np.testing.assert_array_equal(v["n_treatment"][:1], [100.0])
    assert math.isnan(v["n_treatment"][1]) and math.isnan(v["n_treatment"][2])
    assert v["estimate"][1] == 0.60 and math.isnan(v["estimate"][0]) and math.isnan(v["estimate"][2])
    np.testing.assert_array_equal(v["ci_level"][[0, 2]], [np.nan, np.nan])
    assert v["ci_level"][1] == 95.0  # the default, although there is no ci_level column
    assert v["log_estimate"][2] == -0.51 and v["se"][2] == 0.2
    assert math.isnan(v["se"][0]) and math.isnan(v["se"][1])


def test_mixed_forms_for_md(here: Path) -> None:
    text = (
        "study,mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control,estimate,se\n"
        "Means,5.1,1.2,40,6.0,1.3,41,,\n"
        "Diff,,,,,,,-0.8,0.3\n"
    )
    data = read(text, measure="MD")
    assert data.kinds == ("continuous", "generic_se")
    assert data.values["estimate"][1] == -0.8
    assert math.isnan(data.values["mean_treatment"][1])


def test_mixed_forms_for_hr(here: Path) -> None:
    text = (
        "study,estimate,ci_lower,ci_upper,ci_level,log_estimate,se,o_minus_e,v,p_value,events,direction,"
        "n_treatment,n_control\n"
        "CI,0.8,0.6,1.1,90,,,,,,,,,\n"
        "LogSE,,,,,-0.2,0.1,,,,,,,\n"
        "OME,,,,,,,-5.2,20.1,,,,,\n"
        "Exact,,,,,,,,,0.03,120,Treatment,200,210\n"
        "Bound,,,,,,,,,<0.001,80,control,150,149\n"
    )
    data = read(text, measure="HR")
    assert data.kinds == ("generic_ci", "generic_log_se", "hr_ome", "hr_pvalue", "hr_pvalue")
    assert data.direction == ("", "", "", "treatment", "control")
    assert data.p_bound.tolist() == [False, False, False, False, True]
    np.testing.assert_array_equal(data.values["p_value"][3:], [0.03, 0.001])
    assert data.values["ci_level"][0] == 90.0
    assert data.values["o_minus_e"][2] == -5.2 and data.values["v"][2] == 20.1
    np.testing.assert_array_equal(data.values["n_treatment"], [np.nan, np.nan, np.nan, 200.0, 150.0])


@pytest.mark.parametrize(
    ("measure", "header", "row", "kind"),
    [
        # binary before generic_ci
        ("OR", "events_treatment,n_treatment,events_control,n_control,estimate,ci_lower,ci_upper",
         "1,10,2,10,0.5,0.1,2", "binary"),
        # continuous before generic_ci
        ("SMD", "mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control,estimate,"
         "ci_lower,ci_upper", "1,1,10,2,1,10,-0.5,-1,0", "continuous"),
        # generic_ci before generic_log_se
        ("RR", "estimate,ci_lower,ci_upper,log_estimate,se", "0.5,0.2,0.9,-0.69,0.3", "generic_ci"),
        # generic_ci before generic_se
        ("MD", "estimate,ci_lower,ci_upper,se", "1,0,2,0.5", "generic_ci"),
        # generic_log_se before hr_ome
        ("HR", "log_estimate,se,o_minus_e,v", "-0.2,0.1,-3,15", "generic_log_se"),
        # hr_ome before hr_pvalue
        ("HR", "o_minus_e,v,p_value,events,direction,n_treatment,n_control",
         "-3,15,0.04,50,treatment,100,100", "hr_ome"),
    ],
)  # fmt: skip
def test_precedence_order(here: Path, measure: str, header: str, row: str, kind: str) -> None:
    data = read(f"study,{header}\nA,{row}\n", measure=measure)
    assert data.kinds == (kind,)


def test_binary_columns_ignored_for_md(here: Path) -> None:
    """Forms not valid for the measure are not used; their columns are kept as they are."""
    data = read("study,events_treatment,estimate,ci_lower,ci_upper\nA,7,1.5,0.5,2.5\n", measure="MD")
    assert data.kinds == ("generic_ci",)
    assert data.extra_columns == {"events_treatment": ("7",)}
    assert "events_treatment" not in data.values


def test_ci_level_given_and_default(here: Path) -> None:
    data = read("study,estimate,ci_lower,ci_upper,ci_level\nA,1,0.5,2,\nB,1,0.5,2,90\nC,1,0.5,2,99%\n")
    np.testing.assert_array_equal(data.values["ci_level"], [95.0, 90.0, 99.0])


@pytest.mark.parametrize("level", ["50", "100", "0.95", "120"])
def test_ci_level_out_of_range(here: Path, level: str) -> None:
    exc = error(f"study,estimate,ci_lower,ci_upper,CI_Level\nA,1,0.5,2,{level}\n")
    assert_where(exc, 2, "CI_Level")
    assert "between 50 and 100" in str(exc)


def test_column_names_case_insensitive_and_user_spelling_reported(here: Path) -> None:
    text = "Study , Events_Treatment,N_Treatment,events_control,n_control\nA,10,100,20,100\nB,1,0,2,10\n"
    exc = error(text)
    assert_where(exc, 3, "N_Treatment")


def test_whitespace_stripped_and_quoted_commas(here: Path) -> None:
    text = BINARY.replace("\n", ",note\n") + '"Smith, 2001", 10 ,100,20,100," a, b "\n'
    data = read(text)
    assert data.labels == ("Smith, 2001",)
    assert data.values["events_treatment"][0] == 10.0
    assert data.extra_columns == {"note": ("a, b",)}


def test_extra_columns_preserved_verbatim(here: Path) -> None:
    text = (
        "study,subgroup,year,dose,events_treatment,n_treatment,events_control,n_control,comment\n"
        'Ågren 1999a,High risk,1999,001,3,30,5,31,"said ""no"""\n'
        "Blank,,,,,,,,dropped\n"
        "Côté,Low risk,2001,1e3,4,40,6,41,\n"
    )
    with pytest.warns(TrialsynthWarning):
        data = read_pool_csv(write(text), measure="RR")
    assert data.labels == ("Ågren 1999a", "Côté")
    assert data.extra_columns == {
        "subgroup": ("High risk", "Low risk"),
        "year": ("1999", "2001"),
        "dose": ("001", "1e3"),
        "comment": ('said "no"', ""),
    }


def test_bom_is_handled(here: Path) -> None:
    Path("trials.csv").write_bytes(
        "\ufeffstudy,events_treatment,n_treatment,events_control,n_control\nA,1,10,2,10\n".encode()
    )
    data = read_pool_csv("trials.csv", measure="OR")
    assert data.labels == ("A",)
    assert data.extra_columns == {}


def test_crlf_and_trailing_commas(here: Path) -> None:
    data = read(BINARY.replace("\n", ",,\r\n") + "A,1,10,2,10,,\r\nB,1,10,2,10\r\n")
    assert data.labels == ("A", "B")
    assert data.rows == (2, 3)


def test_fully_blank_rows_are_ignored_and_rows_keep_spreadsheet_numbers(here: Path) -> None:
    data = read(BINARY + "A,1,10,2,10\n\n,,,,\nB,1,10,2,10\n")
    assert data.labels == ("A", "B")
    assert data.rows == (2, 5)


def test_quoted_newline_counts_as_one_row(here: Path) -> None:
    data = read(BINARY.replace("\n", ",note\n") + 'A,1,10,2,10,"two\nlines"\nB,1,10,2,10,\n')
    assert data.rows == (2, 3)
    assert data.extra_columns["note"] == ("two\nlines", "")


def test_parse_pool_table_directly() -> None:
    header = ["study", "outcome", "estimate", "ci_lower", "ci_upper"]
    rows = [["A", "mortality", "0.7", "0.5", "0.9"], ["B", "mortality", "1.1", "0.8", "1.4"]]
    data = parse_pool_table(header, rows, measure="RR", source="review/outcomes.csv", row_numbers=[7, 9])
    assert data.rows == (7, 9)
    assert data.extra_columns == {"outcome": ("mortality", "mortality")}
    with pytest.raises(InputError) as info:
        parse_pool_table(header, [["A", "m", "0.7", "0.9", "0.5"]], measure="RR", source="t")
    assert_where(info.value, 2, "ci_lower", file="t")


# --------------------------------------------------------------------------- blank cells


def test_row_with_blank_cells_is_left_out_with_warning(here: Path) -> None:
    text = BINARY + "A,10,100,20,100\nB,5,50,,52\nC,1,10,2,10\n"
    message = r"trials\.csv: study 'B' \(row 3\) has blank cells and was left out"
    with pytest.warns(TrialsynthWarning, match=message):
        data = read_pool_csv(write(text), measure="OR")
    assert data.labels == ("A", "C")
    assert data.rows == (2, 4)
    assert data.skipped == ("B",)


def test_no_study_with_complete_data(here: Path) -> None:
    with pytest.warns(TrialsynthWarning):
        exc = error(BINARY + "A,10,,20,100\nB,,,,5\n")
    assert_where(exc, None, None)
    assert "no study has complete data" in str(exc)


def test_partial_column_set_warns(here: Path) -> None:
    text = "study,estimate,ci_lower,ci_upper,p_value\nA,0.8,0.6,1.1,0.2\n"
    with pytest.warns(TrialsynthWarning, match=r"'p_value' are not used"):
        data = read_pool_csv(write(text), measure="HR")
    assert data.extra_columns == {"p_value": ("0.2",)}


# --------------------------------------------------------------------------- file-level errors


def test_missing_file(here: Path) -> None:
    with pytest.raises(InputError) as info:
        read_pool_csv("nope.csv", measure="OR")
    assert_where(info.value, None, None, file="nope.csv")


@pytest.mark.parametrize("text", ["", "\n\n", " , ,\n"])
def test_empty_file(here: Path, text: str) -> None:
    exc = error(text)
    assert_where(exc, None, None)
    assert "empty" in str(exc)


def test_header_only(here: Path) -> None:
    exc = error(BINARY + "\n,,,,\n")
    assert_where(exc, 1, None)
    assert "no studies" in str(exc)


def test_not_utf8(here: Path) -> None:
    latin1 = "Müller,1,10,2,10\n".encode("latin-1")
    Path("trials.csv").write_bytes((BINARY + "A,1,10,2,10\n").encode() + latin1)
    with pytest.raises(InputError) as info:
        read_pool_csv("trials.csv", measure="OR")
    assert_where(info.value, 3, None)
    assert "UTF-8" in str(info.value)


def test_missing_study_column(here: Path) -> None:
    exc = error("trial,events_treatment,n_treatment,events_control,n_control\nA,1,10,2,10\n")
    assert_where(exc, 1, None)
    assert "no 'study' column" in str(exc)


def test_semicolon_file_gets_a_hint(here: Path) -> None:
    exc = error("study;events_treatment;n_treatment\nA;1;10\n")
    assert "semicolons" in str(exc)


def test_duplicate_column_names(here: Path) -> None:
    exc = error("study,events_treatment,n_treatment,events_control,n_control,N_Control\nA,1,10,2,10,10\n")
    assert_where(exc, 1, "N_Control")
    assert "appears twice" in str(exc)


def test_row_with_more_cells_than_header(here: Path) -> None:
    exc = error(BINARY + "A,1,10,2,10\nB,1,10,2,10,7\n")
    assert_where(exc, 3, None)
    assert "6 cells" in str(exc) and "5 columns" in str(exc)


def test_unnamed_column_with_data(here: Path) -> None:
    exc = error("study,,events_treatment,n_treatment,events_control,n_control\nA,x,1,10,2,10\n")
    assert_where(exc, 2, None)
    assert "column 2" in str(exc)


def test_blank_study_label(here: Path) -> None:
    exc = error(BINARY + "A,1,10,2,10\n  ,1,10,2,10\n")
    assert_where(exc, 3, "study")
    assert "blank" in str(exc)


def test_duplicate_study_label(here: Path) -> None:
    exc = error(BINARY + "A,1,10,2,10\nB,1,10,2,10\n A ,3,10,2,10\n")
    assert_where(exc, 4, "study")
    assert "study 'A' appears twice (rows 2 and 4)" in str(exc)


def test_unknown_measure(here: Path) -> None:
    with pytest.raises(InputError) as info:
        read_pool_csv(write(BINARY + "A,1,10,2,10\n"), measure="logOR")
    assert "unknown measure 'logOR'" in str(info.value)
    assert "OR, RR, RD, MD, SMD, HR" in str(info.value)


@pytest.mark.parametrize(
    ("measure", "text", "listed"),
    [
        ("OR", CONTINUOUS + "A,1,1,10,2,1,10\n", "events_treatment, n_treatment, events_control, n_control"),
        ("HR", "study,estimate,se\nA,0.8,0.1\n", "log_estimate, se"),
        ("MD", BINARY + "A,1,10,2,10\n", "mean_treatment, sd_treatment"),
    ],
)
def test_no_usable_column_set(here: Path, measure: str, text: str, listed: str) -> None:
    exc = error(text, measure=measure)
    assert_where(exc, 1, None)
    assert f"no set of columns usable for {measure}" in str(exc)
    assert listed in str(exc)
    assert "estimate, ci_lower, ci_upper" in str(exc)


def test_no_usable_column_set_names_what_is_missing(here: Path) -> None:
    exc = error("study,events_treatment,n_treatment,events_control\nA,1,10,2\n")
    assert "lacks n_control" in str(exc)


# --------------------------------------------------------------------------- cell errors


@pytest.mark.parametrize("cell", ["abc", "inf", "-Infinity", "nan", "NaN", "1,5", "1_000", "10%", "1e999"])
def test_non_numeric_cell(here: Path, cell: str) -> None:
    exc = error(BINARY + f'A,1,10,2,10\nB,1,"{cell}",2,10\n')
    assert_where(exc, 3, "n_treatment")
    assert f"'{cell}'" in str(exc)


def test_non_numeric_message(here: Path) -> None:
    exc = error(BINARY + "A,abc,10,2,10\n")
    assert "'abc' is not a number" in str(exc)


def test_non_numeric_cell_is_an_error_even_if_unused(here: Path) -> None:
    text = "study,events_treatment,n_treatment,events_control,n_control,estimate,ci_lower,ci_upper\n"
    exc = error(text + "A,1,10,2,10,NR,,\n")
    assert_where(exc, 2, "estimate")


def test_unicode_minus_is_read(here: Path) -> None:
    data = read("study,log_estimate,se\nA,\u22120.5,0.2\n", measure="OR")
    assert data.values["log_estimate"][0] == -0.5


@pytest.mark.parametrize("cell", ["0", "-5", "10.5"])
def test_n_must_be_positive_whole(here: Path, cell: str) -> None:
    exc = error(BINARY + f"A,1,10,2,{cell}\n")
    assert_where(exc, 2, "n_control")
    assert "whole number above 0" in str(exc)


def test_n_written_as_float_is_accepted(here: Path) -> None:
    assert read(BINARY + "A,1,10.0,2,1e1\n").values["n_control"][0] == 10.0


@pytest.mark.parametrize("cell", ["-1", "2.5"])
def test_events_must_be_whole_and_not_negative(here: Path, cell: str) -> None:
    exc = error(BINARY + f"A,{cell},10,2,10\n")
    assert_where(exc, 2, "events_treatment")


def test_zero_events_accepted(here: Path) -> None:
    assert read(BINARY + "A,0,10,0,10\n").values["events_treatment"][0] == 0.0


def test_events_more_than_n(here: Path) -> None:
    exc = error(BINARY + "A,1,10,12,10\n")
    assert_where(exc, 2, "events_control")
    assert "12 events in the control arm is more than its 10 patients" in str(exc)


@pytest.mark.parametrize("cell", ["0", "-1.2"])
def test_sd_must_be_positive(here: Path, cell: str) -> None:
    exc = error(CONTINUOUS + f"A,1,1,10,2,{cell},10\n", measure="MD")
    assert_where(exc, 2, "sd_control")
    assert "standard deviation must be above 0" in str(exc)


@pytest.mark.parametrize("cell", ["0", "-0.1"])
def test_se_must_be_positive(here: Path, cell: str) -> None:
    exc = error(f"study,log_estimate,se\nA,0.1,{cell}\n", measure="RR")
    assert_where(exc, 2, "se")
    assert "standard error must be above 0" in str(exc)


def test_v_must_be_positive(here: Path) -> None:
    exc = error("study,o_minus_e,v\nA,-3,0\n", measure="HR")
    assert_where(exc, 2, "v")


def test_ci_lower_not_below_upper(here: Path) -> None:
    exc = error("study,estimate,ci_lower,ci_upper\nA,0.8,0.9,0.9\n", measure="RR")
    assert_where(exc, 2, "ci_lower")
    assert "is not below the upper limit" in str(exc)


@pytest.mark.parametrize("estimate", ["0.3", "1.5"])
def test_estimate_outside_ci(here: Path, estimate: str) -> None:
    exc = error(f"study,estimate,ci_lower,ci_upper\nA,{estimate},0.5,1.2\n", measure="OR")
    assert_where(exc, 2, "estimate")
    assert "outside its confidence interval" in str(exc)


def test_estimate_on_ci_limit_is_accepted(here: Path) -> None:
    assert read("study,estimate,ci_lower,ci_upper\nA,0.5,0.5,1.2\n").kinds == ("generic_ci",)


@pytest.mark.parametrize("measure", ["OR", "RR", "HR"])
def test_ratio_given_as_log(here: Path, measure: str) -> None:
    exc = error("study,estimate,ci_lower,ci_upper\nA,-0.51,-0.92,-0.11\n", measure=measure)
    assert_where(exc, 2, "estimate")
    assert "must be above 0" in str(exc) and "not its logarithm" in str(exc)


def test_ratio_lower_limit_zero(here: Path) -> None:
    exc = error("study,estimate,ci_lower,ci_upper\nA,0.5,0,1.1\n", measure="HR")
    assert_where(exc, 2, "ci_lower")


def test_negative_difference_is_fine(here: Path) -> None:
    data = read("study,estimate,ci_lower,ci_upper\nA,-0.51,-0.92,-0.11\n", measure="MD")
    assert data.values["estimate"][0] == -0.51


def test_risk_difference_in_percentage_points(here: Path) -> None:
    exc = error("study,estimate,se\nA,-5,1.2\n", measure="RD")
    assert_where(exc, 2, "estimate")
    assert "between -1 and 1" in str(exc)


@pytest.mark.parametrize("cell", ["0", "1.5", "-0.2", "<0", "<2"])
def test_p_value_out_of_range(here: Path, cell: str) -> None:
    exc = error(HR_PVALUE + f"A,{cell},50,treatment,100,100\n", measure="HR")
    assert_where(exc, 2, "p_value")


def test_p_value_of_one_is_accepted(here: Path) -> None:
    assert read(HR_PVALUE + "A,1,50,treatment,100,100\n", measure="HR").values["p_value"][0] == 1.0


@pytest.mark.parametrize("cell", ["<0.001", "< 0.001", "<=0.001", "≤0.001", "<.001", "≤ 1e-3"])
def test_p_value_upper_bound(here: Path, cell: str) -> None:
    data = read(HR_PVALUE + f"A,{cell},50,treatment,100,100\nB,0.2,40,control,90,90\n", measure="HR")
    assert data.p_bound.tolist() == [True, False]
    assert data.values["p_value"][0] == 0.001


@pytest.mark.parametrize("cell", [">0.05", "> 0.05", ">=0.05", "≥0.05"])
def test_p_value_lower_bound_is_an_error(here: Path, cell: str) -> None:
    exc = error(HR_PVALUE + f"A,{cell},50,treatment,100,100\n", measure="HR")
    assert_where(exc, 2, "p_value")
    assert "cannot be used" in str(exc)


def test_p_value_text(here: Path) -> None:
    exc = error(HR_PVALUE + "A,NS,50,treatment,100,100\n", measure="HR")
    assert_where(exc, 2, "p_value")
    assert "'NS' is not a p-value" in str(exc)


@pytest.mark.parametrize("cell", ["0", "12.5", "-3"])
def test_hr_events_positive_whole(here: Path, cell: str) -> None:
    exc = error(HR_PVALUE + f"A,0.03,{cell},treatment,100,100\n", measure="HR")
    assert_where(exc, 2, "events")


def test_hr_events_more_than_patients(here: Path) -> None:
    exc = error(HR_PVALUE + "A,0.03,201,treatment,100,100\n", measure="HR")
    assert_where(exc, 2, "events")


@pytest.mark.parametrize("cell", ["tx", "favours treatment", "experimental"])
def test_direction_must_be_treatment_or_control(here: Path, cell: str) -> None:
    exc = error(HR_PVALUE + f"A,0.03,50,{cell},100,100\n", measure="HR")
    assert_where(exc, 2, "direction")
    assert "'treatment' or 'control'" in str(exc)


def test_first_bad_cell_in_header_order_is_reported(here: Path) -> None:
    exc = error(BINARY + "A,x,0,-1,y\n")
    assert_where(exc, 2, "events_treatment")
