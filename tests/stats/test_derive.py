"""trialsynth.stats.derive against published worked examples, metafor, and hand algebra.

Published examples (cited per test) are printed to 2–3 decimals, so they are compared to within
half a unit in their last printed digit (``_PRINTED``). Hand algebra is written out in the test
and compared at 1e-12 relative (floating-point rounding only). metafor's escalc values are pinned
in tests/fixtures/derive/cases.json by validation/derive_fixtures.R and compared at 1e-10
relative (closed forms: only rounding differs).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.rlive import run_r_script
from trialsynth._core.errors import InputError
from trialsynth.report.derivation import render, render_all
from trialsynth.stats import derive as d

HAND = 1e-12
METAFOR = 1e-10
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "derive"
SCRIPT = ROOT / "validation" / "derive_fixtures.R"


def _printed(decimals: int) -> float:
    """Half a unit in the last printed decimal of a published number."""
    return 0.5 * 10.0**-decimals


# --------------------------------------------------------------------------- SDs of arm means


def test_sd_from_se_hand_algebra_and_text():
    out = d.sd_from_se(1.2, 40)
    assert out.value == pytest.approx(1.2 * math.sqrt(40), rel=HAND)  # 7.5895
    assert render(out.derivation) == "SD from SE: 1.2 × √40 = 7.589"
    assert out.derivation.reference.endswith("6.5.2.2")
    assert out.derivation.input("se") == 1.2 and out.derivation.input("n") == 40


def test_sd_from_ci_handbook_example():
    # Cochrane Handbook v6.4, 6.5.2.2: experimental group, n = 25, mean 32.1, 95% CI 30.0 to 34.2;
    # t with 24 df, divisor 2 × 2.064 = 4.128; SD = √25 × (34.2 − 30.0)/4.128 = 5.09.
    out = d.sd_from_ci(30.0, 34.2, 25)
    assert out.derivation.input("q") == pytest.approx(2.064, abs=_printed(3))
    assert out.value == pytest.approx(5.09, abs=_printed(2))
    # Large arms (n ≥ 60) use the normal quantile: 3.92 standard errors wide (Handbook 6.5.2.2).
    big = d.sd_from_ci(10.0, 13.92, 100)
    assert big.value == pytest.approx(10 * 3.92 / (2 * 1.959963984540054), rel=HAND)
    forced = d.sd_from_ci(30.0, 34.2, 25, dist="z")
    assert forced.value == pytest.approx(5 * 4.2 / (2 * 1.959963984540054), rel=HAND)


def test_sd_from_ci_vectorised_mixed_sizes():
    out = d.sd_from_ci(np.array([30.0, 10.0]), np.array([34.2, 13.92]), np.array([25, 100]))
    assert out.value[0] == pytest.approx(d.sd_from_ci(30.0, 34.2, 25).value, rel=HAND)
    assert out.value[1] == pytest.approx(d.sd_from_ci(10.0, 13.92, 100).value, rel=HAND)
    assert render(out.derivation.at(1)).startswith("SD from CI of the mean: √100 × (13.92 − 10) / (2 × 1.96)")


# --------------------------------------------------------------------------- differences


def test_se_and_sd_from_p_handbook_example():
    # Handbook 6.5.2.3: MD 3.8, two-sided p = 0.008, n 25 and 22: t(45) = 2.78 (Excel tinv(0.008, 45)),
    # SE = 3.8/2.78 = 1.37; SD = SE/√(1/25 + 1/22).
    se = d.se_diff_from_p(3.8, 0.008, 25, 22)
    assert se.derivation.input("t") == pytest.approx(2.78, abs=_printed(2))
    assert se.value == pytest.approx(1.37, abs=_printed(2))
    sd = d.sd_from_se_diff(se.value, 25, 22)
    assert sd.value == pytest.approx(se.value / math.sqrt(1 / 25 + 1 / 22), rel=HAND)
    assert d.se_diff_from_t(-3.8, -2.78).value == pytest.approx(3.8 / 2.78, rel=HAND)


def test_se_diff_from_ci_hand_algebra():
    # t with 25 + 22 − 2 = 45 df (both arms below 60): SE = (6.4 − 1.2)/(2 × t(0.975, 45)).
    t45 = 2.0141033888808466  # qt(0.975, 45) in R 4
    out = d.se_diff_from_ci(1.2, 6.4, 25, 22)
    assert out.value == pytest.approx(5.2 / (2 * t45), rel=1e-9)
    z = d.se_diff_from_ci(1.2, 6.4, 250, 220)
    assert z.value == pytest.approx(5.2 / (2 * 1.959963984540054), rel=HAND)


# --------------------------------------------------------------------------- medians


def _xi(n):
    from statistics import NormalDist

    return 2 * NormalDist().inv_cdf((n - 0.375) / (n + 0.25))


def _eta(n):
    from statistics import NormalDist

    return 2 * NormalDist().inv_cdf((0.75 * n - 0.125) / (n + 0.25))


def test_median_luo_shi_five_numbers_hand_algebra():
    n, a, q1, m, q3, b = 50, 2.0, 7.0, 10.0, 14.0, 30.0
    out = d.mean_sd_from_median(n, m, q1=q1, q3=q3, minimum=a, maximum=b)
    w1 = 2.2 / (2.2 + n**0.75)  # Luo 2018, eq. (15)
    w2 = 0.7 - 0.72 / n**0.55
    assert out.mean.value == pytest.approx(
        w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m, rel=HAND
    )
    w = 1 / (1 + 0.07 * n**0.6)  # Shi 2020, the optimal weight
    assert out.sd.value == pytest.approx(w * (b - a) / _xi(n) + (1 - w) * (q3 - q1) / _eta(n), rel=1e-12)
    assert "Luo 2018" in out.mean.derivation.method and "Shi 2020" in out.sd.derivation.method


def test_median_luo_quartiles_and_range_hand_algebra():
    n = 30
    s3 = d.mean_sd_from_median(n, 5.0, q1=3.0, q3=8.0)
    w = 0.7 + 0.39 / n  # Luo 2018, scenario S3
    assert s3.mean.value == pytest.approx(w * (3 + 8) / 2 + (1 - w) * 5, rel=HAND)
    assert s3.sd.value == pytest.approx((8 - 3) / _eta(n), rel=1e-12)  # Wan 2014, eq. (16)
    s1 = d.mean_sd_from_median(n, 5.0, minimum=1.0, maximum=12.0)
    w = 4 / (4 + n**0.75)  # Luo 2018, scenario S1
    assert s1.mean.value == pytest.approx(w * (1 + 12) / 2 + (1 - w) * 5, rel=HAND)
    assert s1.sd.value == pytest.approx(11 / _xi(n), rel=1e-12)  # Wan 2014, eq. (7)
    assert s1.skewness is None


def test_median_wan_hand_algebra():
    n, a, q1, m, q3, b = 40, 1.0, 4.0, 6.0, 9.0, 20.0
    s2 = d.mean_sd_from_median(n, m, q1=q1, q3=q3, minimum=a, maximum=b, method="wan")
    assert s2.mean.value == pytest.approx((a + 2 * q1 + 2 * m + 2 * q3 + b) / 8, rel=HAND)  # Wan eq. (10)
    assert s2.sd.value == pytest.approx((b - a) / (2 * _xi(n)) + (q3 - q1) / (2 * _eta(n)), rel=1e-12)
    s3 = d.mean_sd_from_median(n, m, q1=q1, q3=q3, method="wan")
    assert s3.mean.value == pytest.approx((q1 + m + q3) / 3, rel=HAND)  # Wan eq. (14)
    s1 = d.mean_sd_from_median(n, m, minimum=a, maximum=b, method="wan")
    assert s1.mean.value == pytest.approx((a + 2 * m + b) / 4, rel=HAND)  # Hozo/Wan eq. (2)


def test_median_recovers_normal_population_quantiles():
    # Quartiles of N(50, 10²) itself: for large n every method gives back μ, and the SD by the
    # quartiles tends to σ since η(n) → 2Φ⁻¹(0.75) (Wan 2014, section 2.3).
    n, mu, sigma = 100000, 50.0, 10.0
    zq = 0.6744897501960817
    out = d.mean_sd_from_median(n, mu, q1=mu - zq * sigma, q3=mu + zq * sigma)
    assert out.mean.value == pytest.approx(mu, rel=HAND)
    assert out.sd.value == pytest.approx(sigma, rel=1e-4)  # η(n) differs from its limit by O(1/n)
    assert out.skewness.value == pytest.approx(0.0, abs=HAND)


def test_skewness_check_flags_skewed_quartiles_and_notes_it():
    # Bowley: B = (q1 + q3 − 2m)/(q3 − q1) = (2 + 12 − 8)/10 = 0.6; critical 1.95996 × 1.3561/√100.
    out = d.mean_sd_from_median(100, 4.0, q1=2.0, q3=12.0)
    crit = 1.959963984540054 * d.BOWLEY_NULL_SD / 10
    assert out.skewness.value == pytest.approx(0.6 / crit, rel=HAND)
    assert out.skewness.value > 1
    assert any("skewed" in note for note in out.mean.derivation.notes)
    # Shi et al. 2023 state the 5% critical value of the quartile test as 2.66/√n.
    assert 1.959963984540054 * d.BOWLEY_NULL_SD == pytest.approx(2.66, abs=_printed(2))


def test_median_errors_are_input_errors():
    with pytest.raises(InputError, match="quartiles"):
        d.mean_sd_from_median(20, 5.0)
    with pytest.raises(InputError, match="first quartile is above the median"):
        d.mean_sd_from_median(20, 5.0, q1=6.0, q3=8.0)
    with pytest.raises(InputError, match="unknown median method"):
        d.mean_sd_from_median(20, 5.0, q1=4.0, q3=8.0, method="bc")


# --------------------------------------------------------------------------- change scores


def test_sd_change_and_correlation_hand_algebra():
    # Handbook 6.5.2.8: SD_change = √(SD_b² + SD_f² − 2 r SD_b SD_f); r back from the three SDs.
    out = d.sd_change(4.0, 5.0, 0.6)
    assert out.value == pytest.approx(math.sqrt(16 + 25 - 2 * 0.6 * 4 * 5), rel=HAND)  # √17
    r = d.correlation_from_sds(4.0, 5.0, math.sqrt(17))
    assert r.value == pytest.approx(0.6, rel=1e-12)
    with pytest.raises(InputError, match="beyond ±1"):
        d.correlation_from_sds(1.0, 1.0, 3.0)


# --------------------------------------------------------------------------- cluster and crossover


def test_cluster_design_effect_hand_algebra():
    # 23.1.4: m = 30, ICC = 0.02 → DE = 1 + 29 × 0.02 = 1.58; 300 patients, 60 events → 189.87, 37.97.
    de = d.design_effect(30, 0.02)
    assert de.value == pytest.approx(1.58, rel=HAND)
    n_eff, e_eff = d.cluster_effective(300, 30, 0.02, events=60)
    assert n_eff.value == pytest.approx(300 / 1.58, rel=HAND)
    assert e_eff.value == pytest.approx(60 / 1.58, rel=HAND)
    assert render(n_eff.derivation) == "Effective sample size (cluster trial): 300 / 1.58 = 189.9"


def test_crossover_handbook_example():
    # Cochrane Handbook 5.1, 16.4.6.4: M_E = 7.0, SD_E = 2.38, M_C = 6.5, SD_C = 2.21, n = 10.
    md, se = d.crossover_md(7.0, 6.5, 10, sd_diff=2.0)  # SD of differences imputed as 2
    assert md.value == pytest.approx(0.5, rel=HAND)
    assert se.value == pytest.approx(0.632, abs=_printed(3))
    md, se = d.crossover_md(7.0, 6.5, 10, sd_e=2.38, sd_c=2.21, correlation=0.68)
    assert se.value == pytest.approx(0.583, abs=_printed(3))


# --------------------------------------------------------------------------- multi-arm


def test_combine_groups_table_6_5_a_hand_algebra():
    n, mean, sd = d.combine_groups(20, 10.0, 2.0, 30, 12.0, 3.0)
    assert n.value == 50
    assert mean.value == pytest.approx((20 * 10 + 30 * 12) / 50, rel=HAND)  # 11.2
    var = (19 * 4 + 29 * 9 + 20 * 30 / 50 * 4) / 49
    assert sd.value == pytest.approx(math.sqrt(var), rel=HAND)
    # Combining the two halves of one sample gives back that sample's SD exactly:
    x = np.array([1.0, 4.0, 2.0, 8.0, 5.0, 7.0, 3.0])
    a, b = x[:3], x[3:]
    _, m_all, s_all = d.combine_groups(3, a.mean(), a.std(ddof=1), 4, b.mean(), b.std(ddof=1))
    assert m_all.value == pytest.approx(x.mean(), rel=HAND)
    assert s_all.value == pytest.approx(x.std(ddof=1), rel=1e-12)
    e, nn = d.combine_counts(5, 20, 7, 30)
    assert (e.value, nn.value) == (12, 50)


def test_split_shared_arm():
    n, e = d.split_shared_arm(104, 2, events=57)
    assert (n.value, e.value) == (52.0, 28.5)
    with pytest.raises(InputError, match="2 or more"):
        d.split_shared_arm(104, 1)


# --------------------------------------------------------------------------- counts from percentages


def test_count_from_percent_crt_dossier():
    # /work/shared/crt-evidence.md, TARGET: responders 70% of 103 analysed → 72; control 55% of 104 → 57.
    out = d.count_from_percent(np.array([70.0, 55.0, 83.0, 65.0]), np.array([103, 104, 103, 104]))
    assert out.value.tolist() == [72, 57, 85, 68]
    assert render(out.derivation.at(0)) == (
        "Count from percentage: round(70% × 103) = round(72.1) = 72 (rounded to a whole number; derived, "
        "not reported)"
    )
    assert d.count_from_percent(50.0, 5).value == 3  # 2.5 rounds half up


# --------------------------------------------------------------------------- effect measures


def _fixture_cases():
    return json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", _fixture_cases(), ids=lambda c: c["id"])
def test_effect_measures_against_metafor_escalc(case):
    inp = {k: np.array(v, dtype=float) for k, v in case["inputs"].items()}
    if case["measure"] == "ROM":
        out = d.log_ratio_of_means(inp["m1i"], inp["sd1i"], inp["n1i"], inp["m2i"], inp["sd2i"], inp["n2i"])
    elif case["measure"] == "IRR":
        out = d.incidence_rate_ratio(inp["x1i"], inp["t1i"], inp["x2i"], inp["t2i"])
    else:
        out = d.incidence_rate_difference(inp["x1i"], inp["t1i"], inp["x2i"], inp["t2i"])
    np.testing.assert_allclose(out.yi.value, np.array(case["yi"], dtype=float), rtol=METAFOR, atol=1e-15)
    np.testing.assert_allclose(out.vi.value, np.array(case["vi"], dtype=float), rtol=METAFOR)


@pytest.mark.against_R
def test_live_derive_fixtures_against_R(tmp_path):
    run_r_script(SCRIPT, tmp_path)
    fresh = json.loads((tmp_path / "cases.json").read_text(encoding="utf-8"))["cases"]
    for new, old in zip(fresh, _fixture_cases(), strict=True):
        assert new["id"] == old["id"]
        np.testing.assert_allclose(new["yi"], old["yi"], rtol=1e-14)
        np.testing.assert_allclose(new["vi"], old["vi"], rtol=1e-14)


def test_irr_zero_count_correction_noted():
    out = d.incidence_rate_ratio(0, 100.0, 4, 120.0)
    assert out.yi.value == pytest.approx(math.log((0.5 / 100) / (4.5 / 120)), rel=HAND)
    assert out.vi.value == pytest.approx(1 / 0.5 + 1 / 4.5, rel=HAND)
    assert out.yi.derivation.notes


def test_ird_hand_algebra():
    out = d.incidence_rate_difference(10, 200.0, 5, 250.0)
    assert out.yi.value == pytest.approx(10 / 200 - 5 / 250, rel=HAND)
    assert out.vi.value == pytest.approx(10 / 200**2 + 5 / 250**2, rel=HAND)


# --------------------------------------------------------------------------- NNT


def test_nnt_hand_algebra():
    # Handbook 15.4.4: NNT = 1/ARR; from RR with ACR: 1/(ACR(1 − RR)); from OR with ACR as below.
    assert d.nnt_from_rd(-0.05).value == pytest.approx(20.0, rel=HAND)
    assert d.nnt_from_rr(0.92, 0.3).value == pytest.approx(1 / (0.3 * 0.08), rel=HAND)  # 41.67 → 42
    acr, oratio = 0.3, 0.73
    expected = 1 / (acr - oratio * acr / (1 - acr + oratio * acr))
    assert d.nnt_from_or(oratio, acr).value == pytest.approx(expected, rel=HAND)
    # OR = RR-equivalent check: at the same treatment risk both routes give the same NNT.
    treated = 0.25
    rr = treated / acr
    or_equiv = (treated / (1 - treated)) / (acr / (1 - acr))
    assert d.nnt_from_or(or_equiv, acr).value == pytest.approx(d.nnt_from_rr(rr, acr).value, rel=1e-12)
    with pytest.raises(InputError):
        d.nnt_from_rd(0.0)


def test_derivation_as_dict_is_json_ready():
    out = d.sd_from_ci(30.0, 34.2, 25)
    data = out.derivation.as_dict()
    json.dumps(data, allow_nan=False)
    assert data["method"] == "SD from CI of the mean" and data["inputs"]["n"] == 25
    assert render_all([d.sd_from_se(1.2, 40).derivation, out.derivation]).count(";") == 1


# Wan et al. 2014 (BMC Med Res Methodol 14:135), Table 1, "Values of ξ(n) in formula (7) and
# formula (12) for n ≤ 50", as printed (3 decimals). The table lists the expected range of n
# standard normals; trialsynth uses the closed form 2Φ⁻¹((n − 0.375)/(n + 0.25)) (Blom), which
# differs from the table by the Blom approximation's own error: below 0.5% for n ≥ 10 and below
# 0.26% for n ≥ 20 (the bounds, computed from the printed values, are the tolerances here).
WAN_TABLE_1 = {
    10: 3.078,
    15: 3.472,
    20: 3.735,
    25: 3.931,
    30: 4.086,
    35: 4.213,
    40: 4.322,
    45: 4.415,
    50: 4.498,
}


@pytest.mark.parametrize(("n", "xi"), sorted(WAN_TABLE_1.items()))
def test_median_range_divisor_against_wan_2014_table_1(n, xi):
    # S1 with max − min = 1: SD = 1/ξ(n) (Wan 2014, formula (7)).
    out = d.mean_sd_from_median(n, 0.5, minimum=0.0, maximum=1.0, method="wan")
    tolerance = 0.005 if n < 20 else 0.0026
    assert 1 / out.sd.value == pytest.approx(xi, rel=tolerance)
