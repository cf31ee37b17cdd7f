"""Numerical engine of the binomial–normal models (trialsynth.stats.glmm).

Three pieces, all over arrays with one row per study:

* the log-likelihood of a study's arms given a scalar random effect, integrated by adaptive
  Gauss–Hermite quadrature (AGQ) centred at the conditional mode (Pinheiro & Bates, J Comput
  Graph Stat 1995; Liu & Pierce, Biometrika 1994): with u ~ N(0, 1), h(u) = log f(y | u) − u²/2,
  û the mode of h and s = (−h''(û))^(−1/2),

      log ∫ f(y | u) φ(u) du ≈ log s + log Σ_q w_q exp(log f(y | û + s z_q) − (û + s z_q)²/2 + z_q²/2),

  (z_q, w_q) the Gauss–Hermite rule for the standard normal density. One node is the Laplace
  approximation. This is the quantity lme4's ``glmer(nAGQ = q)`` maximises, so fits that metafor
  makes with ``glmer`` are reproduced by maximising it here;
* the Laplace approximation for two independent random effects per study (metafor's UM.RS model);
* a Newton maximiser for a log-likelihood that is a sum over studies of terms depending on a few
  study-specific ("local") parameters and on shared ("global") ones. Gradients and Hessians are
  central finite differences, evaluated for all studies at once (a local parameter shifted in every
  study at the same time is still one partial derivative per study), and the Newton system is
  solved through the Schur complement of the block-diagonal local part, so a fit with one nuisance
  intercept per study (UM.FS) costs the same as one without.

Everything here is numerics over numpy arrays; no I/O, no formatting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

LOG_2PI = float(np.log(2 * np.pi))


def gh_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for ∫ g(z) φ(z) dz, φ the standard normal density."""
    z, w = hermegauss(n)
    return z, w / np.sqrt(2 * np.pi)


def binom_logpmf(x, n, eta):
    """log P(X = x) for X ~ Binomial(n, expit(eta)), stable for any eta (the log choose included)."""
    const = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    return const + x * eta - n * np.logaddexp(0.0, eta)


def _binom_kernel(x, n, eta):
    """The part of the binomial log-likelihood that depends on eta, with its first two derivatives."""
    p = special.expit(eta)
    return x * eta - n * np.logaddexp(0.0, eta), x - n * p, n * p * (1 - p)


def _poisson_kernel(x, n, eta):
    """The Poisson log-likelihood x·eta − exp(eta) (log link; exposure already in eta), and −∂²."""
    mu = np.exp(eta)
    return x * eta - mu, x - mu, mu


KERNELS = {"binomial": _binom_kernel, "poisson": _poisson_kernel}


def log_const(x, n, obs, family: str = "binomial"):
    """Per-study sum of the terms of the log density free of eta (log choose; −log x! for Poisson)."""
    if family == "poisson":
        c = -special.gammaln(x + 1)
    else:
        c = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    return np.where(obs, c, 0.0).sum(axis=1)


def _mode_1d(eta0, zc, x, n, obs, tau, max_iter=200, kernel=_binom_kernel, u0=None):
    """Mode û of h(u) = Σ_j ℓ(x_j | eta0_j + τ z_j u) − u²/2 per study (Newton with step halving).

    h is strictly concave (binomial log-likelihood with the canonical link), so the iteration
    converges from 0. Returns û and −h''(û).
    """
    k = eta0.shape[0]
    u = np.zeros(k) if u0 is None or u0.shape != (k,) else u0.copy()
    tz = tau * zc * obs

    def parts(u):
        eta = eta0 + tz * u[:, None]
        ll, d1, d2 = kernel(x, n, eta)
        h = np.where(obs, ll, 0.0).sum(axis=1) - 0.5 * u**2
        g = (tz * d1).sum(axis=1) - u
        info = (tz**2 * d2).sum(axis=1) + 1.0
        return h, g, info

    h, g, info = parts(u)
    for _ in range(max_iter):
        step = g / info
        if np.all(np.abs(step) < 1e-13 * (1 + np.abs(u))):
            break
        t = np.ones(k)
        for _half in range(60):
            cand = u + t * step
            hc, gc, ic = parts(cand)
            bad = hc < h - 1e-12 * (1 + np.abs(h))
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        u = cand
        h, g, info = hc, gc, ic
    return u, info


