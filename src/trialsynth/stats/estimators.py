"""Between-study variance (τ²) estimators over stacked arrays.

Every function takes ``yi`` and ``vi`` of shape ``(..., k)`` and a boolean ``mask`` of the
same shape (True = the study takes part; padding for unequal k is False), and returns
arrays of shape ``(...)``. One implementation therefore fits one meta-analysis or a
million. τ² is never negative: estimates below zero are truncated at zero.

Definitions (intercept-only random-effects model, w = 1/(vi + τ²), k studies):

* DL (DerSimonian & Laird 1986): τ² = max(0, (Q − (k − 1)) / (Σw − Σw²/Σw)), w = 1/vi.
* HE (Hedges 1983; Hedges & Olkin 1985): τ² = max(0, Σ(yi − ȳ)²/(k − 1) − Σvi/k), ȳ unweighted.
* HS (Hunter & Schmidt 2004): τ² = max(0, (Q − k)/Σw), w = 1/vi.
* SJ (Sidik & Jonkman 2005): τ₀² = Σ(yi − ȳ)²/k, then τ² = τ₀² · Σ wᵢ(yi − μ̂)²/(k − 1)
  with wᵢ = 1/(vi + τ₀²) and μ̂ their weighted mean.
* PM (Paule & Mandel 1982): the τ² ≥ 0 that solves Q(τ²) = Σ w(yi − μ̂)² = k − 1 (zero if Q(0) < k − 1).
* EB (Morris 1983; Berkey et al. 1995): the fixed point of
  τ² = Σw[(k/(k − 1))(yi − μ̂)² − vi]/Σw, which is the same equation as PM (Viechtbauer et al.,
  Res Synth Methods 2015), solved the same way.
* ML, REML (Viechtbauer, J Educ Behav Stat 2005): the global maximiser of the (restricted)
  log-likelihood over τ² ≥ 0; a root of the score
  ML: Σw²(yi − μ̂)² − Σw = 0;  REML: Σw²(yi − μ̂)² − Σw + Σw²/Σw = 0, or τ² = 0.
  The likelihood need not be unimodal: every local maximum is bracketed and the highest taken
  (:mod:`trialsynth.stats.tau2`, which also reports how many there were).

The iterative estimators (PM, EB, ML, REML) and the Q-profile interval are solved by
:mod:`trialsynth.stats.tau2` (safeguarded Newton inside a bracket that always contains the
root, with bisection whenever a step would leave it), which reports the iterations and
convergence of every element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsynth._core.dist import chi2_quantile
from trialsynth.stats import tau2 as solver

METHODS = ("DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS")
ITERATIVE = frozenset({"REML", "ML", "PM", "EB"})

#: Relative tolerance on τ² for the iterative estimators (far tighter than metafor's 1e-5
#: default threshold, so that our value is the root to double precision).
TOL = solver.TOL
MAXITER = solver.MAXITER


@dataclass(frozen=True)
class Tau2Estimate:
    """τ² per meta-analysis, with convergence and the number of iterations used.

    ``n_local_maxima``: local maxima of the (restricted) likelihood over τ² ≥ 0 (ML, REML; 0 for
    the other estimators). ``boundary`` (meta-regression ML/REML only) marks fits where the
    likelihood was higher at τ² = 0 than at an interior local maximum, so that τ² = 0 was taken.
    """

    tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    boundary: np.ndarray | None = None
    n_local_maxima: np.ndarray | None = None


def _prep(yi, vi, mask):
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if mask is None:
        mask = np.isfinite(yi) & np.isfinite(vi)
    mask = np.asarray(mask, dtype=bool)
    # Padded cells get a harmless finite value; their weights are zeroed by the mask.
    yi = np.where(mask, yi, 0.0)
    vi = np.where(mask, vi, 1.0)
    k = mask.sum(axis=-1)
    return yi, vi, mask, k


def _weights(vi, mask, tau2):
    return np.where(mask, 1.0 / (vi + np.asarray(tau2)[..., None]), 0.0)


def weighted_mean(yi, w):
    """Σ w·y / Σ w along the last axis."""
    return (w * yi).sum(axis=-1) / w.sum(axis=-1)


def q_statistic(yi, vi, mask, tau2=0.0):
    """The generalised Q statistic Σ w(yi − μ̂)² with w = 1/(vi + τ²); Cochran's Q at τ² = 0."""
    yi, vi, mask, _ = _prep(yi, vi, mask)
    w = _weights(vi, mask, np.broadcast_to(tau2, yi.shape[:-1]))
    mu = weighted_mean(yi, w)
    return (w * (yi - mu[..., None]) ** 2).sum(axis=-1)


