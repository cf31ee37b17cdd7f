"""The stopping test of Callaghan & Müller-Hansen (Syst Rev 2020;9:273): K_tar and the
hypergeometric p-value by hand algebra and exact integer arithmetic, and scipy.stats.hypergeom."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from scipy.stats import hypergeom

from trialsynth.workflow.screening.stopping import k_target, parse_stop_rule, ranked_phase_over, stop_test

# scipy's hypergeometric CDF is accurate to a few ulps on these sizes; 1e-12 relative is far tighter
# than any decision the test makes (p against α = 0.05) and far looser than its rounding.
REL = 1e-12


def exact_p(urn: int, k_tar: int, sampled: int, k: int) -> Fraction:
    """Σ_{j ≤ k} C(K, j) C(N − K, n − j) / C(N, n) in exact rational arithmetic (eq. 3)."""
    return Fraction(
        sum(math.comb(k_tar, j) * math.comb(urn - k_tar, sampled - j) for j in range(k + 1)),
        math.comb(urn, sampled),
    )


def test_hand_worked_no_include_in_sample():
    # 19 includes found in the ranked phase, an urn of 100 records, 40 sampled, none included.
    # K_tar = ⌊19/0.95 − 19 + 1⌋ = ⌊20 − 18⌋ = 2.
    # p = C(2,0)·C(98,40)/C(100,40) = (60·59)/(100·99) = 3540/9900 = 59/165
    t = stop_test(100, 19, 40, 0, target=0.95, confidence=0.95)
    assert t.k_target == 2
    assert t.p_value == pytest.approx(59 / 165, rel=REL)
    assert not t.stop  # 0.358 ≥ 0.05
    assert t.p_value == pytest.approx(float(hypergeom.cdf(0, 100, 2, 40)), rel=REL)


def test_hand_worked_stops():
    # same ranked phase, 90 of the 100 sampled, none included: p = C(98,90)/C(100,90)
    # = (10·9)/(100·99) = 90/9900 = 1/110 < 0.05 → stop
    t = stop_test(100, 19, 90, 0)
    assert t.p_value == pytest.approx(1 / 110, rel=REL)
    assert t.stop
    assert t.sentence(screened=1290) == (
        "screening stopped at record 1290: recall ≥ 95% with 95% confidence, p = 0.009091"
    )


@pytest.mark.parametrize(
    ("urn", "r_al", "n", "k", "tau"),
    [(1000, 50, 300, 1, 0.95), (1800, 90, 700, 2, 0.95), (500, 10, 250, 0, 0.9), (2000, 40, 1000, 3, 0.8)],
)
def test_against_exact_sum_and_scipy(urn, r_al, n, k, tau):
    t = stop_test(urn, r_al, n, k, target=tau, confidence=0.95)
    # eq. 1 by hand with exact rationals: ⌊(r_AL + k)/τ − r_AL + 1⌋
    tau_q = Fraction(tau).limit_denominator(1000)
    k_tar = math.floor(Fraction(r_al + k) / tau_q - r_al + 1)
    assert t.k_target == k_tar
    assert t.p_value == pytest.approx(float(exact_p(urn, k_tar, n, k)), rel=REL)
    assert t.p_value == pytest.approx(float(hypergeom.cdf(k, urn, k_tar, n)), rel=REL)


def test_k_target_exact_at_integer_ratio():
    # 19/0.95 is 20 exactly in decimal; in binary floating point it is 20.000000000000004
    assert k_target(19, 0, 0.95) == 2
    assert k_target(0, 0, 0.95) == 1  # nothing seen: one include in the urn would break the target


def test_urn_too_small_for_h0():
    # K_tar = ⌊95/0.95 − 95 + 1⌋ = 6 > N = 5: recall is at least 95% whatever the urn holds
    t = stop_test(5, 95, 1, 0)
    assert t.k_target == 6 and t.p_value == 0.0 and t.stop


def test_before_sampling_and_bad_input():
    t = stop_test(100, 5, 0, 0)
    assert t.p_value is None and not t.stop
    assert "not started" in t.sentence()
    with pytest.raises(ValueError):
        stop_test(10, 1, 11, 0)
    with pytest.raises(ValueError):
        stop_test(10, 1, 5, 0, target=1.0)


def test_parse_stop_rule():
    assert parse_stop_rule("recall:0.95,confidence:0.9") == (0.95, 0.9)
    with pytest.raises(ValueError, match="recall:R,confidence:C"):
        parse_stop_rule("recall=0.95")
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_stop_rule("recall:95,confidence:0.95")


def test_ranked_phase_over():
    assert not ranked_phase_over([1] + [0] * 49, 1000)
    assert ranked_phase_over([1] + [0] * 50, 1000)  # 50 = max(50, ⌈5% of 1000⌉)
    assert not ranked_phase_over([0] * 99 + [1] + [0] * 99, 2000)  # run of 100 needed