def agq_loglik(eta0, zc, x, n, obs, tau: float, nodes, weights, family: str = "binomial", warm=None):
    """log ∫ Π_j Binomial(x_j | n_j, expit(eta0_j + τ z_j u)) φ(u) du per study, by AGQ.

    ``eta0``, ``zc``, ``x``, ``n``, ``obs`` have shape (k, J) (J arms; ``obs`` False for an arm
    that is absent). ``tau`` ≥ 0 is the SD of the random effect (its sign does not matter).
    ``family="poisson"``: x_j ~ Poisson(exp(eta0_j + τ z_j u)) instead (log person-time in eta0,
    ``n`` unused). ``warm``, a dict, keeps the last modes and starts the next search from them
    (the maximiser evaluates nearby parameters many times); the result does not depend on it
    beyond the mode's stopping rule (a Newton step below 1e-13).
    """
    kernel = KERNELS[family]
    const = log_const(x, n, obs, family)
    if tau == 0.0:
        ll, _, _ = kernel(x, n, eta0)
        return const + np.where(obs, ll, 0.0).sum(axis=1)
    u_hat, info = _mode_1d(
        eta0, zc, x, n, obs, tau, kernel=kernel, u0=None if warm is None else warm.get("u")
    )
    if warm is not None:
        warm["u"] = u_hat
    s = 1.0 / np.sqrt(info)
    u = u_hat[:, None] + s[:, None] * nodes[None, :]  # (k, Q)
    eta = eta0[:, :, None] + (tau * zc)[:, :, None] * u[:, None, :]  # (k, J, Q)
    ll, _, _ = kernel(x[:, :, None], n[:, :, None], eta)
    ll = np.where(obs[:, :, None], ll, 0.0).sum(axis=1)
    terms = np.log(weights)[None, :] + ll - 0.5 * u**2 + 0.5 * nodes[None, :] ** 2
    return const + np.log(s) + special.logsumexp(terms, axis=1)


def laplace2_loglik(
    eta0, z1, z2, x, n, obs, sd1: float, sd2: float, max_iter=200, family: str = "binomial", warm=None
):
    """Laplace approximation of log ∫∫ Π_j Bin(x_j | eta0_j + sd1 z1_j v + sd2 z2_j u) φ(v) φ(u) dv du.

    Two independent standard-normal random effects per study (metafor's UM.RS: a random study
    intercept and a random treatment effect): log L ≈ ℓ(b̂) − |b̂|²/2 − ½ log det(I + Λ Z'WZ Λ).
    ``family="poisson"`` and ``warm`` as in :func:`agq_loglik`.
    """
    kernel = KERNELS[family]
    const = log_const(x, n, obs, family)
    a1 = sd1 * z1 * obs
    a2 = sd2 * z2 * obs
    k = eta0.shape[0]
    b0 = None if warm is None else warm.get("b")
    b = np.zeros((k, 2)) if b0 is None or b0.shape != (k, 2) else b0.copy()

    def parts(b):
        eta = eta0 + a1 * b[:, :1] + a2 * b[:, 1:]
        ll, d1, d2 = kernel(x, n, eta)
        h = np.where(obs, ll, 0.0).sum(axis=1) - 0.5 * (b**2).sum(axis=1)
        g = np.stack([(a1 * d1).sum(axis=1) - b[:, 0], (a2 * d1).sum(axis=1) - b[:, 1]], axis=1)
        h11 = (a1 * a1 * d2).sum(axis=1) + 1.0
        h22 = (a2 * a2 * d2).sum(axis=1) + 1.0
        h12 = (a1 * a2 * d2).sum(axis=1)
        return h, g, h11, h22, h12

    h, g, h11, h22, h12 = parts(b)
    for _ in range(max_iter):
        det = h11 * h22 - h12**2
        step = np.stack(
            [(h22 * g[:, 0] - h12 * g[:, 1]) / det, (h11 * g[:, 1] - h12 * g[:, 0]) / det], axis=1
        )
        if np.all(np.abs(step) < 1e-13 * (1 + np.abs(b))):
            break
        t = np.ones(k)
        for _half in range(60):
            cand = b + t[:, None] * step
            cand_parts = parts(cand)
            hc = cand_parts[0]
            bad = hc < h - 1e-12 * (1 + np.abs(h))
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        b = cand
        h, g, h11, h22, h12 = cand_parts
    det = h11 * h22 - h12**2
    if warm is not None:
        warm["b"] = b
    return const + h - 0.5 * np.log(det)


