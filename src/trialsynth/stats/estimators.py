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
* ML, REML (Viechtbauer, J Educ Behav Stat 2005): the maximiser of the (restricted)
  log-likelihood over τ² ≥ 0, i.e. the root of the score
  ML: Σw²(yi − μ̂)² − Σw = 0;  REML: Σw²(yi − μ̂)² − Σw + Σw²/Σw = 0,
  or zero when the score is negative at τ² = 0 and no higher maximum is found inside: the
  likelihood need not be unimodal, so where the score is negative at 0 it is probed at the DL
  and HE estimates and at (1/16, 1/4, 1, 4)·max vᵢ, and a root above a positive probe replaces 0
  when its likelihood is higher (see ``_interior_maximum``).

The iterative estimators (PM, EB, ML, REML) and the Q-profile interval use a safeguarded
Newton method: Newton steps on the estimating equation inside a bracket that always
contains the root, with bisection whenever a step would leave it. It converges wherever
the estimate exists (unlike unguarded Fisher scoring), and reports the iterations and
convergence of every element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsynth._core.dist import chi2_quantile

METHODS = ("DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS")
ITERATIVE = frozenset({"REML", "ML", "PM", "EB"})

#: Relative tolerance on τ² for the iterative estimators (far tighter than metafor's 1e-5
#: default threshold, so that our value is the root to double precision).
TOL = 1e-13
MAXITER = 200


@dataclass(frozen=True)
class Tau2Estimate:
    """τ² per meta-analysis, with convergence and the number of iterations used.

    ``boundary`` (meta-regression ML/REML only) marks fits where the likelihood was higher at
    τ² = 0 than at the interior local maximum, so that τ² = 0 was taken.
    """

    tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    boundary: np.ndarray | None = None


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


def _q_equation(target_of_k):
    """Estimating equation Q(τ²) − target(k) and its derivative −Σw²(y − μ̂)².

    The target is a function of the number of studies so that the equation can be
    evaluated on any subset of the stack.
    """

    def f(yi, vi, mask, tau2):
        w = _weights(vi, mask, tau2)
        mu = weighted_mean(yi, w)
        r2 = (yi - mu[..., None]) ** 2
        target = target_of_k(mask.sum(axis=-1))
        return (w * r2).sum(axis=-1) - target, -(w**2 * r2).sum(axis=-1)

    return f


def _score(restricted: bool):
    """(Restricted) likelihood score for τ² (times 2) and its derivative."""

    def f(yi, vi, mask, tau2):
        w = _weights(vi, mask, tau2)
        sw = w.sum(axis=-1)
        mu = (w * yi).sum(axis=-1) / sw
        r = yi - mu[..., None]
        w2 = w**2
        w3 = w2 * w  # not w**3: numpy may use a vectorised pow; a product is reproducible everywhere
        sw2, sw3 = w2.sum(axis=-1), w3.sum(axis=-1)
        s_w2r = (w2 * r).sum(axis=-1)
        s_w2r2 = (w2 * r**2).sum(axis=-1)
        score = s_w2r2 - sw
        deriv = -2.0 * (w3 * r**2).sum(axis=-1) + 2.0 * s_w2r**2 / sw + sw2
        if restricted:
            score = score + sw2 / sw
            deriv = deriv - 2.0 * sw3 / sw + (sw2 / sw) ** 2
        return score, deriv

    return f


def _loglik(restricted: bool):
    """(Restricted) log-likelihood of τ², up to a constant: −½[Σlog(vᵢ + τ²) + Σw(yᵢ − μ̂)² (+ log Σw)]."""

    def f(yi, vi, mask, tau2):
        w = _weights(vi, mask, tau2)
        sw = w.sum(axis=-1)
        mu = (w * yi).sum(axis=-1) / sw
        q = (w * (yi - mu[..., None]) ** 2).sum(axis=-1)
        logv = np.where(mask, np.log(vi + np.asarray(tau2)[..., None]), 0.0).sum(axis=-1)
        out = logv + q
        if restricted:
            out = out + np.log(sw)
        return -0.5 * out

    return f


#: Probe points for an interior maximum, as multiples of the largest vᵢ (see _interior_maximum).
PROBES = (1.0 / 16.0, 0.25, 1.0, 4.0)


