"""Multilevel and multivariate meta-analysis: the linear mixed model with known sampling covariance.

Model (Kalaian & Raudenbush, Psychol Methods 1996; Konstantopoulos, Res Synth Methods 2011;
Viechtbauer, J Stat Softw 2010, and metafor's ``rma.mv``): y ~ N(Xβ, M(θ)) with

    M(θ) = V + Σₗ fₗ(θ) Qₗ,

V the known block-diagonal sampling covariance (block = study), Qₗ fixed 0/1 matrices and fₗ
the variance/covariance parameters. Three structures:

* ``nested`` random intercepts (``random = ~ 1 | study/es_id``): σ²ⱼ per level, Qⱼ = ZⱼZⱼ' with
  Zⱼ the indicator matrix of the level's groups (the inner level's group is the pair
  study/es_id), θ = (σ²₁, σ²₂, …), outer level first;
* ``CS`` (compound symmetry over the outcomes within a study, ``random = ~ outcome | study``):
  Cov(uᵢ, uⱼ) = τ² when rows i, j share study and outcome, τ²ρ for the same study but different
  outcomes, θ = (τ², ρ);
* ``UN`` (unstructured): Cov = τ²ₐ for outcome a, ρₐᵦτₐτᵦ between outcomes a, b of one study,
  θ = (τ²₁, …, τ²ₘ, ρ₂₁, ρ₃₁, …) (outcomes in R's sorted order, correlations in column-major
  lower-triangle order as metafor).

Estimation (Harville, J Am Stat Assoc 1977; Viechtbauer 2005 for the univariate case): β is
profiled out, β̂(θ) = (X'M⁻¹X)⁻¹X'M⁻¹y, and θ maximises

    ML:   ℓ = −½[k log 2π + log|M| + r'M⁻¹r]
    REML: ℓ = −½[(k − p) log 2π − log|X'X| + log|M| + log|X'M⁻¹X| + r'M⁻¹r]

(r = y − Xβ̂; the REML constant is metafor's). With P = M⁻¹ − M⁻¹X(X'M⁻¹X)⁻¹X'M⁻¹ and
u = Py = M⁻¹r the gradient and the observed Hessian are exact (:meth:`_Likelihood.hess_f`):
∂ℓ/∂fₗ = −½ tr(A Qₗ) + ½ u'Qₗu with A = P (REML) or M⁻¹ (ML), and ∂θ by the chain rule; M is
handled block by block (blocks of equal size stacked), so a fit costs Σ nⱼ³, not k³.

Optimisation, from several starts (the best kept, to find the global maximum): for σ² a projected
Newton ascent on σ² ≥ 0 (a component can sit at 0; L-BFGS-B as fallback); for CS quasi-Newton on
(log τ², atanh ρ); for UN on the log-Cholesky factor of the outcome covariance G (G stays positive
semi-definite). The best start is then polished by Newton steps with the exact Hessian until the
step is below 1e-10 relative. ``converged`` says the final gradient vanishes (and points outwards
at a σ² = 0 boundary).

Profile-likelihood CIs (metafor's ``confint.rma.mv``): for each parameter θᵢ the bounds are the
values where 2[ℓ(θ̂) − max_{θ₋ᵢ} ℓ(θᵢ, θ₋ᵢ)] = χ²₁,₁₋α, found by bracketed Newton steps (the
derivative of the profile is ∂ℓ/∂θᵢ at the profile maximum, by the envelope theorem) to 1e-10
relative; 0 (or ±1 for a correlation) when the drop stays smaller up to the edge of the
parameter space. UN profiles are climbed from the previous point and from θ̂ (they can have
several maxima).

I² per level (Cheung, Psychol Methods 2014; the generalised typical sampling variance of
metafor's FAQ "I² for multilevel and multivariate models"): with W = V⁻¹ and
P₀ = W − WX(X'WX)⁻¹X'W, s² = (k − p)/tr(P₀) and I²ⱼ = 100 σ²ⱼ/(Σσ² + s²), I² = Σ I²ⱼ. For CS the
one τ² takes the place of Σσ²; for UN, I²ₐ = 100 τ²ₐ/(τ²ₐ + s²) per outcome (a convention of
ours, stated here: there is no single I² for a multivariate model).

Tests: z (or t with k − p df, metafor's ``test="t"``) for each coefficient; the Wald omnibus test
QM of the coefficients other than the intercept (F = QM/m on (m, k − p) df under ``test="t"``);
QE = r₀'V⁻¹r₀ with r₀ the residuals of the fit with M = V, on k − p df.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize, special, stats

from trialsynth._core.dist import chi2_sf, crit_value, norm_two_sided_p, t_two_sided_p
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth._core.serialize import JsonResult, to_jsonable
from trialsynth.stats.regression import Coefficient, r_sorted_levels

STRUCTS = ("nested", "CS", "UN")
#: Relative step size below which the Newton polish stops.
STEP_TOL = 1e-10
#: A gradient (times the parameter's scale) below this counts as zero at the optimum.
GRAD_TOL = 1e-6
#: Profile CI bounds are located to this relative accuracy (Brent's method).
CI_TOL = 1e-10
#: Correlations are kept in [−RHO_MAX, RHO_MAX] (|ρ| = 1 makes the model degenerate).
RHO_MAX = 1.0 - 1e-9
_LOG2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------
# Inputs


def sampling_covariance(vi, study, rho=0.0) -> np.ndarray:
    """Block-diagonal sampling covariance: Vᵢᵢ = vᵢ, Vᵢⱼ = ρ √(vᵢvⱼ) for rows i ≠ j of one study.

    ``rho`` is one working correlation or one value per row (constant within each study;
    the value of the study is used). Rows of different studies are independent.
    """
    vi = np.asarray(vi, dtype=float)
    study = np.asarray(study)
    rho = np.broadcast_to(np.asarray(rho, dtype=float), vi.shape)
    if np.any(~np.isfinite(rho)) or np.any(np.abs(rho) > 1):
        raise InputError("the within-study correlation rho must be between −1 and 1")
    same = study[:, None] == study[None, :]
    if np.any(same & (rho[:, None] != rho[None, :])):
        raise InputError("the within-study correlation rho must be the same for all rows of a study")
    sd = np.sqrt(vi)
    V = np.where(same, rho[:, None] * np.outer(sd, sd), 0.0)
    np.fill_diagonal(V, vi)
    return V


def _codes(labels) -> tuple[np.ndarray, list[str]]:
    labels = [str(x) for x in labels]
    levels = r_sorted_levels(labels)
    index = {lv: i for i, lv in enumerate(levels)}
    return np.array([index[x] for x in labels], dtype=int), levels


@dataclass
class _Structure:
    """The random part: basis matrices Qₗ and the map θ → f(θ) with its Jacobian."""

    kind: str
    Q: list[np.ndarray]
    names: list[str]  # parameter names: sigma2.1, …; tau2 / tau2.<outcome>; rho / rho.<a>.<b>
    is_rho: np.ndarray  # per parameter
    n_levels: list[int]
    level_names: list[str]
    outcomes: list[str] = field(default_factory=list)

    def f(self, theta):
        if self.kind == "nested":
            return theta, np.eye(len(theta))
        if self.kind == "CS":
            t2, r = theta
            return np.array([t2, t2 * r]), np.array([[1.0, 0.0], [r, t2]])
        m = len(self.outcomes)
        t2 = theta[:m]
        rho = theta[m:]
        pairs = _pairs(m)
        fvals = np.concatenate([t2, np.zeros(len(pairs))])
        J = np.zeros((len(fvals), len(theta)))
        J[:m, :m] = np.eye(m)
        for q, (a, b) in enumerate(pairs):
            s = math.sqrt(t2[a] * t2[b])
            fvals[m + q] = rho[q] * s
            J[m + q, m + q] = s
            if s > 0:
                J[m + q, a] = rho[q] * t2[b] / (2 * s)
                J[m + q, b] = rho[q] * t2[a] / (2 * s)
        return fvals, J

    def f2(self, theta) -> np.ndarray:
        """∂²fₗ/∂θᵢ∂θⱼ, shape (L, n, n) (zero for the nested structure)."""
        n = len(theta)
        if self.kind == "nested":
            return np.zeros((n, n, n))
        if self.kind == "CS":
            out = np.zeros((2, 2, 2))
            out[1, 0, 1] = out[1, 1, 0] = 1.0
            return out
        m = len(self.outcomes)
        t2, rho = theta[:m], theta[m:]
        pairs = _pairs(m)
        out = np.zeros((m + len(pairs), n, n))
        for q, (a, b) in enumerate(pairs):
            s = math.sqrt(t2[a] * t2[b])
            if s <= 0:
                continue
            lq, r = m + q, rho[q]
            out[lq, a, a] = -r * t2[b] ** 2 / (4 * s**3)
            out[lq, b, b] = -r * t2[a] ** 2 / (4 * s**3)
            out[lq, a, b] = out[lq, b, a] = r / (4 * s)
            out[lq, a, m + q] = out[lq, m + q, a] = t2[b] / (2 * s)
            out[lq, b, m + q] = out[lq, m + q, b] = t2[a] / (2 * s)
        return out


def _pairs(m: int) -> list[tuple[int, int]]:
    """Lower-triangle pairs (a > b) in column-major order: (1,0), (2,0), …, (2,1), …"""
    return [(a, b) for b in range(m) for a in range(b + 1, m)]


def _nested_structure(levels: Sequence[Sequence[str]], names: Sequence[str]) -> _Structure:
    Q, n_levels = [], []
    key: np.ndarray | None = None
    for level in levels:
        lv = np.asarray([str(x) for x in level], dtype=object)
        key = lv if key is None else np.array([f"{a}\x1f{b}" for a, b in zip(key, lv, strict=True)])
        codes, uniq = _codes(key)
        Q.append((codes[:, None] == codes[None, :]).astype(float))
        n_levels.append(len(uniq))
    return _Structure(
        kind="nested",
        Q=Q,
        names=[f"sigma2.{j + 1}" for j in range(len(Q))],
        is_rho=np.zeros(len(Q), dtype=bool),
        n_levels=n_levels,
        level_names=["/".join(names[: j + 1]) for j in range(len(Q))],
    )


def _outcome_structure(study, outcome, struct: str) -> _Structure:
    s_codes, s_levels = _codes(study)
    o_codes, o_levels = _codes(outcome)
    m = len(o_levels)
    same = s_codes[:, None] == s_codes[None, :]
    oa, ob = o_codes[:, None], o_codes[None, :]
    if struct == "CS":
        Q = [(same & (oa == ob)).astype(float), (same & (oa != ob)).astype(float)]
        return _Structure(
            "CS",
            Q,
            ["tau2", "rho"],
            np.array([False, True]),
            [m, len(s_levels)],
            ["outcome", "study"],
            outcomes=o_levels,
        )
    if m < 2:
        raise InputError("an unstructured (UN) model needs at least two outcomes")
    Q = [(same & (oa == a) & (ob == a)).astype(float) for a in range(m)]
    for a, b in _pairs(m):
        Q.append((same & (((oa == a) & (ob == b)) | ((oa == b) & (ob == a)))).astype(float))
    names = [f"tau2.{o}" for o in o_levels] + [f"rho.{o_levels[a]}.{o_levels[b]}" for a, b in _pairs(m)]
    is_rho = np.array([False] * m + [True] * (len(names) - m))
    return _Structure("UN", Q, names, is_rho, [m, len(s_levels)], ["outcome", "study"], outcomes=o_levels)


# ---------------------------------------------------------------------------------------
# The likelihood


def _blocks(V, groups) -> list[np.ndarray]:
    """Row sets that M is block-diagonal over: rows linked by V ≠ 0 or by a shared group label."""
    k = V.shape[0]
    parent = list(range(k))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    links = np.argwhere(np.triu(V != 0, 1))
    for g in groups:
        codes, _ = _codes(g)
        first: dict[int, int] = {}
        for i, c in enumerate(codes):
            if c in first:
                links = np.vstack([links, [first[c], i]])
            else:
                first[c] = i
    for i, j in links:
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([find(i) for i in range(k)])
    return [np.nonzero(roots == r)[0] for r in np.unique(roots)]


class _Likelihood:
    """ℓ(θ) and its exact gradient, computed block by block (blocks of equal size stacked)."""

    def __init__(self, y, X, V, structure: _Structure, restricted: bool, blocks):
        self.y, self.X, self.V, self.s = y, X, V, structure
        self.k, self.p = X.shape
        self.restricted = restricted
        self.const = (
            (self.k - self.p) * _LOG2PI - np.linalg.slogdet(X.T @ X)[1] if restricted else (self.k * _LOG2PI)
        )
        by_size: dict[int, list[np.ndarray]] = {}
        for b in blocks:
            by_size.setdefault(len(b), []).append(b)
        self.groups = []
        for members in by_size.values():
            idx = np.stack(members)  # (nb, n)
            Vb = V[idx[:, :, None], idx[:, None, :]]
            Qb = np.stack([Q[idx[:, :, None], idx[:, None, :]] for Q in structure.Q])  # (L, nb, n, n)
            self.groups.append((idx, Vb, Qb, X[idx], y[idx]))

    def marginal(self, theta):
        fvals, _ = self.s.f(theta)
        return self.V + np.tensordot(fvals, np.stack(self.s.Q), axes=1)

    def parts(self, theta):
        """β̂, its covariance, ℓ and the per-block pieces of the gradient; None when M is not PD."""
        fvals, _ = self.s.f(theta)
        logdet = 0.0
        XtMiX = np.zeros((self.p, self.p))
        XtMiy = np.zeros(self.p)
        blocks = []
        for _idx, Vb, Qb, Xb, yb in self.groups:
            Mb = Vb + np.tensordot(fvals, Qb, axes=1)
            try:
                np.linalg.cholesky(Mb)
            except np.linalg.LinAlgError:
                return None
            sign, ld = np.linalg.slogdet(Mb)
            if np.any(sign <= 0) or not np.all(np.isfinite(ld)):
                return None
            Mi = np.linalg.inv(Mb)
            MiX = Mi @ Xb
            Miy = np.einsum("bij,bj->bi", Mi, yb)
            logdet += ld.sum()
            XtMiX += np.einsum("bki,bkj->ij", Xb, MiX)
            XtMiy += np.einsum("bki,bk->i", Xb, Miy)
            blocks.append((Mi, MiX, Miy))
        try:
            cx = linalg.cho_factor(XtMiX, lower=True, check_finite=False)
        except linalg.LinAlgError:
            return None
        vb = linalg.cho_solve(cx, np.eye(self.p), check_finite=False)
        beta = vb @ XtMiy
        rss = 0.0
        us = []
        for (_Mi, MiX, Miy), (_, _, _, _, yb) in zip(blocks, self.groups, strict=True):
            u = Miy - MiX @ beta
            us.append(u)
            rss += float((yb * u).sum())
        if self.restricted:
            ll = -0.5 * (self.const + logdet + 2.0 * np.log(np.diag(cx[0])).sum() + rss)
        else:
            ll = -0.5 * (self.const + logdet + rss)
        return {"blocks": blocks, "us": us, "vb": vb, "beta": beta, "ll": ll}

    def loglik(self, theta) -> float:
        part = self.parts(theta)
        return -np.inf if part is None else part["ll"]

    def grad_f(self, part) -> np.ndarray:
        """∂ℓ/∂fₗ = −½ tr(A Qₗ) + ½ u'Qₗu (module docstring)."""
        out = np.zeros(len(self.s.Q))
        vb = part["vb"]
        for (Mi, MiX, _), u, (_, _, Qb, _, _) in zip(part["blocks"], part["us"], self.groups, strict=True):
            tr = np.einsum("bij,lbji->l", Mi, Qb)
            if self.restricted:
                tr -= np.einsum("bki,lbkm,bmj,ji->l", MiX, Qb, MiX, vb)
            quad = np.einsum("bi,lbij,bj->l", u, Qb, u)
            out += -0.5 * tr + 0.5 * quad
        return out

    def hess_f(self, part) -> np.ndarray:
        """The observed Hessian ∂²ℓ/∂fₗ∂fₘ = ½ tr(A Qₗ A Qₘ) − u'Qₗ P Qₘ u (A = P for REML, M⁻¹ for ML).

        With P = M⁻¹ − M⁻¹X Vb X'M⁻¹ (Vb = (X'M⁻¹X)⁻¹), Kₗ = X'M⁻¹QₗM⁻¹X, Yₗₘ = X'M⁻¹QₗM⁻¹QₘM⁻¹X:
        tr(PQₗPQₘ) = tr(M⁻¹QₗM⁻¹Qₘ) − 2 tr(Vb Yₗₘ) + tr(Vb Kₗ Vb Kₘ), and
        u'QₗPQₘu = (Qₗu)'M⁻¹(Qₘu) − (X'M⁻¹Qₗu)'Vb(X'M⁻¹Qₘu); every term is a sum over blocks.
        """
        L = len(self.s.Q)
        vb = part["vb"]
        T1 = np.zeros((L, L))
        Y = np.zeros((L, L, self.p, self.p))
        K = np.zeros((L, self.p, self.p))
        q1 = np.zeros((L, L))
        c = np.zeros((L, self.p))
        for (Mi, MiX, _), u, (_, _, Qb, _, _) in zip(part["blocks"], part["us"], self.groups, strict=True):
            R = np.einsum("bij,lbjk->lbik", Mi, Qb)  # M⁻¹Qₗ
            T1 += np.einsum("lbij,mbji->lm", R, R)
            S = np.einsum("lbij,bjk->lbik", Qb, MiX)  # QₗM⁻¹X
            K += np.einsum("bki,lbkj->lij", MiX, S)
            Y += np.einsum("lbki,bkn,mbnj->lmij", S, Mi, S)
            a = np.einsum("lbij,bj->lbi", Qb, u)  # Qₗu
            q1 += np.einsum("lbi,bij,mbj->lm", a, Mi, a)
            c += np.einsum("bki,lbk->li", MiX, a)
        quad = q1 - np.einsum("li,ij,mj->lm", c, vb, c)
        if self.restricted:
            VK = np.einsum("ij,ljk->lik", vb, K)
            tr = T1 - 2.0 * np.einsum("ij,lmji->lm", vb, Y) + np.einsum("lij,mji->lm", VK, VK)
        else:
            tr = T1
        return 0.5 * tr - quad

    def value_grad(self, theta):
        part = self.parts(theta)
        if part is None:
            return -np.inf, None
        _, J = self.s.f(theta)
        return part["ll"], J.T @ self.grad_f(part)

    def value_grad_hess(self, theta):
        """ℓ, ∂ℓ/∂θ and ∂²ℓ/∂θ∂θ' (exact); (−inf, None, None) when M is not PD."""
        part = self.parts(theta)
        if part is None:
            return -np.inf, None, None
        _, J = self.s.f(theta)
        gf = self.grad_f(part)
        H = J.T @ self.hess_f(part) @ J + np.einsum("l,lij->ij", gf, self.s.f2(theta))
        return part["ll"], J.T @ gf, H


