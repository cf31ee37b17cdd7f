"""Meta-regression: the mixed-effects model y = Xβ + u + ε over stacked arrays.

Model (Viechtbauer, J Stat Softw 2010, section 2; Raudenbush, in *The Handbook of Research
Synthesis and Meta-Analysis*, 2009): yᵢ = xᵢ'β + uᵢ + εᵢ with uᵢ ~ N(0, τ²) and
εᵢ ~ N(0, vᵢ). With W = diag(wᵢ), wᵢ = 1/(vᵢ + τ²):

* β̂ = (X'WX)⁻¹X'Wy, Var(β̂) = (X'WX)⁻¹, z tests and z-based CIs;
* Hartung–Knapp (Knapp & Hartung, Stat Med 2003), metafor's ``test="knha"``: Var(β̂) is
  multiplied by s² = Σwᵢeᵢ²/(k − p), e = y − Xβ̂ (``"adhoc"``: by max(1, s²)); t tests and
  CIs with k − p df;
* the omnibus test of the coefficients other than the intercept (all coefficients when
  there is no intercept): QM = β̂ₘ'[Var(β̂)ₘ]⁻¹β̂ₘ ~ χ²ₘ, or under Hartung–Knapp
  F = QM/m ~ F(m, k − p) (metafor then reports F as QM);
* residual heterogeneity QE = Σ(yᵢ − xᵢ'β̂_FE)²/vᵢ ~ χ²_{k−p} (β̂_FE with wᵢ = 1/vᵢ);
* I² = 100·τ²/(τ² + s²), H² = (τ² + s²)/s² with s² = (k − p)/tr(P₀), P₀ the matrix P
  below at τ² = 0;
* pseudo-R² (Raudenbush 2009): 100·max(0, (τ²_RE − τ²_ME)/τ²_RE), τ²_RE from the
  intercept-only model with the same estimator.

τ² estimators with moderators, with P = W − WX(X'WX)⁻¹X'W (so Py = We and y'Py = Σwe²):

* DL (Raudenbush 2009, method of moments with weights 1/vᵢ): τ² = (QE − (k − p))/tr(P₀);
* HE (unweighted method of moments): τ² = (RSS − tr(P_I V))/(k − p), RSS the OLS residual sum of
  squares, P_I = I − X(X'X)⁻¹X', V = diag(vᵢ);
* HS (Viechtbauer et al., Res Synth Methods 2015): τ² = (QE − k)/Σ(1/vᵢ);
* SJ (Sidik & Jonkman, J Biopharm Stat 2005): τ₀² = RSS/k, then τ² = τ₀²·Σw₀ᵢe₀ᵢ²/(k − p)
  with w₀ᵢ = 1/(vᵢ + τ₀²) (never truncated: τ₀² > 0 unless all residuals vanish);
* PM (Paule–Mandel) and EB (empirical Bayes; the same estimating equation, Viechtbauer et al.
  2015): the τ² ≥ 0 with y'Py = k − p (0 when y'P₀y < k − p);
* ML, REML (Viechtbauer, J Educ Behav Stat 2005): the root of the score
  ML: y'PPy − tr(W) = 0,  REML: y'PPy − tr(P) = 0, or 0. The (restricted) likelihood can have
  several local maxima (one of them possibly at τ² = 0); the estimate is the global maximiser
  over τ² ≥ 0 of ML: −½[Σlog(vᵢ + τ²) + y'Py],  REML: −½[Σlog(vᵢ + τ²) + log det(X'WX) + y'Py]
  (Viechtbauer 2005, eqs. 5 and 6). When τ² = 0 wins over an interior local maximum the fit
  says so (``tau2_boundary``; metafor makes the same comparison and warns).

The iterative estimators (ML, REML, PM, EB) are solved by :mod:`trialsynth.stats.tau2`, the one
τ² solver of the package (every local maximum bracketed, safeguarded Newton inside), with the
moderators given: it works from p × p matrices, never k × k, so the same code fits one model or
a stack (leave-one-out fits, permutations).
"""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from trialsynth._core.bounds import check_effects
from trialsynth._core.dist import chi2_sf, crit_value, norm_two_sided_p, t_two_sided_p
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth._core.serialize import OMIT, JsonResult, json_key, to_jsonable
from trialsynth.stats import tau2 as solver
from trialsynth.stats.estimators import MAXITER, METHODS, TOL, Tau2Estimate

FIXED = "FE"
#: Said when the (restricted) likelihood is higher at τ² = 0 than at its interior maximum.
BOUNDARY_WARNING = (
    "the {method} likelihood of the residual τ² has a local maximum inside but is higher at "
    "τ² = 0; τ² = 0 is used (as metafor)"
)
#: Missing values in moderator / subgroup columns (R's read.csv treats "NA" as missing).
MISSING = frozenset({"", "NA"})


# ---------------------------------------------------------------------------------------
# Linear algebra on stacks: X has shape (..., k, p), weights (..., k).


def _xtwx(X, w):
    return np.einsum("...ki,...k,...kj->...ij", X, w, X)


def _xtwy(X, w, y):
    return np.einsum("...ki,...k,...k->...i", X, w, y)


def _gls(y, X, w):
    """β̂ = (X'WX)⁻¹X'Wy, A = (X'WX)⁻¹ and residuals e = y − Xβ̂ (w = 0 drops a row)."""
    A = np.linalg.inv(_xtwx(X, w))
    beta = np.einsum("...ij,...j->...i", A, _xtwy(X, w, y))
    e = y - np.einsum("...ki,...i->...k", X, beta)
    return beta, A, e


def _trace(M):
    return np.trace(M, axis1=-2, axis2=-1)


