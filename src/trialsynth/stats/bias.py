"""Small-study effects and publication bias, with metafor's conventions.

Every function takes the per-study effects ``yi`` and sampling variances ``vi`` on the
analysis scale (log for ratios) and the pooling options of the fitted model (``method``,
``hk``), and answers even where the method is of little use (fewer than 10 studies for the
asymmetry tests: a :class:`~trialsynth._core.errors.TrialsynthWarning` says so).

* :func:`egger_test` — Egger's regression test as metafor's ``regtest`` (default
  ``model="rma"``, ``predictor="sei"``): the fitted model (same τ² estimator and test) with the
  standard error √vᵢ as moderator; z test of the slope (t with k − 2 df under Hartung–Knapp);
  the intercept is the "limit estimate" (the effect at SE → 0) with its CI. With
  ``model="lm"`` the classic test of Egger et al. (BMJ 1997): weighted least squares of yᵢ on
  √vᵢ with weights 1/vᵢ and a multiplicative dispersion, t test with k − 2 df (the same as
  regressing yᵢ/√vᵢ on 1/√vᵢ and testing the intercept). ``predictor="ninv"`` uses 1/nᵢ (nᵢ
  the total sample size): Peters' test (Peters et al., JAMA 2006) in metafor's
  ``regtest(predictor="ninv")`` form.
* :func:`rank_test` — Begg & Mazumdar (Biometrics 1994) as metafor's ``ranktest``: Kendall's τ
  between (yᵢ − θ̂)/√(vᵢ − 1/Σw) (θ̂ the fixed-effect estimate, w = 1/v) and vᵢ; p-value as R's
  ``cor.test(method="kendall", exact=TRUE)``: exact (the permutation distribution of the
  number of concordant pairs) when there are no ties, else the normal approximation with the
  tie-corrected variance of Kendall's S (Kendall, *Rank Correlation Methods*, 1970).
* :func:`trim_and_fill` — Duval & Tweedie (Biometrics 2000; JASA 2000) as metafor's
  ``trimfill``: estimator L0 (default), R0 or Q0; the side, unless given, from the sign of
  the slope of the regression test above (negative: missing studies imputed on the right,
  positive: on the left); the trimming fits and the final fit use the model's τ² estimator;
  the fit to the filled data uses a z test (metafor's ``trimfill`` does not carry
  ``test="knha"`` over to it).
* :func:`fail_safe_n` — Rosenthal (Psychol Bull 1979), Orwin (J Educ Stat 1983) and
  Rosenberg (Evolution 2005) fail-safe N, as metafor's ``fsn``.
* :func:`harbord_test` — Harbord, Egger & Sterne (Stat Med 2006) for odds ratios from 2×2
  counts: with Zᵢ = aᵢ − (aᵢ + cᵢ)n₁ᵢ/Nᵢ (efficient score) and Vᵢ = n₁ᵢn₂ᵢ(aᵢ + cᵢ)(bᵢ + dᵢ)/
  (Nᵢ²(Nᵢ − 1)) (its variance), ordinary least squares of Zᵢ/√Vᵢ on √Vᵢ; the intercept is
  the bias coefficient, tested with t on k − 2 df.
* :func:`selection_model` — the step-function selection model (Hedges, Stat Sci 1992; Vevea
  & Hedges, Psychometrika 1995) as metafor's ``selmodel(type="stepfun")``, fitted by maximum
  likelihood.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from trialsynth._core.bounds import check_effects
from trialsynth._core.dist import chi2_sf, crit_value, norm_quantile, norm_two_sided_p
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth._core.serialize import JsonResult, json_key
from trialsynth.stats.regression import EXACT_FIT_WARNING, FIXED, exact_fit, fit_mods

#: Fewer studies than this and the asymmetry tests are flagged (Sterne et al., BMJ 2011).
MIN_STUDIES_ASYMMETRY = 10


def _warn(message: str) -> None:
    warnings.warn(message, TrialsynthWarning, stacklevel=3)


def _check_k(k: int, what: str) -> None:
    if k < MIN_STUDIES_ASYMMETRY:
        _warn(
            f"{what} with {k} studies (fewer than {MIN_STUDIES_ASYMMETRY}): little power, hard to interpret"
        )


# ---------------------------------------------------------------------------------------
# Regression tests


@dataclass(frozen=True)
class RegressionTest(JsonResult):
    """A regression test for funnel-plot asymmetry (metafor's ``regtest``)."""

    model: str  # "rma" or "lm"
    predictor: str  # "sei", "vi", "ninv", "sqrtninv", "ni", "sqrtni"
    statistic: float  # z, or t (Hartung–Knapp / lm)
    df: float  # t degrees of freedom; NaN for z
    p_value: float
    slope: float
    slope_se: float
    limit_estimate: float
    limit_ci_lower: float
    limit_ci_upper: float

    #: JSON: ``test`` names the statistic's distribution; the statistic is under ``z`` either way.
    __json_fields__ = (
        "model", "predictor", "test", ("z", "statistic"), "df", "p_value", "slope", "slope_se",
        "limit_estimate", "limit_ci_lower", "limit_ci_upper",
    )

    @property
    def test(self) -> str:
        """``"z"`` (normal) or ``"t"`` (Hartung–Knapp or ``lm``, with ``df`` degrees of freedom)."""
        return "z" if math.isnan(self.df) else "t"


_PREDICTORS = {
    "sei": lambda vi, ni: np.sqrt(vi),
    "vi": lambda vi, ni: vi,
    "ni": lambda vi, ni: ni,
    "ninv": lambda vi, ni: 1.0 / ni,
    "sqrtni": lambda vi, ni: np.sqrt(ni),
    "sqrtninv": lambda vi, ni: 1.0 / np.sqrt(ni),
}


def egger_test(
    yi,
    vi,
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 0.95,
    model: str = "rma",
    predictor: str = "sei",
    ni=None,
) -> RegressionTest:
    """Regression test for funnel-plot asymmetry (see the module docstring)."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    check_effects(yi, vi, paired_nan=False)
    if predictor not in _PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r}")
    if predictor in ("ni", "ninv", "sqrtni", "sqrtninv"):
        if ni is None:
            raise InputError("this regression test needs the sample sizes of the studies")
        ni = np.asarray(ni, dtype=float)
    k = len(yi)
    if k < 3:
        raise InputError("a regression test needs at least three studies")
    x = _PREDICTORS[predictor](vi, ni)
    X = np.column_stack([np.ones(k), x])
    limit = predictor in ("sei", "vi", "ninv", "sqrtninv")
    if np.all(np.isfinite(X)) and np.linalg.matrix_rank(X) < 2:
        # The predictor is the same for every study (equal SEs, say): no slope can be fitted
        # (metafor's regtest stops: "Model matrix no longer of full rank").
        warnings.warn(
            f"the regression test for funnel-plot asymmetry ({model}) is not defined: every study has "
            f"the same {predictor}, so there is no slope to test; not reported",
            TrialsynthWarning,
            stacklevel=2,
        )
        nan = math.nan
        df = float(k - 2) if model == "lm" or hk else nan
        return RegressionTest(model, predictor, nan, df, nan, nan, nan, nan, nan, nan)
    if model == "lm":
        f = fit_mods(yi, vi, X, method=FIXED, hk=True, level=level)
    elif model == "rma":
        f = fit_mods(yi, vi, X, method=method.upper(), hk=hk, hk_variant=hk_variant, level=level)
    else:
        raise ValueError("model must be 'rma' or 'lm'")
    if bool(f["exact_fit"]):
        # metafor's regtest(model = "lm") prints a t from rounding noise here (R's summary.lm
        # warns "essentially perfect fit"); in exact arithmetic the t statistic is 0/0.
        warnings.warn(
            EXACT_FIT_WARNING.format(what=f"regression test for funnel-plot asymmetry ({model})"),
            TrialsynthWarning,
            stacklevel=2,
        )
    return RegressionTest(
        model=model,
        predictor=predictor,
        statistic=float(f["statistic"][1]),
        df=float(f["df"]),
        p_value=float(f["p_value"][1]),
        slope=float(f["beta"][1]),
        slope_se=float(f["se"][1]),
        limit_estimate=float(f["beta"][0]) if limit else math.nan,
        limit_ci_lower=float(f["ci_lower"][0]) if limit else math.nan,
        limit_ci_upper=float(f["ci_upper"][0]) if limit else math.nan,
    )


# ---------------------------------------------------------------------------------------
# Rank correlation


def _kendall_tau_b(x, y) -> float:
    n = len(x)
    i, j = np.triu_indices(n, 1)
    sx = np.sign(x[i] - x[j])
    sy = np.sign(y[i] - y[j])
    s = float((sx * sy).sum())
    n0 = n * (n - 1) / 2
    n1 = float((sx == 0).sum())
    n2 = float((sy == 0).sum())
    if n1 == n0 or n2 == n0:  # one variable constant: τ_b is 0/0, not defined (R's cor.test: NA)
        return math.nan
    return s / math.sqrt((n0 - n1) * (n0 - n2))


def _kendall_concordant_pmf(n: int) -> np.ndarray:
    """P(T = t), t = 0 … n(n−1)/2, T the number of concordant pairs of n untied pairs under
    independence (the Mahonian distribution of inversions; Kendall 1970)."""
    pmf = np.array([1.0])
    for j in range(2, n + 1):
        size = len(pmf) + j - 1
        c = np.concatenate([[0.0], np.cumsum(pmf)])
        t = np.arange(size)
        hi = np.minimum(t, len(pmf) - 1)
        lo = np.maximum(0, t - j + 1)
        # P_j(t) = (1/j) Σ_{s=0}^{j−1} P_{j−1}(t − s)
        pmf = (c[hi + 1] - c[lo]) / j
    return pmf


def _ties(v) -> np.ndarray:
    _, counts = np.unique(v, return_counts=True)
    return counts[counts > 1].astype(float)


def kendall_test(x, y) -> tuple[float, float, bool]:
    """Kendall's τ_b and its two-sided p-value as R's ``cor.test(x, y, method="kendall")``.

    Exact when neither variable has ties (metafor's ``ranktest`` asks ``cor.test`` for the
    exact p-value whatever k; R falls back to the normal approximation with ties): with T the
    number of concordant pairs
    q = round((τ + 1)n(n − 1)/4), p = min(1, 2·P(T ≥ q)) if q > n(n − 1)/4 else
    min(1, 2·P(T ≤ q)). Otherwise z = S/√Var(S) with S = τ_b√((n₀ − n₁)(n₀ − n₂)) and
    Var(S) = (v₀ − v_t − v_u)/18 + v₁/(2n(n − 1)) + v₂/(9n(n − 1)(n − 2)) (tie-corrected).
    Returns ``(tau, p_value, exact)``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    r = _kendall_tau_b(x, y)
    if math.isnan(r):
        warnings.warn(
            "Kendall's rank correlation is not defined: every trial has the same effect (or the same "
            "variance); the rank test is not reported",
            TrialsynthWarning,
            stacklevel=3,
        )
        return math.nan, math.nan, False
    ties = min(len(np.unique(x)), len(np.unique(y))) < n
    if not ties:
        q = round((r + 1.0) * n * (n - 1) / 4.0)
        pmf = _kendall_concordant_pmf(n)
        if q > n * (n - 1) / 4.0:
            p = float(pmf[q:].sum())
        else:
            p = float(pmf[: q + 1].sum())
        return r, min(2.0 * p, 1.0), True
    xt, yt = _ties(x), _ties(y)
    t0 = n * (n - 1) / 2.0
    t1 = (xt * (xt - 1)).sum() / 2.0
    t2 = (yt * (yt - 1)).sum() / 2.0
    s = r * math.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = (xt * (xt - 1) * (2 * xt + 5)).sum()
    vu = (yt * (yt - 1) * (2 * yt + 5)).sum()
    v1 = (xt * (xt - 1)).sum() * (yt * (yt - 1)).sum()
    v2 = (xt * (xt - 1) * (xt - 2)).sum() * (yt * (yt - 1) * (yt - 2)).sum()
    var_s = (v0 - vt - vu) / 18.0 + v1 / (2.0 * n * (n - 1)) + v2 / (9.0 * n * (n - 1) * (n - 2))
    z = s / math.sqrt(var_s)
    return r, float(norm_two_sided_p(z)), False


@dataclass(frozen=True)
class RankTest(JsonResult):
    """Begg & Mazumdar's rank correlation test (metafor's ``ranktest``)."""

    tau: float
    p_value: float
    exact: bool


def rank_test(yi, vi) -> RankTest:
    """Begg & Mazumdar's test: Kendall's τ between standardised effects and variances."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    check_effects(yi, vi, paired_nan=False)
    w = 1.0 / vi
    theta = (w * yi).sum() / w.sum()
    vb = 1.0 / w.sum()
    ystar = (yi - theta) / np.sqrt(vi - vb)
    tau, p, exact = kendall_test(ystar, vi)
    return RankTest(tau, p, exact)


# ---------------------------------------------------------------------------------------
# Trim and fill


@dataclass(frozen=True)
class TrimFill(JsonResult):
    """Trim-and-fill result: the model refitted to the observed plus the imputed studies."""

    estimator: str
    side: str
    k0: int
    k: int
    estimate: float
    se: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float
    tau2: float
    filled_yi: tuple[float, ...]
    filled_vi: tuple[float, ...]
    iterations: int
    test: str = "z"

    __json_fields__ = (
        "estimator", "k0", "side", "k", "estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper",
        "tau2", "test", ("filled", "_json_filled"),
    )

    @property
    def _json_filled(self) -> list[dict]:
        return [{"yi": y, "vi": v} for y, v in zip(self.filled_yi, self.filled_vi, strict=True)]


def _rank_average(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (R's ``rank`` default)."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a))
    sorted_a = a[order]
    i = 0
    n = len(a)
    while i < n:
        j = i
        while j + 1 < n and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def _k0_estimate(dev: np.ndarray, estimator: str) -> float:
    """Duval & Tweedie's estimators of the number of missing studies from deviations."""
    k = len(dev)
    ranks = _rank_average(np.abs(dev))
    signed = np.sign(dev) * ranks
    if estimator == "L0":
        sr = ranks[dev > 0].sum()
        return (4.0 * sr - k * (k + 1)) / (2.0 * k - 1)
    if estimator == "R0":
        # γ*: the length of the rightmost run of positive signed ranks (ordered by |dev|).
        s = signed[np.argsort(np.abs(signed), kind="mergesort")]
        run = 0
        for value in s[::-1]:
            if value > 0:
                run += 1
            else:
                break
        return run - 1.0
    if estimator == "Q0":
        sr = ranks[dev > 0].sum()
        tn = sr
        return k - 0.5 - math.sqrt(max(0.0, 2.0 * k**2 - 4.0 * tn + 0.25))
    raise ValueError("estimator must be L0, R0 or Q0")


def trim_and_fill(
    yi,
    vi,
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 0.95,
    estimator: str = "L0",
    side: str | None = None,
    maxiter: int = 100,
) -> TrimFill:
    """Duval & Tweedie's trim and fill (see the module docstring).

    With the data flipped so that missing studies are on the left: starting from k0 = 0, the
    k0 largest effects are trimmed, the model is fitted to the rest, the deviations of all
    studies from that estimate are ranked by absolute value (average ranks for ties) and k0
    is re-estimated (rounded half to even, at least 0) until it no longer changes. The k0
    largest effects are then mirrored about the last trimmed estimate (yᵢ ↦ 2θ̂ − yᵢ, same
    variance) and the model is refitted to all k + k0 studies with the same τ² estimator and,
    as metafor's ``trimfill``, a z test even under Hartung–Knapp (``test`` says which); when
    k0 = 0 the result is the model itself (Hartung–Knapp kept).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    check_effects(yi, vi, paired_nan=False)
    k = len(yi)
    method = method.upper()
    if estimator not in ("L0", "R0", "Q0"):
        raise InputError("the trim-and-fill estimator must be L0, R0 or Q0")
    if side is None:
        reg = egger_test(yi, vi, method=method, hk=hk, hk_variant=hk_variant, level=level)
        side = "right" if reg.slope < 0 else "left"
    if side not in ("left", "right"):
        raise InputError("the trim-and-fill side must be 'left' or 'right'")
    sign = -1.0 if side == "right" else 1.0
    y = sign * yi
    order = np.argsort(y, kind="mergesort")
    ys, vs = y[order], vi[order]
    ones = np.ones((k, 1))
    opts: dict[str, Any] = {"method": method, "hk": hk, "hk_variant": hk_variant, "level": level}
    k0 = 0
    iterations = 0
    theta = math.nan
    for iterations in range(1, maxiter + 1):  # noqa: B007
        keep = k - k0
        f = fit_mods(ys[:keep], vs[:keep], ones[:keep], **opts)
        theta = float(f["beta"][0])
        new = max(0, round(_k0_estimate(ys - theta, estimator)))
        if new == k0:
            break
        k0 = min(new, k - 1)
    else:
        _warn("trim and fill did not converge")
    if k0 > 0:
        fill_y = 2.0 * theta - ys[k - k0 :]
        fill_v = vs[k - k0 :]
    else:
        fill_y = fill_v = np.zeros(0)
    all_y = np.concatenate([y, fill_y])
    all_v = np.concatenate([vi, fill_v])
    # metafor's trimfill refits the filled data with the model's τ² estimator but its default
    # z test; with nothing filled it returns the model itself (docs/conventions.md).
    final_hk = hk and k0 == 0
    f = fit_mods(sign * all_y, all_v, np.ones((len(all_y), 1)), **{**opts, "hk": final_hk})
    return TrimFill(
        estimator=estimator,
        side=side,
        k0=int(k0),
        k=len(all_y),
        estimate=float(f["beta"][0]),
        se=float(f["se"][0]),
        statistic=float(f["statistic"][0]),
        p_value=float(f["p_value"][0]),
        ci_lower=float(f["ci_lower"][0]),
        ci_upper=float(f["ci_upper"][0]),
        tau2=float(f["tau2"]) if method != FIXED else math.nan,
        filled_yi=tuple(float(v) for v in sign * fill_y),
        filled_vi=tuple(float(v) for v in fill_v),
        iterations=iterations,
        test="t" if final_hk else "z",
    )


# ---------------------------------------------------------------------------------------
# Fail-safe N


@dataclass(frozen=True)
class FailSafeN(JsonResult):
    """Fail-safe numbers (metafor's ``fsn``)."""

    rosenthal: float
    rosenthal_p_value: float
    orwin: float
    orwin_target: float
    orwin_mean: float
    rosenberg: float
    rosenberg_p_value: float
    alpha: float

    __json_fields__ = (
        "rosenthal", "rosenthal_p_value", "alpha", "orwin", "orwin_target", "orwin_mean", "rosenberg",
        "rosenberg_p_value",
    )


def fail_safe_n(
    yi, vi, *, alpha: float = 0.05, target: float | None = None, weighted: bool = False
) -> FailSafeN:
    """Rosenthal's, Orwin's and Rosenberg's fail-safe N, as metafor's ``fsn``.

    * Rosenthal (Stouffer's method): zᵢ = yᵢ/√vᵢ, p = 1 − Φ(|Σzᵢ|/√k) (one-sided) and
      N = ⌈(Σzᵢ/z₁₋α)² − k⌉ when p < α, else 0.
    * Orwin: ȳ the mean effect (weighted by 1/vᵢ when ``weighted``), target t (default ȳ/2,
      its sign made that of ȳ): N = ⌈k(ȳ − t)/t⌉ when |ȳ| > |t|, else 0.
    * Rosenberg: the fixed-effect estimate θ̂ = Σwy/Σw (w = 1/v) with two-sided p from
      z = θ̂√Σw, and N = ⌈((Σwy)²/z²₁₋α/₂ − Σw)/w̄⌉ when p < α, else 0 (w̄ the mean weight).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = len(yi)
    z_alpha = float(norm_quantile(1.0 - alpha))
    zsum = float((yi / np.sqrt(vi)).sum())
    ros_p = float(special.ndtr(-abs(zsum) / math.sqrt(k)))
    rosenthal = float(max(0, math.ceil((zsum / z_alpha) ** 2 - k))) if ros_p < alpha else 0.0
    w = 1.0 / vi
    if weighted:
        mean = float((w * yi).sum() / w.sum())
    else:
        mean = float(yi.mean())
    tgt = mean / 2.0 if target is None else float(target)
    if np.sign(tgt) != np.sign(mean):
        tgt = -tgt
    if abs(mean) > abs(tgt) and tgt != 0:
        orwin = float(math.ceil(k * (mean - tgt) / tgt))
    else:
        orwin = 0.0
    sw = w.sum()
    est = float((w * yi).sum() / sw)
    zfe = est * math.sqrt(sw)
    rb_p = float(2.0 * special.ndtr(-abs(zfe)))
    z2 = float(norm_quantile(1.0 - alpha / 2.0))
    if rb_p < alpha:
        rosenberg = float(max(0.0, math.ceil(((w * yi).sum() ** 2 / z2**2 - sw) / w.mean())))
    else:
        rosenberg = 0.0
    return FailSafeN(rosenthal, ros_p, orwin, tgt, mean, rosenberg, rb_p, alpha)


# ---------------------------------------------------------------------------------------
# Harbord's score-based test


@dataclass(frozen=True)
class HarbordTest(JsonResult):
    """Harbord, Egger & Sterne's test for small-study effects (log odds ratios, 2×2 counts)."""

    k: int
    bias: float
    se: float
    statistic: float = field(metadata=json_key("t"))
    df: int
    p_value: float
    slope: float


def harbord_test(a, n1, c, n2) -> HarbordTest:
    """Harbord et al. (Stat Med 2006): regress Zᵢ/√Vᵢ on √Vᵢ by ordinary least squares.

    Zᵢ = aᵢ − (aᵢ + cᵢ)n₁ᵢ/Nᵢ and Vᵢ = n₁ᵢn₂ᵢ(aᵢ + cᵢ)(bᵢ + dᵢ)/(Nᵢ²(Nᵢ − 1)) are the efficient
    score and Fisher information of the log odds ratio at 0, from the uncorrected counts;
    tables with Vᵢ = 0 (no events, or only events) carry no information and are left out.
    The intercept measures asymmetry: t = intercept/SE with k − 2 df.
    """
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    n = n1 + n2
    m1 = a + c
    m0 = n - m1
    with np.errstate(divide="ignore", invalid="ignore"):
        v = n1 * n2 * m1 * m0 / (n**2 * (n - 1))
    use = np.isfinite(v) & (v > 0)
    z = (a - m1 * n1 / n)[use]
    v = v[use]
    k = int(use.sum())
    if k < 3:
        raise InputError("Harbord's test needs at least three tables with events")
    y = z / np.sqrt(v)
    X = np.column_stack([np.ones(k), np.sqrt(v)])
    if np.linalg.matrix_rank(X) < 2:
        # Every table has the same information V (identical tables, say): √V is a constant, so
        # the intercept and the slope cannot be told apart (R's lm reports the slope as NA).
        warnings.warn(
            "Harbord's test is not defined: every table has the same information V, so the "
            "regression on √V has no slope; not reported",
            TrialsynthWarning,
            stacklevel=2,
        )
        return HarbordTest(k, math.nan, math.nan, math.nan, k - 2, math.nan, math.nan)
    xtx_inv = np.linalg.inv(X.T @ X)
    beta = xtx_inv @ X.T @ y
    resid = y - X @ beta
    if exact_fit(y, X, np.ones(k), resid):
        warnings.warn(
            EXACT_FIT_WARNING.format(what="Harbord's test"), TrialsynthWarning, stacklevel=2
        )
        return HarbordTest(k, float(beta[0]), 0.0, math.nan, k - 2, math.nan, float(beta[1]))
    s2 = float(resid @ resid) / (k - 2)
    se = math.sqrt(s2 * xtx_inv[0, 0])
    t = float(beta[0]) / se
    return HarbordTest(
        k, float(beta[0]), se, t, k - 2, float(2.0 * special.stdtr(k - 2, -abs(t))), float(beta[1])
    )


# ---------------------------------------------------------------------------------------
# Step-function selection model


@dataclass(frozen=True)
class SelectionModel(JsonResult):
    """A step-function selection model (metafor's ``selmodel(type="stepfun")``)."""

    steps: tuple[float, ...]
    alternative: str
    estimate: float
    se: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float
    tau2: float
    tau2_se: float
    delta: tuple[float, ...]
    delta_se: tuple[float, ...]
    lrt: float
    lrt_df: int
    lrt_p_value: float
    loglik: float
    counts: tuple[int, ...]

    __json_fields__ = (
        ("type", "type"), "steps", "alternative", ("k_per_interval", "counts"), "estimate", "se",
        ("z", "statistic"), "p_value", "ci_lower", "ci_upper", "tau2", "tau2_se", "delta", "delta_se",
        "lrt", "lrt_df", "lrt_p_value", "loglik",
    )

    @property
    def type(self) -> str:
        """The selection function: ``"stepfun"`` (metafor's ``type``)."""
        return "stepfun"


def _p_cdf(alpha: np.ndarray, mu: float, sigma: np.ndarray, sei: np.ndarray, alternative: str) -> np.ndarray:
    """P(pᵢ ≤ α) for yᵢ ~ N(μ, σᵢ²), pᵢ the one- or two-sided p-value of yᵢ/seᵢ (α in [0, 1])."""
    a = alpha[None, :]
    sg, se = sigma[:, None], sei[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if alternative == "greater":
            q = special.ndtri(1.0 - a)
            out = special.ndtr(-(se * q - mu) / sg)
        elif alternative == "less":
            q = special.ndtri(a)
            out = special.ndtr((se * q - mu) / sg)
        else:
            q = special.ndtri(1.0 - a / 2.0)
            out = special.ndtr(-(se * q - mu) / sg) + special.ndtr((-se * q - mu) / sg)
    out = np.where(a <= 0.0, 0.0, np.where(a >= 1.0, 1.0, out))
    return out


def _study_p_values(yi, sei, alternative):
    z = yi / sei
    if alternative == "greater":
        return special.ndtr(-z)
    if alternative == "less":
        return special.ndtr(z)
    return 2.0 * special.ndtr(-np.abs(z))


def _selection_intervals(yi, sei, steps, alternative: str):
    """The cut-points (1 added), as an array from 0, each study's p-value interval and the number
    of studies per interval (a warning when one is empty)."""
    if alternative not in ("greater", "less", "two.sided"):
        raise InputError("the selection model's alternative must be greater, less or two.sided")
    cuts = sorted(float(x) for x in steps)
    if any(not 0.0 < x <= 1.0 for x in cuts):
        raise InputError("selection model steps must lie in (0, 1]")
    if cuts[-1] != 1.0:
        cuts.append(1.0)
    cuts_arr = np.array([0.0, *cuts])
    pvals = _study_p_values(yi, sei, alternative)
    interval = np.searchsorted(cuts_arr, pvals, side="left") - 1  # α_{j−1} < p ≤ α_j
    interval = np.clip(interval, 0, len(cuts) - 1)
    counts = tuple(int((interval == j).sum()) for j in range(len(cuts)))
    if any(c == 0 for c in counts):
        _warn(
            "the selection model has a p-value interval without studies "
            f"(studies per interval: {', '.join(str(c) for c in counts)}); its δ goes to a bound"
        )
    return cuts, cuts_arr, interval, counts


def _newton_polish(f, theta: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Newton steps on the parameters of ``f`` that are not at a bound (numerical derivatives),
    kept while ``f`` does not increase; stops at a relative change below 1e-12."""
    for _ in range(50):
        free = (theta > lo + 1e-10) & (theta < hi - 1e-10)
        if not free.any():
            break
        g, h = _num_grad_hess(f, theta)
        gf, hf = g[free], h[np.ix_(free, free)]
        try:
            step = np.linalg.solve(hf, gf)
        except np.linalg.LinAlgError:
            break
        new = theta.copy()
        new[free] = np.clip(theta[free] - step, lo[free], hi[free])
        if f(new) > f(theta) + 1e-12:
            break
        change = np.max(np.abs(new - theta) / np.maximum(1.0, np.abs(theta)))
        theta = new
        if change < 1e-12:
            break
    return theta


def _free_parameter_ses(f, theta: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """SEs from the inverse Hessian of ``f`` (a negative log-likelihood) over the parameters not
    at a bound; NaN for those at a bound or where the Hessian is singular."""
    free = (theta > lo + 1e-8) & (theta < hi - 1e-8)
    cov = np.full((len(theta), len(theta)), np.nan)

    def f_free(xf):
        full = theta.copy()
        full[free] = xf
        return f(full)

    try:
        h = _richardson_hessian(f_free, theta[free])
        cov[np.ix_(free, free)] = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        pass
    return np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))


def _selection_negll(yi, vi, sei, cuts_arr, interval, nd: int, fixed_effect: bool, alternative: str):
    """The selection model's negative log-likelihood of θ = (μ, τ², δ₂, …) (see
    :func:`selection_model`); 1e300 where it is not finite."""

    def negll(theta):
        mu, tau2 = theta[0], (0.0 if fixed_effect else theta[1])
        delta = np.concatenate([[1.0], theta[-nd:]]) if nd else np.array([1.0])
        sigma = np.sqrt(vi + tau2)
        cdf = _p_cdf(cuts_arr, mu, sigma, sei, alternative)
        probs = np.diff(cdf, axis=1)
        area = probs @ delta
        with np.errstate(divide="ignore"):
            ll = (
                np.log(delta[interval])
                - 0.5 * np.log(2.0 * np.pi)
                - np.log(sigma)
                - 0.5 * ((yi - mu) / sigma) ** 2
                - np.log(area)
            )
        total = float(ll.sum())
        return -total if np.isfinite(total) else 1e300

    return negll


def selection_model(
    yi,
    vi,
    *,
    steps: Sequence[float] = (0.025,),
    alternative: str = "greater",
    fixed_effect: bool = False,
    level: float = 0.95,
    delta_max: float = 100.0,
) -> SelectionModel:
    """Step-function selection model, fitted by maximum likelihood (as ``selmodel``).

    With cut-points 0 = α₀ < α₁ < … < α_c = 1 (1 is added when absent) and pᵢ the one-sided
    (``alternative="greater"``: 1 − Φ(yᵢ/√vᵢ)) p-value, the weight of a study with
    α_{j−1} < pᵢ ≤ αⱼ is δⱼ (δ₁ = 1) and its likelihood is
    δ_{j(i)}·φ((yᵢ − μ)/σᵢ)/σᵢ / Σⱼ δⱼ P(α_{j−1} < pᵢ ≤ αⱼ | μ, σᵢ²), σᵢ² = vᵢ + τ².
    μ, τ² ≥ 0 (0 for a fixed-effect model) and 0 ≤ δⱼ ≤ ``delta_max`` (metafor's bounds) are
    estimated by maximising the log-likelihood (L-BFGS-B, then Newton polishing); SEs from the
    inverse of the Hessian of the free parameters (Richardson-extrapolated central
    differences, :func:`_richardson_hessian`). The likelihood-ratio test compares with
    the model with all δⱼ = 1 (χ² with c − 1 df). An interval without p-values drives its δ to
    a bound (a warning says so; metafor fits such models too).
    """
    from scipy import optimize

    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    sei = np.sqrt(vi)
    cuts, cuts_arr, interval, counts = _selection_intervals(yi, sei, steps, alternative)
    nd = len(cuts) - 1  # free δ's
    negll = _selection_negll(yi, vi, sei, cuts_arr, interval, nd, fixed_effect, alternative)

    # Start from the random-effects ML fit without selection.
    ml = fit_mods(yi, vi, np.ones((len(yi), 1)), method=FIXED if fixed_effect else "ML")
    mu0 = float(ml["beta"][0])
    tau0 = 0.0 if fixed_effect else float(ml["tau2"])
    free_tau = not fixed_effect
    theta0 = [mu0] + ([tau0] if free_tau else []) + [1.0] * nd
    bounds = [(None, None)] + ([(0.0, None)] if free_tau else []) + [(0.0, delta_max)] * nd

    def f_theta(th):
        return negll(np.asarray(th) if free_tau else np.insert(np.asarray(th), 1, 0.0))

    starts = (theta0, [mu0] + ([max(tau0, 0.01)] if free_tau else []) + [0.5] * nd)
    best = min(
        (
            optimize.minimize(
                f_theta,
                np.array(start, dtype=float),
                method="L-BFGS-B",
                bounds=bounds,
                options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 10000, "maxfun": 100000},
            )
            for start in starts
        ),
        key=lambda opt: opt.fun,
    )
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    hi = np.array([b[1] if b[1] is not None else np.inf for b in bounds])
    theta = _newton_polish(f_theta, np.array(best.x, dtype=float), lo, hi)
    ll_sel = -f_theta(theta)
    ses = _free_parameter_ses(f_theta, theta, lo, hi)
    ll0 = -f_theta(np.array([mu0] + ([tau0] if free_tau else []) + [1.0] * nd))
    lrt = max(0.0, 2.0 * (ll_sel - ll0))
    mu = float(theta[0])
    se = float(ses[0])
    crit = float(crit_value(level))
    z = mu / se
    return SelectionModel(
        steps=tuple(cuts),
        alternative=alternative,
        estimate=mu,
        se=se,
        statistic=z,
        p_value=float(norm_two_sided_p(z)),
        ci_lower=mu - crit * se,
        ci_upper=mu + crit * se,
        tau2=float(theta[1]) if free_tau else 0.0,
        tau2_se=float(ses[1]) if free_tau else math.nan,
        delta=(1.0, *(float(x) for x in theta[len(theta) - nd :])),
        delta_se=(math.nan, *(float(x) for x in ses[len(theta) - nd :])),
        lrt=lrt,
        lrt_df=nd,
        lrt_p_value=float(chi2_sf(lrt, nd)) if nd else math.nan,
        loglik=ll_sel,
        counts=counts,
    )


def _richardson_hessian(f, x, *, rel: float = 0.1, zero_step: float = 1e-4, levels: int = 6):
    """Hessian of ``f`` at ``x`` by central differences with Richardson extrapolation.

    Steps start at ``rel``·|xᵢ| (``zero_step`` where xᵢ is 0) and are halved ``levels − 1``
    times; the second differences at successive steps, whose error is a series in h², are
    combined by Richardson's extrapolation (Aₘ ← (4ⁿAₘ₊₁ − Aₘ)/(4ⁿ − 1) for n = 1, 2, …). With
    large first steps the rounding error stays small, so the result is accurate to about
    1e-9 relative for a smooth ``f``, which the standard errors of the selection model need
    (its δ can be small, where fixed small steps lose most digits).
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    h0 = np.where(np.abs(x) > 0, rel * np.abs(x), zero_step)
    f0 = f(x)
    tables = []
    for m in range(levels):
        h = h0 / 2.0**m
        a = np.zeros((n, n))
        for i in range(n):
            ei = np.zeros(n)
            ei[i] = h[i]
            a[i, i] = (f(x + ei) - 2.0 * f0 + f(x - ei)) / h[i] ** 2
            for j in range(i):
                ej = np.zeros(n)
                ej[j] = h[j]
                a[i, j] = a[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                    4.0 * h[i] * h[j]
                )
        tables.append(a)
    for order in range(1, levels):
        factor = 4.0**order
        tables = [(factor * tables[m + 1] - tables[m]) / (factor - 1.0) for m in range(len(tables) - 1)]
    return tables[0]


def _num_grad_hess(f, x, rel: float = 1e-4):
    """Central-difference gradient and Hessian of ``f`` at ``x`` (Richardson-extrapolated)."""
    x = np.asarray(x, dtype=float)
    n = len(x)

    def one(hs):
        g = np.zeros(n)
        h = np.zeros((n, n))
        f0 = f(x)
        for i in range(n):
            ei = np.zeros(n)
            ei[i] = hs[i]
            fp, fm = f(x + ei), f(x - ei)
            g[i] = (fp - fm) / (2 * hs[i])
            h[i, i] = (fp - 2 * f0 + fm) / hs[i] ** 2
            for j in range(i):
                ej = np.zeros(n)
                ej[j] = hs[j]
                h[i, j] = h[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                    4 * hs[i] * hs[j]
                )
        return g, h

    hs = rel * np.maximum(np.abs(x), 1e-2)
    g1, h1 = one(hs)
    g2, h2 = one(hs / 2)
    return (4 * g2 - g1) / 3, (4 * h2 - h1) / 3


# ---------------------------------------------------------------------------------------
# All of it for a table of trials (``trialsynth bias``)


def _parse_steps(steps) -> tuple[float, ...]:
    if isinstance(steps, str):
        try:
            values = tuple(float(x) for x in steps.split(",") if x.strip())
        except ValueError:
            raise InputError(
                f"selection model steps must be numbers between 0 and 1, not '{steps}'"
            ) from None
    else:
        values = tuple(float(x) for x in steps)
    if not values or any(not 0.0 < x <= 1.0 for x in values):
        raise InputError("selection model steps must be numbers in (0, 1]")
    return values




def _format_bias(out: dict) -> str:
    def f(x, spec=".4f"):
        return "NA" if x is None else format(x, spec)

    e, el, b, t, fs = out["egger"], out["egger_lm"], out["begg"], out["trimfill"], out["failsafe"]
    lines = [f"Small-study effects, k = {out['k']} (analysis scale)"]
    lines.append(
        f"Egger (mixed-effects, SE as moderator): {e['test']} = {f(e['z'], '.3f')}, "
        f"p = {f(e['p_value'], '.4g')}; "
        f"limit estimate {f(e['limit_estimate'])} ({f(e['limit_ci_lower'])} to {f(e['limit_ci_upper'])})"
    )
    lines.append(
        f"Egger (classic weighted regression): t = {f(el['z'], '.3f')}, p = {f(el['p_value'], '.4g')}"
    )
    lines.append(
        f"Begg (rank correlation): Kendall's tau = {f(b['tau'], '.3f')}, p = {f(b['p_value'], '.4g')}"
    )
    if out.get("peters"):
        pe = out["peters"]
        lines.append(
            f"Peters (1/n as moderator): {pe['test']} = {f(pe['z'], '.3f')}, p = {f(pe['p_value'], '.4g')}"
        )
    if out.get("harbord"):
        h = out["harbord"]
        lines.append(
            f"Harbord (score-based): bias = {f(h['bias'])}, t = {f(h['t'], '.3f')}, "
            f"p = {f(h['p_value'], '.4g')}"
        )
    lines.append(
        f"Trim and fill ({t['estimator']}): {t['k0']} studies imputed on the {t['side']}; estimate "
        f"{f(t['estimate'])} ({f(t['ci_lower'])} to {f(t['ci_upper'])})"
    )
    lines.append(
        f"Fail-safe N: Rosenthal {f(fs['rosenthal'], '.0f')}, Orwin {f(fs['orwin'], '.0f')} "
        f"(target {f(fs['orwin_target'])}), Rosenberg {f(fs['rosenberg'], '.0f')}"
    )
    if out.get("selmodel"):
        s = out["selmodel"]
        lines.append(
            f"Selection model (steps {', '.join(format(x, 'g') for x in s['steps'])}): "
            f"estimate {f(s['estimate'])} ({f(s['ci_lower'])} to {f(s['ci_upper'])}), "
            f"LRT = {f(s['lrt'], '.3f')}, p = {f(s['lrt_p_value'], '.4g')}"
        )
    return "\n".join(lines)
