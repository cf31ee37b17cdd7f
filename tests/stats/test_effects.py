"""Effect sizes checked by hand algebra written out in each test."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from trialsynth.stats.effects import (
    binary_effects,
    continuous_effects,
    generic_from_ci,
    hedges_j,
    hr_from_o_minus_e,
    hr_from_p_value,
)


def test_odds_ratio_woolf_by_hand():
    # 12/50 events vs 20/48: OR = (12*28)/(38*20), var = 1/12 + 1/38 + 1/20 + 1/28.
    eff = binary_effects([12], [50], [20], [48], "OR")
    assert eff.yi[0] == pytest.approx(math.log(12 * 28 / (38 * 20)), rel=1e-14)
    assert eff.vi[0] == pytest.approx(1 / 12 + 1 / 38 + 1 / 20 + 1 / 28, rel=1e-14)
    assert not eff.corrected[0]


def test_zero_cell_gets_half_added_to_all_four_cells():
    # 0/20 vs 5/20: cells become 0.5, 20.5, 5.5, 15.5 for OR, RR and RD alike.
    a, b, c, d = 0.5, 20.5, 5.5, 15.5
    n1, n2 = a + b, c + d
    for measure, yi, vi in [
        ("OR", math.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d),
        ("RR", math.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2),
        ("RD", a / n1 - c / n2, (a / n1) * (1 - a / n1) / n1 + (c / n2) * (1 - c / n2) / n2),
    ]:
        eff = binary_effects([0], [20], [5], [20], measure)
        assert eff.corrected[0]
        assert eff.yi[0] == pytest.approx(yi, rel=1e-14)
        assert eff.vi[0] == pytest.approx(vi, rel=1e-14)


def test_double_zero_dropped_for_ratios_kept_for_rd():
    for measure in ("OR", "RR"):
        eff = binary_effects([0, 3], [10, 10], [0, 5], [12, 12], measure)
        assert eff.dropped.tolist() == [True, False]
        assert math.isnan(eff.yi[0])
    eff = binary_effects([0], [10], [0], [12], "RD")
    assert not eff.dropped[0]
    # 0.5/11 − 0.5/13 after the correction
    assert eff.yi[0] == pytest.approx(0.5 / 11 - 0.5 / 13, rel=1e-14)


def test_peto_by_hand():
    # a=5, n1=50, c=10, n2=50: E = 15*50/100 = 7.5, V = 15*85*50*50/(100^2*99)
    v = 15 * 85 * 50 * 50 / (100**2 * 99)
    eff = binary_effects([5], [50], [10], [50], "PETO")
    assert eff.yi[0] == pytest.approx((5 - 7.5) / v, rel=1e-14)
    assert eff.vi[0] == pytest.approx(1 / v, rel=1e-14)


def test_hedges_exact_j_by_gamma_function():
    for m in (2, 5, 10, 38, 200):
        exact = math.gamma(m / 2) / (math.sqrt(m / 2) * math.gamma((m - 1) / 2))
        assert hedges_j(m) == pytest.approx(exact, rel=1e-13)
    # Far beyond where the gamma function overflows, J tends to 1 − 3/(4m − 1).
    assert hedges_j(5000) == pytest.approx(1 - 3 / (4 * 5000 - 1), rel=1e-7)


def test_smd_metafor_and_revman_profiles():
    m1, s1, n1, m2, s2, n2 = 10.0, 4.0, 12, 8.0, 5.0, 15
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    d = (m1 - m2) / sp
    m = n1 + n2 - 2
    g = d * math.gamma(m / 2) / (math.sqrt(m / 2) * math.gamma((m - 1) / 2))
    eff = continuous_effects([m1], [s1], [n1], [m2], [s2], [n2], "SMD")
    assert eff.yi[0] == pytest.approx(g, rel=1e-13)
    assert eff.vi[0] == pytest.approx(1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2)), rel=1e-13)
    rev = continuous_effects([m1], [s1], [n1], [m2], [s2], [n2], "SMD", profile="revman")
    g_rev = d * (1 - 3 / (4 * m - 1))
    assert rev.yi[0] == pytest.approx(g_rev, rel=1e-13)
    assert rev.vi[0] == pytest.approx(1 / n1 + 1 / n2 + g_rev**2 / (2 * (n1 + n2 - 3.94)), rel=1e-13)


def test_mean_difference_unequal_variances():
    eff = continuous_effects([5.0], [2.0], [20], [3.0], [3.0], [30], "MD")
    assert eff.yi[0] == 2.0
    assert eff.vi[0] == pytest.approx(4 / 20 + 9 / 30, rel=1e-14)


def test_hazard_ratio_from_ci_is_log_scale():
    # STARTER: HR 0.48 (95% CI 0.28–0.82): yi = ln 0.48, SE = (ln 0.82 − ln 0.28)/(2·1.959964)
    eff = generic_from_ci([0.48], [0.28], [0.82], ratio=True)
    z = NormalDist().inv_cdf(0.975)
    assert eff.yi[0] == pytest.approx(math.log(0.48), rel=1e-14)
    assert eff.vi[0] == pytest.approx(((math.log(0.82) - math.log(0.28)) / (2 * z)) ** 2, rel=1e-12)
    eff90 = generic_from_ci([0.48], [0.30], [0.77], ratio=True, level=90)
    z90 = NormalDist().inv_cdf(0.95)
    assert eff90.vi[0] == pytest.approx(((math.log(0.77) - math.log(0.30)) / (2 * z90)) ** 2, rel=1e-12)


def test_tierney_p_value_method_by_hand():
    # Tierney et al., Trials 2007;8:16: V = E·R/(1+R)², O − E = ±z√V, ln HR = (O − E)/V.
    p, events, n_t, n_c = 0.006, 67, 110, 77
    ratio = n_t / n_c
    v = events * ratio / (1 + ratio) ** 2
    z = NormalDist().inv_cdf(1 - p / 2)
    ome = -z * math.sqrt(v)  # favours treatment: fewer events than expected
    eff = hr_from_p_value([p], [events], [True], [n_t], [n_c])
    assert eff.yi[0] == pytest.approx(ome / v, rel=1e-12)
    assert eff.vi[0] == pytest.approx(1 / v, rel=1e-14)
    against = hr_from_p_value([p], [events], [False], [n_t], [n_c])
    assert against.yi[0] == pytest.approx(-ome / v, rel=1e-12)
    # With equal arms V = E/4.
    eff_eq = hr_from_p_value([0.05], [100], [True], [50], [50])
    assert eff_eq.vi[0] == pytest.approx(4 / 100, rel=1e-14)


def test_o_minus_e_and_v():
    eff = hr_from_o_minus_e([-5.2], [20.0])
    assert eff.yi[0] == pytest.approx(-0.26)
    assert eff.vi[0] == pytest.approx(0.05)


def test_stacked_shapes_are_elementwise():
    a = np.array([[1, 2], [3, 4]])
    n = np.full((2, 2), 20)
    eff = binary_effects(a, n, a + 1, n, "OR")
    for i in range(2):
        for j in range(2):
            one = binary_effects([a[i, j]], [20], [a[i, j] + 1], [20], "OR")
            assert eff.yi[i, j] == one.yi[0]
