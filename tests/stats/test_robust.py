"""CR2 cluster-robust inference against clubSandwich and metafor's robust(clubSandwich = TRUE).

Fixtures: tests/fixtures/multilevel/cases.json (validation/multilevel_fixtures.R; the live re-run
is in tests/stats/test_multilevel.py). Each rma.mv fit there carries clubSandwich 0.5.8's
coef_test(fit, vcov = "CR2", cluster = <outer level>) (SE, t, Satterthwaite df, p), vcovCR, the
HTZ Wald test of the moderators, and metafor's robust() (t-based CIs with those df, the HTZ test
as QM); a univariate rma(yi, vi, mods = ~ year) on dat.konstantopoulos2011 clustered by district.

REL_TOL = 1e-6 (relative), the house tolerance; the robust quantities inherit the fitted
variance components, so they agree as closely as those (1e-9 here, ~1e-7 for
konstantopoulos2011_year, see tests/stats/test_multilevel.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from trialsynth._core.errors import InputError
from trialsynth.stats.robust import robust, robust_arrays, robust_regression

from .test_multilevel import CASES, PINNED, close, fit_case

UNIVARIATE = PINNED["univariate"]


def _check(rb, e, problems, where):
    for cg, ce, df in zip(rb.coefficients, e["coef_test"], rb.df, strict=True):
        for got, want, key in (
            (cg.estimate, ce["estimate"], "beta"),
            (cg.se, ce["se"], "se"),
            (cg.statistic, ce["statistic"], "t"),
            (df, ce["df"], "df"),
            (cg.p_value, ce["p_value"], "p"),
        ):
            if not close(got, want):
                problems.append(f"{where} {cg.name}.{key}: {got!r} vs clubSandwich {want!r}")
    vc = np.array(e["vcov_cr2"])
    if not np.allclose(rb.vcov, vc, rtol=1e-6, atol=0):
        problems.append(f"{where}: vcovCR differs")
    rr = e["robust"]
    for j, cg in enumerate(rb.coefficients):
        for got, want, key in (
            (cg.ci_lower, rr["ci_lower"][j], "ci_lower"),
            (cg.ci_upper, rr["ci_upper"][j], "ci_upper"),
        ):
            if not close(got, want):
                problems.append(f"{where} {cg.name}.{key}: {got!r} vs metafor robust {want!r}")
    if "wald_htz" in e:
        h = e["wald_htz"]
        for got, want, key in (
            (rb.qm, h["Fstat"], "F"),
            (rb.qm_df2, h["df_denom"], "df2"),
            (rb.qm_p_value, h["p_value"], "p"),
        ):
            if not close(got, want):
                problems.append(f"{where} HTZ {key}: {got!r} vs {want!r}")
        assert rb.qm_df == h["df_num"]
        if not close(rb.qm, rr["qm"]):
            problems.append(f"{where}: QM {rb.qm!r} vs metafor robust {rr['qm']!r}")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_cr2_matches_clubsandwich(case):
    fit = fit_case(case, profile=False)
    rb = robust(fit, case["input"]["cluster"])
    problems: list[str] = []
    _check(rb, case["robust"], problems, case["id"])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", UNIVARIATE, ids=[c["id"] for c in UNIVARIATE])
def test_cr2_univariate_meta_regression(case):
    from trialsynth.stats.regression import fit_mods

    inp = case["input"]
    X = np.array(inp["X"])
    tau2 = float(fit_mods(np.array(inp["yi"]), np.array(inp["vi"]), X, method="REML")["tau2"])
    assert close(tau2, case["expected"]["tau2"])
    rb = robust_regression(inp["yi"], inp["vi"], X, tau2, inp["cluster"], names=inp["names"])
    problems: list[str] = []
    _check(rb, case["robust"], problems, case["id"])
    assert not problems, "\n".join(problems)


def test_cr2_with_singleton_clusters_is_hc2_like():
    """One row per cluster, intercept only, Φ = I: Aⱼ = (1 − hⱼ)^{-1/2}, hⱼ = 1/k (hand algebra):
    V = Σ eⱼ²/(1 − 1/k) / k², and the Satterthwaite df of the mean is k − 1."""
    y = np.array([0.1, 0.5, -0.2, 0.4, 0.3])
    k = len(y)
    rb = robust_arrays(y, np.ones((k, 1)), np.eye(k), [str(i) for i in range(k)])
    e = y - y.mean()
    assert rb.vcov[0, 0] == pytest.approx((e**2).sum() / (1 - 1 / k) / k**2, rel=1e-12)
    assert rb.df[0] == pytest.approx(k - 1, rel=1e-12)


def test_robust_needs_two_clusters():
    with pytest.raises(InputError, match="two clusters"):
        with warnings.catch_warnings():
            robust_arrays([0.1, 0.2], np.ones((2, 1)), np.eye(2), ["a", "a"])