# ---------------------------------------------------------------------------------------
# Optimisation


def _scale(y, V) -> float:
    """A variance scale for starting values and tolerances: the larger of mean vᵢ and Var(y)."""
    return float(max(np.mean(np.diag(V)), np.var(y) if len(y) > 1 else 0.0, 1e-8))


def _maximise_box(lik: _Likelihood, start, free, fixed_theta, scale):
    """Maximise over the free σ² (bounds σ² ≥ 0, natural scale divided by ``scale``)."""
    theta0 = np.array(fixed_theta, dtype=float)

    def fun(x):
        th = theta0.copy()
        th[free] = x * scale
        ll, g = lik.value_grad(th)
        if g is None:
            return 1e300, np.zeros(len(x))
        return -ll, -g[free] * scale

    res = optimize.minimize(
        fun,
        np.asarray(start, dtype=float) / scale,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * int(np.sum(free)),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000},
    )
    th = theta0.copy()
    th[free] = res.x * scale
    return th


def _maximise_nested(lik: _Likelihood, start, free, base, scale, *, maxiter=200):
    """Projected Newton ascent over the free σ² (σ² ≥ 0) with the exact Hessian.

    Components at 0 are released when the gradient points inwards; a step that would make a
    component negative is cut back to 0 (projection), and halved until ℓ rises; the Hessian is
    shifted (Levenberg–Marquardt) where ℓ is not concave. Returns (θ, converged).
    """
    theta = np.array(base, dtype=float)
    theta[free] = np.maximum(np.asarray(start, dtype=float), 0.0)
    ll, g, H = lik.value_grad_hess(theta)
    if g is None:
        return theta, False
    tol = GRAD_TOL * max(1.0, abs(ll))
    for _ in range(maxiter):
        active = free & ((theta > 0) | (g * scale > tol))
        idx = np.nonzero(active)[0]
        if len(idx) == 0:
            return theta, True
        Ha = H[np.ix_(idx, idx)]
        ev = np.linalg.eigvalsh(Ha)
        if ev.max() >= 0:
            Ha = Ha - (ev.max() + 1e-3 * max(abs(ev).max(), 1.0 / scale**2)) * np.eye(len(idx))
        step = -np.linalg.solve(Ha, g[idx])
        lam = 1.0
        while lam > 1e-12:
            new = theta.copy()
            new[idx] = np.maximum(theta[idx] + lam * step, 0.0)
            ll_new, g_new, H_new = lik.value_grad_hess(new)
            if g_new is not None and ll_new >= ll - 1e-13 * abs(ll):
                break
            lam /= 2
        else:
            return theta, False
        moved = np.abs(new - theta)
        theta, ll, g, H = new, ll_new, g_new, H_new
        if np.all(moved <= STEP_TOL * np.maximum(theta, scale)):
            at0 = free & (theta == 0)
            return theta, bool(np.all(g[at0] * scale <= tol))
    return theta, False


