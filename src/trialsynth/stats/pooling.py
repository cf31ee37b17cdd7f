"""Pooling: inverse-variance fixed and random effects, Mantel–Haenszel and Peto.

``fit_arrays`` is the array engine: it takes ``yi``, ``vi`` of shape ``(..., k)`` with a
mask and returns a dict of arrays of shape ``(...)`` (and per-study weights ``(..., k)``),
so that the same code fits one meta-analysis or a stack of a million.

Definitions (metafor's, documented in Viechtbauer, J Stat Softw 2010):

* weights w = 1/(vi + τ²) (τ² = 0 for the fixed-effect model), μ̂ = Σwy/Σw, SE = √(1/Σw),
  z test and z-based CI.
* Hartung–Knapp (Hartung & Knapp 2001; Sidik & Jonkman 2002), metafor's ``test="knha"``:
  SE_HK = √(q/Σw) with q = Σw(y − μ̂)²/(k − 1), no floor; t with k − 1 df. The ad hoc
  variant (Knapp & Hartung 2003; Röver et al. 2015) uses max(1, q).
* Cochran's Q = Σ(y − μ̂_FE)²/vi, df = k − 1.
* I² (percent) and H²: for fixed-effect models from Q: I² = max(0, (Q − df)/Q), H² = Q/df
  (Higgins & Thompson 2002); for random-effects models from τ²: I² = τ²/(τ² + s²),
  H² = (τ² + s²)/s², with the typical within-study variance
  s² = (k − 1)Σw/((Σw)² − Σw²), w = 1/vi (Higgins & Thompson 2002, eq. 9).
* Prediction interval: μ̂ ± c·√(SE² + τ²), c = z, or t(k − 1) under Hartung–Knapp
  (metafor's), or t(k − 2) (Higgins, Thompson & Spiegelhalter 2009) on request.
"""

from __future__ import annotations

import numpy as np

from trialsynth._core.bounds import check_effects
from trialsynth._core.dist import chi2_sf, crit_value, norm_two_sided_p, t_two_sided_p
from trialsynth.stats.estimators import METHODS as TAU2_METHODS
from trialsynth.stats.estimators import tau2_estimate, tau2_qprofile_ci

FIXED = "FE"
IV_METHODS = (FIXED, *TAU2_METHODS)
PI_TYPES = ("default", "z", "t", "higgins")


def _check_fit_options(method: str, hk_variant: str, pi_type: str) -> None:
    if method not in IV_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(IV_METHODS)}")
    if hk_variant not in ("knha", "adhoc"):
        raise ValueError("hk_variant must be 'knha' or 'adhoc'")
    if pi_type not in PI_TYPES:
        raise ValueError(f"pi_type must be one of {', '.join(PI_TYPES)}")


def _tau2_of_fit(method: str, tau2, y, v, mask, k):
    """τ² of each fit (0 for the fixed-effect model and below two studies; ``tau2`` when given,
    else estimated by ``method``) with its convergence, iterations and number of local maxima."""
    shape = y.shape[:-1]
    if method == FIXED or tau2 is not None:
        fixed = np.zeros(shape) if method == FIXED else np.broadcast_to(np.asarray(tau2, dtype=float), shape)
        tau2_fit = np.where(k >= 2, fixed, 0.0) if method != FIXED else fixed
        ones = np.ones(shape, dtype=bool)
        return tau2_fit, ones, np.zeros(shape, dtype=int), np.zeros(shape, dtype=np.int64)
    est = tau2_estimate(y, v, mask, method=method)
    return np.where(k >= 2, est.tau2, 0.0), est.converged, est.iterations, est.n_local_maxima


def _prediction_crit(pi_type: str, hk: bool, level: float, k):
    """Critical value of the prediction interval: z, t(k − 1), or t(k − 2) (``higgins``)."""
    if pi_type == "z" or (pi_type == "default" and not hk):
        return crit_value(level)
    if pi_type == "higgins":
        return crit_value(level, np.where(k >= 3, k - 2, np.nan).astype(float))
    return crit_value(level, np.where(k - 1 >= 1, k - 1, np.nan).astype(float))