# ---------------------------------------------------------------------------------------------
# Newton maximiser over local (per-study) and global parameters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Maximum:
    """The maximum found: parameters, the log-likelihood and the Hessian pieces at it."""

    local: np.ndarray  # (k, L)
    glob: np.ndarray  # (G,)
    loglik: float
    per_study: np.ndarray  # (k,)
    h_ll: np.ndarray  # (k, L, L)
    h_lg: np.ndarray  # (k, L, G)
    h_gg: np.ndarray  # (G, G)
    grad_norm: float
    iterations: int
    converged: bool

    def global_covariance(self) -> np.ndarray:
        """The global block of the inverse of the negative Hessian (Schur complement)."""
        s = -self.h_gg.copy()
        if self.local.shape[1]:
            inv_ll = np.linalg.inv(-self.h_ll)
            s -= np.einsum("kla,klm,kmb->ab", self.h_lg, inv_ll, self.h_lg)
        return np.linalg.inv(s)

    def full_covariance(self) -> np.ndarray:
        """Inverse negative Hessian over (local parameters flattened by study, globals)."""
        k, nl = self.local.shape
        g = self.glob.size
        dim = k * nl + g
        h = np.zeros((dim, dim))
        for i in range(k):
            sl = slice(i * nl, (i + 1) * nl)
            h[sl, sl] = self.h_ll[i]
            h[sl, k * nl :] = self.h_lg[i]
            h[k * nl :, sl] = self.h_lg[i].T
        h[k * nl :, k * nl :] = self.h_gg
        return np.linalg.inv(-h)


def _derivatives(fun, local, glob, free_local, h_local, h_glob):
    """Per-study gradient and Hessian of fun(local, glob) -> (k,) by central differences.

    A local parameter is shifted in every study at once: study i's term depends on its own
    local parameters only, so each study still gets its own partial derivative. Locals that
    are not free (``free_local`` False) are not differentiated (zero rows).
    """
    k, nl = local.shape
    ng = glob.size
    dim = nl + ng
    steps: np.ndarray | list[float] = (
        np.concatenate([np.broadcast_to(h_local, (nl,)), np.broadcast_to(h_glob, (ng,))]) if dim else []
    )

    def shifted(delta):
        loc = local + np.where(free_local[:, None], delta[None, :nl], 0.0)
        return fun(loc, glob + delta[nl:])

    f0 = fun(local, glob)
    grad = np.zeros((k, dim))
    hess = np.zeros((k, dim, dim))
    fp = {}
    for a in range(dim):
        e = np.zeros(dim)
        e[a] = steps[a]
        fp[a] = (shifted(e), shifted(-e))
        grad[:, a] = (fp[a][0] - fp[a][1]) / (2 * steps[a])
        hess[:, a, a] = (fp[a][0] - 2 * f0 + fp[a][1]) / steps[a] ** 2
    for a in range(dim):
        for b in range(a + 1, dim):
            e = np.zeros(dim)
            vals = []
            for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                e[:] = 0
                e[a], e[b] = sa * steps[a], sb * steps[b]
                vals.append(shifted(e))
            hab = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * steps[a] * steps[b])
            hess[:, a, b] = hab
            hess[:, b, a] = hab
    fl = free_local[:, None]
    grad[:, :nl] = np.where(fl, grad[:, :nl], 0.0)
    eye = np.eye(nl)
    hll = np.where(fl[:, :, None], hess[:, :nl, :nl], -eye[None])
    hll = np.where(fl[:, None, :] | np.eye(nl, dtype=bool)[None], hll, 0.0)
    hlg = np.where(fl[:, :, None], hess[:, :nl, nl:], 0.0)
    return f0, grad[:, :nl], grad[:, nl:].sum(axis=0), hll, hlg, hess[:, nl:, nl:].sum(axis=0)