def _prep(yi, vi, X, mask):
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    X = np.asarray(X, dtype=float)
    if X.ndim == yi.ndim:  # one moderator given as a vector
        X = X[..., None]
    X = np.broadcast_to(X, (*yi.shape, X.shape[-1]))
    if mask is None:
        mask = ~(np.isnan(yi) & np.isnan(vi)) & np.isfinite(X).all(axis=-1)
    mask = np.asarray(mask, dtype=bool)
    check_effects(np.where(mask, yi, 0.0), np.where(mask, vi, 1.0), paired_nan=False)
    y = np.where(mask, yi, 0.0)
    v = np.where(mask, vi, 1.0)
    X = np.where(mask[..., None], X, 0.0)
    return y, v, X, mask


def _p_of(X):
    return X.shape[-1]


# ---------------------------------------------------------------------------------------
# τ² with moderators


def _weights(v, mask, tau2):
    return np.where(mask, 1.0 / (v + np.asarray(tau2)[..., None]), 0.0)


def _he(y, v, X, mask, k, p):
    """Hedges' (unweighted method-of-moments) τ², truncated at 0."""
    ones = mask.astype(float)
    _, A1, e1 = _gls(y, X, ones)
    rss = (e1**2).sum(axis=-1)
    vm = np.where(mask, v, 0.0)
    tr_pv = vm.sum(axis=-1) - _trace(A1 @ _xtwx(X, vm))
    return np.maximum(0.0, (rss - tr_pv) / (k - p))


