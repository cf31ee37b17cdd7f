"""Normal, t and chi-square tail functions over arrays.

Small inputs (up to :data:`SMALL` values: one pooled analysis) are computed here in plain Python,
so that a command such as ``trialsynth pool`` never imports ``scipy.special`` (which costs about
as much as numpy itself); larger arrays go to ``scipy.special`` (imported then). Both agree to
~1e-14 relative (tests/core/test_dist.py). Two-sided p-values use the upper tail directly, never
``1 - cdf``, so tiny p-values keep their precision.

The plain-Python formulas: the normal quantile is Wichura's AS 241 (Appl Stat 1988;37:477–84, as
:class:`statistics.NormalDist`), its tail ``erfc``; the chi-square tails are the regularized
incomplete gamma functions P(a, x) and Q(a, x) with a = df/2, by their power series when
x < a + 1 and by the continued fraction for Q otherwise, evaluated by the modified Lentz method
(Abramowitz & Stegun 6.5.29 and 6.5.31; Press et al., *Numerical Recipes*, 3rd ed., §6.2); the
chi-square quantile is their root by safeguarded Newton from the Wilson–Hilferty start.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

#: Inputs with at most this many values are computed in plain Python (no scipy import).
SMALL = 64
_EPS = 1e-16
_TINY = 1e-300


def _special():
    from scipy import special

    return special


def _small(*values) -> bool:
    return max(np.size(v) for v in values) <= SMALL


def _each(func, *values):
    """``func`` over broadcast values: a numpy scalar for scalar input, else an array."""
    out = np.vectorize(func, otypes=[float])(*values)
    return out[()]


@cache
def _normal_inv_cdf():
    """The standard normal quantile for 0 < p < 1: the function :meth:`statistics.NormalDist.inv_cdf`
    calls (CPython's C accelerator ``_statistics``, AS 241), without importing :mod:`statistics`,
    which brings fractions, decimal and random that pooling a small table never needs (issue 16);
    :class:`statistics.NormalDist` itself where the accelerator is missing."""
    try:
        from _statistics import _normal_dist_inv_cdf  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - Pythons without the C accelerator
        from statistics import NormalDist

        return NormalDist().inv_cdf
    return lambda p: _normal_dist_inv_cdf(p, 0.0, 1.0)


def _ndtri(p: float) -> float:
    if not 0.0 < p < 1.0:
        return -math.inf if p == 0.0 else math.inf if p == 1.0 else math.nan
    return _normal_inv_cdf()(p)


def _gamma_pq(a: float, x: float) -> tuple[float, float]:
    """Regularized incomplete gamma (P(a, x), Q(a, x)), each to full relative precision on its side."""
    if math.isnan(a) or math.isnan(x) or a <= 0.0:
        return math.nan, math.nan
    if x <= 0.0:
        return 0.0, 1.0
    if math.isinf(x):
        return 1.0, 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        n = a
        for _ in range(100_000):
            n += 1.0
            term *= x / n
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        p = total * math.exp(log_front)
        return p, 1.0 - p
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    q = math.exp(log_front) * h
    return 1.0 - q, q


def _chi2_sf(x: float, df: float) -> float:
    if math.isnan(x) or math.isnan(df) or df <= 0.0:
        return math.nan
    return _gamma_pq(df / 2.0, x / 2.0)[1]


def _chi2_quantile(p: float, df: float) -> float:
    """x with P(X ≤ x) = p for X ~ χ²(df)."""
    if math.isnan(p) or math.isnan(df) or df <= 0.0 or not 0.0 <= p <= 1.0:
        return math.nan
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return math.inf
    a = df / 2.0
    upper = p > 0.5  # solve on the side whose probability is the smaller (full relative precision)
    target = 1.0 - p if upper else p

    def residual(x: float) -> float:
        lower_p, upper_q = _gamma_pq(a, x / 2.0)
        return (target - upper_q) if upper else (lower_p - target)  # increasing in x

    z = _normal_inv_cdf()(p)
    x = df * (1.0 - 2.0 / (9.0 * df) + z * math.sqrt(2.0 / (9.0 * df))) ** 3
    if not x > 0.0:  # small p and df: P(a, y) ≈ y^a / Γ(a + 1)
        x = 2.0 * math.exp((math.log(p) + math.lgamma(a + 1.0)) / a)
    lo, hi = 0.0, math.inf
    for _ in range(200):
        f = residual(x)
        if f == 0.0:
            return x
        if f < 0.0:
            lo = x
        else:
            hi = x
        log_pdf = (a - 1.0) * math.log(x / 2.0) - x / 2.0 - math.lgamma(a) - math.log(2.0)
        step = f / math.exp(log_pdf) if log_pdf > -700.0 else math.inf
        new = x - step
        if not lo < new < hi:  # leave the bracket: bisect (or double while unbounded above)
            new = 2.0 * x if math.isinf(hi) else 0.5 * (lo + hi)
        if abs(new - x) <= 4.0 * _EPS * x:
            return new
        x = new
    return x


def norm_quantile(p):
    """Quantile of the standard normal distribution."""
    if _small(p):
        return _each(_ndtri, p)
    return _special().ndtri(p)


def norm_two_sided_p(z):
    """Two-sided p-value of a z statistic: 2 * P(Z > |z|)."""
    if _small(z):
        return _each(lambda v: math.erfc(abs(v) / math.sqrt(2.0)), z)
    return 2.0 * _special().ndtr(-np.abs(z))


def t_quantile(p, df):
    """Quantile of Student's t with ``df`` degrees of freedom."""
    return _special().stdtrit(df, p)


def t_two_sided_p(t, df):
    """Two-sided p-value of a t statistic with ``df`` degrees of freedom."""
    return 2.0 * _special().stdtr(df, -np.abs(t))


def chi2_sf(x, df):
    """Upper tail P(X > x) of a chi-square variable with ``df`` degrees of freedom."""
    if _small(x, df):
        return _each(_chi2_sf, x, df)
    return _special().chdtrc(df, x)


def chi2_quantile(p, df):
    """Quantile (lower-tail probability ``p``) of a chi-square with ``df`` degrees of freedom."""
    if _small(p, df):
        return _each(_chi2_quantile, p, df)
    return _special().chdtri(df, 1.0 - p)


def crit_value(level, df=None):
    """Two-sided critical value for a ``level`` (fraction, e.g. 0.95) interval: z, or t(df)."""
    upper = 0.5 + level / 2.0
    if df is None:
        return norm_quantile(upper)
    return t_quantile(upper, df)