def _to_eta(s: _Structure, theta, free):
    out = []
    for i in np.nonzero(free)[0]:
        out.append(
            math.atanh(np.clip(theta[i], -RHO_MAX, RHO_MAX))
            if s.is_rho[i]
            else math.log(max(theta[i], 1e-300))
        )
    return np.array(out)


def _from_eta(s: _Structure, eta, free, base):
    th = np.array(base, dtype=float)
    idx = np.nonzero(free)[0]
    for j, i in enumerate(idx):
        th[i] = math.tanh(eta[j]) if s.is_rho[i] else math.exp(min(eta[j], 700.0))
    return th


def _maximise_transformed(lik: _Likelihood, theta_start, free):
    """Maximise over the free parameters on the log (variances) / atanh (correlations) scale."""
    s = lik.s
    idx = np.nonzero(free)[0]

    def fun(eta):
        th = _from_eta(s, eta, free, theta_start)
        ll, g = lik.value_grad(th)
        if g is None or not np.isfinite(ll):
            return 1e300, np.zeros(len(eta))
        d = np.where(s.is_rho[idx], 1.0 - th[idx] ** 2, th[idx])
        return -ll, -g[idx] * d

    res = optimize.minimize(
        fun, _to_eta(s, theta_start, free), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 2000}
    )
    return _from_eta(s, res.x, free, theta_start)


