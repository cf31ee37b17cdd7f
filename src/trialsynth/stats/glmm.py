"""Binomial–normal generalized linear (mixed) models for rare events and single-arm proportions.

The models of metafor's ``rma.glmm`` (Viechtbauer, J Stat Softw 2010;36(3); the model family of
Stijnen, Hamza & Özdemir, Stat Med 2010;29:3046–67, and Jackson et al., Stat Med 2018;37:1059–85),
fitted to the counts directly: no continuity correction, no per-study log odds ratios.

2×2 tables (a events of n1 in the treatment arm, c of n2 in control), measure OR, ``model``:

* ``UM.FS`` unconditional model, fixed study effects: logit p_t = α_i + θ + u_i/2,
  logit p_c = α_i − u_i/2 (u_i ~ N(0, τ²); metafor's default ±½ coding of the random effect);
* ``UM.RS`` unconditional model, random study effects: logit p_t = β₀ + θ + v_i + u_i/2,
  logit p_c = β₀ + v_i − u_i/2, v_i ~ N(0, σ²) independent of u_i ~ N(0, τ²);
* ``CM.EL`` conditional model, exact likelihood: a_i given the total m_i = a_i + c_i follows
  Fisher's noncentral hypergeometric distribution with log odds ratio θ + u_i,
  P(a) = C(n1, a) C(n2, m − a) ψᵃ / Σ_x C(n1, x) C(n2, m − x) ψˣ (Breslow & Day 1980, §4.2;
  computed in log space with log-gamma and log-sum-exp, stable for large tables);
* ``CM.AL`` conditional model, approximate likelihood: a_i ~ Binomial(m_i, π_i) with
  logit π_i = log(n1/n2) + θ + u_i (the binomial approximation of the conditional likelihood
  when events are rare).

``method="FE"`` (metafor's "EE") fixes τ² = 0; ``method="ML"`` estimates τ² by maximum likelihood.
The random effects are integrated out as metafor does (its documentation, "Note"): by adaptive
Gauss–Hermite quadrature with 7 points (lme4's ``glmer(nAGQ = 7)``) for UM.FS, CM.AL and the
proportion model; by the Laplace approximation for UM.RS (glmer allows only nAGQ = 1 with two
random effects, so metafor fits all three UM.RS models, equal-effects, saturated and random,
with nAGQ = 1 when method is ML, and with 7 points when it is FE); CM.EL by numerical integration,
here adaptive Gauss–Hermite quadrature with ``n_points_exact`` (31) points, accurate to rounding
for these smooth integrands.

Standard errors are from the inverse of the observed information of all parameters (the nuisance
intercepts and variance components included), as lme4's ``vcov`` (its Hessian-based default for
GLMMs) and metafor's numerical Hessian for CM.EL.

Heterogeneity, as ``rma.glmm`` reports it: a Wald-type test (QE.Wld) and a likelihood-ratio test
(QE.LRT) of the saturated model (one effect per study) against the equal-effects model, each on
k − 1 degrees of freedom. A study whose own effect is infinite in the saturated model (a zero cell
for UM.FS, a zero arm total for CM.AL, a count at the end of its range for CM.EL) carries no weight
in the Wald test (its variance is infinite) and contributes its limiting, perfect fit to the
likelihood ratio. I² and H² use τ² and the typical within-study variance s² of the studies' log odds
ratios with ½ added to tables with a zero cell (Higgins & Thompson, Stat Med 2002), as metafor.

Tables with no events in both arms, or only events in both arms, carry no information on the odds
ratio in the conditional models and none in UM.FS; metafor drops them for every model (its
``drop00 = TRUE``) and so does this module, with a warning.

Single-arm proportions (x events of n), measure PLO: logit p_i = μ + u_i, the binomial–normal
model of metafor's ``rma.glmm(measure = "PLO")`` (Hamza, van Houwelingen & Stijnen, J Clin
Epidemiol 2008;61:41–51).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from trialsynth._core.dist import chi2_sf, crit_value, norm_two_sided_p
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.stats import _glmm_engine as eng

OR_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")
METHODS = ("FE", "ML")
N_AGQ = 7  # metafor's default nAGQ for glmer
N_POINTS_EXACT = 31  # quadrature points for CM.EL (metafor integrates numerically)


@dataclass(frozen=True)
class GlmmFit:
    """A fitted binomial–normal model (analysis scale: log OR or logit proportion).

    ``tau2`` is 0 for the fixed-effect model; ``sigma2`` is the variance of the random study
    intercepts (UM.RS only, NaN otherwise). ``qe_wald``/``qe_lrt`` and their p-values are the
    heterogeneity tests on ``qe_df`` = k − 1 degrees of freedom (NaN with one study).
    ``included`` marks the input rows used (double-zero tables are left out).
    """

    measure: str
    model: str
    method: str
    k: int
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    z: float
    p_value: float
    tau2: float
    sigma2: float
    qe_wald: float
    qe_wald_p: float
    qe_lrt: float
    qe_lrt_p: float
    qe_df: int
    i2: float
    h2: float
    loglik: float
    converged: bool
    iterations: int
    integration: str
    level: float
    included: tuple[bool, ...]
    notes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _counts(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one number per study")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} has a missing or non-finite count")
    if np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise InputError(f"{name} must be whole numbers of zero or more")
    return arr


def _check_common(method: str, level: float) -> tuple[str, float]:
    method = method.upper()
    if method == "EE":
        method = "FE"
    if method not in METHODS:
        raise InputError(f"unknown GLMM method '{method}'; choose FE (fixed effect) or ML (random effects)")
    level = level / 100.0 if level > 1 else level
    if not 0 < level < 1:
        raise InputError("the confidence level must be between 0 and 100 percent")
    return method, level


def _s2_typical(vi: np.ndarray) -> float:
    """Typical within-study variance (Higgins & Thompson 2002, eq. 9)."""
    w = 1.0 / vi
    k = vi.size
    return (k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())


def _cochran(theta: np.ndarray, v: np.ndarray) -> float:
    """Σ w(θ − θ̄_w)², w = 1/v: the Wald statistic of 'all θ equal' for independent estimates."""
    if theta.size < 2:
        return 0.0
    w = 1.0 / v
    mean = (w * theta).sum() / w.sum()
    return float((w * (theta - mean) ** 2).sum())


def _xlogx_ratio(x, n):
    """Σ binomial log-likelihood at the observed proportion x/n (0·log 0 = 0), log choose included."""
    const = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, x / np.where(n > 0, n, 1.0), 0.0)
    return const + special.xlogy(x, p) + special.xlog1py(n - x, -p)


def _finish(
    *,
    measure,
    model,
    method,
    est,
    se,
    tau2,
    sigma2,
    q_wald,
    ll_fe,
    ll_sat,
    loglik,
    k,
    vi_display,
    level,
    converged,
    iterations,
    integration,
    included,
    notes,
) -> GlmmFit:
    crit = float(crit_value(level))
    df = k - 1
    q_lrt = max(0.0, 2.0 * (ll_sat - ll_fe)) if df >= 1 else math.nan
    if df < 1:
        q_wald = math.nan
    if method == "ML" and df >= 1:
        s2 = _s2_typical(vi_display)
        i2 = 100.0 * tau2 / (tau2 + s2)
        h2 = (tau2 + s2) / s2
    elif df >= 1:
        i2, h2 = 0.0, 1.0
    else:
        i2 = h2 = math.nan
    z = est / se
    if not converged:
        warnings.warn(
            f"the {model} {method} fit did not converge: estimates may be unreliable",
            TrialsynthWarning,
            stacklevel=3,
        )
    return GlmmFit(
        measure=measure,
        model=model,
        method=method,
        k=k,
        estimate=float(est),
        se=float(se),
        ci_lower=float(est - crit * se),
        ci_upper=float(est + crit * se),
        z=float(z),
        p_value=float(norm_two_sided_p(z)),
        tau2=float(tau2),
        sigma2=float(sigma2),
        qe_wald=float(q_wald),
        qe_wald_p=float(chi2_sf(q_wald, df)) if df >= 1 else math.nan,
        qe_lrt=float(q_lrt),
        qe_lrt_p=float(chi2_sf(q_lrt, df)) if df >= 1 else math.nan,
        qe_df=int(df) if df >= 1 else 0,
        i2=float(i2),
        h2=float(h2),
        loglik=float(loglik),
        converged=bool(converged),
        iterations=int(iterations),
        integration=integration,
        level=level * 100,
        included=tuple(bool(b) for b in included),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# Fisher's noncentral hypergeometric distribution, in log space
# ---------------------------------------------------------------------------------------------


class _NoncentralHypergeometric:
    """Fisher's noncentral hypergeometric law of a given (n1, n2, m) per study, over arrays.

    The support x = max(0, m − n2) … min(n1, m) is laid out as lo + j, j = 0 … S − 1 (padded);
    log C(n1, x) + log C(n2, m − x) comes from log-gamma, the normaliser from log-sum-exp, so
    tables with thousands of participants neither overflow nor lose the tail.
    """

    def __init__(self, a, n1, n2, m):
        self.lo = np.maximum(0.0, m - n2)
        self.hi = np.minimum(n1, m)
        width = int((self.hi - self.lo).max()) + 1
        j = np.arange(width, dtype=float)
        x = self.lo[:, None] + j[None, :]
        self.valid = x <= self.hi[:, None]
        xs = np.where(self.valid, x, self.lo[:, None])
        logc = (
            special.gammaln(n1 + 1)[:, None]
            - special.gammaln(xs + 1)
            - special.gammaln(n1[:, None] - xs + 1)
            + special.gammaln(n2 + 1)[:, None]
            - special.gammaln(m[:, None] - xs + 1)
            - special.gammaln(n2[:, None] - m[:, None] + xs + 1)
        )
        self.logc = np.where(self.valid, logc, -np.inf)
        self.j = j
        self.a = a
        ja = (a - self.lo).astype(int)
        self.logc_a = logc[np.arange(a.size), ja]
        self.interior = (a > self.lo) & (a < self.hi)

    def _weights(self, lam):
        """log weights (k, [Q,] S) and their log-sum-exp for log odds ratios ``lam`` (k,) or (k, Q)."""
        lam = np.asarray(lam, dtype=float)
        if lam.ndim == 1:
            lw = self.logc + self.j[None, :] * lam[:, None]
        else:
            lw = self.logc[:, None, :] + self.j[None, None, :] * lam[:, :, None]
        top = lw.max(axis=-1)
        return lw, top + np.log(np.exp(lw - top[..., None]).sum(axis=-1))

    def logpmf(self, lam):
        """log P(A = a | log odds ratio lam)."""
        lam = np.asarray(lam, dtype=float)
        _, lse = self._weights(lam)
        ja = self.a - self.lo
        if lam.ndim == 1:
            return self.logc_a + ja * lam - lse
        return self.logc_a[:, None] + ja[:, None] * lam - lse

    def mean_var(self, lam):
        """Mean and variance of A (k,) at log odds ratios lam (k,)."""
        lw, lse = self._weights(lam)
        p = np.exp(lw - lse[..., None])
        mean = (p * self.j).sum(axis=-1)
        var = (p * (self.j - mean[..., None]) ** 2).sum(axis=-1)
        return self.lo + mean, var

    def conditional_mle(self):
        """Per-study conditional MLE of the log odds ratio and its variance 1/Var(A) (interior a).

        Newton's method on E_λ[A] = a (the score a − E_λ[A] is decreasing in λ). NaN for a count at
        either end of its range (the MLE is infinite there).
        """
        k = self.a.size
        lam = np.zeros(k)
        target = self.a
        for _ in range(500):
            mean, var = self.mean_var(lam)
            step = np.where(self.interior, (target - mean) / np.maximum(var, 1e-300), 0.0)
            step = np.clip(step, -2.0, 2.0)
            lam = lam + step
            if np.all(np.abs(step) < 1e-13 * (1 + np.abs(lam))):
                break
        _, var = self.mean_var(lam)
        lam = np.where(self.interior, lam, np.nan)
        return lam, np.where(self.interior, 1.0 / var, np.nan)


def _cm_el_mode(dist: _NoncentralHypergeometric, theta: float, tau: float):
    """Mode û of log P(a | θ + τu) − u²/2 per study and the scale (τ²Var + 1)^(−½) there.

    The function is concave in u (second derivative −τ²Var − 1), so Newton converges from 0. The
    31-point rule integrates exactly to rounding for any centre near the mode: 1e-10 on u is ample.
    """
    u = np.zeros(dist.a.size)
    mean, var = dist.mean_var(theta + tau * u)
    for _ in range(100):
        step = (tau * (dist.a - mean) - u) / (tau**2 * var + 1.0)
        u = u + step
        mean, var = dist.mean_var(theta + tau * u)
        if np.all(np.abs(step) < 1e-10 * (1 + np.abs(u))):
            break
    return u, 1.0 / np.sqrt(tau**2 * var + 1.0)


def _cm_el_integrated(dist: _NoncentralHypergeometric, theta: float, tau: float, nodes, weights):
    """log ∫ P(a | θ + τu) φ(u) du per study by adaptive Gauss–Hermite quadrature."""
    k = dist.a.size
    if tau == 0.0:
        return dist.logpmf(np.full(k, theta))
    u, s = _cm_el_mode(dist, theta, tau)
    uq = u[:, None] + s[:, None] * nodes[None, :]
    lp = dist.logpmf(theta + tau * uq)
    terms = np.log(weights)[None, :] + lp - 0.5 * uq**2 + 0.5 * nodes[None, :] ** 2
    return np.log(s) + special.logsumexp(terms, axis=1)


def _cm_el_derivatives(dist: _NoncentralHypergeometric, glob, nodes, weights):
    """Per-study log ∫ P(a | θ + τu) φ(u) du with its gradient and Hessian in (θ[, τ]).

    By Louis' identity over the same quadrature: with λ = θ + τu, the score of λ is
    s(λ) = a − E_λ[A] and its derivative −Var_λ[A]; so ∂/∂θ = E*[s], ∂/∂τ = E*[u s],
    ∂²/∂θ² = E*[s² − Var] − E*[s]² and so on, E* the posterior mean over u. The integral is
    even in τ, so a negative τ is as good as its absolute value.
    """
    theta = float(glob[0])
    tau = float(glob[1]) if glob.size > 1 else 0.0
    k = dist.a.size
    u, s = _cm_el_mode(dist, theta, tau) if tau != 0.0 else (np.zeros(k), np.ones(k))
    uq = u[:, None] + s[:, None] * nodes[None, :]  # (k, Q)
    lam = theta + tau * uq
    lw, lse = dist._weights(lam)  # (k, Q, S), (k, Q)
    p = np.exp(lw - lse[..., None])
    mean = dist.lo[:, None] + (p * dist.j).sum(axis=-1)
    var = (p * (dist.lo[:, None, None] + dist.j - mean[..., None]) ** 2).sum(axis=-1)
    lp = dist.logc_a[:, None] + (dist.a - dist.lo)[:, None] * lam - lse
    terms = np.log(weights)[None, :] + lp - 0.5 * uq**2 + 0.5 * nodes[None, :] ** 2
    f = np.log(s) + special.logsumexp(terms, axis=1)
    post = np.exp(terms - special.logsumexp(terms, axis=1, keepdims=True))
    score = dist.a[:, None] - mean
    basis = [np.ones_like(uq), uq][: glob.size]
    e_s = [(post * b * score).sum(axis=1) for b in basis]
    grad = np.stack(e_s, axis=1)
    g = glob.size
    hess = np.zeros((k, g, g))
    for i in range(g):
        for j in range(g):
            hess[:, i, j] = (post * basis[i] * basis[j] * (score**2 - var)).sum(axis=1) - e_s[i] * e_s[j]
    return f, np.zeros((k, 0)), grad.sum(axis=0), np.zeros((k, 0, 0)), np.zeros((k, 0, g)), hess.sum(axis=0)


# ---------------------------------------------------------------------------------------------
# Odds ratios from 2×2 tables
# ---------------------------------------------------------------------------------------------


def _prepare_tables(ai, n1i, ci, n2i):
    a, n1, c, n2 = (_counts(nm, v) for nm, v in (("ai", ai), ("n1i", n1i), ("ci", ci), ("n2i", n2i)))
    if not (a.size == n1.size == c.size == n2.size):
        raise InputError("the four count columns have different lengths")
    if np.any(a > n1) or np.any(c > n2):
        raise InputError("a study has more events than participants in an arm")
    if np.any(n1 == 0) or np.any(n2 == 0):
        raise InputError("a study has an arm with no participants")
    double = ((a == 0) & (c == 0)) | ((a == n1) & (c == n2))
    return a, n1, c, n2, double


def _check_model(model: str, models: tuple[str, ...], of: str, method: str, level: float, n_agq: int):
    """The model's name (upper case), checked against ``models``; the common options checked."""
    model = model.upper()
    if model not in models:
        raise InputError(f"unknown GLMM model '{model}'{of}; choose one of {', '.join(models)}")
    method, level = _check_common(method, level)
    if int(n_agq) < 1:
        raise InputError("the number of quadrature points must be 1 or more")
    return model, method, level


