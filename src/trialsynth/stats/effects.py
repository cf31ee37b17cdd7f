"""Per-study effect sizes and their sampling variances, over arrays.

Every function takes arrays of any shape (one element per study, possibly stacked as
``(..., k)``) and returns ``(yi, vi)`` on the analysis scale: the log for ratio measures
(OR, RR, HR), the raw difference for MD, SMD and RD.

Conventions (the ``metafor`` profile, the default) follow the definitions documented for
metafor's ``escalc`` (Viechtbauer, J Stat Softw 2010;36(3)); the ``revman`` profile follows
the RevMan 5 statistical methods (Deeks & Higgins, 2010). Formulas:

Binary 2×2 tables (a, b = events, non-events in the treatment arm; c, d in control;
n1 = a + b, n2 = c + d):

* OR: yi = ln(ad / bc), vi = 1/a + 1/b + 1/c + 1/d (Woolf 1955).
* RR: yi = ln((a/n1) / (c/n2)), vi = 1/a − 1/n1 + 1/c − 1/n2.
* RD: yi = a/n1 − c/n2, vi = p1(1 − p1)/n1 + p2(1 − p2)/n2.

A table with a zero cell gets ``add`` (0.5) added to all four cells (``to="only0"``). A
table with no events in either arm, or only events ("double zero"), is left out when
``drop00`` is true: :func:`binary_effects` defaults to that for OR, RR and Peto (RevMan 5,
metafor's ``rma.mh``/``rma.peto``) and keeps it for RD. Pooling picks the convention by
profile (:func:`trialsynth.stats.meta.default_drop00`): the ``metafor`` profile's
inverse-variance OR and RR keep such tables with the correction, as metafor's ``escalc`` and
``rma`` (``drop00 = FALSE``).

Continuous data (means m, SDs s, sizes n):

* MD: yi = m1 − m2, vi = s1²/n1 + s2²/n2.
* SMD (Hedges' g): d = (m1 − m2)/s_pooled, s_pooled² = ((n1−1)s1² + (n2−1)s2²)/(n1+n2−2),
  g = J·d with the exact correction J = Γ(m/2) / (√(m/2) Γ((m−1)/2)), m = n1 + n2 − 2
  (Hedges 1981), vi = 1/n1 + 1/n2 + g²/(2(n1 + n2)). The ``revman`` profile uses
  J ≈ 1 − 3/(4m − 1) and vi = 1/n1 + 1/n2 + g²/(2(n1 + n2 − 3.94)).

Generic inverse variance: an estimate with its CI on the natural scale gives
yi = ln(estimate) for ratios (the estimate itself for differences) and
SE = (ln upper − ln lower)/(2·z), z the normal quantile of the CI level.

Hazard ratios from summary statistics (Tierney et al., Trials 2007;8:16):

* from O − E and V: yi = (O − E)/V, vi = 1/V;
* from a two-sided p-value, the total number of events E and the arm sizes
  (R = n_treatment/n_control): V = E·R/(1 + R)², O − E = ±z·√V with z = Φ⁻¹(1 − p/2),
  negative when the result favours the treatment arm; yi = (O − E)/V, vi = 1/V.

Peto's one-step odds ratio per study: O = a, E = (a + c)·n1/N,
V = (a + c)(b + d)·n1·n2/(N²(N − 1)), yi = (O − E)/V, vi = 1/V (Yusuf et al. 1985).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsynth._core.bounds import check_continuity_correction
from trialsynth._core.dist import norm_quantile

BINARY_MEASURES = ("OR", "RR", "RD", "PETO")
CONTINUOUS_MEASURES = ("MD", "SMD")
RATIO_MEASURES = ("OR", "RR", "HR", "PETO")
PROFILES = ("metafor", "revman")


@dataclass(frozen=True)
class Effects:
    """Per-study effects: ``yi``, ``vi`` (NaN where a study was left out) and flags.

    ``corrected`` marks studies that had ``add`` added to their cells; ``dropped`` marks
    studies left out (double-zero tables for OR/RR/Peto).
    """

    yi: np.ndarray
    vi: np.ndarray
    corrected: np.ndarray
    dropped: np.ndarray


def _as_float(*arrays):
    return tuple(np.asarray(a, dtype=float) for a in arrays)


CORRECTION_TARGETS = ("only0", "all", "if0all", "none", "sweeting")


def continuity_correction(a, b, c, d, *, add: float = 0.5, to: str = "only0", drop00: bool = True):
    """Apply a continuity correction to 2×2 cells.

    ``to``: ``"only0"`` (tables with a zero cell), ``"all"`` (every table), ``"if0all"``
    (every table if any has a zero cell), ``"none"``, or ``"sweeting"``: the treatment-arm
    continuity correction of Sweeting, Sutton & Lambert (Stat Med 2004;23:1351–75, §3.3) for
    tables with a zero cell. There the correction of each arm is proportional to the reciprocal
    of the size of the opposite arm, k_T ∝ 1/n_C and k_C ∝ 1/n_T, with k_T + k_C = K; in their
    notation R = n_C/n_T, k_T = K/(R + 1) and k_C = K·R/(R + 1), i.e. k_T = K·n_T/(n_T + n_C)
    and k_C = K·n_C/(n_T + n_C). Here K = 2·``add`` (add = ½ gives K = 1, the total of the usual
    ½ + ½), so with equal arms it is the usual correction; k_T goes to both cells of the treatment
    arm (a, b), k_C to both cells of the control arm (c, d).

    Returns the corrected cells, a boolean array of corrected tables and one of tables left out
    by ``drop00`` (no events in both arms, or no non-events in both arms).
    """
    add = check_continuity_correction(add)
    a, b, c, d = _as_float(a, b, c, d)
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    double = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    dropped = double if drop00 else np.zeros_like(double)
    if to in ("only0", "sweeting"):
        corrected = zero & ~dropped
    elif to == "all":
        corrected = ~dropped
    elif to == "if0all":
        any_zero = np.any(zero & ~dropped, axis=-1, keepdims=True) if zero.ndim else zero & ~dropped
        corrected = np.broadcast_to(any_zero, zero.shape) & ~dropped
    elif to == "none":
        corrected = np.zeros_like(zero)
    else:
        raise ValueError(f"unknown continuity correction target {to!r}; use {', '.join(CORRECTION_TARGETS)}")
    if to == "sweeting":
        k_t, k_c = sweeting_corrections(a + b, c + d, add=add)
        extra_t, extra_c = np.where(corrected, k_t, 0.0), np.where(corrected, k_c, 0.0)
        return a + extra_t, b + extra_t, c + extra_c, d + extra_c, corrected, dropped
    extra = np.where(corrected, add, 0.0)
    return a + extra, b + extra, c + extra, d + extra, corrected, dropped


def sweeting_corrections(n_t, n_c, *, add: float = 0.5):
    """The treatment-arm corrections (k_T, k_C) of Sweeting et al. 2004 for arms of n_t and n_c:
    k_T = 2·add·n_t/(n_t + n_c), k_C = 2·add·n_c/(n_t + n_c) (see :func:`continuity_correction`)."""
    n_t, n_c = _as_float(n_t, n_c)
    total = 2.0 * add
    return total * n_t / (n_t + n_c), total * n_c / (n_t + n_c)


def binary_effects(
    events_t,
    n_t,
    events_c,
    n_c,
    measure: str,
    *,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool | None = None,
) -> Effects:
    """OR, RR, RD or Peto OR (log scale for ratios) from 2×2 counts.

    ``drop00`` defaults to True for OR, RR and PETO and False for RD.
    """
    measure = measure.upper()
    if measure not in BINARY_MEASURES:
        raise ValueError(f"measure {measure!r} is not a binary measure")
    if drop00 is None:
        drop00 = measure != "RD"
    a, n1, c, n2 = _as_float(events_t, n_t, events_c, n_c)
    b, d = n1 - a, n2 - c
    a, b, c, d, corrected, dropped = continuity_correction(a, b, c, d, add=add, to=to, drop00=drop00)
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            yi = np.log(a * d / (b * c))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RR":
            yi = np.log((a / n1) / (c / n2))
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "RD":
            p1, p2 = a / n1, c / n2
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        else:  # PETO
            n = n1 + n2
            e = (a + c) * n1 / n
            v = (a + c) * (b + d) * n1 * n2 / (n**2 * (n - 1))
            yi = (a - e) / v
            vi = 1 / v
    yi = np.where(dropped, np.nan, yi)
    vi = np.where(dropped, np.nan, vi)
    return Effects(yi, vi, corrected, dropped)


def hedges_j(m):
    """Exact small-sample correction J(m) = Γ(m/2) / (√(m/2) Γ((m−1)/2)) (Hedges 1981).

    Computed through log-gamma so it stays finite for large m.
    """
    m = np.asarray(m, dtype=float)
    from scipy import special  # here, not at import: a pool of ratios never needs it

    return np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))


def continuous_effects(
    mean_t, sd_t, n_t, mean_c, sd_c, n_c, measure: str, *, profile: str = "metafor"
) -> Effects:
    """MD or SMD (Hedges' g) from group means, SDs and sizes; see the module docstring."""
    measure = measure.upper()
    m1, s1, n1, m2, s2, n2 = _as_float(mean_t, sd_t, n_t, mean_c, sd_c, n_c)
    none = np.zeros(np.shape(m1), dtype=bool)
    if measure == "MD":
        return Effects(m1 - m2, s1**2 / n1 + s2**2 / n2, none, none)
    if measure != "SMD":
        raise ValueError(f"measure {measure!r} is not a continuous measure")
    df = n1 + n2 - 2
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / df)
    d = (m1 - m2) / sp
    if profile == "revman":
        g = d * (1 - 3 / (4 * df - 1))
        vi = 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2 - 3.94))
    else:
        g = d * hedges_j(df)
        vi = 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))
    return Effects(g, vi, none, none)