def _interior_maximum(restricted, yi, vi, mask, k, tau2, conv, it, *, tol, maxiter):
    """Where the (RE)ML score is not positive at τ² = 0, look for a higher interior maximum.

    The likelihood need not be unimodal: its score can be negative at 0 (a local maximum on
    the boundary) and positive further out, with a higher maximum there. For such rows the
    score is probed at the DL and HE estimates (when positive), then at (1/16, 1/4, 1, 4)·max vᵢ;
    at the first probe where it is positive, the root above it is found as by solve_decreasing,
    and it replaces 0 when its likelihood is higher. Returns updated (tau2, conv, it).
    """
    shape = yi.shape[:-1]
    yi, vi, mask = (x.reshape(-1, x.shape[-1]) for x in (yi, vi, mask))
    k, tau2, conv, it = (np.asarray(x).reshape(-1) for x in (k, tau2, conv, it))
    score = _score(restricted)
    rows = np.nonzero((k >= 2) & ~(score(yi, vi, mask, np.zeros(len(k)))[0] > 0))[0]
    if rows.size == 0:
        return tau2.reshape(shape), conv.reshape(shape), it.reshape(shape)
    y, v, m, kk = yi[rows], vi[rows], mask[rows], k[rows]
    vmax = np.where(m, v, 0.0).max(axis=-1)
    probes = [_dl(y, v, m, kk), _he(y, v, m, kk), *(c * vmax for c in PROBES)]
    start = np.full(len(vmax), np.nan)
    for p in probes:
        use = np.isnan(start) & (p > 0)
        if use.any():
            use[use] = score(y[use], v[use], m[use], p[use])[0] > 0
            start[use] = p[use]
    found = ~np.isnan(start)
    if not found.any():
        return tau2.reshape(shape), conv.reshape(shape), it.reshape(shape)
    y, v, m = y[found], v[found], m[found]
    root, ok, n_it = _solve_flat(score, y, v, m, tol=tol, maxiter=maxiter, start=start[found])
    loglik = _loglik(restricted)
    better = loglik(y, v, m, root) > loglik(y, v, m, np.zeros(len(root)))
    target = rows[found][better]
    tau2, conv, it = tau2.copy(), conv.copy(), it.copy()
    tau2[target], conv[target], it[target] = root[better], ok[better], n_it[better]
    return tau2.reshape(shape), conv.reshape(shape), it.reshape(shape)


def solve_decreasing(func, yi, vi, mask, *, tol: float = TOL, maxiter: int = MAXITER, aux=()):
    """Root in τ² ≥ 0 of an estimating equation that is positive at 0 and negative far out.

    ``func(yi, vi, mask, tau2, *aux) -> (value, derivative)``. Where the value at τ² = 0 is not
    positive the answer is 0 (the boundary). Otherwise a bracket [lo, hi] is grown until
    the value at ``hi`` is negative, then safeguarded Newton steps (bisection when a step
    leaves the bracket) run until the step is below ``tol`` relative to τ².
    ``aux`` are further arrays whose leading dimensions are the batch shape (e.g. the model
    matrices of a meta-regression, ``(..., k, p)``); they are passed on to ``func``.
    Returns ``(tau2, converged, iterations)`` arrays of the batch shape.
    """
    shape = yi.shape[:-1]
    kdim = yi.shape[-1]
    yi, vi, mask = (x.reshape(-1, kdim) for x in (yi, vi, mask))
    aux = tuple(np.asarray(a).reshape(-1, *np.shape(a)[len(shape) :]) for a in aux)
    tau2, converged, iterations = _solve_flat(func, yi, vi, mask, tol=tol, maxiter=maxiter, aux=aux)
    return tau2.reshape(shape), converged.reshape(shape), iterations.reshape(shape)


