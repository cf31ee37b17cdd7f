"""Trials with identical effects: ``bias`` and ``influence`` give a result, never a traceback.

Found in review of issue 15: Kendall's τ_b divides by √((n₀ − n₁)(n₀ − n₂)), which is 0 when every
effect is the same (n₁ = n₀ tied pairs), and Hartung–Knapp scales the covariance of the pooled
estimate by q = 0, so Cook's distance would invert a zero matrix. In both cases the statistic is
not defined (R's ``cor.test`` gives NA): it is reported as null with a warning, and the rest of
the output stands.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from trialsynth.cli.main import main

ROWS = "study,estimate,se\nA,0.5,0.1\nB,0.5,0.2\nC,0.5,0.15\nD,0.5,0.3\n"


def _strict(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON (RFC 8259)")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("hk", [[], ["--hk"]])
def test_bias_on_identical_effects_reports_no_rank_correlation(tmp_path, hk):
    (tmp_path / "t.csv").write_text(ROWS, encoding="utf-8")
    result = CliRunner().invoke(main, ["bias", str(tmp_path / "t.csv"), "--measure", "MD", "--json", *hk])
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    assert doc["estimate"] == pytest.approx(0.5, rel=1e-12)  # every trial's effect
    assert doc["begg"]["tau"] is None and doc["begg"]["p_value"] is None
    assert "rank correlation is not defined" in result.stderr


def test_influence_with_hartung_knapp_on_identical_effects(tmp_path):
    (tmp_path / "t.csv").write_text(ROWS, encoding="utf-8")
    args = ["influence", str(tmp_path / "t.csv"), "--measure", "MD", "--hk", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    assert "Traceback" not in result.output
    # Leaving a trial out of identical effects leaves the estimate at 0.5.
    assert [row["estimate"] for row in doc["leave_one_out"]] == pytest.approx([0.5] * 4, rel=1e-12)
    # Cook's distance needs the inverse of the (here zero) covariance: not defined.
    assert all(row["cooks_distance"] is None for row in doc["influence"])


# ---------------------------------------------------------------- degenerate regression fits
# Egger's test with model "lm" regresses yᵢ/seᵢ on 1/seᵢ with a multiplicative dispersion
# factor; with identical effects the fit is exact, the residual variance is 0 and t = b/SE is
# 0/0. metafor 3.8.1's regtest(rep(0.5, 4), sei = c(.1, .2, .15, .3), model = "lm") prints
# t = 1.0297, p = 0.4114 with R's warning "essentially perfect fit: summary may be unreliable"
# (summary.lm): rounding noise. trialsynth printed t = 0.52 (its own noise). In exact arithmetic
# the statistic is not defined: reported as null with a warning; the limit estimate is the
# common effect with a zero-width interval (metafor: b = 0.5000, CI 0.5000 to 0.5000).


def test_egger_lm_on_identical_effects_is_null_not_rounding_noise(tmp_path):
    (tmp_path / "t.csv").write_text(ROWS, encoding="utf-8")
    result = CliRunner().invoke(main, ["bias", str(tmp_path / "t.csv"), "--measure", "MD", "--json"])
    assert result.exit_code == 0, result.output
    lm = _strict(result.stdout)["egger_lm"]
    assert lm["z"] is None and lm["p_value"] is None
    assert lm["slope_se"] == 0.0 and lm["df"] == 2
    assert lm["limit_estimate"] == pytest.approx(0.5, rel=1e-12)
    assert lm["limit_ci_lower"] == pytest.approx(0.5, rel=1e-12)
    assert lm["limit_ci_upper"] == pytest.approx(0.5, rel=1e-12)
    assert "regression test for funnel-plot asymmetry (lm): the effects lie exactly" in result.stderr


def test_egger_with_hartung_knapp_on_identical_effects_is_null(tmp_path):
    (tmp_path / "t.csv").write_text(ROWS, encoding="utf-8")
    args = ["bias", str(tmp_path / "t.csv"), "--measure", "MD", "--hk", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    assert doc["egger"]["z"] is None and doc["egger"]["p_value"] is None
    assert "regression test for funnel-plot asymmetry (rma): the effects lie exactly" in result.stderr


def test_exact_fit_tolerance_does_not_swallow_a_real_small_residual():
    # Effects that differ in the 7th significant digit (a trial reported to 7 digits) are a real
    # fit with a real t statistic: residuals ~1e-7 relative, far above the 1e-10 tolerance.
    from trialsynth.stats.bias import egger_test

    yi = [0.5, 0.5000001, 0.4999999, 0.5000002]
    vi = [0.01, 0.04, 0.0225, 0.09]
    res = egger_test(yi, vi, model="lm")
    assert math.isfinite(res.statistic) and math.isfinite(res.p_value)
    # Hand algebra: ordinary least squares of y/se on (1/se, 1) — the slope on 1/se is the limit
    # estimate, the intercept is the Egger bias; t = intercept / SE(intercept).
    se = np.sqrt(vi)
    X = np.column_stack([1 / se, np.ones(4)])
    z = np.asarray(yi) / se
    beta, *_ = np.linalg.lstsq(X, z, rcond=None)
    resid = z - X @ beta
    s2 = resid @ resid / 2
    cov = s2 * np.linalg.inv(X.T @ X)
    assert res.statistic == pytest.approx(beta[1] / math.sqrt(cov[1, 1]), rel=1e-6)


def test_meta_regression_with_hartung_knapp_on_identical_effects(tmp_path):
    # Before: numpy LinAlgError (a zero covariance handed to the omnibus test). Now the
    # coefficients' t statistics and the F test are null, with a warning; the estimates stand
    # (intercept 0.5, slope 0: hand algebra, every effect is 0.5).
    rows = "study,estimate,se,year\nA,0.5,0.1,2001\nB,0.5,0.2,2003\nC,0.5,0.15,2002\nD,0.5,0.3,2007\n"
    (tmp_path / "t.csv").write_text(rows, encoding="utf-8")
    args = ["pool", str(tmp_path / "t.csv"), "--measure", "MD", "--moderators", "year", "--hk", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    intercept, year = doc["coefficients"]
    assert intercept["estimate"] == pytest.approx(0.5, rel=1e-9)
    assert year["estimate"] == pytest.approx(0.0, abs=1e-9)
    assert all(c["statistic"] is None and c["p_value"] is None for c in (intercept, year))
    assert doc["qm"] is None and doc["qm_p_value"] is None
    assert "meta-regression: the effects lie exactly on the fitted line" in result.stderr


def test_equal_standard_errors_and_identical_tables_give_no_regression_test(tmp_path):
    # Every table the same: √V (Harbord) and the SE (Egger) are constants, so the regression has
    # no slope (metafor's regtest stops: "Model matrix no longer of full rank"). Before: a numpy
    # LinAlgError traceback. Now: null tests with warnings, and the rest of the output.
    rows = "study,events_treatment,n_treatment,events_control,n_control\n"
    rows += "".join(f"{s},2,50,5,50\n" for s in "ABCD")
    (tmp_path / "t.csv").write_text(rows, encoding="utf-8")
    result = CliRunner().invoke(main, ["bias", str(tmp_path / "t.csv"), "--measure", "OR", "--json"])
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    assert doc["egger"]["z"] is None and doc["egger_lm"]["z"] is None
    assert doc["harbord"]["t"] is None and doc["harbord"]["bias"] is None
    # The pooled OR of four identical tables is each table's OR: (2·45)/(48·5) (hand algebra).
    assert math.exp(doc["estimate"]) == pytest.approx(2 * 45 / (48 * 5), rel=1e-9)
    assert "every study has the same sei" in result.stderr
    assert "Harbord's test is not defined" in result.stderr
