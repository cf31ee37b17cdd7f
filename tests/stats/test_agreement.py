"""Cohen's κ and Gwet's AC1 of two raters, against values worked out by hand below."""

from __future__ import annotations

import pytest

from trialsynth.stats.agreement import two_rater_agreement

# The hand-worked values are exact decimals; 1e-12 leaves room only for floating-point rounding.
TOL = 1e-12


def test_two_categories_by_hand():
    # rater A rows, rater B columns; categories (include, exclude); n = 100
    table = [[10, 5], [3, 82]]
    a = two_rater_agreement(table)
    # p_o = (10 + 82)/100 = 0.92
    # margins: A (0.15, 0.85), B (0.13, 0.87)
    # κ:   p_e = 0.15·0.13 + 0.85·0.87 = 0.0195 + 0.7395 = 0.759
    #      κ = (0.92 − 0.759)/(1 − 0.759) = 0.161/0.241
    # AC1: π = (0.14, 0.86); p_e = (0.14·0.86 + 0.86·0.14)/(2 − 1) = 0.2408
    #      AC1 = (0.92 − 0.2408)/(1 − 0.2408) = 0.6792/0.7592
    assert (a.subjects, a.agreed, a.categories) == (100, 92, 2)
    assert a.p_observed == pytest.approx(0.92, abs=TOL)
    assert a.p_chance_kappa == pytest.approx(0.759, abs=TOL)
    assert a.kappa == pytest.approx(0.161 / 0.241, abs=TOL)
    assert a.p_chance_ac1 == pytest.approx(0.2408, abs=TOL)
    assert a.ac1 == pytest.approx(0.6792 / 0.7592, abs=TOL)


def test_three_categories_by_hand():
    # categories (include, exclude, maybe); n = 20
    table = [[4, 1, 1], [0, 10, 1], [1, 0, 2]]
    a = two_rater_agreement(table)
    # p_o = (4 + 10 + 2)/20 = 0.8
    # A margins (6, 11, 3)/20 = (0.30, 0.55, 0.15); B margins (5, 11, 4)/20 = (0.25, 0.55, 0.20)
    # κ:   p_e = 0.30·0.25 + 0.55·0.55 + 0.15·0.20 = 0.075 + 0.3025 + 0.03 = 0.4075
    #      κ = (0.8 − 0.4075)/(1 − 0.4075) = 0.3925/0.5925
    # AC1: π = (0.275, 0.55, 0.175);
    #      Σ π(1 − π) = 0.275·0.725 + 0.55·0.45 + 0.175·0.825 = 0.199375 + 0.2475 + 0.144375 = 0.59125
    #      p_e = 0.59125/(3 − 1) = 0.295625; AC1 = (0.8 − 0.295625)/(1 − 0.295625) = 0.504375/0.704375
    assert a.kappa == pytest.approx(0.3925 / 0.5925, abs=TOL)
    assert a.p_chance_ac1 == pytest.approx(0.295625, abs=TOL)
    assert a.ac1 == pytest.approx(0.504375 / 0.704375, abs=TOL)


def test_kappa_paradox_one_category_throughout():
    # both raters excluded all 50: κ's chance agreement is 1 (undefined), AC1 = 1
    # π = (0, 1); p_e = 0·1 + 1·0 = 0; AC1 = (1 − 0)/(1 − 0) = 1
    a = two_rater_agreement([[0, 0], [0, 50]])
    assert a.kappa is None
    assert a.ac1 == pytest.approx(1.0, abs=TOL)


def test_high_agreement_low_kappa():
    # 96 of 100 agreed, all on exclude; the 4 disagreements split: κ = −0.0204…, AC1 ≈ 0.958
    # margins A (0.02, 0.98), B (0.02, 0.98): κ p_e = 0.0004 + 0.9604 = 0.9608, κ = (0.96 − 0.9608)/0.0392
    # AC1: π = (0.02, 0.98), p_e = 2·0.02·0.98 = 0.0392, AC1 = (0.96 − 0.0392)/0.9608
    a = two_rater_agreement([[0, 2], [2, 96]])
    assert a.kappa == pytest.approx(-0.0008 / 0.0392, abs=TOL)
    assert a.ac1 == pytest.approx(0.9208 / 0.9608, abs=TOL)


def test_empty_and_bad_tables():
    a = two_rater_agreement([[0, 0], [0, 0]])
    assert a.subjects == 0 and a.kappa is None and a.ac1 is None
    with pytest.raises(ValueError, match="square"):
        two_rater_agreement([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="counts"):
        two_rater_agreement([[1, -1], [0, 2]])
