"""RevMan 5 conventions checked against results RevMan itself computed.

Source: the RevMan 5 review file "Examples from Fleiss 1993" (aspirin after myocardial
infarction, 7 trials; RevMan 5.0.23), outcome CMP-001.01, Mantel–Haenszel odds ratio,
fixed effect. RevMan stored its own results in the file's DICH_OUTCOME and DICH_DATA
attributes; they are quoted here to full stored precision. Trial counts are those of
Fleiss JL, Stat Methods Med Res 1993;2:121-145.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialsynth.io.poolcsv import parse_pool_table
from trialsynth.stats.meta import pool_input

TRIALS = [  # study, events aspirin, total aspirin, events control, total control
    ("MRC-1", 49, 615, 67, 624),
    ("CDP", 44, 758, 64, 771),
    ("MRC-2", 102, 832, 126, 850),
    ("GASP", 32, 317, 38, 309),
    ("PARIS", 85, 810, 52, 406),
    ("AMIS", 246, 2267, 219, 2257),
    ("ISIS-2", 1570, 8587, 1720, 8600),
]
REVMAN = {  # DICH_OUTCOME CMP-001.01
    "EFFECT_SIZE": 0.8968655609130709,
    "CI_START": 0.8405144008917793,
    "CI_END": 0.9569947088336491,
    "CHI2": 9.946055983220074,
    "I2": 39.67458045558399,
    "Z": 3.287633061337987,
    "P_Z": 0.0010103343130005407,
}
REVMAN_STUDY_SE = [0.1972198088133556, 0.20289716633892102, 0.14314855217027966, 0.2544888962290453,
                   0.18761568222036212, 0.098064939620213, 0.03880976559851533]  # fmt: skip
REVMAN_STUDY_WEIGHT = [3.176490004091248, 3.1016891143394365, 5.675380442715663, 1.795484618258711,
                       3.2176243566716805, 10.153491219997628, 72.87984024392564]  # fmt: skip

#: RevMan stores doubles; its p-values come from its own distribution code, which agrees
#: with ours to about 1e-7 relative, so p-values get a looser tolerance than estimates.
REL_TOL = 1e-10
P_REL_TOL = 1e-6


@pytest.fixture(scope="module")
def fleiss():
    header = ["study", "events_treatment", "n_treatment", "events_control", "n_control"]
    rows = [[str(x) for x in t] for t in TRIALS]
    return parse_pool_table(header, rows, measure="OR", source="fleiss1993")


@pytest.mark.parametrize("profile", ["metafor", "revman"])
def test_mh_odds_ratio_matches_revman(fleiss, profile):
    res = pool_input(fleiss, method="MH", profile=profile)
    assert math.exp(res.estimate) == pytest.approx(REVMAN["EFFECT_SIZE"], rel=REL_TOL)
    assert math.exp(res.ci_lower) == pytest.approx(REVMAN["CI_START"], rel=REL_TOL)
    assert math.exp(res.ci_upper) == pytest.approx(REVMAN["CI_END"], rel=REL_TOL)
    assert abs(res.statistic) == pytest.approx(REVMAN["Z"], rel=REL_TOL)
    assert res.p_value == pytest.approx(REVMAN["P_Z"], rel=P_REL_TOL)
    assert res.q == pytest.approx(REVMAN["CHI2"], rel=REL_TOL)
    assert res.i2 == pytest.approx(REVMAN["I2"], rel=REL_TOL)
    assert res.profile == profile
    np.testing.assert_allclose([math.sqrt(s.vi) for s in res.studies], REVMAN_STUDY_SE, rtol=REL_TOL)
    np.testing.assert_allclose([s.weight for s in res.studies], REVMAN_STUDY_WEIGHT, rtol=REL_TOL)


def test_revman_random_effects_uses_mh_centred_q(fleiss):
    # With the RevMan profile, DL random effects on counts take τ² from Q around the MH
    # estimate: τ² = (Q_MH − df)/(Σw − Σw²/Σw), written out here.
    res = pool_input(fleiss, method="DL", profile="revman")
    yi = np.array([s.yi for s in fleiss_yi(fleiss)])
    vi = np.array([s.vi for s in fleiss_yi(fleiss)])
    w = 1 / vi
    q_mh = (w * (yi - math.log(REVMAN["EFFECT_SIZE"])) ** 2).sum()
    tau2 = max(0.0, (q_mh - 6) / (w.sum() - (w**2).sum() / w.sum()))
    assert res.tau2 == pytest.approx(tau2, rel=1e-9)
    wr = 1 / (vi + tau2)
    assert res.estimate == pytest.approx((wr * yi).sum() / wr.sum(), rel=1e-9)
    # RevMan's I² is (Q − df)/Q for random-effects models as well.
    assert res.i2 == pytest.approx(REVMAN["I2"], rel=REL_TOL)


def fleiss_yi(fleiss):
    return pool_input(fleiss, method="FE").studies


def test_revman_prediction_interval_uses_t_with_k_minus_2_df():
    """Cochrane Handbook §10.10.4.3 (Higgins, Thompson & Spiegelhalter 2009), as RevMan:
    μ̂ ± t(k−2, 0.975)·√(τ̂² + SE²). metafor's default uses the z quantile instead.
    t(5, 0.975) = 2.5705818356363146 (seven trials: k − 2 = 5 df); z(0.975) = 1.959963984540054."""
    from trialsynth.stats.meta import meta_analysis

    yi, vi = [], []
    for _, a, n1, c, n2 in TRIALS:
        b, d = n1 - a, n2 - c
        yi.append(math.log(a * d / (b * c)))
        vi.append(1 / a + 1 / b + 1 / c + 1 / d)
    for profile, quantile, used in (
        ("revman", 2.5705818356363146, "t(k-2)"),
        ("metafor", 1.959963984540054, "z"),
    ):
        res = meta_analysis(yi, vi, measure="OR", method="DL", profile=profile)
        half = quantile * math.sqrt(res.tau2 + res.se**2)
        assert res.pi_type == used
        assert res.pi_lower == pytest.approx(res.estimate - half, rel=1e-12)
        assert res.pi_upper == pytest.approx(res.estimate + half, rel=1e-12)
