"""The plain-Python tail functions of trialsynth._core.dist (used for small inputs, so that a
small pool never imports scipy) against scipy.special's (Cephes) on grids of arguments.

Tolerance: 1e-12 relative (the series and continued fraction stop at 1e-16; the log-gamma front
factor loses a few digits for large df), 1e-300 absolute for values that underflow.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from trialsynth._core import dist

REL = 1e-12
DFS = [0.5, 1, 2, 3, 4.5, 7, 12, 30, 99, 250]


@pytest.mark.parametrize("df", DFS)
def test_chi2_sf_matches_scipy(df):
    x = np.concatenate([[0.0, 1e-8, 1e-3], np.geomspace(0.01, 20 * df + 200, 60)])
    for xi in x:
        got, want = dist.chi2_sf(float(xi), df), special.chdtrc(df, xi)
        assert math.isclose(got, want, rel_tol=REL, abs_tol=1e-300), (df, xi, got, want)
    # Tiny upper tails keep their relative precision (bcg FE: Q = 163 on 12 df, p ≈ 1.2e-28).
    assert math.isclose(dist.chi2_sf(163.16491518079985, 12), 1.1887725911106852e-28, rel_tol=1e-9)


@pytest.mark.parametrize("df", DFS)
def test_chi2_quantile_matches_scipy(df):
    for p in [1e-12, 1e-6, 0.001, 0.025, 0.05, 0.3, 0.5, 0.7, 0.95, 0.975, 0.999, 1 - 1e-9]:
        # The lower tail by gammaincinv (chdtri takes the upper tail 1 − p, which loses the digits
        # of a tiny p); the upper tail by chdtri (1 − p is exact for p near 1).
        want = 2 * special.gammaincinv(df / 2, p) if p < 0.5 else special.chdtri(df, 1.0 - p)
        got = dist.chi2_quantile(p, df)
        assert math.isclose(got, want, rel_tol=1e-11), (df, p, got, want)


def test_normal_functions_match_scipy():
    for p in [1e-300, 1e-20, 1e-6, 0.025, 0.3, 0.5, 0.8, 0.975, 1 - 1e-12]:
        assert math.isclose(dist.norm_quantile(p), special.ndtri(p), rel_tol=REL)
    for z in [0.0, 0.1, 1.959963984540054, 4.3, 12.0, 37.0, -2.5]:
        assert math.isclose(dist.norm_two_sided_p(z), 2 * special.ndtr(-abs(z)), rel_tol=REL, abs_tol=1e-300)


def test_edges_shapes_and_the_large_array_path():
    assert dist.chi2_sf(-1.0, 3) == 1.0 and dist.chi2_sf(math.inf, 3) == 0.0
    assert math.isnan(dist.chi2_sf(math.nan, 3)) and math.isnan(dist.chi2_sf(1.0, 0))
    assert dist.chi2_quantile(0.0, 3) == 0.0 and dist.chi2_quantile(1.0, 3) == math.inf
    assert dist.norm_quantile(0.0) == -math.inf and dist.norm_quantile(1.0) == math.inf
    assert np.ndim(dist.crit_value(0.95)) == 0 and dist.chi2_sf(np.array([1.0, 2.0]), 2).shape == (2,)
    big = np.linspace(0.1, 50, dist.SMALL + 1)  # past SMALL values: scipy.special itself
    np.testing.assert_allclose(dist.chi2_sf(big, 4), special.chdtrc(4, big), rtol=0)