def _tau2_i2_h2(tau2_fit, k, w_fe):
    """τ² (NaN below two studies), I² = τ²/(τ² + s²) in percent and H² = (τ² + s²)/s², with s² the
    typical within-study variance (k − 1)Σwᵢ/((Σwᵢ)² − Σwᵢ²) (Higgins & Thompson, Stat Med 2002)."""
    sw_fe = w_fe.sum(axis=-1)
    s2 = (k - 1) * sw_fe / (sw_fe**2 - (w_fe**2).sum(axis=-1))
    tau2 = np.where(k >= 2, tau2_fit, np.nan)
    return tau2, 100.0 * tau2 / (tau2 + s2), (tau2 + s2) / s2


def _add_tau2_ci(out: dict, method: str, y, v, mask, level: float) -> None:
    """The Q-profile CI of τ² into ``out`` (NaN for the fixed-effect model); its convergence too."""
    if method == FIXED:
        out["tau2_ci_lower"] = out["tau2_ci_upper"] = np.full(y.shape[:-1], np.nan)
        return
    lo, hi, ci_conv = tau2_qprofile_ci(y, v, mask, level=level)
    out["tau2_ci_lower"], out["tau2_ci_upper"] = lo, hi
    out["converged"] = out["converged"] & np.where(out["k"] >= 2, ci_conv, True)