def _dl(yi, vi, mask, k):
    w = np.where(mask, 1.0 / vi, 0.0)
    sw = w.sum(axis=-1)
    mu = (w * yi).sum(axis=-1) / sw
    q = (w * (yi - mu[..., None]) ** 2).sum(axis=-1)
    c = sw - (w**2).sum(axis=-1) / sw
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(0.0, (q - (k - 1)) / c)


def _he(yi, vi, mask, k):
    ybar = np.where(mask, yi, 0.0).sum(axis=-1) / k
    ss = np.where(mask, (yi - ybar[..., None]) ** 2, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(0.0, ss / (k - 1) - np.where(mask, vi, 0.0).sum(axis=-1) / k)


def _hs(yi, vi, mask, k):
    w = np.where(mask, 1.0 / vi, 0.0)
    sw = w.sum(axis=-1)
    mu = (w * yi).sum(axis=-1) / sw
    q = (w * (yi - mu[..., None]) ** 2).sum(axis=-1)
    return np.maximum(0.0, (q - k) / sw)


def _sj(yi, vi, mask, k):
    ybar = np.where(mask, yi, 0.0).sum(axis=-1) / k
    tau0 = np.where(mask, (yi - ybar[..., None]) ** 2, 0.0).sum(axis=-1) / k
    w = _weights(vi, mask, tau0)
    mu = weighted_mean(yi, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        return tau0 * (w * (yi - mu[..., None]) ** 2).sum(axis=-1) / (k - 1)


def tau2_estimate(yi, vi, mask=None, *, method: str = "REML", tol: float = TOL, maxiter: int = MAXITER):
    """τ² by ``method`` for each meta-analysis in the stack; see the module docstring.

    With fewer than two studies τ² is not estimable and is NaN.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unknown τ² estimator {method!r}; choose one of {', '.join(METHODS)}")
    yi, vi, mask, k = _prep(yi, vi, mask)
    shape = yi.shape[:-1]
    nmax = np.zeros(shape, dtype=np.int64)
    if method in ITERATIVE:
        if method in ("PM", "EB"):
            tau2, conv, it, _ = solver.solve(
                yi, vi, mask, method="Q", target=k - 1.0, tol=tol, maxiter=maxiter
            )
        else:
            tau2, conv, it, nmax = solver.solve(yi, vi, mask, method=method, tol=tol, maxiter=maxiter)
    else:
        tau2 = {"DL": _dl, "HE": _he, "HS": _hs, "SJ": _sj}[method](yi, vi, mask, k)
        conv = np.ones(shape, dtype=bool)
        it = np.zeros(shape, dtype=int)
    tau2 = np.where(k >= 2, tau2, np.nan)
    return Tau2Estimate(
        np.asarray(tau2, dtype=float), np.asarray(conv), np.asarray(it), n_local_maxima=np.asarray(nmax)
    )


def tau2_qprofile_ci(yi, vi, mask=None, *, level: float = 0.95, tol: float = TOL, maxiter: int = MAXITER):
    """Q-profile confidence interval for τ² (Viechtbauer, Stat Med 2007).

    The bounds solve Q(τ²) = χ²_{k−1}(1 − α/2) (lower) and Q(τ²) = χ²_{k−1}(α/2) (upper);
    a bound whose equation has no root in τ² ≥ 0 is 0. The bracket's upper end is a bound beyond
    which Q(τ²) is provably below the target (:mod:`trialsynth.stats.tau2`), so no root is cut
    off. Returns ``(lower, upper, converged)``.
    """
    yi, vi, mask, k = _prep(yi, vi, mask)
    alpha = 1.0 - level
    ok = k >= 2
    df = np.where(ok, k - 1, 1)
    lower, c1, _, _ = solver.solve(
        yi, vi, mask, method="Q", target=chi2_quantile(1 - alpha / 2, df), tol=tol, maxiter=maxiter
    )
    upper, c2, _, _ = solver.solve(
        yi, vi, mask, method="Q", target=chi2_quantile(alpha / 2, df), tol=tol, maxiter=maxiter
    )
    return np.where(ok, lower, np.nan), np.where(ok, upper, np.nan), c1 & c2