def tau2_mods(yi, vi, X, mask=None, *, method: str = "REML", tol: float = TOL, maxiter: int = MAXITER):
    """Residual τ² of the mixed-effects model for each model in the stack (module docstring).

    ``yi``, ``vi``: ``(..., k)``; ``X``: ``(..., k, p)`` (full column rank over the rows in
    ``mask``). τ² is NaN where k ≤ p.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unknown τ² estimator {method!r}; choose one of {', '.join(METHODS)}")
    y, v, X, mask = _prep(yi, vi, X, mask)
    k = mask.sum(axis=-1)
    p = _p_of(X)
    shape = y.shape[:-1]
    conv = np.ones(shape, dtype=bool)
    it = np.zeros(shape, dtype=int)
    boundary = np.zeros(shape, dtype=bool)
    nmax = np.zeros(shape, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method in ("PM", "EB"):
            tau2, conv, it, _ = solver.solve(
                y, v, mask, method="Q", X=X, target=k - p, tol=tol, maxiter=maxiter
            )
        elif method in ("ML", "REML"):
            tau2, conv, it, nmax = solver.solve(y, v, mask, method=method, X=X, tol=tol, maxiter=maxiter)
            # τ² = 0 chosen over an interior local maximum of lower likelihood
            boundary = (tau2 == 0) & (nmax >= 2)
        elif method in ("DL", "HS"):
            w0 = np.where(mask, 1.0 / v, 0.0)
            _, A0, e0 = _gls(y, X, w0)
            qe = (w0 * e0**2).sum(axis=-1)
            if method == "DL":
                tr_p = w0.sum(axis=-1) - _trace(A0 @ _xtwx(X, w0**2))
                tau2 = np.maximum(0.0, (qe - (k - p)) / tr_p)
            else:
                tau2 = np.maximum(0.0, (qe - k) / w0.sum(axis=-1))
        else:  # HE, SJ: ordinary least squares first
            if method == "HE":
                tau2 = _he(y, v, X, mask, k, p)
            else:
                ybar = (np.where(mask, y, 0.0).sum(axis=-1) / k)[..., None]
                tau0 = np.where(mask, (y - ybar) ** 2, 0.0).sum(axis=-1) / k
                w = _weights(v, mask, tau0)
                _, _, e = _gls(y, X, w)
                tau2 = tau0 * (w * e**2).sum(axis=-1) / (k - p)
    tau2 = np.where(k > p, tau2, np.nan)
    return Tau2Estimate(
        np.asarray(tau2, dtype=float),
        np.asarray(conv),
        np.asarray(it),
        np.asarray(boundary & (k > p)),
        np.asarray(nmax),
    )


# ---------------------------------------------------------------------------------------
# The fit


def _tau2_of_mods(method: str, tau2, y, v, X, mask):
    """τ² of each model (0 for FE; ``tau2`` when given; else estimated by ``method``) with its
    convergence, iterations and whether ML/REML took τ² = 0 over a lower interior maximum."""
    shape = y.shape[:-1]
    boundary = np.zeros(shape, dtype=bool)
    if method == FIXED or tau2 is not None:
        tau2_fit = (
            np.zeros(shape) if method == FIXED
            else np.broadcast_to(np.asarray(tau2, dtype=float), shape).copy()
        )  # fmt: skip
        return tau2_fit, np.ones(shape, dtype=bool), np.zeros(shape, dtype=int), boundary
    with np.errstate(divide="ignore", invalid="ignore"):
        est = tau2_mods(y, v, X, mask, method=method)
    if est.boundary is not None:
        boundary = est.boundary
    return est.tau2, est.converged, est.iterations, boundary


#: Warned when Hartung–Knapp meets an exact fit; ``{what}`` names the model.
EXACT_FIT_WARNING = (
    "{what}: the effects lie exactly on the fitted line (residual variance 0), so the dispersion "
    "factor (Hartung–Knapp's q) is 0, the standard errors are 0 and the t statistics 0/0: not reported"
)

#: Relative size of the weighted residuals below which a fit counts as exact (see :func:`exact_fit`).
EXACT_FIT_RTOL = 1e-10


def exact_fit(y, X, w, e) -> np.ndarray:
    """True where the weighted least-squares residuals ``e`` are zero up to rounding.

    Rounding in the fit leaves residuals of order κ²·ε·‖y‖ (normal equations: κ the condition
    number of W^½X, ε the machine epsilon; Golub & Van Loan, Matrix Computations, 4th ed., §5.3.7)
    instead of 0, and the Hartung–Knapp factor Σwe²/(k − p) then gives a t statistic made of
    that noise. The fit is taken as exact when ‖W^½e‖ ≤ max(1e-10, 100·κ²·ε)·‖W^½y‖: 1e-10 is far
    below what effects reported to a few significant digits can carry (their own rounding
    leaves residuals of ~1e-7 relative or more unless the fit is exact) and far above ε.
    Scaling by ‖W^½y‖ (not the spread of y) follows the rounding errors, which grow with |y|.
    """
    sw = np.sqrt(w)
    ss_e = ((sw * e) ** 2).sum(axis=-1)
    ss_y = ((sw * y) ** 2).sum(axis=-1)
    kappa = np.linalg.cond(sw[..., None] * X)
    tol = np.maximum(EXACT_FIT_RTOL, 100.0 * kappa**2 * np.finfo(float).eps)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.isfinite(ss_e) & (ss_e <= tol**2 * ss_y), dtype=bool)


def _omnibus_test(beta, vb, btt, hk: bool, tdf, undefined=None):
    """Wald test of the coefficients ``btt``: QM with its χ²(m) p-value, or under Hartung–Knapp
    F = QM/m with F(m, k − p) (``qm_df2`` then k − p, else NaN). NaN when ``btt`` is empty, and
    where ``undefined`` (an exact fit under Hartung–Knapp: the covariance is 0, QM is 0/0)."""
    shape = beta.shape[:-1]
    m = len(btt)
    if m == 0:
        nan = np.full(shape, np.nan)
        return nan, nan, nan
    undefined = np.zeros(shape, dtype=bool) if undefined is None else undefined
    with np.errstate(divide="ignore", invalid="ignore"):
        bm = beta[..., btt]
        vm = vb[..., btt[:, None], btt[None, :]]
        vm = np.where(undefined[..., None, None], np.eye(m), vm)  # a stand-in, replaced by NaN below
        qm = np.einsum("...i,...i->...", bm, np.linalg.solve(vm, bm[..., None])[..., 0])
        qm = np.where(undefined, np.nan, qm)
        if hk:
            qm = qm / m
            return qm, special.fdtrc(m, tdf, qm), tdf
        return qm, chi2_sf(qm, m), np.full(shape, np.nan)


def _mods_heterogeneity(method: str, tau2_fit, qe, dfr, tr_p0):
    """τ² (NaN for FE), I² (percent) and H²: from QE for FE (Higgins & Thompson 2002), else from
    τ² and the typical within-study variance s² = (k − p)/tr(P₀) (metafor's rma)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == FIXED:
            i2 = np.where(dfr >= 1, np.where(qe > 0, np.maximum(0.0, (qe - dfr) / qe), 0.0) * 100, np.nan)
            return np.full(np.shape(qe), np.nan), i2, np.where(dfr >= 1, qe / dfr, np.nan)
        s2_typ = dfr / tr_p0
        return tau2_fit, 100.0 * tau2_fit / (tau2_fit + s2_typ), (tau2_fit + s2_typ) / s2_typ


def _hk_factor(y, X, w, e, dfr, hk: bool, hk_variant: str):
    """The Hartung–Knapp scale factor s² (1 without HK; max(1, s²) for the ad hoc variant) and
    where the fit is exact (s² = 0 by :func:`exact_fit`, so the tests are not defined)."""
    shape = y.shape[:-1]
    if not hk:
        return np.ones(shape), np.zeros(shape, dtype=bool)
    s2 = (w * e**2).sum(axis=-1) / dfr
    if hk_variant == "adhoc":
        return np.maximum(1.0, s2), np.zeros(shape, dtype=bool)
    exact = exact_fit(y, X, w, e)
    return np.where(exact, 0.0, s2), exact


def _coefficient_tests(beta, vb, exact, dfr, hk: bool, level: float):
    """Per coefficient: SE, Wald z (or t on k − p df under HK), p, df and the CI."""
    se = np.sqrt(np.diagonal(vb, axis1=-2, axis2=-1))
    # An exact fit under Hartung–Knapp: SE 0, so β/SE is 0/0 (or β/0): not defined.
    stat = np.where(exact[..., None], np.nan, beta / se)
    if hk:
        tdf = np.where(dfr >= 1, dfr, np.nan).astype(float)
        pval = t_two_sided_p(stat, tdf[..., None])
        crit = crit_value(level, tdf)[..., None]
    else:
        tdf = np.full(exact.shape, np.nan)
        pval = norm_two_sided_p(stat)
        crit = crit_value(level)
    return se, stat, pval, tdf, beta - crit * se, beta + crit * se


def fit_mods(
    yi,
    vi,
    X,
    mask=None,
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 0.95,
    intercept: bool = True,
    tau2=None,
) -> dict[str, np.ndarray]:
    """Fixed- (``method="FE"``) or mixed-effects meta-regression for a stack of models.

    ``X`` includes the intercept column if there is one (``intercept`` says whether its
    first column is the intercept; the omnibus test then leaves it out). Returns arrays:
    ``k, p, beta, se, statistic, p_value, ci_lower, ci_upper, vb`` (per coefficient), ``tau2,
    qe, qe_df, qe_p_value, qm, qm_df, qm_df2, qm_p_value, i2, h2, converged, iterations,
    tau2_boundary`` (ML/REML: τ² = 0 taken over a lower interior maximum), ``weights``
    (percent), ``hat``, ``fitted`` and ``s2`` (the Hartung–Knapp factor, 1 without).
    ``qm`` is the F statistic (QM/m) under Hartung–Knapp, with ``qm_df2 = k − p``; without
    Hartung–Knapp ``qm_df2`` is NaN. ``tau2`` (batch-shaped), when given, is used as is.
    """
    method = method.upper()
    if method != FIXED and method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    if hk_variant not in ("knha", "adhoc"):
        raise ValueError("hk_variant must be 'knha' or 'adhoc'")
    y, v, X, mask = _prep(yi, vi, X, mask)
    shape = y.shape[:-1]
    k = mask.sum(axis=-1)
    p = _p_of(X)
    dfr = k - p
    with np.errstate(divide="ignore", invalid="ignore"):
        # Fixed-effect quantities: QE and the typical within-study variance.
        w0 = np.where(mask, 1.0 / v, 0.0)
        _, A0, e0 = _gls(y, X, w0)
        qe = (w0 * e0**2).sum(axis=-1)
        tr_p0 = w0.sum(axis=-1) - _trace(A0 @ _xtwx(X, w0**2))
        qe_p = np.where(dfr >= 1, chi2_sf(qe, dfr), np.nan)
        tau2_fit, conv, iters, boundary = _tau2_of_mods(method, tau2, y, v, X, mask)
        w = _weights(v, mask, np.where(np.isfinite(tau2_fit), tau2_fit, 0.0))
        beta, A, e = _gls(y, X, w)
        s2, exact = _hk_factor(y, X, w, e, dfr, hk, hk_variant)
        vb = A * s2[..., None, None]
        se, stat, pval, tdf, ci_lower, ci_upper = _coefficient_tests(beta, vb, exact, dfr, hk, level)

        btt = np.arange(1, p) if intercept else np.arange(p)
        m = len(btt)
        qm, qm_p, qm_df2 = _omnibus_test(beta, vb, btt, hk, tdf, exact)

        tau2_out, i2, h2 = _mods_heterogeneity(method, tau2_fit, qe, dfr, tr_p0)
        sw = w.sum(axis=-1)
        weights = np.where(mask, 100.0 * w / sw[..., None], np.nan)
        hat = np.where(mask, np.einsum("...ki,...ij,...kj->...k", X, A, X) * w, np.nan)
        fitted = np.einsum("...ki,...i->...k", X, beta)
    return {
        "k": k,
        "p": np.full(shape, p),
        "beta": beta,
        "se": se,
        "statistic": stat,
        "p_value": pval,
        "ci_lower": ci_lower,
        "ci_upper": ci_upper,
        "vb": vb,
        "df": tdf,
        "tau2": tau2_out,
        "qe": qe,
        "qe_df": dfr,
        "qe_p_value": qe_p,
        "qm": qm,
        "qm_df": np.full(shape, m),
        "qm_df2": qm_df2,
        "qm_p_value": qm_p,
        "i2": i2,
        "h2": h2,
        "converged": conv,
        "iterations": iters,
        "tau2_boundary": boundary,
        "weights": weights,
        "hat": hat,
        "fitted": np.where(mask, fitted, np.nan),
        "s2": s2,
        "exact_fit": exact,
    }


def pseudo_r2(tau2_re: float, tau2_me: float) -> float:
    """metafor's pseudo-R² in percent: 100·max(0, (τ²_RE − τ²_ME)/τ²_RE); 0 when τ²_RE = 0.

    (Raudenbush 2009; López-López et al., Br J Math Stat Psychol 2014.)
    """
    if not (math.isfinite(tau2_re) and math.isfinite(tau2_me)):
        return math.nan
    if tau2_re <= 0:
        return 0.0
    return 100.0 * max(0.0, (tau2_re - tau2_me) / tau2_re)


# ---------------------------------------------------------------------------------------
# Moderator columns → model matrix


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

# The ICU root collation order (R's sort()/factor() under ICU, as metafor's factor levels) of
# ASCII whitespace and punctuation; all of them sort before digits, digits before letters.
_PUNCT_ORDER = {c: i for i, c in enumerate(" \t_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$")}


def r_sort_key(text: str):
    """A sort key imitating R's string collation under ICU (root locale), as R's ``factor()``.

    Primary: punctuation < digits < letters, letters compared without case or accents;
    then accents; then case (lower case first). Exact for ASCII text.
    """
    decomposed = unicodedata.normalize("NFD", text)
    primary: list[tuple[int, int, str]] = []
    secondary: list[str] = []
    tertiary: list[int] = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            if secondary:
                secondary[-1] += ch
            continue
        if ch in _PUNCT_ORDER:
            primary.append((0, _PUNCT_ORDER[ch], ""))
        elif ch.isdigit():
            primary.append((1, 0, ch))
        elif ch.isalpha():
            primary.append((2, 0, ch.casefold()))
        else:
            primary.append((0, len(_PUNCT_ORDER) + ord(ch), ""))
        secondary.append("")
        tertiary.append(0 if not ch.isupper() else 1)
    return (tuple(primary), tuple(secondary), tuple(tertiary), text)


def r_sorted_levels(values: Sequence[str]) -> list[str]:
    """Distinct values in R's factor-level order (see :func:`r_sort_key`)."""
    return sorted(set(values), key=r_sort_key)


def is_number(text: str) -> bool:
    """True when ``text`` is a finite decimal number (as R's read.csv would read it)."""
    return bool(_NUMBER.match(text.strip()))


@dataclass(frozen=True)
class Design:
    """A model matrix built from moderator columns.

    ``X`` has an intercept column first; ``names`` are metafor's coefficient names
    (``intrcpt``, a numeric column by its name, a categorical one as column + level);
    ``kinds`` maps each moderator column to ``"numeric"`` or ``"categorical"``; ``rows`` are
    the indices of the studies used (those with no missing moderator value).
    """

    X: np.ndarray
    names: tuple[str, ...]
    kinds: dict[str, str]
    rows: np.ndarray
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)


