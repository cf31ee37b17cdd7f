"""Baujat and Galbraith (radial) plot coordinates against metafor 3.8's baujat() and radial().

tests/fixtures/metafor_figures/ is written by validation/metafor_fixtures_figures.R (``make
fixtures``): public metadat datasets, the exact R call of each case (``r_call``) and the x, y
that metafor's baujat() and radial() returned. Each case runs ``trialsynth influence --json``
in-process and compares every coordinate, with the tolerances of tests/test_against_metafor.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.stats.test_against_metafor import ABS_TOL, REL_TOL
from tests.stats.test_analyses_against_metafor import _compare, rerun_fixture_script
from trialsynth.cli import main
from trialsynth.stats.diagnostics import baujat, radial

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "metafor_figures"
CASES = json.loads((FIXTURES / "cases.json").read_text())["cases"]
SCRIPT = ROOT / "validation" / "metafor_fixtures_figures.R"


def _influence_json(case) -> dict:
    args = [
        "influence",
        str(FIXTURES / case["input"]),
        "--measure",
        case["measure"],
        "--method",
        case["method"],
    ]
    if case["hk"]:
        args.append("--hk")
    if case["moderators"]:
        args += ["--moderators", case["moderators"]]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_baujat_and_radial_coordinates_match_metafor(case):
    got = _influence_json(case)
    problems: list[str] = []
    _compare(got, case["expected"], case["id"], problems)
    assert not problems, f"{case['id']} ({case['citation']}):\n  " + "\n  ".join(problems[:15])
    if case["moderators"]:
        assert got["radial"] is None
    else:
        # The pooled line of the Galbraith plot has the model's estimate as its slope.
        assert got["radial"]["estimate"] == pytest.approx(case["estimate"], rel=REL_TOL, abs=ABS_TOL)


def test_fixed_effect_baujat_x_sums_to_cochrans_q():
    # Hand algebra: under a fixed-effect model Σ (yᵢ − θ̂)²/vᵢ is Cochran's Q by definition.
    yi = np.array([0.1, -0.3, 0.5, 0.2])
    vi = np.array([0.04, 0.09, 0.05, 0.02])
    w = 1 / vi
    theta = (w * yi).sum() / w.sum()
    q = (w * (yi - theta) ** 2).sum()
    b = baujat(yi, vi, method="FE")
    assert sum(b.x) == pytest.approx(q, rel=1e-12)
    # y for study 1: the FE estimate without it, its variance 1/Σw₍₋₁₎.
    w1 = w[1:]
    theta1 = (w1 * yi[1:]).sum() / w1.sum()
    assert b.y[0] == pytest.approx((theta1 - theta) ** 2 * w1.sum(), rel=1e-12)


def test_radial_points_lie_on_lines_of_slope_yi_and_band_is_z_crit():
    r = radial([0.4, -0.2], [0.04, 0.25], estimate=0.1, ci_lower=-0.2, ci_upper=0.4, tau2=0.05, level=95)
    assert r.x == pytest.approx([1 / math.sqrt(0.09), 1 / math.sqrt(0.30)])
    assert [z / x for x, z in zip(r.x, r.z, strict=True)] == pytest.approx([0.4, -0.2])
    assert r.z_crit == pytest.approx(1.959963984540054, rel=1e-12)  # qnorm(0.975)


def test_live_figures_fixtures_against_R(tmp_path):
    rerun_fixture_script(SCRIPT, CASES, tmp_path)