def _solve_flat(func, yi, vi, mask, *, tol, maxiter, aux=(), start=None):
    """Rows (n, k). ``start`` (n,), when given, replaces 0 as the left end of the search: rows
    whose equation is positive there are solved above it, the others get ``start``."""
    shape = yi.shape[:-1]
    zero = np.zeros(shape) if start is None else np.asarray(start, dtype=float)
    f0, _ = func(yi, vi, mask, zero, *aux)
    # Fewer than two studies: τ² is not estimable (the caller reports NaN). Their equation can
    # be positive by rounding alone (Q of one study around its own weighted mean), so they are
    # never searched: the bracket would grow without end.
    active = (f0 > 0) & (mask.sum(-1) >= 2)
    tau2 = zero.copy()
    iterations = np.zeros(shape, dtype=int)
    converged = np.ones(shape, dtype=bool)
    if not np.any(active):
        return tau2, converged, iterations
    idx = np.nonzero(active)
    y, v, m = yi[idx], vi[idx], mask[idx]
    a = tuple(x[idx] for x in aux)
    lo = zero[idx]
    # Upper end of the bracket: start from a moment-type scale and double until negative.
    spread = np.where(m, y - (np.where(m, y, 0).sum(-1) / m.sum(-1))[:, None], 0.0)
    hi = np.maximum(np.maximum((spread**2).sum(-1), np.where(m, v, 0).max(-1)) + 1e-8, lo)
    fhi, _ = func(y, v, m, hi, *a)
    grow = 0
    while np.any(fhi >= 0) and grow < 2000:
        sel = fhi >= 0
        lo = np.where(sel, hi, lo)
        hi = np.where(sel, hi * 2.0, hi)
        fhi = np.where(sel, func(y, v, m, hi, *a)[0], fhi)
        grow += 1
    # Newton from the better-informed end: start at lo (value > 0) with its derivative.
    t = lo.copy()
    ft, dt = func(y, v, m, t, *a)
    done = np.zeros(len(t), dtype=bool)
    it = np.zeros(len(t), dtype=int)
    for _ in range(maxiter):
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = t - ft / dt
        bad = ~np.isfinite(newton) | (newton <= lo) | (newton >= hi)
        new = np.where(bad, 0.5 * (lo + hi), newton)
        step = np.abs(new - t)
        t = np.where(done, t, new)
        it = it + ~done
        ft_new, dt_new = func(y, v, m, t, *a)
        ft = np.where(done, ft, ft_new)
        dt = np.where(done, dt, dt_new)
        lo = np.where(~done & (ft > 0), t, lo)
        hi = np.where(~done & (ft < 0), t, hi)
        finished = (
            (step <= tol * np.maximum(t, 1e-300)) | (ft == 0) | (hi - lo <= tol * np.maximum(t, 1e-300))
        )
        # τ² may be so small that relative accuracy is meaningless: stop at an absolute floor.
        finished |= step <= 1e-300
        done |= finished
        if np.all(done):
            break
    tau2[idx] = t
    iterations[idx] = it
    converged[idx] = done
    return tau2, converged, iterations


def tau2_estimate(yi, vi, mask=None, *, method: str = "REML", tol: float = TOL, maxiter: int = MAXITER):
    """τ² by ``method`` for each meta-analysis in the stack; see the module docstring.

    With fewer than two studies τ² is not estimable and is NaN.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unknown τ² estimator {method!r}; choose one of {', '.join(METHODS)}")
    yi, vi, mask, k = _prep(yi, vi, mask)
    shape = yi.shape[:-1]
    if method in ITERATIVE:
        func = _q_equation(lambda k: k - 1.0) if method in ("PM", "EB") else _score(method == "REML")
        tau2, conv, it = solve_decreasing(func, yi, vi, mask, tol=tol, maxiter=maxiter)
        if method in ("REML", "ML"):
            tau2, conv, it = _interior_maximum(
                method == "REML", yi, vi, mask, k, tau2, conv, it, tol=tol, maxiter=maxiter
            )
    else:
        tau2 = {"DL": _dl, "HE": _he, "HS": _hs, "SJ": _sj}[method](yi, vi, mask, k)
        conv = np.ones(shape, dtype=bool)
        it = np.zeros(shape, dtype=int)
    tau2 = np.where(k >= 2, tau2, np.nan)
    return Tau2Estimate(np.asarray(tau2, dtype=float), np.asarray(conv), np.asarray(it))


def tau2_qprofile_ci(yi, vi, mask=None, *, level: float = 0.95, tol: float = TOL, maxiter: int = MAXITER):
    """Q-profile confidence interval for τ² (Viechtbauer, Stat Med 2007).

    The bounds solve Q(τ²) = χ²_{k−1}(1 − α/2) (lower) and Q(τ²) = χ²_{k−1}(α/2) (upper);
    a bound whose equation has no root in τ² ≥ 0 is 0. No upper search limit is imposed:
    the bracket grows until it contains the root. Returns ``(lower, upper, converged)``.
    """
    yi, vi, mask, k = _prep(yi, vi, mask)
    alpha = 1.0 - level
    lower_eq = _q_equation(lambda kk: chi2_quantile(1 - alpha / 2, kk - 1))
    upper_eq = _q_equation(lambda kk: chi2_quantile(alpha / 2, kk - 1))
    lower, c1, _ = solve_decreasing(lower_eq, yi, vi, mask, tol=tol, maxiter=maxiter)
    upper, c2, _ = solve_decreasing(upper_eq, yi, vi, mask, tol=tol, maxiter=maxiter)
    ok = k >= 2
    return np.where(ok, lower, np.nan), np.where(ok, upper, np.nan), c1 & c2