def _leave_out(double, model: str, what: str, why: str) -> list[str]:
    """The notes (and one warning) for the studies ``double`` leaves out of the model."""
    if not double.any():
        return []
    rows = ", ".join(str(i + 1) for i in np.nonzero(double)[0])
    warnings.warn(f"{model}: left out, {what} (rows {rows}): {why}", TrialsynthWarning, stacklevel=3)
    return [f"left out, {what}: study rows {rows}"]


def glmm_or(
    ai,
    n1i,
    ci,
    n2i,
    *,
    model: str = "UM.FS",
    method: str = "ML",
    level: float = 95.0,
    n_agq: int = N_AGQ,
    n_points_exact: int = N_POINTS_EXACT,
) -> GlmmFit:
    """Odds ratio by a binomial–normal model from 2×2 counts (see the module docstring).

    ``ai``/``n1i`` events and size of the treatment arm, ``ci``/``n2i`` of control. ``n_agq``
    is the number of adaptive Gauss–Hermite points of the glmer-type fits (metafor's ``nAGQ``;
    UM.RS with random effects always uses 1, as metafor).
    """
    model, method, level = _check_model(model, OR_MODELS, "", method, level, n_agq)
    a_all, n1_all, c_all, n2_all, double = _prepare_tables(ai, n1i, ci, n2i)
    what = "no events (or only events) in both arms"
    notes = _leave_out(double, model, what, "they carry no information on the odds ratio")
    keep = ~double
    a, n1, c, n2 = a_all[keep], n1_all[keep], c_all[keep], n2_all[keep]
    k = int(a.size)
    if k == 0:
        raise InputError("no study has events in one arm and not the other: the odds ratio is not estimable")
    if a.sum() + c.sum() == 0 or (a.sum() == n1.sum() and c.sum() == n2.sum()):
        raise InputError("no events (or only events) in every study: the odds ratio is not estimable")
    # The studies' log odds ratios with ½ added to tables with a zero cell (for I² only).
    zero = (a == 0) | (c == 0) | (a == n1) | (c == n2)
    add = np.where(zero, 0.5, 0.0)
    vi_display = 1 / (a + add) + 1 / (n1 - a + add) + 1 / (c + add) + 1 / (n2 - c + add)
    fitter = {"UM.FS": _fit_um_fs, "UM.RS": _fit_um_rs, "CM.AL": _fit_cm_al, "CM.EL": _fit_cm_el}[model]
    parts = fitter(a, n1, c, n2, method=method, n_agq=int(n_agq), n_exact=int(n_points_exact))
    return _finish(
        measure="OR",
        model=model,
        method=method,
        k=k,
        vi_display=vi_display,
        level=level,
        included=keep,
        notes=notes,
        **parts,
    )