def _un_cholesky_fit(lik: _Likelihood, G0):
    """Maximise over a positive semi-definite G (log-Cholesky parameters) for UN."""
    m = len(lik.s.outcomes)
    tril = np.tril_indices(m)
    diag = tril[0] == tril[1]
    pairs = _pairs(m)

    def theta_of(L):
        G = L @ L.T
        t2 = np.diag(G).copy()
        rho = [G[a, b] / math.sqrt(t2[a] * t2[b]) if t2[a] * t2[b] > 0 else 0.0 for a, b in pairs]
        return np.concatenate([t2, rho]), G

    def L_of(x):
        L = np.zeros((m, m))
        vals = np.where(diag, np.exp(np.minimum(x, 350.0)), x)
        L[tril] = vals
        return L

    def fun(x):
        L = L_of(x)
        theta, _ = theta_of(L)
        part = lik.parts(theta)
        if part is None:
            return 1e300, np.zeros(len(x))
        gf = lik.grad_f(part)
        S = np.diag(gf[:m])
        for q, (a, b) in enumerate(pairs):
            S[a, b] = S[b, a] = gf[m + q] / 2.0
        dL = 2.0 * S @ L
        g = dL[tril] * np.where(diag, L[tril], 1.0)
        return -part["ll"], -g

    L0 = np.linalg.cholesky(G0 + 1e-12 * np.eye(m))
    x0 = np.where(diag, np.log(np.maximum(L0[tril], 1e-150)), L0[tril])
    res = optimize.minimize(fun, x0, jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
    return theta_of(L_of(res.x))[0]


def _newton_polish(lik: _Likelihood, theta, free, scales, *, maxiter=100):
    """Newton steps with the exact Hessian over the free parameters, halved to keep ℓ rising.

    Returns (θ, converged, iterations); converged when the last step is below ``STEP_TOL``
    relative to the parameter (or its scale). Stops (not converged) where ℓ is not concave.
    """
    s = lik.s
    theta = np.array(theta, dtype=float)
    idx = np.nonzero(free)[0]
    if len(idx) == 0:
        return theta, True, 0
    ll, g, H = lik.value_grad_hess(theta)
    if g is None:
        return theta, False, 0
    for it in range(1, maxiter + 1):
        Hf = H[np.ix_(idx, idx)]
        if np.any(np.linalg.eigvalsh(Hf) >= 0):
            return theta, False, it
        step = -np.linalg.solve(Hf, g[idx])
        lam = 1.0
        while lam > 1e-10:
            new = theta.copy()
            new[idx] = theta[idx] + lam * step
            ok = np.all(new[idx][~s.is_rho[idx]] > 0) and np.all(np.abs(new[idx][s.is_rho[idx]]) < 1)
            if ok:
                ll_new, g_new, H_new = lik.value_grad_hess(new)
                if g_new is not None and ll_new >= ll - 1e-13 * abs(ll):
                    break
            lam /= 2
        else:
            return theta, False, it
        small = np.all(np.abs(lam * step) <= STEP_TOL * np.maximum(np.abs(theta[idx]), scales[idx]))
        theta, ll, g, H = new, ll_new, g_new, H_new
        if small:
            return theta, True, it
    return theta, False, maxiter


def _optimum_ok(lik: _Likelihood, theta, free, scales, skip=None) -> bool:
    """The gradient vanishes over the free parameters and points outwards at a σ² = 0 boundary
    (parameter ``skip``, held fixed in a profile, is not checked)."""
    _, g = lik.value_grad(theta)
    if g is None:
        return False
    gs = g * scales
    tol = GRAD_TOL * max(1.0, abs(lik.loglik(theta)))
    check = np.ones(len(theta), dtype=bool)
    if skip is not None:
        check[skip] = False
    inner = np.abs(gs[free & check]) <= tol
    bound = gs[~free & check] <= tol
    return bool(np.all(inner) and np.all(bound))


def _starts(s: _Structure, scale):
    if s.kind == "nested":
        m = len(s.Q)
        starts = [np.full(m, scale / m), np.full(m, scale * 0.1), np.full(m, scale * 2.0)]
        for j in range(m):
            e = np.zeros(m)
            e[j] = scale
            starts.append(e)
        return starts
    if s.kind == "CS":
        return [np.array([scale, r]) for r in (0.0, 0.5, -0.2, 0.9)] + [np.array([scale * 0.1, 0.5])]
    m = len(s.outcomes)
    return [
        np.eye(m) * scale,
        np.eye(m) * scale * 0.1,
        scale * (0.5 * np.eye(m) + 0.5),
        np.eye(m) * 3 * scale,
    ]


def _fit_theta(lik: _Likelihood, scale):
    """The global maximiser over θ: several starts, the best polished."""
    s = lik.s
    n = len(s.names)
    scales = np.where(s.is_rho, 1.0, scale)
    candidates = []
    for st in _starts(s, scale):
        if s.kind == "nested":
            th, ok = _maximise_nested(lik, st, np.ones(n, dtype=bool), np.zeros(n), scale)
            if not ok:
                th = _maximise_box(lik, st, np.ones(n, dtype=bool), np.zeros(n), scale)
        elif s.kind == "CS":
            th = _maximise_transformed(lik, st, np.ones(n, dtype=bool))
        else:
            th = _un_cholesky_fit(lik, st)
        ll = lik.loglik(th)
        if np.isfinite(ll):
            candidates.append((ll, th))
    if not candidates:
        raise InputError(
            "the multilevel model cannot be fitted: its covariance matrix is never positive definite"
        )
    candidates.sort(key=lambda c: -c[0])
    best_ll, theta = candidates[0]
    if s.kind == "nested":
        free = theta > 1e-10 * scale
        theta = np.where(free, theta, 0.0)
    else:
        free = np.ones(n, dtype=bool)
    polished, ok, iters = _newton_polish(lik, theta, free, scales)
    if lik.loglik(polished) >= best_ll - 1e-12 * abs(best_ll):
        theta = polished
    converged = ok and _optimum_ok(lik, theta, free, scales)
    return theta, free, converged, iters, scales


# ---------------------------------------------------------------------------------------
# Profile-likelihood confidence intervals


def _profile(lik: _Likelihood, theta_hat, i, value, warm, scale):
    """max over θ₋ᵢ of ℓ with θᵢ = value, warm-started; returns (ℓ, θ, ∂ℓ/∂θᵢ there)."""
    s = lik.s
    n = len(theta_hat)
    th = np.array(warm, dtype=float)
    th[i] = value
    free = np.ones(n, dtype=bool)
    free[i] = False
    scales = np.where(s.is_rho, 1.0, scale)
    if not free.any():
        ll, g = lik.value_grad(th)
        return ll, th, (g[i] if g is not None else math.nan)
    active = free & (th > 0) if s.kind == "nested" else free
    cand, ok, _ = _newton_polish(lik, th, active, scales)
    if not ok or not _optimum_ok(lik, cand, active, scales, skip=i):
        if s.kind == "nested":
            start = np.maximum(th[free], 0.01 * scale)
            cand, ok = _maximise_nested(lik, start, free, th, scale)
            if not ok:
                cand = _maximise_box(lik, start, free, th, scale)
            active = free & (cand > 1e-10 * scale)
            cand = np.where(free & ~active, 0.0, cand)
        else:
            start = th.copy()
            start[free & ~s.is_rho] = np.maximum(start[free & ~s.is_rho], 1e-6 * scale)
            cand = _maximise_transformed(lik, start, free)
        pol, _, _ = _newton_polish(lik, cand, active, scales)
        if lik.loglik(pol) >= lik.loglik(cand):
            cand = pol
    if s.kind == "UN":
        # The profile of a UN parameter can have several maxima: also climb from the estimate.
        alt = np.array(theta_hat, dtype=float)
        alt[i] = value
        alt = _maximise_transformed(lik, alt, free)
        alt, _, _ = _newton_polish(lik, alt, free, scales)
        if lik.loglik(alt) > lik.loglik(cand):
            cand = alt
    th = cand
    ll, g = lik.value_grad(th)
    return ll, th, (g[i] if g is not None else math.nan)


def _bound(fun, inside, outside):
    """The root of ``fun`` between ``inside`` (fun < 0) and ``outside`` (fun > 0).

    Newton steps with the derivative ``fun`` returns, bisection whenever a step leaves the
    bracket; stops when the step is below ``CI_TOL`` relative.
    """
    lo, hi = inside, outside
    t = outside
    f, d = fun(t)
    for _ in range(200):
        newton = t - f / d if d != 0 and math.isfinite(d) else math.nan
        inside_br = math.isfinite(newton) and min(lo, hi) < newton < max(lo, hi)
        new = newton if inside_br else 0.5 * (lo + hi)
        if abs(new - t) <= CI_TOL * max(abs(t), 1e-300) or abs(hi - lo) <= CI_TOL * max(abs(t), 1e-300):
            return new
        t = new
        f, d = fun(t)
        if f == 0:
            return t
        if f < 0:
            lo = t
        else:
            hi = t
    return t


def _profile_ci(lik: _Likelihood, theta_hat, ll_hat, level, scale):
    s = lik.s
    crit = stats.chi2.ppf(level, 1) / 2.0
    out = []
    for i in range(len(theta_hat)):
        warm = {"x": theta_hat}

        def drop(value, i=i, warm=warm):
            ll, th, gi = _profile(lik, theta_hat, i, value, warm["x"], scale)
            warm["x"] = th
            return (ll_hat - ll) - crit, -gi

        est = theta_hat[i]
        lo_edge, hi_edge = (-RHO_MAX, RHO_MAX) if s.is_rho[i] else (0.0, math.inf)
        bounds = []
        for edge in (lo_edge, hi_edge):
            warm["x"] = theta_hat
            if est == edge:
                bounds.append(edge)
                continue
            if math.isfinite(edge):
                if drop(edge)[0] <= 0:
                    # No crossing before the end of the parameter space: the bound is that end
                    # (±1 for a correlation, 0 for a variance), as metafor reports it.
                    bounds.append(math.copysign(1.0, edge) if s.is_rho[i] else edge)
                    continue
                outside = edge
            else:
                outside, found = max(10.0 * est, scale), False
                for _ in range(60):
                    if drop(outside)[0] > 0:
                        found = True
                        break
                    outside *= 4.0
                if not found:
                    bounds.append(math.nan)
                    continue
            warm["x"] = theta_hat
            bounds.append(_bound(drop, est, outside))
        out.append(tuple(bounds))
    return out


# ---------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class VarianceComponent:
    """One variance or correlation parameter with its profile-likelihood CI.

    ``name``: ``sigma2.1`` (outer level), ``sigma2.2``, …; ``tau2`` and ``rho`` (CS);
    ``tau2.<outcome>`` and ``rho.<a>.<b>`` (UN). ``level`` names the grouping (``study``,
    ``study/es_id``, ``outcome``); ``n_levels`` the number of groups.
    """

    name: str
    level: str
    estimate: float
    ci_lower: float
    ci_upper: float
    n_levels: int
    i2: float = math.nan


@dataclass(frozen=True)
class MultilevelResult(JsonResult):
    """A fitted multilevel or multivariate model (analysis scale)."""

    struct: str
    method: str
    test: str
    level: float
    k: int
    p: int
    coefficients: tuple[Coefficient, ...]
    components: tuple[VarianceComponent, ...]
    sigma2: tuple[float, ...]
    tau2: tuple[float, ...]
    rho: tuple[float, ...]
    i2: float
    typical_variance: float
    qe: float
    qe_df: int
    qe_p_value: float
    qm: float
    qm_df: int
    qm_df2: float
    qm_p_value: float
    loglik: float
    deviance: float
    aic: float
    bic: float
    converged: bool
    iterations: int
    boundary: tuple[str, ...]
    n_studies: int
    names: tuple[str, ...]
    vb: np.ndarray | None = field(repr=False, compare=False, default=None)
    y: np.ndarray | None = field(repr=False, compare=False, default=None)
    X: np.ndarray | None = field(repr=False, compare=False, default=None)
    marginal: np.ndarray | None = field(repr=False, compare=False, default=None)
    cluster: tuple[str, ...] = field(repr=False, compare=False, default=())

    @property
    def beta(self) -> np.ndarray:
        return np.array([c.estimate for c in self.coefficients])

    #: The ``multilevel`` object of ``trialsynth pool --multilevel --json`` (NaN as null).
    __json_fields__ = (
        ("model", "struct"), "method", "test", ("k_effects", "k"), ("k_studies", "n_studies"), "sigma2",
        ("tau2_levels", "tau2"), "rho", ("variance_components", "components"), ("i2_total", "i2"),
        "coefficients", "qe", "qe_df", "qe_p_value", "qm", "qm_df", "qm_df2", "qm_p_value", "loglik", "aic",
        "bic", "converged", "boundary",
    )


def _check_inputs(yi, V, X):
    y = np.asarray(yi, dtype=float).reshape(-1)
    k = len(y)
    V = np.asarray(V, dtype=float)
    if V.ndim == 1:
        V = np.diag(V)
    if V.shape != (k, k):
        raise InputError(f"the sampling covariance must be {k} × {k} for {k} effect sizes")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(V))):
        raise InputError("effect sizes and sampling (co)variances must be finite numbers")
    if not np.allclose(V, V.T, rtol=1e-12, atol=0):
        raise InputError("the sampling covariance matrix must be symmetric")
    if np.any(np.diag(V) <= 0):
        raise InputError("every sampling variance must be positive")
    if X is None:
        X = np.ones((k, 1))
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != k:
        raise InputError("the model matrix needs one row per effect size")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError("the moderators are linearly dependent (the model matrix is not of full rank)")
    if k <= X.shape[1]:
        raise InputError(f"the model has {X.shape[1]} coefficients but only {k} effect sizes")
    return y, V, X