#: Relative tolerance below which a model-matrix column counts as a linear combination of the
#: columns before it (R's ``lm``/``qr`` default, 1e-7, which metafor uses to find redundant terms).
REDUNDANCY_TOL = 1e-7


def _independent_columns(X: np.ndarray) -> list[bool]:
    """Which columns of ``X`` to keep: each, in order, unless it lies (up to ``REDUNDANCY_TOL``
    relative to its norm) in the span of the columns kept before it (Gram–Schmidt)."""
    basis: list[np.ndarray] = []
    keep = []
    for j in range(X.shape[1]):
        col = X[:, j].astype(float)
        norm = np.linalg.norm(col)
        r = col.copy()
        for _ in range(2):  # re-orthogonalise once for accuracy
            for q in basis:
                r -= (q @ r) * q
        rn = np.linalg.norm(r)
        ok = norm > 0 and rn > REDUNDANCY_TOL * norm
        keep.append(bool(ok))
        if ok:
            basis.append(r / rn)
    return keep


def _resolve_moderators(moderators: Sequence[str], lookup: dict[str, str], source: str | None) -> list[str]:
    """The column names of ``moderators`` (matched case-insensitively); InputError for an empty,
    unknown or repeated name."""
    resolved = []
    for mod in moderators:
        key = mod.strip().lower()
        if not key:
            raise InputError("an empty moderator name was given", file=source)
        if key not in lookup:
            raise InputError("no such column for the moderator", file=source, column=mod.strip())
        resolved.append(lookup[key])
    if len(set(resolved)) != len(resolved):
        raise InputError("a moderator column is named twice", file=source)
    return resolved


