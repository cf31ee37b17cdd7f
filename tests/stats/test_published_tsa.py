"""Trial sequential analysis against numbers printed in publications.

Each test quotes its source and the printed digits; the tolerance is the printed precision.

* PLoS One 2013;8(9):e74558 (doi:10.1371/journal.pone.0074558), legend of Figure 4, a TSA
  (Copenhagen Trial Unit's TSA program) of 8 trials of vitamin A versus placebo: "The
  diversity-adjusted required information size (DARIS = 48,417 participants) was based on a
  proportion of deaths of 10% in the placebo group; a relative risk reduction of 15% ...; an
  alpha of 5%; a beta of 20%; and a diversity of 76%. ... Had we used a relative risk reduction
  of 5% as planned, the DARIS would have been 456,748 participants."

  Both sizes come from the same meta-analysis, so the same D² divides both: their ratio is the
  ratio of the unadjusted sizes, whatever D² was, which tests the binary RIS formula
  (Wetterslev et al., J Clin Epidemiol 2008;61:64–75) against the TSA program itself. The
  printed D² (76 %) then checks the diversity adjustment RIS/(1 − D²).

* Thorlund K, Anema A, Mills E. Interpreting meta-analysis according to the adequacy of sample
  size. Clin Epidemiol 2010;2:57–66 (doi:10.2147/CLEP.S9242), notes to Figure 4 (p. 63 of the
  PMC version, PMC2943189): "the information size required for moderate evidence (19,920
  patients). The information size calculation was based on the assumption of a 5% incidence rate
  in the control group, and a 25% relative risk reduction", with "alpha =1%, beta =10%". The
  notes do not name a heterogeneity adjustment (the abstract reports I² = 0 %); the printed size
  is the unadjusted size of Wetterslev et al. 2008 inflated by 1/(1 − 0.20) to the printed
  precision, and by no other whole-percent allowance. This checks the z-quantiles at α = 1 %,
  β = 10 % and the pooled variance p̄(1 − p̄), which the competing unpooled form would miss.

* Wetterslev J, Jakobsen JC, Gluud C. Trial Sequential Analysis in systematic reviews with
  meta-analysis. BMC Med Res Methodol 2017;17:39 (doi:10.1186/s12874-017-0315-7), legend of
  Figure 1a: "The required information size to detect or reject the 17% relative risk reduction
  found in the random-effects model meta-analysis is calculated to 977 participants using the
  diversity found in the meta-analysis of 23%, mortality in the control groups of 60%, with a
  double sided α of 0.05 and a β of 0.20". The three inputs are printed as whole percentages of
  values estimated from the data, so this is a consistency check of RIS/(1 − D²) within their
  rounding intervals (about ±8 % on the size), not a digit-for-digit one.

* Reboussin DM, DeMets DL, Kim K, Lan KKG. Computations for group sequential boundaries using the
  Lan–DeMets spending function method. Control Clin Trials 2000;21:190–207: the example of five
  equally spaced looks at two-sided α = 0.05 with O'Brien–Fleming-type spending, as reproduced
  by the ld98 port in the ldbounds vignette (Casper & Perez, "An R package for group sequential
  boundaries using alpha spending functions", section 5.1): boundaries ±4.8769, 3.3569, 2.6803,
  2.2898, 2.0310 and cumulative exit probabilities 1.0777e-06, 7.8830e-04, 7.6161e-03,
  2.4424e-02, 5.0000e-02. The exit probabilities pin the spending convention (α/2 per side:
  α_s(t) = 2 − 2Φ(z_{1−α/4}/√t)). ld98's second boundary, 3.3569, is 1.1e-4 below the exact
  value 3.35701 (quadrature below; rpact gives 3.357011922), so that one look is checked against
  the exact integral and the 3-decimal DeMets & Lan (1994) value 3.357 instead.

Published Lan–DeMets boundaries (DeMets & Lan, Stat Med 1994;13:1341–1352: five equally spaced
looks at two-sided α = 0.05) are also checked in tests/test_tsa.py, with rpact and exact integrals.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, special, stats

from trialsynth.stats.tsa import alpha_spending_obf, efficacy_boundaries, required_information_size

# PLoS One 2013;8(9):e74558, Figure 4 legend: whole participants.
DARIS_RRR15 = 48_417
DARIS_RRR5 = 456_748
PRINTED_D2 = 0.76  # "a diversity of 76%": whole percent, so D² lies in [0.755, 0.765)


def _ris(rrr: float) -> float:
    return required_information_size(alpha=0.05, power=0.80, control_risk=0.10, rrr=rrr)


def test_plos_one_2013_figure_4_ratio_of_information_sizes():
    ours = _ris(0.05) / _ris(0.15)
    printed = DARIS_RRR5 / DARIS_RRR15
    # Tolerance of the printed precision: the program works in whole participants, so each of
    # the two unadjusted sizes and each printed DARIS may be off by up to one participant.
    tol = 1 / _ris(0.15) + 1 / _ris(0.05) + 1 / DARIS_RRR15 + 1 / DARIS_RRR5
    assert abs(ours / printed - 1) < tol, (ours, printed)
    # Our unadjusted sizes, by hand: p̄(1 − p̄)/δ² with p̄ = 0.0925, δ = 0.015 and p̄ = 0.0975,
    # δ = 0.005, times 4 (z_0.975 + z_0.80)².
    zsum2 = (1.959963984540054 + 0.8416212335729143) ** 2
    assert math.isclose(_ris(0.15), 4 * zsum2 * 0.0925 * 0.9075 / 0.015**2, rel_tol=1e-12)
    assert math.isclose(_ris(0.05), 4 * zsum2 * 0.0975 * 0.9025 / 0.005**2, rel_tol=1e-12)


def test_plos_one_2013_figure_4_diversity_adjustment():
    # DARIS = RIS/(1 − D²) with D² printed as 76 %: each printed DARIS lies between the sizes
    # for D² = 0.755 and 0.765 (the whole-percent rounding interval).
    for rrr, daris in ((0.15, DARIS_RRR15), (0.05, DARIS_RRR5)):
        ris = _ris(rrr)
        implied_d2 = 1 - ris / daris
        assert abs(implied_d2 - PRINTED_D2) <= 0.005, (rrr, implied_d2)
        assert ris / (1 - 0.755) <= daris <= ris / (1 - 0.765)


# Thorlund, Anema & Mills 2010, Figure 4 notes: whole patients.
IS_MODERATE = 19_920


def _whole_percent_allowances(unadjusted: float, printed: int) -> list[int]:
    """Whole percentages h with unadjusted/(1 − h/100) equal to the printed size.

    "Equal" is to the printed precision: the program works in whole participants, so the
    printed size may be off by up to one participant (relative 1/printed).
    """
    return [h for h in range(100) if abs(unadjusted / (1 - h / 100) / printed - 1) < 1 / printed]


def test_clin_epidemiol_2010_figure_4_information_size():
    ours = required_information_size(alpha=0.01, power=0.90, control_risk=0.05, rrr=0.25)
    # By hand: p_C = 0.05, p_E = 0.0375, p̄ = 0.04375, δ = 0.0125, z_0.995 + z_0.90.
    zsum = 2.5758293035489004 + 1.2815515655446004
    assert math.isclose(ours, 4 * zsum**2 * 0.04375 * 0.95625 / 0.0125**2, rel_tol=1e-12)
    # 15,935.8 × 1.25 = 19,919.8: a 20 % allowance, and no other whole percentage, fits.
    assert _whole_percent_allowances(ours, IS_MODERATE) == [20], ours
    # The tolerance discriminates: the unpooled variance p_C(1 − p_C) + p_E(1 − p_E) (15,920.9)
    # fits no whole-percent allowance.
    unpooled = 2 * zsum**2 * (0.05 * 0.95 + 0.0375 * 0.9625) / 0.0125**2
    assert _whole_percent_allowances(unpooled, IS_MODERATE) == []


def test_bmc_2017_figure_1a_diversity_adjusted_size():
    printed = 977
    # Each input lies in its whole-percent rounding interval; RIS/(1 − D²) is monotone in each, so
    # its range over the box is spanned by the corners.
    corners = [
        required_information_size(alpha=0.05, power=0.80, control_risk=pc, rrr=rrr) / (1 - d2)
        for pc in (0.595, 0.605)
        for rrr in (0.165, 0.175)
        for d2 in (0.225, 0.235)
    ]
    assert min(corners) <= printed <= max(corners), (min(corners), max(corners))
    # At the printed values themselves: 747.2/(1 − 0.23) = 970.3, within 0.7 % of 977.
    at_printed = required_information_size(alpha=0.05, power=0.80, control_risk=0.60, rrr=0.17) / 0.77
    assert abs(at_printed / printed - 1) < 0.01, at_printed
    # Without the diversity adjustment no input in the box reaches the printed size (at most 807),
    # let alone with the adjustment applied the wrong way round, RIS × (1 − D²).
    unadjusted = [
        required_information_size(alpha=0.05, power=0.80, control_risk=pc, rrr=rrr)
        for pc in (0.595, 0.605)
        for rrr in (0.165, 0.175)
    ]
    assert max(unadjusted) < 0.85 * printed, max(unadjusted)


# Reboussin et al. 2000 via the ldbounds vignette, section 5.1: 4 decimals; exit probabilities to
# 5 significant digits.
LD98_BOUNDS = [4.8769, 3.3569, 2.6803, 2.2898, 2.0310]
LD98_EXIT = [1.0777e-06, 7.8830e-04, 7.6161e-03, 2.4424e-02, 5.0000e-02]
LD98_BOUND_TOL = 5e-5 + 1e-9  # half a unit in the 4th decimal
LD98_EXIT_REL_TOL = 5e-5  # half a unit in the 5th significant digit


def test_reboussin_2000_exit_probabilities_are_the_spending_function():
    t = np.arange(1, 6) / 5
    got = alpha_spending_obf(t, 0.05)
    for g, p in zip(got, LD98_EXIT, strict=True):
        assert abs(g / p - 1) < LD98_EXIT_REL_TOL, (got, LD98_EXIT)
    # The literal two-sided reading, 2 − 2Φ(z_{1−α/2}/√t), would spend 1.2e-5 at t = 0.2.
    assert 2 - 2 * stats.norm.cdf(stats.norm.isf(0.025) / math.sqrt(0.2)) > 10 * LD98_EXIT[0]


def test_reboussin_2000_boundaries():
    t = np.arange(1, 6) / 5
    got = efficacy_boundaries(t, 0.05)
    for k in (0, 2, 3, 4):
        assert abs(got[k] - LD98_BOUNDS[k]) < LD98_BOUND_TOL, (k, got[k], LD98_BOUNDS[k])
    # Look 2 depends only on looks 1 and 2, so the exact value is a two-look integral:
    # P(|Z₁| < b₁, |Z₂| ≥ b₂) = 2 ∫_{|z|<b₁} φ(z) Φ̄((b₂ − ρz)/√(1 − ρ²)) dz = α_s(0.4) − α_s(0.2),
    # ρ = √(0.2/0.4).
    spent = alpha_spending_obf([0.2, 0.4], 0.05)
    b1 = float(-special.ndtri(spent[0] / 2))
    rho = math.sqrt(0.5)

    def crossing(b2: float) -> float:
        def f(z: float) -> float:
            return stats.norm.pdf(z) * special.ndtr(-(b2 - rho * z) / math.sqrt(1 - rho**2))

        return 2 * integrate.quad(f, -b1, b1, epsabs=0, epsrel=1e-13, limit=400)[0]

    exact = optimize.brentq(lambda b: crossing(b) - (spent[1] - spent[0]), 2.0, 6.0, xtol=1e-13)
    assert abs(got[1] - exact) < 1e-7, (got[1], exact)
    assert abs(got[1] - 3.357) < 5e-4  # DeMets & Lan 1994, 3 decimals
    # ld98's printed 3.3569 lies 1.1e-4 below the exact value: more than its printed precision.
    assert 1e-4 < exact - LD98_BOUNDS[1] < 1.2e-4
