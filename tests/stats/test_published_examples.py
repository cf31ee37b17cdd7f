"""Reference tests against published worked examples (numbers as printed in the papers).

Tolerance: half a unit in the last printed digit, since the papers print rounded values.
"""

from __future__ import annotations

import numpy as np
import pytest

from trialsynth.stats.effects import binary_effects, continuous_effects
from trialsynth.stats.meta import meta_analysis

# Normand SL. Meta-analysis: formulating, evaluating, combining, and reporting.
# Stat Med 1999;18:321-359. Example 1: prophylactic lidocaine after myocardial infarction
# (Hine et al. 1989), deaths; Table III (p. 330) and Table VII (p. 349), in percentage points.
HINE_N1 = np.array([39, 44, 107, 103, 110, 154])
HINE_N2 = np.array([43, 44, 110, 100, 106, 146])
HINE_A = np.array([2, 4, 6, 7, 7, 11])
HINE_C = np.array([1, 4, 4, 5, 3, 4])

# Example 2: length of hospital stay of stroke patients, specialist vs routine care;
# Table VIII (p. 351) and Table IX (p. 352). Means, SDs and sizes per arm.
NORMAND_N1 = np.array([155, 31, 75, 18, 8, 57, 34, 110, 60])
NORMAND_M1 = np.array([55, 27, 64, 66, 14, 19, 52, 21, 30])
NORMAND_S1 = np.array([47, 7, 17, 20, 8, 7, 45, 16, 27])
NORMAND_N2 = np.array([156, 32, 71, 18, 13, 52, 33, 183, 52])
NORMAND_M2 = np.array([75, 29, 119, 137, 18, 18, 41, 31, 23])
NORMAND_S2 = np.array([64, 4, 29, 48, 11, 4, 34, 27, 20])


def half_unit(decimals: int) -> float:
    return 0.5 * 10.0**-decimals + 1e-12


def test_normand1999_table3_risk_differences():
    eff = binary_effects(HINE_A, HINE_N1, HINE_C, HINE_N2, "RD")
    np.testing.assert_allclose(
        eff.yi * 100, [2.8026, 0.0000, 1.9711, 1.7961, 3.5334, 4.4031], atol=half_unit(4)
    )
    np.testing.assert_allclose(
        eff.vi * 100**2, [17.7575, 37.5657, 8.1323, 10.8998, 8.0114, 6.1320], atol=half_unit(4)
    )


@pytest.mark.parametrize("method", ["FE", "REML", "DL"])
def test_normand1999_table7_pooled_risk_difference(method):
    eff = binary_effects(HINE_A, HINE_N1, HINE_C, HINE_N2, "RD")
    res = meta_analysis(eff.yi * 100, eff.vi * 100**2, measure="RD", method=method)
    assert res.estimate == pytest.approx(2.94, abs=half_unit(2))
    assert res.ci_lower == pytest.approx(0.4, abs=half_unit(1))
    assert res.ci_upper == pytest.approx(5.5, abs=half_unit(1))
    if method != "FE":
        assert res.tau2 == pytest.approx(0.0, abs=half_unit(3))


def _normand_md():
    # Normand analyses the mean difference with the pooled SD in both arms (Table VIII).
    sp = np.sqrt(
        ((NORMAND_N1 - 1) * NORMAND_S1**2 + (NORMAND_N2 - 1) * NORMAND_S2**2) / (NORMAND_N1 + NORMAND_N2 - 2)
    )
    return continuous_effects(NORMAND_M1, sp, NORMAND_N1, NORMAND_M2, sp, NORMAND_N2, "MD")


def test_normand1999_table8_mean_differences():
    eff = _normand_md()
    np.testing.assert_allclose(eff.yi, [-20, -2, -55, -71, -4, 1, 11, -10, 7], atol=1e-12)
    np.testing.assert_allclose(
        eff.vi, [40.59, 2.05, 15.28, 150.22, 20.19, 1.22, 95.38, 8.03, 20.69], atol=half_unit(2)
    )


@pytest.mark.parametrize(
    ("method", "estimate", "lower", "upper", "tau2"),
    [
        ("FE", -3.49, -5.03, -1.96, None),
        ("DL", -14.10, -24.45, -3.75, 218.72),
        ("REML", -15.12, -32.67, 2.43, 685.20),
    ],
)
def test_normand1999_table9_pooled_mean_difference(method, estimate, lower, upper, tau2):
    eff = _normand_md()
    res = meta_analysis(eff.yi, eff.vi, measure="MD", method=method)
    assert res.estimate == pytest.approx(estimate, abs=half_unit(2))
    assert res.ci_lower == pytest.approx(lower, abs=half_unit(2))
    assert res.ci_upper == pytest.approx(upper, abs=half_unit(2))
    if tau2 is not None:
        assert res.tau2 == pytest.approx(tau2, abs=half_unit(2))
