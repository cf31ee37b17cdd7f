"""Single-arm proportions (x events of n): effect measures, back-transformations and study CIs.

Measures, with the definitions documented for metafor's ``escalc`` (Viechtbauer, J Stat Softw
2010;36(3)):

* PR, the raw proportion: y = x/n, v = y(1 − y)/n;
* PLO, the logit: y = log(x/(n − x)), v = 1/x + 1/(n − x);
* PAS, the arcsine square root: y = asin(√(x/n)), v = 1/(4n);
* PFT, the Freeman–Tukey double arcsine (Freeman & Tukey, Ann Math Stat 1950):
  y = ½[asin√(x/(n + 1)) + asin√((x + 1)/(n + 1))], v = 1/(4n + 2).

For PR and PLO a study with x = 0 or x = n gets ½ added to x and to n − x (metafor's default
``add = 1/2, to = "only0"``); PAS and PFT need no correction.

The PFT back-transformation is Miller's inverse (Miller, Am Stat 1978;32:138): with t = 2y,
p = ½{1 − sgn(cos t)·[1 − (sin t + (sin t − 1/sin t)/n)²]^½}, with n the harmonic mean of the
study sizes for a pooled estimate; values below the transform of x = 0 give 0 and values above
that of x = n give 1.

Confidence intervals of single studies: Clopper–Pearson (exact; Clopper & Pearson, Biometrika
1934) or Wilson's score interval (Wilson, JASA 1927).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from trialsynth._core.bounds import check_continuity_correction
from trialsynth._core.dist import norm_quantile
from trialsynth._core.errors import InputError
from trialsynth.stats.effects import Effects

PROPORTION_MEASURES = ("PR", "PLO", "PAS", "PFT")


def _checked(xi, ni):
    x = np.asarray(xi, dtype=float)
    n = np.asarray(ni, dtype=float)
    if x.shape != n.shape:
        raise InputError("events and sizes have different lengths")
    if np.any(~np.isfinite(x)) or np.any(~np.isfinite(n)):
        raise InputError("a proportion has a missing count")
    if np.any(x < 0) or np.any(n <= 0) or np.any(x > n):
        raise InputError("a proportion needs 0 ≤ events ≤ size and a size of at least 1")
    return x, n


def proportion_effects(xi, ni, measure: str, *, add: float = 0.5) -> Effects:
    """(yi, vi) of single-arm proportions for PR, PLO, PAS or PFT (see the module docstring)."""
    measure = measure.upper()
    if measure not in PROPORTION_MEASURES:
        raise InputError(
            f"unknown proportion measure '{measure}'; choose one of {', '.join(PROPORTION_MEASURES)}"
        )
    add = check_continuity_correction(add)
    x, n = _checked(xi, ni)
    none = np.zeros(x.shape, dtype=bool)
    if measure in ("PR", "PLO"):
        corrected = ((x == 0) | (x == n)) & (add > 0)
        x = x + np.where(corrected, add, 0.0)
        n = n + np.where(corrected, 2 * add, 0.0)
        p = x / n
        if measure == "PR":
            return Effects(p, p * (1 - p) / n, corrected, none)
        with np.errstate(divide="ignore"):
            return Effects(np.log(x) - np.log(n - x), 1 / x + 1 / (n - x), corrected, none)
    if measure == "PAS":
        return Effects(np.arcsin(np.sqrt(x / n)), 1 / (4 * n), none, none)
    y = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
    return Effects(y, 1 / (4 * n + 2), none, none)


def harmonic_mean(ni) -> float:
    n = np.asarray(ni, dtype=float)
    return float(n.size / (1 / n).sum())


def ipft(y, n):
    """Miller's (1978) inverse of the Freeman–Tukey double arcsine y (metafor's scale, t = 2y)."""
    y = np.asarray(y, dtype=float)
    n = np.asarray(n, dtype=float)
    low = 0.5 * (np.arcsin(0.0) + np.arcsin(np.sqrt(1 / (n + 1))))
    high = 0.5 * (np.arcsin(np.sqrt(n / (n + 1))) + np.arcsin(1.0))
    t = 2 * np.clip(y, low, high)
    s = np.sin(t)
    inner = np.clip(1 - (s + (s - 1 / s) / n) ** 2, 0.0, None)
    p = 0.5 * (1 - np.sign(np.cos(t)) * np.sqrt(inner))
    return np.where(y <= low, 0.0, np.where(y >= high, 1.0, p))


def back_transform(y, measure: str, *, ni=None):
    """A value on the analysis scale of ``measure`` as a proportion (PFT: harmonic mean of ``ni``)."""
    measure = measure.upper()
    y = np.asarray(y, dtype=float)
    if measure == "PR":
        return y
    if measure == "PLO":
        return special.expit(y)
    if measure == "PAS":
        return np.sin(np.clip(y, 0.0, np.pi / 2)) ** 2
    if measure == "PFT":
        if ni is None:
            raise InputError("the Freeman–Tukey back-transformation needs the study sizes")
        return ipft(y, harmonic_mean(ni))
    raise InputError(f"unknown proportion measure '{measure}'")


def study_ci(xi, ni, *, method: str = "clopper-pearson", level: float = 0.95):
    """Per-study (lower, upper) CI of a proportion: Clopper–Pearson or Wilson."""
    x, n = _checked(xi, ni)
    alpha = 1 - (level / 100 if level > 1 else level)
    method = method.lower()
    if method in ("clopper-pearson", "exact", "cp"):
        lower = np.where(x > 0, special.betaincinv(x, n - x + 1, alpha / 2), 0.0)
        upper = np.where(x < n, special.betaincinv(x + 1, n - x, 1 - alpha / 2), 1.0)
        return lower, upper
    if method == "wilson":
        z = float(norm_quantile(1 - alpha / 2))
        p = x / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
        return centre - half, centre + half
    raise InputError(f"unknown CI method '{method}'; choose clopper-pearson or wilson")