IRR_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")


def glmm_irr(
    x1i,
    t1i,
    x2i,
    t2i,
    *,
    model: str = "UM.FS",
    method: str = "ML",
    level: float = 95.0,
    n_agq: int = N_AGQ,
) -> GlmmFit:
    """Incidence rate ratio by a Poisson–normal model from events and person-time per arm.

    As metafor's ``rma.glmm(measure = "IRR")`` (Viechtbauer 2010; Stijnen, Hamza & Özdemir 2010, §3):

    * ``UM.FS``: x_ij ~ Poisson(t_ij exp(α_i + θ g_j + u_i z_j)), fixed study intercepts α_i,
      z_j = ±½, u_i ~ N(0, τ²), by adaptive Gauss–Hermite quadrature (``n_agq`` points);
    * ``UM.RS``: random study intercepts β₀ + v_i, v_i ~ N(0, σ²), by the Laplace approximation
      with random effects (quadrature with ``n_agq`` points for the fixed-effect model);
    * ``CM.EL``: given the study's total m_i = x_1i + x_2i, x_1i ~ Binomial(m_i, π_i) with
      logit π_i = log(t_1i / t_2i) + θ + u_i. For Poisson counts this conditional law is exact, so
      ``CM.AL`` is the same model (metafor accepts both and returns the same fit).

    Studies with no events in either arm carry no information on the rate ratio and are left out
    with a warning (metafor's ``drop00``).
    """
    model, method, level = _check_model(model, IRR_MODELS, " for IRR", method, level, n_agq)
    x1_all, x2_all = _counts("x1i", x1i), _counts("x2i", x2i)
    t1_all = np.asarray(t1i, dtype=float)
    t2_all = np.asarray(t2i, dtype=float)
    if not (x1_all.size == t1_all.size == x2_all.size == t2_all.size):
        raise InputError("the four event and person-time columns have different lengths")
    for name, t in (("t1i", t1_all), ("t2i", t2_all)):
        if not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise InputError(f"{name}: person-time must be a positive number in every study")
    double = (x1_all == 0) & (x2_all == 0)
    notes = _leave_out(double, model, "no events in both arms", "no information on the rate ratio")
    keep = ~double
    x1, t1, x2, t2 = x1_all[keep], t1_all[keep], x2_all[keep], t2_all[keep]
    k = int(x1.size)
    if k == 0:
        raise InputError("no study has events: the rate ratio is not estimable")
    add = np.where((x1 == 0) | (x2 == 0), 0.5, 0.0)
    vi_display = 1 / (x1 + add) + 1 / (x2 + add)
    if model == "UM.FS":
        parts = _fit_um_fs(x1, t1, x2, t2, method=method, n_agq=int(n_agq), n_exact=0, family="poisson")
    elif model == "UM.RS":
        parts = _fit_um_rs(x1, t1, x2, t2, method=method, n_agq=int(n_agq), n_exact=0, family="poisson")
    else:
        # x1 | m ~ Binomial(m, π), logit π = log(t1/t2) + θ: the CM.AL likelihood with person-time
        # in place of arm sizes, exact here.
        parts = _fit_cm_al(x1, t1, x2, t2, method=method, n_agq=int(n_agq), n_exact=0)
    return _finish(
        measure="IRR",
        model=model,
        method=method,
        k=k,
        vi_display=vi_display,
        level=level,
        included=keep,
        notes=notes,
        **parts,
    )