def _wald_test(beta, vb, btt, test: str, dfr: int):
    """QM of the coefficients ``btt`` with its χ²(m) p-value, or (``test="t"``) F = QM/m with
    F(m, k − p); NaN when ``btt`` is empty. Returns ``(qm, p_value, df2)``."""
    m = len(btt)
    if not m:
        return math.nan, math.nan, math.nan
    bm = beta[btt]
    qm = float(bm @ np.linalg.solve(vb[np.ix_(btt, btt)], bm))
    if test == "t":
        qm /= m
        return qm, float(special.fdtrc(m, dfr, qm)), float(dfr)
    return qm, float(chi2_sf(qm, m)), math.nan


def _qe_and_typical_variance(y, V, X) -> tuple[float, float]:
    """QE = r₀'W r₀ of the fixed-effects fit (W = V⁻¹) and the typical sampling variance
    s² = (k − p)/tr(P₀), P₀ = W − WX(X'WX)⁻¹X'W."""
    k, p = X.shape
    W = np.linalg.inv(V)
    XtWX = X.T @ W @ X
    b0 = np.linalg.solve(XtWX, X.T @ W @ y)
    r0 = y - X @ b0
    qe = float(r0 @ W @ r0)
    P0 = W - W @ X @ np.linalg.solve(XtWX, X.T @ W)
    return qe, (k - p) / float(np.trace(P0))


