"""``trialsynth nma``: the command line against metafor's fits (tests/fixtures/network, written by
validation/network_fixtures.R) and its one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialsynth.cli import main

from ..stats.test_network import CASES, _close

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "network" / "data"


def _run(args):
    return CliRunner().invoke(main, args)


def _json(args):
    result = _run(args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "case_id, file, extra",
    [
        ("hasselblad1998_REML", "hasselblad1998_arms.csv", ["--to", "all"]),
        ("hasselblad1998_ML", "hasselblad1998_arms.csv", ["--to", "all"]),
        ("senn2013_REML", "senn2013_arms.csv", []),
        ("senn2013_REML", "senn2013_contrasts.csv", []),
        ("senn2013_FE", "senn2013_contrasts.csv", []),
    ],
)
def test_nma_json_matches_metafor(case_id, file, extra):
    case = next(c for c in CASES if c["id"] == case_id)
    args = ["nma", str(DATA / file), "--measure", case["measure"], "--reference", case["reference"]]
    got = _json([*args, "--method", case["method"], "--draws", "2000", *extra, "--json"])
    want = case["expected"]
    assert got["reference"] == case["reference"] and got["treatments"] == case["treatments"]
    if case["method"] == "FE":
        assert got["tau2"] is None
    else:
        assert _close(got["tau2"], want["tau2"])
    league = {(w["treatment_1"], w["treatment_2"]): w for w in want["league"]}
    assert len(got["effects"]) == len(case["treatments"]) - 1
    for e in got["effects"]:
        w = league[(e["treatment"], case["reference"])]
        for key in ("estimate", "se", "ci_lower", "ci_upper"):
            assert _close(e[key], w[key]), (e["treatment"], key)
    assert len(got["league_table"]) == len(league)
    for row in got["league_table"]:
        w = league[(row["treatment_1"], row["treatment_2"])]
        assert _close(row["estimate"], w["estimate"]) and _close(row["se"], w["se"])
    assert set(got["p_scores"]) == set(case["treatments"])
    assert math.isclose(sum(got["p_scores"].values()), len(case["treatments"]) / 2, rel_tol=1e-12)
    dbt = got["inconsistency"]["design_by_treatment"]
    assert (
        _close(dbt["chi2"], want["design_by_treatment"]["chi2"])
        and dbt["df"] == want["design_by_treatment"]["df"]
    )
    assert _close(got["inconsistency"]["q"]["total"], want["QE"])
    assert len(got["inconsistency"]["node_splitting"]) == len(want["node_splits"])


def test_nma_text_and_figures(tmp_path):
    result = _run(
        [
            "nma",
            str(DATA / "hasselblad1998_arms.csv"),
            "--measure",
            "OR",
            "--reference",
            "no_contact",
            "--to",
            "all",
            "--better",
            "higher",
            "--draws",
            "1000",
            "--figures",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "OR vs no_contact" in result.stdout and "design-by-treatment" in result.stdout
    for stem in ("network", "network_forest", "league_table"):
        for fmt in ("svg", "png", "pdf"):
            assert (tmp_path / f"{stem}.{fmt}").stat().st_size > 0


def test_zero_cells_warn_on_one_line(tmp_path):
    path = tmp_path / "arms.csv"
    path.write_text("study,treatment,events,n\na,A,0,20\na,B,4,20\nb,A,3,30\nb,C,5,30\nc,B,2,25\nc,C,6,25\n")
    result = _run(["nma", str(path), "--measure", "OR", "--draws", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: continuity correction 0.5 added to every arm of 1 study with a zero cell: a"
        in result.stderr
    )
    assert json.loads(result.stdout)["corrections"] == ["a"]


@pytest.mark.parametrize(
    "text, measure, words",
    [
        ("study,treatment,events,n\na,A,3,20\na,B,,20\n", "OR", "row 3, column 'events': the cell is blank"),
        (
            "study,treatment,events,n\na,A,30,20\na,B,3,20\n",
            "OR",
            "row 2, column 'events': 30 events among 20",
        ),
        ("study,treatment,mean,sd,n\na,A,1,-2,20\na,B,1,2,20\n", "MD", "row 2, column 'sd'"),
        ("study,treatment,mean,sd,n\na,A,1,2,20\na,A,1,2,20\n", "MD", "row 3: the same arm as row 2"),
        ("study,treatment,events\na,A,3\na,B,4\n", "OR", "missing column(s) n"),
        ("study,treatment,events,n\na,A,3,20\na,B,4,20\n", "HR", "contrast rows"),
        ("study,treatment_1,treatment_2,estimate,se\na,B,A,0.3,0.2\n", "OR", "log_estimate"),
        ("study,treatment_1,treatment_2,estimate,se\na,B,A,0.3,0.2\nb,C,D,0.1,0.2\n", "MD", "not connected"),
        ("study,treatment_1,treatment_2,estimate,se\na,B,A,0.3,0.2\na,C,A,0.1,0.2\n", "MD", "every pair"),
        ("study,treatment,treatment_1\na,A,B\n", "MD", "keep one layout"),
        (
            "study,treatment,mean,sd,n\na,A,1,2,20\na,B,x,2,20\n",
            "MD",
            "row 3, column 'mean': 'x' is not a number",
        ),
    ],
)
def test_input_errors_are_one_line_naming_file_row_column(tmp_path, text, measure, words):
    path = tmp_path / "net.csv"
    path.write_text(text, encoding="utf-8")
    result = _run(["nma", str(path), "--measure", measure, "--draws", "0"])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith(f"error: {path}") and words in message, message
    assert "\n" not in message and "Traceback" not in message


def test_unknown_reference_is_an_error():
    result = _run(["nma", str(DATA / "senn2013_arms.csv"), "--measure", "MD", "--reference", "aspirin"])
    assert result.exit_code == 2
    assert "reference treatment 'aspirin' is not in the network" in result.stderr


def test_hr_contrast_rows_are_fitted_as_log_ratios():
    """Hazard ratios come as contrast rows (log_estimate, se); the model is the same as for any log ratio,
    so the simulated risk-ratio comparisons read as HR give metafor's fit of them."""
    case = next(c for c in CASES if c["id"] == "simulated_rr_REML")
    path = str(DATA / "simulated_rr_contrasts.csv")
    got = _json(["nma", path, "--measure", "HR", "--reference", "A", "--draws", "0", "--json"])
    assert got["measure"] == "HR" and got["scale"] == "log"
    assert _close(got["tau2"], case["expected"]["tau2"])
    for e, b in zip(got["effects"], case["expected"]["coefficients"], strict=True):
        assert _close(e["estimate"], b)
    assert all(v is None for v in got["participants"].values())  # no arm sizes in comparison rows
    result = _run(["nma", str(DATA / "simulated_rr_arms.csv"), "--measure", "HR", "--draws", "0"])
    assert result.exit_code == 2 and "contrast rows" in result.stderr
