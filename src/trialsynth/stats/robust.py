"""Cluster-robust (sandwich) inference with the CR2 correction and Satterthwaite degrees of freedom.

For a fitted model with coefficients β̂ = B X'Wy, B = (X'WX)⁻¹, working (model-implied)
covariance Φ and weights W = Φ⁻¹ (block-diagonal by cluster j; W_j = Φ_j⁻¹), the bias-reduced
linearisation estimator (Bell & McCaffrey, Surv Methodol 2002; Pustejovsky & Tipton, J Bus Econ
Stat 2018, eqs. 4–6, as ``clubSandwich::vcovCR(type = "CR2")``) is

    V_CR2 = B [Σⱼ Xⱼ'Wⱼ Aⱼ eⱼ eⱼ' Aⱼ' Wⱼ Xⱼ] B,   e = y − Xβ̂,
    Aⱼ = Dⱼ' (Dⱼ (I − H)ⱼ Φ (I − H)ⱼ' Dⱼ')^{+1/2} Dⱼ,

with H = X B X'W, (I − H)ⱼ the rows of cluster j, Dⱼ the upper Cholesky factor (Dⱼ'Dⱼ = Φⱼ) and
M^{+1/2} the symmetric square root of the Moore–Penrose inverse. Under the working model
E[V_CR2] equals the model-based covariance B.

Single coefficients (``clubSandwich::coef_test(..., test = "Satterthwaite")``): t = β̂ₛ/SE with the
Satterthwaite df ν = (Σⱼ Ωⱼⱼ)²/Σᵢⱼ Ωᵢⱼ², Ωᵢⱼ = uᵢ'Φuⱼ, uⱼ = (I − H)ⱼ' Aⱼ' Wⱼ Xⱼ B c (c the unit
vector of the coefficient) (Pustejovsky & Tipton 2018, section 3.1).

Several coefficients (``Wald_test(..., test = "HTZ")``, Tipton & Pustejovsky, J Educ Behav Stat
2015; Pustejovsky & Tipton 2018, section 3.2): Q = (Cβ̂)'(C V_CR2 C')⁻¹(Cβ̂) for q constraints C.
With the rows of C standardised so that E[C V_CR2 C'] = I, V_CR2 is approximated by a Wishart
matrix with η degrees of freedom matching Σₛₜ Var(Vₛₜ) = q(q + 1)/η. With Ωˢᵗᵢⱼ = uₛᵢ'Φuₜⱼ and y
Gaussian with covariance Φ, Var(Vₛₜ) = ½ Σᵢⱼ (Ωᵗˢⱼᵢ Ωᵗˢᵢⱼ + Ωᵗᵗⱼᵢ Ωˢˢᵢⱼ + Ωˢˢⱼᵢ Ωᵗᵗᵢⱼ + Ωˢᵗⱼᵢ Ωˢᵗᵢⱼ)
(the variance of a Gaussian quadratic form, 2 tr(GΦGΦ), for G the symmetrised Σⱼ uₛⱼuₜⱼ');
then F = (η − q + 1)/(η q)·Q ~ F(q, η − q + 1).

metafor's ``robust(fit, cluster, clubSandwich = TRUE)`` reports exactly these: CR2 SEs, t tests
and t-based CIs with the Satterthwaite df per coefficient, and the HTZ test of the moderators.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from trialsynth._core.dist import crit_value, t_two_sided_p
from trialsynth._core.errors import InputError
from trialsynth._core.serialize import JsonResult
from trialsynth.stats.regression import Coefficient

#: Eigenvalues below this (relative to the largest) count as zero in the pseudo-inverse root.
PINV_TOL = 1e-12


@dataclass(frozen=True)
class RobustResult(JsonResult):
    """Cluster-robust (CR2) tests of a fitted model; ``df`` are the Satterthwaite df per coefficient.

    ``qm``/``qm_df``/``qm_df2``/``qm_p_value``: the HTZ F test of the coefficients other than the
    intercept (NaN when there are none).
    """

    vcov_type: str
    n_clusters: int
    coefficients: tuple[Coefficient, ...]
    df: tuple[float, ...]
    qm: float
    qm_df: int
    qm_df2: float
    qm_p_value: float
    level: float
    vcov: np.ndarray | None = field(repr=False, compare=False, default=None)

    #: The ``robust`` object of ``trialsynth pool --multilevel --robust CR2 --json``.
    __json_fields__ = (
        ("vcov", "vcov_type"), ("clusters", "n_clusters"), ("coefficients", "_json_coefficients"),
        "qm", "qm_df", "qm_df2", "qm_p_value",
    )

    @property
    def _json_coefficients(self) -> list[dict]:
        return [
            {
                "name": c.name, "estimate": c.estimate, "se": c.se, "statistic": c.statistic, "df": d,
                "ci_lower": c.ci_lower, "ci_upper": c.ci_upper, "p_value": c.p_value,
            }
            for c, d in zip(self.coefficients, self.df, strict=True)
        ]


def _psd_inv_sqrt(M: np.ndarray) -> np.ndarray:
    """Symmetric square root of the Moore–Penrose inverse of a symmetric PSD matrix."""
    w, U = np.linalg.eigh(0.5 * (M + M.T))
    keep = w > PINV_TOL * max(w.max(), 0.0)
    inv = np.zeros_like(w)
    inv[keep] = 1.0 / np.sqrt(w[keep])
    return (U * inv) @ U.T


def cr2(y, X, Phi, cluster: Sequence[str]):
    """β̂, V_CR2, and per cluster (rows, Aⱼ'WⱼXⱼB) plus I − H: what the df need (module docstring)."""
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    Phi = np.asarray(Phi, dtype=float)
    labels = np.array([str(c) for c in cluster])
    if len(labels) != len(y):
        raise InputError("the cluster variable needs one value per effect size")
    uniq = list(dict.fromkeys(labels))
    if len(uniq) < 2:
        raise InputError("cluster-robust inference needs at least two clusters")
    rows = [np.nonzero(labels == u)[0] for u in uniq]
    k, p = X.shape
    W = np.zeros((k, k))
    for idx in rows:
        W[np.ix_(idx, idx)] = np.linalg.inv(Phi[np.ix_(idx, idx)])
    B = np.linalg.inv(X.T @ W @ X)
    beta = B @ (X.T @ W @ y)
    e = y - X @ beta
    IH = np.eye(k) - X @ B @ X.T @ W
    vcov = np.zeros((p, p))
    parts = []
    for idx in rows:
        Phic = Phi[np.ix_(idx, idx)]
        D = np.linalg.cholesky(Phic).T  # upper: D'D = Φⱼ
        S = IH[idx] @ Phi @ IH[idx].T
        A = D.T @ _psd_inv_sqrt(D @ S @ D.T) @ D
        G = A.T @ W[np.ix_(idx, idx)] @ X[idx] @ B  # nⱼ × p: column s gives Aⱼ'WⱼXⱼB cₛ
        v = G.T @ e[idx]  # B Xⱼ'Wⱼ Aⱼ eⱼ
        vcov += np.outer(v, v)
        parts.append((idx, G))
    return beta, vcov, parts, IH, Phi


def _u_vectors(parts, IH, C):
    """uₛⱼ = (I − H)ⱼ' Gⱼ cₛ for every row s of C: array (q, J, k)."""
    return np.stack([np.stack([IH[idx].T @ (G @ c) for idx, G in parts]) for c in C])


def _omega(u, Phi):
    """Ωˢᵗᵢⱼ = uₛᵢ'Φuₜⱼ: array (q, q, J, J)."""
    Pu = np.einsum("kl,tjl->tjk", Phi, u)
    return np.einsum("sik,tjk->stij", u, Pu)


def satterthwaite_df(parts, IH, Phi, p):
    """The Satterthwaite df of each coefficient (module docstring)."""
    out = []
    for s in range(p):
        c = np.zeros(p)
        c[s] = 1.0
        om = _omega(_u_vectors(parts, IH, c[None, :]), Phi)[0, 0]
        out.append(float(np.trace(om) ** 2 / (om**2).sum()))
    return out


def htz_test(beta, vcov, parts, IH, Phi, C):
    """HTZ Wald test of Cβ = 0: (F, q, η − q + 1, p)."""
    C = np.atleast_2d(np.asarray(C, dtype=float))
    q = C.shape[0]
    om = _omega(_u_vectors(parts, IH, C), Phi)
    E = np.einsum("stjj->st", om)
    w, U = np.linalg.eigh(E)
    Cs = (U / np.sqrt(w)) @ U.T @ C  # rows standardised: E[Cs V Cs'] = I
    om = _omega(_u_vectors(parts, IH, Cs), Phi)
    total = 0.0
    for s in range(q):
        for t in range(q):
            a = (om[t, s].T * om[t, s]).sum()
            b = (om[t, t].T * om[s, s]).sum()
            c = (om[s, s].T * om[t, t]).sum()
            d = (om[s, t].T * om[s, t]).sum()
            total += 0.5 * (a + b + c + d)
    eta = q * (q + 1) / total
    cb = C @ beta
    Q = float(cb @ np.linalg.solve(C @ vcov @ C.T, cb))
    df2 = eta - q + 1
    F = (eta - q + 1) / (eta * q) * Q
    pval = float(special.fdtrc(q, df2, F)) if df2 > 0 else math.nan
    return F, q, df2, pval


def robust_arrays(
    y,
    X,
    Phi,
    cluster: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    intercept: bool = True,
    level: float = 0.95,
) -> RobustResult:
    """CR2 inference for the GLS fit of ``y`` on ``X`` with working covariance ``Phi`` (k × k)."""
    level = level / 100.0 if level > 1 else level
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    beta, vcov, parts, IH, Phi = cr2(y, X, Phi, cluster)
    se = np.sqrt(np.diag(vcov))
    dfs = satterthwaite_df(parts, IH, Phi, p)
    names = list(names) if names is not None else [f"X{j + 1}" for j in range(p)]
    coefs = []
    for j in range(p):
        t = beta[j] / se[j]
        crit = float(crit_value(level, dfs[j]))
        coefs.append(
            Coefficient(
                name=names[j],
                estimate=float(beta[j]),
                se=float(se[j]),
                statistic=float(t),
                p_value=float(t_two_sided_p(t, dfs[j])),
                ci_lower=float(beta[j] - crit * se[j]),
                ci_upper=float(beta[j] + crit * se[j]),
            )
        )
    btt = (
        np.arange(1, p) if intercept and p > 1 else np.arange(p)
    )  # as metafor: alone, the intercept is tested
    if len(btt):
        C = np.eye(p)[btt]
        F, q, df2, pval = htz_test(beta, vcov, parts, IH, Phi, C)
    else:
        F, q, df2, pval = math.nan, 0, math.nan, math.nan
    return RobustResult(
        vcov_type="CR2",
        n_clusters=len(parts),
        coefficients=tuple(coefs),
        df=tuple(dfs),
        qm=float(F),
        qm_df=int(q),
        qm_df2=float(df2),
        qm_p_value=pval,
        level=level * 100,
        vcov=vcov,
    )


def robust(fit, cluster: Sequence[str] | None = None, *, level: float | None = None) -> RobustResult:
    """CR2 inference for a :class:`~trialsynth.stats.multilevel.MultilevelResult` (clustered by its
    outer level unless ``cluster`` is given), as metafor's ``robust(fit, cluster, clubSandwich=TRUE)``."""
    cluster = fit.cluster if cluster is None else cluster
    return robust_arrays(
        fit.y,
        fit.X,
        fit.marginal,
        cluster,
        names=fit.names,
        intercept=fit.names[:1] == ("intrcpt",),
        level=fit.level if level is None else level,
    )


def robust_regression(yi, vi, X, tau2: float, cluster: Sequence[str], *, names=None, level: float = 0.95):
    """CR2 inference for a univariate (meta-)regression with τ² (``rma(yi, vi, mods)``): Φ = diag(vᵢ + τ²)."""
    vi = np.asarray(vi, dtype=float)
    return robust_arrays(yi, X, np.diag(vi + tau2), cluster, names=names, level=level)