def _variance_components(structure, theta, cis, s2: float) -> tuple[list[VarianceComponent], float]:
    """The variance components with their CIs and I² per level (nested: σ²ⱼ/(Σσ² + s²); CS and UN:
    τ²/(τ² + s²) per outcome), and the total I² (NaN for UN)."""
    comps = []
    if structure.kind == "nested":
        total = theta.sum()
        i2_levels = 100.0 * theta / (total + s2)
        i2 = float(i2_levels.sum())
        for j, nm in enumerate(structure.names):
            comps.append(
                VarianceComponent(
                    nm,
                    structure.level_names[j],
                    float(theta[j]),
                    float(cis[j][0]),
                    float(cis[j][1]),
                    structure.n_levels[j],
                    float(i2_levels[j]),
                )
            )
    elif structure.kind == "CS":
        i2 = float(100.0 * theta[0] / (theta[0] + s2))
        comps.append(
            VarianceComponent(
                "tau2",
                "outcome",
                float(theta[0]),
                float(cis[0][0]),
                float(cis[0][1]),
                structure.n_levels[0],
                i2,
            )
        )
        comps.append(
            VarianceComponent(
                "rho", "outcome", float(theta[1]), float(cis[1][0]), float(cis[1][1]), structure.n_levels[0]
            )
        )
    else:
        mo = len(structure.outcomes)
        i2 = math.nan
        for j, nm in enumerate(structure.names):
            i2j = float(100.0 * theta[j] / (theta[j] + s2)) if j < mo else math.nan
            comps.append(
                VarianceComponent(
                    nm,
                    "outcome",
                    float(theta[j]),
                    float(cis[j][0]),
                    float(cis[j][1]),
                    structure.n_levels[0],
                    i2j,
                )
            )
    return comps, i2