def _arms(a, n1, c, n2):
    x = np.stack([a, c], axis=1)
    n = np.stack([n1, n2], axis=1)
    grp = np.tile([1.0, 0.0], (a.size, 1))
    half = np.tile([0.5, -0.5], (a.size, 1))
    return x, n, grp, half


def _start_alpha(c, n2):
    return special.logit((c + 0.5) / (n2 + 1.0))


def _start_theta(a, n1, c, n2):
    """Mantel–Haenszel log odds ratio, a start value (with ½ added when a sum is zero)."""
    n = n1 + n2
    r = (a * (n2 - c) / n).sum()
    s = (c * (n1 - a) / n).sum()
    return float(np.log((r + 0.5) / (s + 0.5)))


def _se_of(maximum: eng.Maximum, index: int) -> float:
    cov = maximum.global_covariance()
    return float(np.sqrt(cov[index, index]))


def _fe_then_ml(fun, local0, theta0, method, integration, derivatives=None):
    """The fixed-effect fit (τ absent), then for ML the random-effects fit started from it (τ = 0.3).

    ``fun(local, glob)`` reads θ from glob[0] and τ from glob[1] when present.
    """
    fe = eng.maximise(fun, local0, [theta0], derivatives=derivatives)
    if method == "FE":
        return fe, fe, 0.0, "none (fixed effect)"
    fit = eng.maximise(fun, fe.local, [fe.glob[0], 0.3], derivatives=derivatives)
    return fe, fit, float(fit.glob[1] ** 2), integration


