"""τ² estimators: closed forms by hand, estimating equations solved, stacks equal single fits."""

from __future__ import annotations

import numpy as np
import pytest

from trialsynth.stats.estimators import METHODS, tau2_estimate, tau2_qprofile_ci
from trialsynth.stats.pooling import fit_arrays

YI = np.array([0.10, 0.30, 0.35, 0.65, 0.45, 0.15])
VI = np.array([0.03, 0.03, 0.05, 0.01, 0.05, 0.02])


def test_dl_by_hand():
    w = 1 / VI
    mu = (w * YI).sum() / w.sum()
    q = (w * (YI - mu) ** 2).sum()
    expected = (q - 5) / (w.sum() - (w**2).sum() / w.sum())
    assert tau2_estimate(YI, VI, method="DL").tau2 == pytest.approx(expected, rel=1e-14)


def test_he_hs_sj_by_hand():
    k = len(YI)
    ybar = YI.mean()
    he = ((YI - ybar) ** 2).sum() / (k - 1) - VI.sum() / k
    assert tau2_estimate(YI, VI, method="HE").tau2 == pytest.approx(max(he, 0), rel=1e-14)
    w = 1 / VI
    q = (w * (YI - (w * YI).sum() / w.sum()) ** 2).sum()
    assert tau2_estimate(YI, VI, method="HS").tau2 == pytest.approx(max(0, (q - k) / w.sum()), rel=1e-14)
    tau0 = ((YI - ybar) ** 2).sum() / k
    w0 = 1 / (VI + tau0)
    mu0 = (w0 * YI).sum() / w0.sum()
    sj = tau0 * (w0 * (YI - mu0) ** 2).sum() / (k - 1)
    assert tau2_estimate(YI, VI, method="SJ").tau2 == pytest.approx(sj, rel=1e-14)


def _score(tau2, restricted):
    w = 1 / (VI + tau2)
    mu = (w * YI).sum() / w.sum()
    s = (w**2 * (YI - mu) ** 2).sum() - w.sum()
    return s + ((w**2).sum() / w.sum() if restricted else 0.0)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_likelihood_score_is_zero_at_estimate(method):
    est = tau2_estimate(YI, VI, method=method)
    assert est.converged and est.tau2 > 0
    scale = (1 / VI).sum()
    assert abs(_score(float(est.tau2), method == "REML")) < 1e-10 * scale


@pytest.mark.parametrize("method", ["PM", "EB"])
def test_paule_mandel_generalised_q_equals_k_minus_1(method):
    est = tau2_estimate(YI, VI, method=method)
    w = 1 / (VI + est.tau2)
    mu = (w * YI).sum() / w.sum()
    assert (w * (YI - mu) ** 2).sum() == pytest.approx(len(YI) - 1, rel=1e-12)


def test_qprofile_bounds_solve_chi_square_equations():
    from scipy.stats import chi2

    lo, hi, ok = tau2_qprofile_ci(YI, VI, level=0.95)
    assert ok

    def q(t):
        w = 1 / (VI + t)
        mu = (w * YI).sum() / w.sum()
        return (w * (YI - mu) ** 2).sum()

    assert q(float(hi)) == pytest.approx(chi2.ppf(0.025, 5), rel=1e-10)
    # Q(0) is below the upper critical value here, so the lower bound is 0.
    assert q(0.0) < chi2.ppf(0.975, 5)
    assert lo == 0.0


def test_homogeneous_data_give_zero_everywhere():
    yi = np.array([0.2, 0.2, 0.2, 0.2])
    vi = np.array([0.1, 0.2, 0.1, 0.3])
    for method in METHODS:
        assert tau2_estimate(yi, vi, method=method).tau2 == 0.0
    fit = fit_arrays(yi, vi, method="DL")
    assert fit["i2"] == 0.0