def _coefficients(names, beta, se, stat, pval, crit) -> tuple[Coefficient, ...]:
    return tuple(
        Coefficient(
            name=names[j],
            estimate=float(beta[j]),
            se=float(se[j]),
            statistic=float(stat[j]),
            p_value=float(pval[j]),
            ci_lower=float(beta[j] - crit * se[j]),
            ci_upper=float(beta[j] + crit * se[j]),
        )
        for j in range(len(beta))
    )


def _fit(y, V, X, structure, *, method, test, level, names, intercept, profile, cluster, n_studies):
    method = method.upper()
    if method not in ("REML", "ML"):
        raise InputError(f"multilevel models are fitted by REML or ML, not {method}")
    if test not in ("z", "t"):
        raise InputError("test must be 'z' or 't'")
    level = level / 100.0 if level > 1 else level
    k, p = X.shape
    lik = _Likelihood(y, X, V, structure, restricted=method == "REML", blocks=_blocks(V, [cluster]))
    scale = _scale(y, V)
    theta, free, converged, iters, _ = _fit_theta(lik, scale)
    if not converged:
        warnings.warn(
            f"the {method} fit of the {structure.kind} model did not converge (the gradient does not vanish)",
            TrialsynthWarning,
            stacklevel=3,
        )
    part = lik.parts(theta)
    ll = part["ll"]
    beta, vb = part["beta"], part["vb"]
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    dfr = k - p
    if test == "t":
        pval = t_two_sided_p(stat, float(dfr))
        crit = crit_value(level, float(dfr))
    else:
        pval = norm_two_sided_p(stat)
        crit = crit_value(level)
    if names is None:
        names = ["intrcpt", *(f"X{j}" for j in range(1, p))] if intercept else [f"X{j + 1}" for j in range(p)]
    names = list(names)
    coefs = _coefficients(names, beta, se, stat, pval, crit)
    btt = (
        np.arange(1, p) if intercept and p > 1 else np.arange(p)
    )  # as metafor: alone, the intercept is tested
    m = len(btt)
    qm, qm_p, qm_df2 = _wald_test(beta, vb, btt, test, dfr)
    qe, s2 = _qe_and_typical_variance(y, V, X)
    # Variance components with their CIs.
    cis = _profile_ci(lik, theta, ll, level, scale) if profile else [(math.nan, math.nan)] * len(theta)
    comps, i2 = _variance_components(structure, theta, cis, s2)
    npar = p + len(theta)
    dev = -2.0 * ll
    nobs = k - p if method == "REML" else k
    boundary = tuple(
        structure.names[j] for j in range(len(theta)) if structure.kind == "nested" and not free[j]
    )
    if boundary:
        warnings.warn(
            f"variance component{'s' if len(boundary) > 1 else ''} estimated at 0 (boundary): "
            + ", ".join(boundary),
            TrialsynthWarning,
            stacklevel=3,
        )
    is_rho = structure.is_rho
    return MultilevelResult(
        struct=structure.kind,
        method=method,
        test=test,
        level=level * 100,
        k=k,
        p=p,
        coefficients=coefs,
        components=tuple(comps),
        sigma2=tuple(float(t) for t in theta) if structure.kind == "nested" else (),
        tau2=tuple(float(theta[j]) for j in range(len(theta)) if not is_rho[j])
        if structure.kind != "nested"
        else (),
        rho=tuple(float(theta[j]) for j in range(len(theta)) if is_rho[j]),
        i2=i2,
        typical_variance=s2,
        qe=qe,
        qe_df=dfr,
        qe_p_value=float(chi2_sf(qe, dfr)),
        qm=qm,
        qm_df=m,
        qm_df2=qm_df2,
        qm_p_value=qm_p,
        loglik=float(ll),
        deviance=dev,
        aic=dev + 2 * npar,
        bic=dev + npar * math.log(nobs),
        converged=converged,
        iterations=int(iters),
        boundary=boundary,
        n_studies=n_studies,
        names=tuple(names),
        vb=vb,
        y=y,
        X=X,
        marginal=lik.marginal(theta),
        cluster=tuple(str(c) for c in cluster),
    )


def fit_multilevel(
    yi,
    V,
    X=None,
    *,
    levels: Sequence[Sequence[str]],
    level_names: Sequence[str] = ("study", "es_id"),
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    names: Sequence[str] | None = None,
    intercept: bool = True,
    profile: bool = True,
) -> MultilevelResult:
    """Fit the nested random-effects model, as ``rma.mv(yi, V, mods, random = ~ 1 | study/es_id)``.

    ``V``: the k × k sampling covariance (or the k sampling variances); ``X``: the model matrix
    (intercept column first when ``intercept``; default: intercept only); ``levels``: the group
    labels of each level, outer first (the inner level is nested in the outer ones).
    ``profile=False`` skips the profile-likelihood CIs (NaN).
    """
    y, V, X = _check_inputs(yi, V, X)
    if not levels:
        raise InputError("a multilevel model needs at least one grouping level")
    for lv in levels:
        if len(lv) != len(y):
            raise InputError("every grouping level needs one label per effect size")
    structure = _nested_structure(levels, list(level_names) + [f"level{j + 1}" for j in range(len(levels))])
    options = dict(method=method, test=test, level=level, names=names, intercept=intercept, profile=profile)
    return _fit(y, V, X, structure, cluster=levels[0], n_studies=structure.n_levels[0], **options)