def _parts(fe, fit, tau2, q_wald, ll_sat, integration, index=0, sigma2=math.nan):
    return {
        "est": float(fit.glob[index]),
        "se": _se_of(fit, index),
        "tau2": tau2,
        "sigma2": sigma2,
        "q_wald": q_wald,
        "ll_fe": fe.loglik,
        "ll_sat": ll_sat,
        "loglik": fit.loglik,
        "converged": fe.converged and fit.converged,
        "iterations": fit.iterations,
        "integration": integration,
    }


def _tau(glob) -> float:
    return abs(float(glob[1])) if glob.size > 1 else 0.0


def _fit_um_fs(a, n1, c, n2, *, method, n_agq, n_exact, family="binomial"):
    x, n, grp, half = _arms(a, n1, c, n2)
    obs = np.ones_like(x, dtype=bool)
    nodes, weights = eng.gh_rule(n_agq)
    poisson = family == "poisson"
    offset = np.log(n) if poisson else np.zeros_like(n)

    warm: dict = {}  # the last modes: each evaluation starts its search there

    def fun(loc, glob):
        eta = offset + loc[:, :1] + glob[0] * grp
        return eng.agq_loglik(eta, half, x, n, obs, _tau(glob), nodes, weights, family=family, warm=warm)

    alpha0 = np.log((c + 0.5) / n2) if poisson else _start_alpha(c, n2)
    theta0 = _start_log_irr(a, n1, c, n2) if poisson else _start_theta(a, n1, c, n2)
    fe, fit, tau2, integration = _fe_then_ml(fun, alpha0[:, None], theta0, method, _agq_name(n_agq))
    if poisson:
        # Saturated: every arm's mean equals its count, Σ log Poisson(x | x).
        ll_sat = float((special.xlogy(x, x) - x - special.gammaln(x + 1)).sum())
        finite = (a > 0) & (c > 0)
        theta_i = np.log(a[finite] / n1[finite]) - np.log(c[finite] / n2[finite])
        q_wald = _cochran(theta_i, 1 / a[finite] + 1 / c[finite])
    else:
        ll_sat = float(_xlogx_ratio(x, n).sum())
        finite = (a > 0) & (c > 0) & (a < n1) & (c < n2)
        fa, fb, fc, fd = a[finite], (n1 - a)[finite], c[finite], (n2 - c)[finite]
        q_wald = _cochran(np.log(fa * fd / (fb * fc)), 1 / fa + 1 / fb + 1 / fc + 1 / fd)
    return _parts(fe, fit, tau2, q_wald, ll_sat, integration)