def test_never_negative_and_always_converged_on_random_data():
    # Many ordinary k = 10 data sets, including ones where unguarded Fisher scoring is
    # known to fail: every iterative estimate converges and satisfies its equation.
    rng = np.random.default_rng(20261124)
    n, k = 4000, 10
    vi = rng.uniform(0.01, 1.0, size=(n, k)) ** 2 * rng.choice([1, 50], size=(n, 1))
    yi = rng.normal(0.0, np.sqrt(vi + rng.choice([0.0, 0.05, 2.0], size=(n, 1))))
    for method in METHODS:
        est = tau2_estimate(yi, vi, method=method)
        assert np.all(est.tau2 >= 0)
        assert np.all(est.converged)
    reml = tau2_estimate(yi, vi, method="REML").tau2
    w = 1 / (vi + reml[:, None])
    mu = (w * yi).sum(-1) / w.sum(-1)
    score = (w**2 * (yi - mu[:, None]) ** 2).sum(-1) - w.sum(-1) + (w**2).sum(-1) / w.sum(-1)
    interior = reml > 0
    assert np.all(np.abs(score[interior]) <= 1e-8 * w.sum(-1)[interior])
    assert np.all(score[~interior] <= 1e-12 * w.sum(-1)[~interior])


def test_stack_with_padding_equals_one_at_a_time():
    rng = np.random.default_rng(7)
    sizes = [3, 7, 10, 5]
    yi = np.zeros((4, 10))
    vi = np.ones((4, 10))
    mask = np.zeros((4, 10), dtype=bool)
    for i, k in enumerate(sizes):
        yi[i, :k] = rng.normal(size=k)
        vi[i, :k] = rng.uniform(0.05, 0.5, size=k)
        mask[i, :k] = True
    for method in ["FE", *METHODS]:
        stacked = fit_arrays(yi, vi, mask, method=method, hk=True, tau2_ci=True)
        for i, k in enumerate(sizes):
            one = fit_arrays(yi[i, :k], vi[i, :k], method=method, hk=True, tau2_ci=True)
            for key in ("estimate", "se", "tau2", "i2", "q", "pi_lower", "tau2_ci_upper"):
                np.testing.assert_allclose(stacked[key][i], one[key], rtol=1e-12, equal_nan=True)


# Data sets on which metafor 3.8's default REML fit stops with "Fisher scoring algorithm did
# not converge" (found by simulating ordinary k = 10 meta-analyses in R with set.seed(1):
# 39 of 3000 fail). The reference τ² is metafor's own, once its step is halved:
#   rma(yi, vi, method="REML", control=list(stepadj=0.5, maxiter=10000, threshold=1e-12))
FISHER_FAILURES = [
    (
        [1.5209956155968041, -1.3109572080969971, 2.0312013974802765, -2.3305418350355924,
         -6.7822725974240559, -1.292555368845977, 0.38559039844376852, 0.55757686998380995,
         -1.8185624516781751, -0.90233935674820442],
        [14.080743153674513, 15.798371210578358, 3.2511723958023255, 0.014832969666494158,
         45.069667200158811, 26.061213689052103, 4.105009269565012, 27.851545001879035,
         38.022768038417944, 7.4716800052222148],
        2.0421947407886183,
        -0.83085284700384732,
    ),
    (
        [-7.7581267087271186, 0.016772142319327221, -3.3180236919379951, 4.2988485735598418,
         0.018204338487625659, -0.646186599903248, 0.55234395398927405, -4.1615571922442172,
         -1.3972078646540134, 1.8018362959137009],
        [43.505861256257248, 12.011681141044207, 12.099562437953548, 39.039269043038857,
         11.832249039624623, 10.734554738413204, 0.070282163306758197, 17.07687657424184,
         12.490793876672212, 30.779898405821616],
        0.11798749257903675,
        0.3821163587357162,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("yi", "vi", "tau2", "estimate"), FISHER_FAILURES)
def test_converges_where_metafor_default_fisher_scoring_fails_against_R(yi, vi, tau2, estimate):
    fit = fit_arrays(np.array(yi), np.array(vi), method="REML")
    assert bool(fit["converged"])
    assert float(fit["tau2"]) == pytest.approx(tau2, rel=1e-6)
    assert float(fit["estimate"]) == pytest.approx(estimate, rel=1e-6)