def fit_multivariate(
    yi,
    V,
    X=None,
    *,
    study: Sequence[str],
    outcome: Sequence[str],
    struct: str = "UN",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    names: Sequence[str] | None = None,
    intercept: bool = True,
    profile: bool = True,
) -> MultilevelResult:
    """Fit the multivariate model ``rma.mv(yi, V, mods, random = ~ outcome | study, struct=...)``.

    ``struct``: ``"CS"`` (one τ² and one ρ) or ``"UN"`` (τ² per outcome, ρ per pair). ``X``
    typically holds one column per outcome (``mods = ~ outcome - 1``) and ``intercept=False``.
    """
    struct = struct.upper()
    if struct not in ("CS", "UN"):
        raise InputError("struct must be 'CS' or 'UN'")
    y, V, X = _check_inputs(yi, V, X)
    if len(study) != len(y) or len(outcome) != len(y):
        raise InputError("study and outcome need one label per effect size")
    structure = _outcome_structure(study, outcome, struct)
    options = dict(method=method, test=test, level=level, names=names, intercept=intercept, profile=profile)
    return _fit(y, V, X, structure, cluster=study, n_studies=structure.n_levels[1], **options)


# ---------------------------------------------------------------------------------------
# A table of trials with several effect sizes per study


def pool_multilevel(
    data,
    *,
    method: str = "REML",
    robust: str | None = None,
    rho: float = 0.0,
    moderators: Sequence[str] = (),
    level: float = 95.0,
    **options,
) -> dict:
    """Fit the three-level model ``~ 1 | study/es_id`` to a :class:`trialsynth.io.poolcsv.PoolInput` read with
    ``repeated=True``; returns the ``trialsynth pool --multilevel --json`` object.

    Effect sizes come from :func:`trialsynth.stats.meta.pool_input` (``options``: corrections, profile);
    the ``es_id`` column (any case) names the effect sizes within a study (default: one per row);
    ``rho`` is the working within-study correlation of the sampling errors. ``robust="CR2"`` adds
    cluster-robust tests by study. The keys of ``pool --json`` are kept, with the pooled estimate
    (intercept) of the multilevel model, ``sigma2`` (outer level first), ``multilevel`` (the model)
    and ``robust``.
    """
    method = method.upper()
    if method not in ("REML", "ML"):
        raise InputError(f"--multilevel fits by REML or ML, not {method}", file=data.source)
    if robust is not None and robust.upper() != "CR2":
        raise InputError(f"unknown robust variance '{robust}'; use CR2", file=data.source)
    pooled, _, fit = multilevel_input(
        data, method=method, rho=rho, moderators=moderators, level=level, **options
    )
    out = pooled.to_json_dict()
    first = fit.coefficients[0]
    out.update(
        {
            "k": fit.k,
            "method": method,
            "estimate": first.estimate,
            "se": first.se,
            "ci_lower": first.ci_lower,
            "ci_upper": first.ci_upper,
            "statistic": first.statistic,
            "p_value": first.p_value,
            "df": None,
            "tau2": None,
            "tau2_ci_lower": None,
            "tau2_ci_upper": None,
            "tau": None,
            "i2": fit.i2,
            "h2": None,
            "q": fit.qe,
            "q_df": fit.qe_df,
            "q_p_value": fit.qe_p_value,
            "pi_lower": None,
            "pi_upper": None,
            "converged": fit.converged,
            "sigma2": list(fit.sigma2),
            "multilevel": fit.to_json_dict(),
        }
    )
    if robust is not None:
        from trialsynth.stats.robust import robust as robust_fit

        out["robust"] = robust_fit(fit).to_json_dict()
    return to_jsonable(out)


def multilevel_input(
    data,
    *,
    method: str = "REML",
    rho: float = 0.0,
    moderators: Sequence[str] = (),
    level: float = 95.0,
    cluster: bool = False,
    profile_ci: bool = True,
    **options,
):
    """The effect sizes of a :class:`trialsynth.io.poolcsv.PoolInput` read with ``repeated=True``
    and the multilevel model fitted to them: ``(univariate MetaResult, used row indices, fit)``.

    The univariate result only supplies each row's effect size and sampling variance
    (:func:`trialsynth.stats.meta.pool_input`; ``options``: corrections, profile). Levels, outer
    first: the ``cluster`` column when ``cluster`` (studies grouped, ``~ 1 | cluster/study/…``),
    the study label, and the ``es_id`` column (any case) when there is one; without ``es_id``
    and without ``cluster`` every row is its own effect size (``~ 1 | study/es_id``).
    """
    from trialsynth.stats.meta import pool_input
    from trialsynth.stats.regression import design_matrix

    with warnings.catch_warnings():
        # The univariate fit only supplies effect sizes and the per-row table.
        warnings.filterwarnings("ignore", message=".*converge.*")
        pooled = pool_input(data, method=method, level=level, **options)
    yi = np.array([s.yi for s in pooled.studies])
    vi = np.array([s.vi for s in pooled.studies])
    usable = np.array([s.included and np.isfinite(s.yi) and np.isfinite(s.vi) for s in pooled.studies])
    lookup = {name.strip().lower(): name for name in data.extra_columns}
    has_es = "es_id" in lookup or not cluster
    es = list(data.extra_columns[lookup["es_id"]]) if "es_id" in lookup else [str(i) for i in range(len(yi))]
    if moderators:
        design = design_matrix(
            data.extra_columns, moderators, source=data.source, usable=usable, labels=data.labels
        )
        rows, X, names = design.rows, design.X, list(design.names)
    else:
        rows = np.nonzero(usable)[0]
        X, names = np.ones((len(rows), 1)), ["intrcpt"]
    study = [data.labels[i] for i in rows]
    es_id = [str(es[i]).strip() for i in rows]
    if any(not e for e in es_id):
        raise InputError("the es_id column has a blank cell", file=data.source, column=lookup.get("es_id"))
    pairs = list(zip(study, es_id, strict=True))
    if has_es and len(set(pairs)) != len(pairs):
        raise InputError(
            "an es_id appears twice within one study", file=data.source, column=lookup.get("es_id")
        )
    levels, names_of_levels = [study], ["study"]
    if cluster:
        if "cluster" not in lookup:
            raise InputError("no cluster column", file=data.source)
        levels.insert(0, [str(data.extra_columns[lookup["cluster"]][i]).strip() for i in rows])
        names_of_levels.insert(0, "cluster")
    if has_es:
        levels.append(es_id)
        names_of_levels.append("es_id")
    V = sampling_covariance(vi[rows], study, rho)
    fit = fit_multilevel(
        yi[rows], V, X, levels=levels, level_names=names_of_levels, method=method, level=level, names=names,
        profile=profile_ci,
    )
    return pooled, rows, fit