def _start_log_irr(x1, t1, x2, t2):
    """Mantel–Haenszel log rate ratio (Greenland & Robins 1985), a start value (½ added to zero sums)."""
    t = t1 + t2
    return float(np.log(((x1 * t2 / t).sum() + 0.5) / ((x2 * t1 / t).sum() + 0.5)))


def _agq_name(n_agq: int) -> str:
    if n_agq == 1:
        return "Laplace approximation"
    return f"adaptive Gauss–Hermite quadrature, {n_agq} points"


def _fit_cm_al(a, n1, c, n2, *, method, n_agq, n_exact):
    m = a + c
    x, n = a[:, None], m[:, None]
    offset = np.log(n1 / n2)[:, None]
    obs = np.ones_like(x, dtype=bool)
    one = np.ones_like(x)
    nodes, weights = eng.gh_rule(n_agq)
    none = np.zeros((a.size, 0))

    warm: dict = {}

    def fun(loc, glob):
        return eng.agq_loglik(offset + glob[0], one, x, n, obs, _tau(glob), nodes, weights, warm=warm)

    fe, fit, tau2, integration = _fe_then_ml(fun, none, _start_theta(a, n1, c, n2), method, _agq_name(n_agq))
    ll_sat = float(_xlogx_ratio(a, m).sum())
    finite = (a > 0) & (c > 0)
    theta_i = np.log(a[finite] / c[finite]) - np.log(n1[finite] / n2[finite])
    q_wald = _cochran(theta_i, 1 / a[finite] + 1 / c[finite])
    return _parts(fe, fit, tau2, q_wald, ll_sat, integration)