def generic_from_ci(estimate, lower, upper, *, ratio: bool, level=95.0) -> Effects:
    """Effect and variance from an estimate with its confidence interval (natural scale).

    ``level`` is in percent (array or scalar). For ratios the log is taken.
    """
    est, lo, hi, lvl = _as_float(estimate, lower, upper, level)
    if ratio:
        est, lo, hi = np.log(est), np.log(lo), np.log(hi)
    z = norm_quantile(0.5 + lvl / 200.0)
    se = (hi - lo) / (2 * z)
    none = np.zeros(np.shape(est), dtype=bool)
    return Effects(est, se**2, none, none)


def generic_from_se(estimate, se) -> Effects:
    """Effect already on the analysis scale with its standard error."""
    est, se = _as_float(estimate, se)
    none = np.zeros(np.shape(est), dtype=bool)
    return Effects(est, se**2, none, none)


def hr_from_o_minus_e(o_minus_e, v) -> Effects:
    """Log hazard ratio from the log-rank O − E and its variance V (Tierney et al. 2007)."""
    ome, v = _as_float(o_minus_e, v)
    none = np.zeros(np.shape(ome), dtype=bool)
    return Effects(ome / v, 1 / v, none, none)


def hr_from_p_value(p_value, events, favours_treatment, n_t, n_c) -> Effects:
    """Log hazard ratio from a two-sided p-value and the total events (Tierney et al. 2007).

    V = E·R/(1 + R)² with R = n_t/n_c; O − E = −z·√V when the result favours the treatment
    arm (HR < 1), +z·√V when it favours control.
    """
    p, e, n1, n2 = _as_float(p_value, events, n_t, n_c)
    r = n1 / n2
    v = e * r / (1 + r) ** 2
    z = norm_quantile(1 - p / 2)
    sign = np.where(np.asarray(favours_treatment, dtype=bool), -1.0, 1.0)
    ome = sign * z * np.sqrt(v)
    return hr_from_o_minus_e(ome, v)
