"""Normal, t and chi-square tail functions over arrays.

Thin wrappers over ``scipy.special`` (which imports far faster than ``scipy.stats``, so
the command line stays quick). All accept and return arrays; two-sided p-values use
the upper tail directly, never ``1 - cdf``, so tiny p-values keep their precision.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def norm_quantile(p):
    """Quantile of the standard normal distribution."""
    return special.ndtri(p)


def norm_two_sided_p(z):
    """Two-sided p-value of a z statistic: 2 * P(Z > |z|)."""
    return 2.0 * special.ndtr(-np.abs(z))


def t_quantile(p, df):
    """Quantile of Student's t with ``df`` degrees of freedom."""
    return special.stdtrit(df, p)


def t_two_sided_p(t, df):
    """Two-sided p-value of a t statistic with ``df`` degrees of freedom."""
    return 2.0 * special.stdtr(df, -np.abs(t))


def chi2_sf(x, df):
    """Upper tail P(X > x) of a chi-square variable with ``df`` degrees of freedom."""
    return special.chdtrc(df, x)


def chi2_quantile(p, df):
    """Quantile (lower-tail probability ``p``) of a chi-square with ``df`` degrees of freedom."""
    return special.chdtri(df, 1.0 - p)


def crit_value(level, df=None):
    """Two-sided critical value for a ``level`` (fraction, e.g. 0.95) interval: z, or t(df)."""
    upper = 0.5 + level / 2.0
    if df is None:
        return norm_quantile(upper)
    return t_quantile(upper, df)