def _model_columns(columns, resolved, rows, intercept: bool):
    """The model matrix of the studies ``rows`` before redundant terms are dropped: numeric columns
    as is, others dummy-coded against their first level in R's order (treatment contrasts).
    Returns ``(X, names, kinds, levels)``."""
    cols = [np.ones(len(rows))] if intercept else []
    names = ["intrcpt"] if intercept else []
    kinds: dict[str, str] = {}
    levels: dict[str, tuple[str, ...]] = {}
    for col in resolved:
        vals = [str(columns[col][i]).strip() for i in rows]
        if all(is_number(x) for x in vals):
            kinds[col] = "numeric"
            cols.append(np.array([float(x) for x in vals]))
            names.append(col)
        else:
            kinds[col] = "categorical"
            lv = r_sorted_levels(vals)
            levels[col] = tuple(lv)
            use_levels = lv[1:] if intercept or len(cols) > 0 else lv
            for level in use_levels:
                cols.append(np.array([1.0 if x == level else 0.0 for x in vals]))
                names.append(f"{col}{level}")
    X = np.column_stack(cols) if cols else np.zeros((len(rows), 0))
    return X, names, kinds, levels


def design_matrix(
    columns: Mapping[str, Sequence[str]],
    moderators: Sequence[str],
    *,
    source: str | None = None,
    usable: np.ndarray | None = None,
    intercept: bool = True,
    labels: Sequence[str] | None = None,
) -> Design:
    """The model matrix for ``moderators`` (names in ``columns``), as ``rma(mods = ~ a + b)``.

    A column whose values are all numbers enters as is; any other column is categorical and
    dummy-coded against its first level in R's sorted order (treatment contrasts). Studies
    with a missing value (blank or ``NA``) in any moderator are left out with a warning naming
    them (``labels``), as metafor does; ``usable`` (boolean per study) restricts the studies
    beforehand (e.g. to those with an effect estimate). Terms that are constant or linear
    combinations of earlier terms in the studies used are dropped with a warning (as metafor's
    "redundant predictors dropped"); a missing column, or no moderator term left, is an
    :class:`InputError`.
    """
    lookup = {name.strip().lower(): name for name in columns}
    n = len(next(iter(columns.values()))) if columns else 0
    use = np.ones(n, dtype=bool) if usable is None else np.asarray(usable, dtype=bool).copy()
    resolved = _resolve_moderators(moderators, lookup, source)
    for col in resolved:
        use &= np.array([str(v).strip() not in MISSING for v in columns[col]], dtype=bool)
    before = np.ones(n, dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    dropped = np.nonzero(before & ~use)[0]
    if len(dropped):
        names_ = [str(labels[int(i)]) if labels is not None else f"row {i + 1}" for i in dropped]
        warnings.warn(
            f"{source + ': ' if source else ''}{len(dropped)} "
            f"stud{'y' if len(dropped) == 1 else 'ies'} with a missing moderator value left out of the "
            f"model (as metafor): {', '.join(names_)}",
            TrialsynthWarning,
            stacklevel=2,
        )
    rows = np.nonzero(use)[0]
    X, names, kinds, levels = _model_columns(columns, resolved, rows, intercept)
    # A categorical moderator with one level in the studies used has no dummy column: it is
    # constant, as a constant numeric one (an error when nothing else is left, else dropped).
    single = [
        c
        for c in resolved
        if kinds[c] == "categorical" and len(levels[c]) < 2 and f"{c}{levels[c][0]}" not in names
    ]
    single = single if len(names) > int(intercept) else []
    if len(names) == int(intercept) and resolved:
        raise InputError(
            "the moderators have the same value for every study used; they cannot explain anything: "
            + ", ".join(resolved),
            file=source,
        )
    if single:
        warnings.warn(
            f"{source + ': ' if source else ''}moderators with the same value for every study used "
            "dropped from the model: " + ", ".join(single),
            TrialsynthWarning,
            stacklevel=2,
        )
        for col in single:
            kinds.pop(col)
            levels.pop(col)
    keep = _independent_columns(X)
    if not all(keep):
        redundant = [nm for nm, kp in zip(names, keep, strict=True) if not kp]
        if not any(kp for nm, kp in zip(names, keep, strict=True) if nm != "intrcpt"):
            raise InputError(
                "the moderators have the same value for every study used; they cannot explain anything: "
                + ", ".join(resolved),
                file=source,
            )
        warnings.warn(
            f"{source + ': ' if source else ''}redundant moderator terms dropped from the model "
            "(constant, or combinations of the others, in the studies used; as metafor): "
            + ", ".join(redundant),
            TrialsynthWarning,
            stacklevel=2,
        )
        X = X[:, keep]
        names = [nm for nm, kp in zip(names, keep, strict=True) if kp]
        for col in resolved:
            terms = [f"{col}{lv}" for lv in levels[col]] if col in levels else [col]
            if not any(t in names for t in terms):
                kinds.pop(col, None)
                levels.pop(col, None)
    if len(rows) <= X.shape[1]:
        raise InputError(
            f"the model has {X.shape[1]} coefficients but only {len(rows)} studies; it cannot be fitted",
            file=source,
        )
    return Design(X=X, names=tuple(names), kinds=kinds, rows=rows, levels=levels)


# ---------------------------------------------------------------------------------------
# Meta-regression of a table of trials


@dataclass(frozen=True)
class Coefficient(JsonResult):
    """One model coefficient (analysis scale). ``p_value`` is from z, or t(k − p) under HK."""

    name: str
    estimate: float
    se: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float
    permutation_p_value: float = math.nan

    #: JSON (meta-regression, multilevel): the permutation p-value only where a test was run.
    __json_fields__ = ("name", "estimate", "se", "statistic", "ci_lower", "ci_upper", "p_value")


@dataclass(frozen=True)
class PermutationTest(JsonResult):
    """Permutation test of a meta-regression (metafor's ``permutest``; see :func:`permutation_test`)."""

    iterations: int
    exact: bool
    seed: int | None
    qm_p_value: float
    coefficient_p_values: tuple[float, ...] = field(metadata=json_key(None))


@dataclass(frozen=True)
class MetaRegression(JsonResult):
    """A fitted meta-regression (mixed-effects, or fixed-effects with ``method="FE"``)."""

    method: str
    hk: bool
    hk_variant: str
    level: float
    k: int
    p: int
    coefficients: tuple[Coefficient, ...]
    tau2: float
    tau2_intercept_only: float
    i2: float
    h2: float
    r2: float
    qm: float
    qm_df: int
    qm_df2: float
    qm_p_value: float
    qm_test: str
    qe: float
    qe_df: int
    qe_p_value: float
    converged: bool
    studies: tuple[str, ...]
    kinds: dict[str, str]
    vb: np.ndarray | None = field(repr=False, compare=False, default=None)
    permutation: PermutationTest | None = None

    def format_text(self) -> str:
        """A plain-text summary (analysis scale)."""
        return _format_text(self)

    #: The keys ``trialsynth pool --moderators --json`` adds (NaN as null); the permutation keys
    #: only after a permutation test.
    __json_fields__ = (
        ("moderators", "_json_kinds"), ("k_model", "k"), ("coefficients", "_json_coefficients"), "qm",
        "qm_df", ("qm_df2", "_json_qm_df2"), "qm_test", "qm_p_value", "qe", "qe_df", "qe_p_value", "r2",
        ("tau2", "_json_tau2"), ("tau2_intercept_only", "_json_tau2_intercept_only"), "i2", "h2",
        ("permutation", "_json_permutation"), ("permutation_p_values", "_json_permutation_p_values"),
    )

    @property
    def _json_kinds(self) -> dict[str, str]:
        return dict(self.kinds)

    @property
    def _json_coefficients(self) -> list[dict]:
        if self.permutation is None:
            return [to_jsonable(c) for c in self.coefficients]  # Coefficient's own JSON form
        return [{**to_jsonable(c), "permutation_p_value": c.permutation_p_value} for c in self.coefficients]

    @property
    def _json_qm_df2(self) -> float | None:
        return self.qm_df2 if self.hk else None

    @property
    def _json_tau2(self) -> float:
        return self.tau2 if self.method != FIXED else math.nan

    @property
    def _json_tau2_intercept_only(self) -> float:
        return self.tau2_intercept_only if self.method != FIXED else math.nan

    @property
    def _json_permutation(self) -> PermutationTest | object:
        return OMIT if self.permutation is None else self.permutation

    @property
    def _json_permutation_p_values(self) -> list[float] | object:
        # One permutation p-value per coefficient, in coefficient order (as metafor's permutest).
        if self.permutation is None:
            return OMIT
        return [c.permutation_p_value for c in self.coefficients]


def fit_regression(
    yi,
    vi,
    X,
    names: Sequence[str],
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 0.95,
    studies: Sequence[str] | None = None,
    kinds: dict[str, str] | None = None,
) -> MetaRegression:
    """Fit one meta-regression (X with its intercept column first) and compute R².

    R² (metafor's pseudo-R²): for a mixed-effects model 100·max(0, (τ²_RE − τ²_ME)/τ²_RE) with
    τ²_RE from the intercept-only model (same estimator, same studies), 0 when τ²_RE = 0; for
    a fixed-effects model metafor 3.8 reports the analogue with H² = Q/df in place of τ²:
    100·max(0, (H²_RE − H²_ME)/H²_RE).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    X = np.asarray(X, dtype=float)
    method = method.upper()
    f = fit_mods(yi, vi, X, method=method, hk=hk, hk_variant=hk_variant, level=level)
    g = fit_mods(yi, vi, X[:, :1], method=method, hk=False, level=level)
    k, p = X.shape
    if method == FIXED:
        h2_me = float(f["qe"]) / (k - p)
        h2_re = float(g["qe"]) / (k - 1)
        r2 = 100.0 * max(0.0, (h2_re - h2_me) / h2_re) if h2_re > 0 else 0.0
        tau2_re = 0.0
    else:
        tau2_re = float(g["tau2"])
        r2 = pseudo_r2(tau2_re, float(f["tau2"]))
    if not bool(f["converged"]):
        warnings.warn(
            f"the {method} estimate of the residual τ² did not converge", TrialsynthWarning, stacklevel=2
        )
    if bool(f["tau2_boundary"]):
        warnings.warn(BOUNDARY_WARNING.format(method=method), TrialsynthWarning, stacklevel=2)
    if bool(f["exact_fit"]):
        what = "meta-regression"
        warnings.warn(EXACT_FIT_WARNING.format(what=what), TrialsynthWarning, stacklevel=2)
    coefs = tuple(
        Coefficient(
            name=names[j],
            estimate=float(f["beta"][j]),
            se=float(f["se"][j]),
            statistic=float(f["statistic"][j]),
            p_value=float(f["p_value"][j]),
            ci_lower=float(f["ci_lower"][j]),
            ci_upper=float(f["ci_upper"][j]),
        )
        for j in range(p)
    )
    return MetaRegression(
        method=method,
        hk=hk,
        hk_variant=hk_variant if hk else "",
        level=level * 100,
        k=k,
        p=p,
        coefficients=coefs,
        tau2=float(f["tau2"]) if method != FIXED else 0.0,
        tau2_intercept_only=tau2_re,
        i2=float(f["i2"]),
        h2=float(f["h2"]),
        r2=r2,
        qm=float(f["qm"]),
        qm_df=int(f["qm_df"]),
        qm_df2=float(f["qm_df2"]),
        qm_p_value=float(f["qm_p_value"]),
        qm_test="F" if hk else "chi2",
        qe=float(f["qe"]),
        qe_df=int(f["qe_df"]),
        qe_p_value=float(f["qe_p_value"]),
        converged=bool(f["converged"]),
        studies=tuple(studies) if studies is not None else tuple(str(i + 1) for i in range(k)),
        kinds=dict(kinds or {}),
        vb=f["vb"],
    )


def _multiset_permutations(labels: np.ndarray):
    """Every distinct ordering of ``labels`` (lexicographic 'next permutation'), first the sorted one."""
    a = list(np.sort(labels))
    n = len(a)
    while True:
        yield np.array(a)
        i = n - 2
        while i >= 0 and a[i] >= a[i + 1]:
            i -= 1
        if i < 0:
            return
        j = n - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
        a[i + 1 :] = reversed(a[i + 1 :])


def _n_distinct_permutations(labels: np.ndarray) -> int:
    _, counts = np.unique(labels, return_counts=True)
    n = math.factorial(len(labels))
    for c in counts:
        n //= math.factorial(int(c))
    return n


#: Tolerance for "as extreme or more extreme" in permutation tests (metafor's comptol default,
#: .Machine$double.eps^0.5).
COMPTOL = float(np.sqrt(np.finfo(float).eps))


def permutation_test(
    yi,
    vi,
    X,
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    iterations: int = 1000,
    seed: int | None = None,
    batch: int = 500,
) -> PermutationTest:
    """Permutation test of a meta-regression, following metafor's ``permutest.rma.uni``.

    The rows of the model matrix are permuted (yi and vi stay in place) and the model is
    refitted (τ² re-estimated) for each permutation (Higgins & Thompson, Stat Med 2004;
    Viechtbauer et al., Res Synth Methods 2015). The p-value of the omnibus test is the
    proportion of permutations whose QM is at least the observed one (up to ``COMPTOL``),
    that of a coefficient the proportion with |z| (|t|) at least the observed one.

    Exact versus random, as metafor: when ``iterations`` is at least the number of distinct
    permutations of the rows of X (k!/Πmⱼ! with mⱼ the multiplicities of identical rows),
    every distinct permutation is used once (an exact test, independent of the seed).
    Otherwise the observed order is the first permutation and ``iterations − 1`` random
    permutations follow, drawn with ``numpy.random.default_rng(seed)`` (so the p-value is
    never 0; the random stream differs from R's, so only exact p-values can be compared
    with metafor's to full precision).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    X = np.asarray(X, dtype=float)
    k = len(yi)
    _, row_labels = np.unique(X, axis=0, return_inverse=True)
    row_labels = np.asarray(row_labels).reshape(-1)
    n_distinct = _n_distinct_permutations(row_labels)
    exact = iterations >= n_distinct
    obs = fit_mods(yi, vi, X, method=method, hk=hk, hk_variant=hk_variant)
    qm_obs = float(obs["qm"])
    z_obs = np.abs(obs["statistic"])
    count_qm = 0
    count_z = np.zeros(X.shape[1])
    total = 0

    # Representative row for each label, to rebuild X from a label sequence.
    reps = np.zeros((row_labels.max() + 1, X.shape[1]))
    reps[row_labels] = X

    def orders():
        if exact:
            for labels in _multiset_permutations(row_labels):
                yield reps[labels]
        else:
            rng = np.random.default_rng(seed)
            yield X
            for _ in range(iterations - 1):
                yield X[rng.permutation(k)]

    buf: list[np.ndarray] = []

    def flush():
        nonlocal count_qm, count_z, total
        if not buf:
            return
        Xs = np.stack(buf)
        f = fit_mods(
            np.broadcast_to(yi, (len(buf), k)),
            np.broadcast_to(vi, (len(buf), k)),
            Xs,
            method=method,
            hk=hk,
            hk_variant=hk_variant,
        )
        count_qm += int((f["qm"] >= qm_obs - COMPTOL).sum())
        count_z += (np.abs(f["statistic"]) >= z_obs - COMPTOL).sum(axis=0)
        total += len(buf)
        buf.clear()

    for Xp in orders():
        buf.append(Xp)
        if len(buf) >= batch:
            flush()
    flush()
    return PermutationTest(
        iterations=total,
        exact=exact,
        seed=None if exact else seed,
        qm_p_value=count_qm / total,
        coefficient_p_values=tuple(float(c) / total for c in count_z),
    )


def meta_regression(
    data,
    moderators: Sequence[str],
    *,
    permutations: int | None = None,
    seed: int | None = None,
    **options,
) -> tuple[MetaRegression, object]:
    """Meta-regression of a :class:`trialsynth.io.poolcsv.PoolInput` on moderator columns.

    ``options`` are those of :func:`trialsynth.stats.meta.pool_input` (effect sizes, corrections and
    the τ² estimator; Mantel–Haenszel and Peto have no meta-regression). Returns the fitted
    model and the intercept-only :class:`~trialsynth._core.results.MetaResult` of all studies.
    """
    from trialsynth.stats.meta import pool_input

    method = str(options.get("method", "REML")).upper()
    if method in ("MH", "PETO"):
        raise InputError(
            f"meta-regression needs an inverse-variance model (FE or a τ² estimator), not {method}",
            file=data.source,
        )
    pooled = pool_input(data, **options)
    yi = np.array([s.yi for s in pooled.studies])
    vi = np.array([s.vi for s in pooled.studies])
    usable = np.array([s.included for s in pooled.studies], dtype=bool)
    design = design_matrix(
        data.extra_columns, moderators, source=data.source, usable=usable, labels=data.labels
    )
    rows = design.rows
    level = options.get("level", 95.0)
    level = level / 100.0 if level > 1 else level
    hk = bool(options.get("hk", False))
    hk_variant = options.get("hk_variant", "knha")
    if method != FIXED and len(rows) - design.X.shape[1] < 1:
        raise InputError("too few studies for the moderators given", file=data.source)
    reg = fit_regression(
        yi[rows],
        vi[rows],
        design.X,
        design.names,
        method=method,
        hk=hk,
        hk_variant=hk_variant,
        level=level,
        studies=[data.labels[i] for i in rows],
        kinds=design.kinds,
    )
    if permutations:
        if permutations < 1:
            raise InputError("the number of permutations must be at least 1")
        perm = permutation_test(
            yi[rows],
            vi[rows],
            design.X,
            method=method,
            hk=hk,
            hk_variant=hk_variant,
            iterations=int(permutations),
            seed=seed,
        )
        coefs = tuple(
            Coefficient(**{**c.__dict__, "permutation_p_value": perm.coefficient_p_values[j]})
            for j, c in enumerate(reg.coefficients)
        )
        from dataclasses import replace

        reg = replace(reg, coefficients=coefs, permutation=perm)
    return reg, pooled


def _format_text(self: MetaRegression) -> str:
    """A plain-text summary of a meta-regression (analysis scale)."""
    model = "fixed-effects" if self.method == FIXED else f"mixed-effects ({self.method})"
    lines = [f"Meta-regression, {model} model, k = {self.k}" + (" (Hartung–Knapp)" if self.hk else "")]
    stat = "t" if self.hk else "z"
    lines.append(
        f"  {'coefficient':<28} {'estimate':>10} {'SE':>9} {stat:>8} {'p':>10} {'CI lower':>10} "
        f"{'CI upper':>10}"
    )
    for c in self.coefficients:
        lines.append(
            f"  {c.name[:28]:<28} {c.estimate:10.4f} {c.se:9.4f} {c.statistic:8.3f} {c.p_value:10.4g} "
            f"{c.ci_lower:10.4f} {c.ci_upper:10.4f}"
        )
    if self.method != FIXED:
        lines.append(f"Residual τ² = {self.tau2:.4f}, I² = {self.i2:.1f}%, R² = {self.r2:.1f}%")
    else:
        lines.append(f"R² = {self.r2:.1f}%")
    if self.hk:
        lines.append(
            f"Test of moderators: F({self.qm_df}, {self.qm_df2:g}) = {self.qm:.4f}, p = {self.qm_p_value:.4g}"
        )
    else:
        lines.append(f"Test of moderators: QM = {self.qm:.4f} (df = {self.qm_df}), p = {self.qm_p_value:.4g}")
    lines.append(f"Residual heterogeneity: QE = {self.qe:.4f} (df = {self.qe_df}), p = {self.qe_p_value:.4g}")
    if self.permutation is not None:
        kind = "exact" if self.permutation.exact else f"{self.permutation.iterations} permutations"
        lines.append(f"Permutation test of moderators ({kind}): p = {self.permutation.qm_p_value:.4g}")
    return "\n".join(lines)