def _checked_stack(yi, vi, mask):
    """The effects and variances with the left-out studies set to 0 and 1, and the mask.

    Without a mask, a study is left out only when its effect and variance are both missing
    (NaN); one of them missing alone, or a variance ≤ 0, is refused. The pooled studies'
    variances and effects must be in the range where the arithmetic is exact (a variance of 0
    or 1e-300 would give an infinite weight and a NaN estimate).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    mask = ~(np.isnan(yi) & np.isnan(vi)) if mask is None else np.asarray(mask, dtype=bool)
    check_effects(np.where(mask, yi, 0.0), np.where(mask, vi, 1.0), paired_nan=False)
    return np.where(mask, yi, 0.0), np.where(mask, vi, 1.0), mask


def fit_arrays(
    yi,
    vi,
    mask=None,
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 0.95,
    pi_type: str = "default",
    tau2_ci: bool = False,
    tau2=None,
) -> dict[str, np.ndarray]:
    """Inverse-variance fixed- or random-effects fits for a stack of meta-analyses.

    Returns arrays: ``k, estimate, se, statistic, df, p_value, ci_lower, ci_upper, tau2,
    i2, h2, q, q_df, q_p_value, pi_lower, pi_upper, converged, iterations, n_local_maxima, weights`` (weights
    in percent, shape ``(..., k)``), and ``tau2_ci_lower, tau2_ci_upper`` when ``tau2_ci``.
    τ², its CI and the prediction interval are NaN for the fixed-effect model; everything
    that needs two studies is NaN with one. ``tau2`` (array of the batch shape), when given,
    is used instead of estimating τ² (e.g. RevMan's Mantel–Haenszel-centred DerSimonian–Laird).
    """
    method = method.upper()
    _check_fit_options(method, hk_variant, pi_type)
    y, v, mask = _checked_stack(yi, vi, mask)
    k = mask.sum(axis=-1)
    df = k - 1
    shape = y.shape[:-1]

    # Fixed-effect quantities: Cochran's Q and the typical within-study variance.
    w_fe = np.where(mask, 1.0 / v, 0.0)
    sw_fe = w_fe.sum(axis=-1)
    mu_fe = (w_fe * y).sum(axis=-1) / sw_fe
    q = (w_fe * (y - mu_fe[..., None]) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q_p = np.where(df >= 1, chi2_sf(q, df), np.nan)

    tau2_fit, converged, iterations, n_local_maxima = _tau2_of_fit(method, tau2, y, v, mask, k)
    w = np.where(mask, 1.0 / (v + tau2_fit[..., None]), 0.0)
    sw = w.sum(axis=-1)
    mu = (w * y).sum(axis=-1) / sw
    se = np.sqrt(1.0 / sw)
    with np.errstate(divide="ignore", invalid="ignore"):
        if hk:
            s2w = (w * (y - mu[..., None]) ** 2).sum(axis=-1) / df
            if hk_variant == "adhoc":
                s2w = np.maximum(1.0, s2w)
            se = np.where(df >= 1, np.sqrt(s2w / sw), np.nan)
            tdf = np.where(df >= 1, df, np.nan).astype(float)
            stat = mu / se
            p = t_two_sided_p(stat, tdf)
            crit = crit_value(level, tdf)
        else:
            tdf = np.full(shape, np.nan)
            stat = mu / se
            p = norm_two_sided_p(stat)
            crit = crit_value(level)
        ci_lower = mu - crit * se
        ci_upper = mu + crit * se

        if method == FIXED:
            i2 = np.where(df >= 1, np.where(q > 0, np.maximum(0.0, (q - df) / q), 0.0) * 100, np.nan)
            h2 = np.where(df >= 1, q / df, np.nan)
            tau2 = np.full(shape, np.nan)
            pi_lower = pi_upper = np.full(shape, np.nan)
        else:
            tau2, i2, h2 = _tau2_i2_h2(tau2_fit, k, w_fe)
            half = _prediction_crit(pi_type, hk, level, k) * np.sqrt(se**2 + tau2)
            pi_lower, pi_upper = mu - half, mu + half
        weights = 100.0 * w / sw[..., None]

    out = {
        "k": k,
        "estimate": mu,
        "se": se,
        "statistic": stat,
        "df": tdf,
        "p_value": p,
        "ci_lower": ci_lower,
        "ci_upper": ci_upper,
        "tau2": tau2,
        "i2": i2,
        "h2": h2,
        "q": q,
        "q_df": df,
        "q_p_value": q_p,
        "pi_lower": pi_lower,
        "pi_upper": pi_upper,
        "converged": converged,
        "iterations": iterations,
        "n_local_maxima": n_local_maxima,
        "weights": np.where(mask, weights, np.nan),
    }
    if tau2_ci:
        _add_tau2_ci(out, method, y, v, mask, level)
    return out


# ---------------------------------------------------------------------------------------
# Mantel–Haenszel and Peto: pooled estimates from the raw 2×2 counts.


def one_study_convention(fit: dict, single, method: str) -> None:
    """Give meta-analyses of one study metafor's values (``rma`` with k = 1), in place.

    ``single`` marks them (a boolean array of the batch shape, or a scalar). Nothing is
    pooled: τ² = 0 (absent for FE), I² = 0, H² = 1, Q = 0 with p = 1; no τ² interval and no
    prediction interval. The single fit (:func:`trialsynth.stats.meta.meta_analysis`) and the batch
    engine (:func:`trialsynth.stats.batch.fit_batch`) both call this, so they agree
    (docs/analyses-conventions.md).
    """
    single = np.asarray(single, dtype=bool)
    if not single.any():
        return
    for key in ("tau2_ci_lower", "tau2_ci_upper", "pi_lower", "pi_upper"):
        if key in fit:
            fit[key] = np.where(single, np.nan, fit[key])
    values = {"i2": 0.0, "h2": 1.0, "q": 0.0, "q_p_value": 1.0, "tau2": np.nan if method == "FE" else 0.0}
    for key, value in values.items():
        fit[key] = np.where(single, value, fit[key])


def mantel_haenszel(a, n1, c, n2, measure: str, *, rd_variance: str = "SGR") -> tuple[float, float]:
    """Mantel–Haenszel pooled estimate and its SE (log scale for OR and RR).

    OR: Mantel & Haenszel (1959) with the Robins, Breslow & Greenland (1986) variance;
    RR: Greenland & Robins (1985) variance; RD: Sato, Greenland & Robins (1989) variance
    (``rd_variance="SGR"``, metafor's) or Greenland & Robins (1985) (``"GR"``, RevMan's).
    Inputs are 1-d arrays of counts (already corrected if a correction is wanted).
    """
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    b, d = n1 - a, n2 - c
    n = n1 + n2
    measure = measure.upper()
    if measure == "OR":
        r_i, s_i = a * d / n, b * c / n
        p_i, q_i = (a + d) / n, (b + c) / n
        r, s = r_i.sum(), s_i.sum()
        if r <= 0 or s <= 0:
            raise ValueError("the Mantel–Haenszel odds ratio is not estimable (no discordant events)")
        var = (
            (p_i * r_i).sum() / (2 * r**2)
            + (p_i * s_i + q_i * r_i).sum() / (2 * r * s)
            + (q_i * s_i).sum() / (2 * s**2)
        )
        return float(np.log(r / s)), float(np.sqrt(var))
    if measure == "RR":
        r, s = (a * n2 / n).sum(), (c * n1 / n).sum()
        if r <= 0 or s <= 0:
            raise ValueError("the Mantel–Haenszel risk ratio is not estimable (no events in one arm)")
        var = ((n1 * n2 * (a + c) - a * c * n) / n**2).sum() / (r * s)
        return float(np.log(r / s)), float(np.sqrt(var))
    if measure == "RD":
        wsum = (n1 * n2 / n).sum()
        rd = ((a * n2 - c * n1) / n).sum() / wsum
        if rd_variance == "GR":
            var = ((a * b * n2**3 + c * d * n1**3) / (n1 * n2 * n**2)).sum() / wsum**2
        else:
            p_i = (n1**2 * c - n2**2 * a + n1 * n2 * (n2 - n1) / 2) / n**2
            q_i = (a * (n2 - c) + c * (n1 - a)) / (2 * n)
            var = (rd * p_i.sum() + q_i.sum()) / wsum**2
        return float(rd), float(np.sqrt(var))
    raise ValueError(f"Mantel–Haenszel is defined for OR, RR and RD, not {measure}")


def mantel_haenszel_weights(a, n1, c, n2, measure: str) -> np.ndarray:
    """Each table's Mantel–Haenszel weight, in percent: bc/N (OR), c·n1/N (RR), n1·n2/N (RD)."""
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    n = n1 + n2
    b = n1 - a
    measure = measure.upper()
    if measure == "OR":
        w = b * c / n
    elif measure == "RR":
        w = c * n1 / n
    else:
        w = n1 * n2 / n
    return 100.0 * w / w.sum()


def peto(a, n1, c, n2) -> tuple[float, float, np.ndarray]:
    """Peto's pooled log odds ratio Σ(O − E)/ΣV, its SE √(1/ΣV), and weights V/ΣV in percent."""
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    n = n1 + n2
    m1 = a + c
    e = m1 * n1 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(n > 1, m1 * (n - m1) * n1 * n2 / (n**2 * (n - 1)), 0.0)
    sv = v.sum()
    if sv <= 0:
        raise ValueError("Peto's odds ratio is not estimable (no events)")
    return float((a - e).sum() / sv), float(np.sqrt(1.0 / sv)), 100.0 * v / sv


def heterogeneity_from_estimate(yi, vi, estimate: float) -> dict[str, float]:
    """Q, its df and p-value, I² (percent) and H² of studies around a given pooled estimate.

    Used for Mantel–Haenszel and Peto fits: Q = Σ(yi − θ̂)²/vi over the studies with a
    per-study effect, df = k − 1, I² = max(0, (Q − df)/Q), H² = Q/df; for one study
    metafor's convention: I² = 0, H² = 1, p = 1.
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    ok = np.isfinite(yi) & np.isfinite(vi)
    q = float((((yi - estimate) ** 2) / vi)[ok].sum())
    df = int(ok.sum()) - 1
    if df == 0:
        return {"q": q, "q_df": 0, "q_p_value": 1.0, "i2": 0.0, "h2": 1.0}
    if df < 1:
        return {"q": q, "q_df": 0, "q_p_value": np.nan, "i2": np.nan, "h2": np.nan}
    i2 = 100.0 * max(0.0, (q - df) / q) if q > 0 else 0.0
    return {"q": q, "q_df": df, "q_p_value": float(chi2_sf(q, df)), "i2": i2, "h2": q / df}