def _fit_cm_el(a, n1, c, n2, *, method, n_agq, n_exact):
    dist = _NoncentralHypergeometric(a, n1, n2, a + c)
    nodes, weights = eng.gh_rule(n_exact)
    none = np.zeros((a.size, 0))

    def fun(loc, glob):
        return _cm_el_integrated(dist, float(glob[0]), _tau(glob), nodes, weights)

    def derivs(loc, glob):
        return _cm_el_derivatives(dist, np.asarray(glob, dtype=float), nodes, weights)

    integration = f"adaptive Gauss–Hermite quadrature, {n_exact} points (exact likelihood)"
    fe, fit, tau2, integration = _fe_then_ml(
        fun, none, _start_theta(a, n1, c, n2), method, integration, derivatives=derivs
    )
    lam, v = dist.conditional_mle()
    finite = dist.interior
    q_wald = _cochran(lam[finite], v[finite])
    ll_sat = float(np.where(finite, dist.logpmf(np.where(finite, lam, 0.0)), 0.0).sum())
    return _parts(fe, fit, tau2, q_wald, ll_sat, integration)


def _fit_um_rs(a, n1, c, n2, *, method, n_agq, n_exact, family="binomial"):
    x, n, grp, half = _arms(a, n1, c, n2)
    poisson = family == "poisson"
    offset = np.log(n) if poisson else np.zeros_like(n)
    obs = np.ones_like(x, dtype=bool)
    ones = np.ones_like(x)
    # metafor: with random effects glmer allows one quadrature point only, and all three UM.RS
    # models (equal-effects, saturated, random) are then fitted with the Laplace approximation.
    q = 1 if method == "ML" else n_agq
    nodes, weights = eng.gh_rule(q)
    k = a.size
    none = np.zeros((k, 0))
    if poisson:
        beta0 = float(np.log((c.sum() + 0.5) / n2.sum()))
        theta0 = _start_log_irr(a, n1, c, n2)
    else:
        beta0 = float(special.logit((c.sum() + 0.5) / (n2.sum() + 1.0)))
        theta0 = _start_theta(a, n1, c, n2)

    warm_fe: dict = {}
    warm_sat: dict = {}
    warm_re: dict = {}

    def fun_fe(loc, glob):
        eta = offset + glob[0] + glob[1] * grp
        return eng.agq_loglik(
            eta, ones, x, n, obs, abs(float(glob[2])), nodes, weights, family=family, warm=warm_fe
        )

    fe = eng.maximise(fun_fe, none, [beta0, theta0, 0.5])
    # Saturated: one treatment effect per study (θ + δ_i, δ of a reference study fixed at 0).
    # A treatment arm with no events or only events makes its δ_i infinite: in the limit that arm
    # fits perfectly and drops out, and δ_i leaves the Wald test.
    degenerate = (a == 0) if poisson else (a == 0) | (a == n1)
    obs_sat = obs.copy()
    obs_sat[:, 0] = ~degenerate
    usable = np.nonzero(~degenerate)[0]
    free = ~degenerate
    if usable.size:
        free[usable[0]] = False

    def fun_sat(loc, glob):
        eta = offset + glob[0] + (glob[1] + loc[:, :1]) * grp
        return eng.agq_loglik(
            eta, ones, x, n, obs_sat, abs(float(glob[2])), nodes, weights, family=family, warm=warm_sat
        )

    sat = eng.maximise(fun_sat, np.zeros((k, 1)), fe.glob, free_local=free)
    ll_sat = sat.loglik
    n_free = int(free.sum())
    if n_free:
        cov = sat.full_covariance()
        idx = np.nonzero(free)[0]
        delta = sat.local[idx, 0]
        q_wald = float(delta @ np.linalg.solve(cov[np.ix_(idx, idx)], delta))
    else:
        q_wald = 0.0
    if method == "FE":
        fit, tau2, integration = fe, 0.0, _agq_name(q) + " (random study intercepts)"
        sigma2 = float(fe.glob[2] ** 2)
    else:

        def fun_re(loc, glob):
            eta = offset + glob[0] + glob[1] * grp
            return eng.laplace2_loglik(
                eta,
                ones,
                half,
                x,
                n,
                obs,
                abs(float(glob[2])),
                abs(float(glob[3])),
                family=family,
                warm=warm_re,
            )

        fit = eng.maximise(fun_re, none, [*fe.glob, 0.3])
        tau2 = float(fit.glob[3] ** 2)
        sigma2 = float(fit.glob[2] ** 2)
        integration = "Laplace approximation"
    return {
        "est": float(fit.glob[1]),
        "se": _se_of(fit, 1),
        "tau2": tau2,
        "sigma2": sigma2,
        "q_wald": q_wald,
        "ll_fe": fe.loglik,
        "ll_sat": ll_sat,
        "loglik": fit.loglik,
        "converged": fe.converged and sat.converged and fit.converged,
        "iterations": fit.iterations,
        "integration": integration,
    }