def _newton_step(g_loc, g_glob, h_ll, h_lg, h_gg, ridge):
    """Newton step of the arrowhead system (H − ridge·I) Δ = −g, solved through the Schur complement."""
    k, nl = g_loc.shape
    ng = g_glob.size
    a = -(h_ll - ridge * np.eye(nl)[None]) if nl else np.zeros((k, 0, 0))
    if nl:
        np.linalg.cholesky(a)  # raises LinAlgError unless positive definite
        inv_a = np.linalg.inv(a)
    s = -(h_gg - ridge * np.eye(ng))
    r = g_glob.copy()
    if nl and ng:
        s = s - np.einsum("kla,klm,kmb->ab", h_lg, inv_a, h_lg)
        r = r + np.einsum("kla,klm,km->a", h_lg, inv_a, g_loc)
    if ng:
        np.linalg.cholesky(s)
        d_glob = np.linalg.solve(s, r)
    else:
        d_glob = np.zeros(0)
    if nl:
        rhs = g_loc + (np.einsum("klb,b->kl", h_lg, d_glob) if ng else 0.0)
        d_loc = np.einsum("klm,km->kl", inv_a, rhs)
    else:
        d_loc = np.zeros((k, 0))
    return d_loc, d_glob


def maximise(
    fun: Callable[[np.ndarray, np.ndarray], np.ndarray],
    local0,
    glob0,
    *,
    free_local=None,
    h_local: float = 1e-4,
    h_glob: float = 1e-4,
    max_iter: int = 200,
    tol: float = 1e-10,
    derivatives: Callable | None = None,
) -> Maximum:
    """Maximise Σ_i fun(local, glob)_i by Newton's method with a ridge fallback and step halving.

    ``fun(local (k, L), glob (G,))`` returns the per-study log-likelihood terms (k,). Converged
    when the Newton decrement g'Δ falls below ``tol`` (a change of the log-likelihood) and the
    step below √tol. ``derivatives(local, glob)``, when given, returns what ``_derivatives`` does
    (per-study values, gradients and Hessian blocks) analytically, in place of finite differences.
    """
    local = np.array(local0, dtype=float, copy=True)
    glob = np.array(glob0, dtype=float, copy=True)
    k = local.shape[0]
    free_local = np.ones(k, dtype=bool) if free_local is None else np.asarray(free_local, dtype=bool)
    converged = False
    iterations = 0

    def derive(loc, glo):
        if derivatives is not None:
            return derivatives(loc, glo)
        return _derivatives(fun, loc, glo, free_local, h_local, h_glob)

    for iterations in range(1, max_iter + 1):  # noqa: B007
        f0, g_loc, g_glob, h_ll, h_lg, h_gg = derive(local, glob)
        total = float(f0.sum())
        if not np.isfinite(total):
            break
        ridge = 0.0
        scale = 1.0 + float(np.abs(h_gg).max(initial=0.0)) + float(np.abs(h_ll).max(initial=0.0))
        for _ in range(60):
            try:
                d_loc, d_glob = _newton_step(g_loc, g_glob, h_ll, h_lg, h_gg, ridge)
                break
            except np.linalg.LinAlgError:
                ridge = scale * 1e-8 if ridge == 0 else ridge * 10
        else:  # pragma: no cover - a Hessian that no ridge repairs
            break
        decrement = float((g_loc * d_loc).sum() + g_glob @ d_glob)
        biggest = max(float(np.abs(d_loc).max(initial=0.0)), float(np.abs(d_glob).max(initial=0.0)))
        if decrement < tol and biggest < np.sqrt(tol) and ridge == 0.0:
            converged = True
            break
        t = 1.0
        for _half in range(50):
            new_loc = local + t * np.where(free_local[:, None], d_loc, 0.0)
            new_glob = glob + t * d_glob
            f_new = fun(new_loc, new_glob)
            if np.isfinite(f_new).all() and f_new.sum() >= total - 1e-12 * (1 + abs(total)):
                break
            t /= 2
        else:
            break
        local, glob = new_loc, new_glob
    f0, g_loc, g_glob, h_ll, h_lg, h_gg = derive(local, glob)
    grad_norm = max(float(np.abs(g_loc).max(initial=0.0)), float(np.abs(g_glob).max(initial=0.0)))
    return Maximum(
        local=local,
        glob=glob,
        loglik=float(f0.sum()),
        per_study=f0,
        h_ll=h_ll,
        h_lg=h_lg,
        h_gg=h_gg,
        grad_norm=grad_norm,
        iterations=iterations,
        converged=converged,
    )
