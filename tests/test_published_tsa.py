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

Published Lan–DeMets boundaries (DeMets & Lan, Stat Med 1994;13:1341–1352: five equally spaced
looks at two-sided α = 0.05) are checked in tests/test_tsa.py, with rpact and exact integrals.
"""

from __future__ import annotations

import math

from trialsynth.tsa import required_information_size

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