# ---------------------------------------------------------------------------------------------
# Single-arm proportions
# ---------------------------------------------------------------------------------------------


def glmm_proportion(xi, ni, *, method: str = "ML", level: float = 95.0, n_agq: int = N_AGQ) -> GlmmFit:
    """Logit proportion by the binomial–normal model: logit p_i = μ + u_i, u_i ~ N(0, τ²).

    As metafor's ``rma.glmm(measure = "PLO")``: fixed effect by logistic regression, random effects
    by adaptive Gauss–Hermite quadrature with ``n_agq`` points (glmer's nAGQ, default 7).
    """
    method, level = _check_common(method, level)
    x_all, n_all = _counts("xi", xi), _counts("ni", ni)
    if x_all.size != n_all.size:
        raise InputError("events and sizes have different lengths")
    if np.any(x_all > n_all):
        raise InputError("a study has more events than participants")
    if np.any(n_all == 0):
        raise InputError("a study has no participants")
    if x_all.sum() == 0 or x_all.sum() == n_all.sum():
        raise InputError("no events (or only events) in every study: the logit proportion is not estimable")
    k = int(x_all.size)
    x, n = x_all[:, None], n_all[:, None]
    obs = np.ones_like(x, dtype=bool)
    one = np.ones_like(x)
    nodes, weights = eng.gh_rule(int(n_agq))
    none = np.zeros((k, 0))

    warm: dict = {}

    def fun(loc, glob):
        return eng.agq_loglik(np.full_like(x, glob[0]), one, x, n, obs, _tau(glob), nodes, weights, warm=warm)

    start = float(special.logit(x_all.sum() / n_all.sum()))
    fe, fit, tau2, integration = _fe_then_ml(fun, none, start, method, _agq_name(int(n_agq)))
    finite = (x_all > 0) & (x_all < n_all)
    xf, nf = x_all[finite], n_all[finite]
    q_wald = _cochran(special.logit(xf / nf), 1 / xf + 1 / (nf - xf))
    ll_sat = float(_xlogx_ratio(x_all, n_all).sum())
    zero = (x_all == 0) | (x_all == n_all)
    add = np.where(zero, 0.5, 0.0)
    vi_display = 1 / (x_all + add) + 1 / (n_all - x_all + add)
    return _finish(
        measure="PLO",
        model="binomial-normal",
        method=method,
        est=float(fit.glob[0]),
        se=_se_of(fit, 0),
        tau2=tau2,
        sigma2=math.nan,
        q_wald=q_wald,
        ll_fe=fe.loglik,
        ll_sat=ll_sat,
        loglik=fit.loglik,
        k=k,
        vi_display=vi_display,
        level=level,
        converged=fe.converged and fit.converged,
        iterations=fit.iterations,
        integration=integration,
        included=np.ones(k, dtype=bool),
        notes=[],
    )
