"""The command line as a user runs it: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

JSON_KEYS = {
    "k", "measure", "method", "hk", "estimate", "se", "ci_lower", "ci_upper", "p_value", "tau2",
    "tau2_ci_lower", "tau2_ci_upper", "i2", "h2", "q", "q_p_value", "pi_lower", "pi_upper", "converged",
    "studies",
}  # fmt: skip

BINARY = """study,events_treatment,n_treatment,events_control,n_control
A,12,50,20,48
B,0,30,4,30
C,7,60,9,61
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trialsynth", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


@pytest.fixture
def binary_csv(tmp_path: Path) -> Path:
    path = tmp_path / "trials.csv"
    path.write_text(BINARY)
    return path


def test_pool_json_has_documented_keys(binary_csv):
    out = run("pool", str(binary_csv), "--measure", "OR", "--method", "REML", "--hk", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert JSON_KEYS <= data.keys()
    assert data["k"] == 3 and data["method"] == "REML" and data["hk"] is True
    assert [s["study"] for s in data["studies"]] == ["A", "B", "C"]
    assert math.isclose(sum(s["weight"] for s in data["studies"]), 100.0, rel_tol=1e-12)
    # Study A by hand: ln(12·28/(38·20)) on the log scale.
    assert math.isclose(data["studies"][0]["effect"], math.log(12 * 28 / (38 * 20)), rel_tol=1e-12)
    # The zero cell in study B is corrected, and the user is told on stderr.
    assert "continuity correction" in out.stderr and "B" in out.stderr


def test_fixed_effect_fields_are_null(binary_csv):
    data = json.loads(run("pool", str(binary_csv), "--measure", "OR", "--method", "MH", "--json").stdout)
    for key in ("tau2", "tau2_ci_lower", "tau2_ci_upper", "pi_lower", "pi_upper"):
        assert data[key] is None
    assert data["i2"] is not None


def test_table_output_is_back_transformed(binary_csv):
    out = run("pool", str(binary_csv), "--measure", "OR", "--method", "DL")
    assert out.returncode == 0
    # Study A's OR = 336/760 = 0.44, printed on the natural scale.
    assert "0.44" in out.stdout
    assert "DerSimonian–Laird" in out.stdout


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        (BINARY.replace("A,12,50", "A,60,50"), ("--measure", "OR"), "row 2, column 'events_treatment'"),
        (BINARY.replace("C,7,60", "C,seven,60"), ("--measure", "OR"), "row 4, column 'events_treatment'"),
        (BINARY.replace("n_control", "n_ctrl"), ("--measure", "OR"), "n_control"),
        ("", ("--measure", "OR"), "empty"),
        (BINARY, ("--measure", "MD", "--method", "MH"), "MH"),
        (
            "study,estimate,ci_lower,ci_upper\nX,0.6,0.7,0.9\n",
            ("--measure", "HR"),
            "row 2",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, content, args, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = run("pool", str(path), *args)
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1
    assert "Traceback" not in out.stderr
    assert "bad.csv" in lines[0]
    assert expected.lower() in lines[0].lower()


def test_blank_row_is_left_out_with_warning(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(BINARY + "D,,40,3,40\n")
    out = run("pool", str(path), "--measure", "RR", "--method", "DL", "--json")
    assert out.returncode == 0
    assert json.loads(out.stdout)["k"] == 3
    assert "'D'" in out.stderr


def test_help_explains_options():
    out = run("pool", "--help")
    assert out.returncode == 0
    for option in (
        "--measure",
        "--method",
        "--hk",
        "--json",
        "--level",
        "--pi",
        "--add",
        "--to",
        "--profile",
    ):
        assert option in out.stdout
    assert run("--help").returncode == 0


def test_one_study_is_not_pooled(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("study,estimate,ci_lower,ci_upper\nSTARTER,0.48,0.28,0.82\n")
    out = run("pool", str(path), "--measure", "HR", "--method", "DL", "--json")
    data = json.loads(out.stdout)
    assert data["k"] == 1 and data["pooled"] is False
    # metafor's convention at k = 1 (rma(0.3, 0.04, method="DL") in metafor 3.8-1 gives
    # tau2 = 0, I2 = 0, H2 = 1, QE = 0, QEp = 1); docs/conventions.md.
    assert (data["tau2"], data["i2"], data["h2"], data["q"], data["q_p_value"]) == (0.0, 0.0, 1.0, 0.0, 1.0)
    assert data["tau2_ci_lower"] is None and data["pi_lower"] is None
    assert math.isclose(data["estimate"], math.log(0.48), rel_tol=1e-14)
    assert "nothing was pooled" in out.stderr


def test_hazard_ratio_from_p_value_bound_warns_conservative(tmp_path):
    path = tmp_path / "hr.csv"
    path.write_text(
        "study,p_value,events,direction,n_treatment,n_control\n"
        "T1,0.006,67,treatment,110,77\n"
        "T2,<0.001,120,treatment,200,200\n"
    )
    out = run("pool", str(path), "--measure", "HR", "--method", "FE", "--json")
    assert out.returncode == 0, out.stderr
    assert "conservative" in out.stderr and "T2" in out.stderr
    data = json.loads(out.stdout)
    # T2 by hand at the bound: V = 120·1/(1+1)² = 30, z = Φ⁻¹(1 − 0.0005), ln HR = −z/√30.
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - 0.0005)
    assert math.isclose(data["studies"][1]["effect"], -z / math.sqrt(30), rel_tol=1e-12)
    assert math.isclose(data["studies"][1]["variance"], 1 / 30, rel_tol=1e-12)
