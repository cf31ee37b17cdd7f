"""Bayesian random-effects meta-analysis: the normal–normal hierarchical model, computed exactly.

Model: y_i | θ_i ~ N(θ_i, v_i), θ_i | μ, τ ~ N(μ, τ²), with independent priors p(μ) and p(τ).
As in bayesmeta (Röver, J Stat Softw 2020;93(6), section 2), μ is integrated out analytically
and the one remaining dimension, τ, by numerical integration — no Markov chain Monte Carlo.
Everything is implemented here from the published formulas:

* Conditional on τ, with weights w_i = 1/(v_i + τ²) and a normal prior μ ~ N(m₀, s₀²)
  (w₀ = 1/s₀²; w₀ = 0 for the improper uniform prior), μ | τ, y ~ N(m(τ), s(τ)²),
  m(τ) = (Σw_i y_i + w₀m₀)/(Σw_i + w₀), s(τ)² = 1/(Σw_i + w₀).
* The marginal likelihood of τ (μ integrated out), on the log scale,
  ℓ(τ) = −(k − 1[uniform μ])/2 · log 2π + ½Σ log w_i + ½ log w₀ − ½ log(Σw_i + w₀)
  − ½[Σw_i(y_i − m(τ))² + w₀(m₀ − m(τ))²],
  the ½ log w₀ term only under the normal prior (it is the density of N(m₀1, V + s₀²11ᵀ)).
  Under the uniform μ prior it is defined up to the (improper) prior's constant, which cancels
  in every posterior quantity and in the Bayes factor for τ = 0.
* p(τ | y) ∝ p(τ) exp ℓ(τ), normalised by the exp-sinh (double-exponential) quadrature
  τ = c·exp(½π sinh u) with the trapezoid rule in u, the step halved until the normalising
  constant and the posterior means agree to 1e-10 (relative); c is a data scale.
* Marginal posteriors are τ-mixtures of normals over those quadrature nodes: μ | y mixes
  N(m(τ), s(τ)²); the posterior predictive θ_new | y mixes N(m(τ), s(τ)² + τ²); the shrinkage
  estimate θ_i | y mixes N(b m(τ) + (1 − b)y_i, b²s(τ)² + (1 − b)v_i), b = v_i/(v_i + τ²).
  Quantiles are found by root-finding on the mixture CDF; the CDF of τ by composite
  Gauss–Legendre quadrature in u. Equal-tailed (central) credible intervals by default,
  shortest intervals on request (for a unimodal density, the interval of the given
  probability with the smallest width).
* P(μ < null | y) is the posterior CDF of μ at the null (0 on the analysis scale: log ratio 0,
  i.e. P(HR < 1)).
* Bayes factors (Röver 2020, section 2.9): BF01 for τ = 0 is p(y | τ = 0)/p(y) =
  exp ℓ(0)/∫p(τ) exp ℓ(τ) dτ (needs a proper τ prior); BF01 for μ = 0 is p(y | μ = 0)/p(y) with
  p(y | μ = 0) = ∫ p(τ) Π N(y_i; 0, v_i + τ²) dτ (needs a proper μ prior; NaN otherwise).

Priors for τ (``tau_prior`` strings): ``halfnormal:S`` (scale S), ``halfcauchy:S``,
``uniform:A`` (uniform on [0, A]), ``uniform`` (improper uniform on [0, ∞): needs k ≥ 3 and
gives no Bayes factor for τ = 0), ``lognormal:M,S`` — log τ² ~ N(M, S²), the parameterisation in
which Turner et al. (Stat Med 2015;34:984–998) tabulate their empirical priors for log odds
ratios — and ``turner:<outcome>:<comparison>`` (or ``turner`` for their general setting), the
log-normal prior of Turner et al.'s Table IV for that outcome and comparison type, bundled in
:mod:`trialsynth.stats.tau_priors`. A log-normal prior on τ² is a log-normal prior on τ with halved
parameters (log τ = ½ log τ²), which is the density used here. Priors for μ: ``uniform``
(improper, the default) or ``normal:M,S``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special

from trialsynth._core.bounds import check_effects
from trialsynth._core.errors import InputError, NotEstimable, TrialsynthWarning
from trialsynth._core.results import RATIO_MEASURES
from trialsynth._core.serialize import JsonResult
from trialsynth.stats.tau_priors import tau_lognormal, turner_setting

__all__ = [
    "BayesPosterior",
    "BayesResult",
    "MuPrior",
    "PosteriorSummary",
    "TauPrior",
    "bayes_meta",
    "parse_mu_prior",
    "parse_tau_prior",
]

_LOG_2PI = math.log(2.0 * math.pi)
#: Relative agreement required between successive step halvings of the τ quadrature.
QUAD_RTOL = 1e-10
#: Root-finding tolerance (absolute, analysis scale) for quantiles and interval limits.
QUANTILE_XTOL = 1e-11
_U_MAX = 4.5  # u range of the exp-sinh map: τ/c from e^{-70} to e^{70}


# --------------------------------------------------------------------------- priors


@dataclass(frozen=True)
class TauPrior:
    """A prior for the heterogeneity τ (standard deviation scale)."""

    kind: str  # halfnormal, halfcauchy, uniform, lognormal
    params: tuple[float, ...] = ()
    #: Where a log-normal prior's parameters came from: "" (given), or a Turner et al. key.
    source: str = ""

    @property
    def proper(self) -> bool:
        return not (self.kind == "uniform" and not self.params)

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "halfnormal":
                (s,) = self.params
                return 0.5 * math.log(2.0 / math.pi) - math.log(s) - 0.5 * (tau / s) ** 2
            if self.kind == "halfcauchy":
                (s,) = self.params
                return math.log(2.0 / (math.pi * s)) - np.log1p((tau / s) ** 2)
            if self.kind == "uniform":
                if not self.params:
                    return np.zeros_like(tau)
                (upper,) = self.params
                return np.where(tau <= upper, -math.log(upper), -np.inf)
            if self.kind == "lognormal":
                # log τ² ~ N(M, S²)  ⇔  log τ ~ N(M/2, (S/2)²); density of τ.
                m, s = tau_lognormal(*self.params)
                lt = np.log(tau)
                return -lt - math.log(s) - 0.5 * _LOG_2PI - 0.5 * ((lt - m) / s) ** 2
        raise ValueError(self.kind)

    def describe(self) -> str:
        if self.kind == "uniform" and not self.params:
            return "uniform (improper) on [0, ∞)"
        if self.kind == "lognormal":
            text = f"log-normal: log τ² ~ N({self.params[0]:g}, {self.params[1]:g}²)"
            if self.source:
                _, _, rest = self.source.partition(":")
                outcome, _, comparison = rest.partition(":")
                text += f", {turner_setting(outcome or 'any', comparison or 'any').describe()}"
            return text
        if self.kind == "uniform":
            return f"uniform on [0, {self.params[0]:g}]"
        return f"{self.kind.replace('half', 'half-')}(scale {self.params[0]:g})"

    def spec(self) -> str:
        if self.source:
            return self.source
        return self.kind + (":" + ",".join(f"{p:g}" for p in self.params) if self.params else "")


@dataclass(frozen=True)
class MuPrior:
    """A prior for the overall effect μ: improper uniform (``sd`` None) or normal(mean, sd)."""

    mean: float | None = None
    sd: float | None = None

    def __post_init__(self) -> None:
        if self.sd is not None and self.mean is None:
            raise InputError("a normal μ prior needs its mean as well as its sd (normal:M,S)")

    @property
    def proper(self) -> bool:
        return self.sd is not None

    def describe(self) -> str:
        return "uniform (improper)" if self.sd is None else f"normal(mean {self.mean:g}, sd {self.sd:g})"

    def spec(self) -> str:
        return "uniform" if self.sd is None else f"normal:{self.mean:g},{self.sd:g}"


def _numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise InputError(f"{what}: '{text}' is not {count} number(s) separated by commas") from None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise InputError(f"{what}: expected {count} number(s) separated by commas, got '{text}'")
    return values


def parse_tau_prior(spec: str | TauPrior) -> TauPrior:
    """``halfnormal:S``, ``halfcauchy:S``, ``uniform[:A]``, ``lognormal:M,S`` (log τ² ~ N(M, S²))
    or ``turner[:OUTCOME:COMPARISON]`` (Turner et al. 2015, Table IV; :mod:`trialsynth.stats.tau_priors`)."""
    if isinstance(spec, TauPrior):
        return spec
    text = str(spec).strip()
    name, _, rest = text.partition(":")
    name = name.strip().lower().replace("-", "").replace("_", "")
    choices = "halfnormal:S, halfcauchy:S, uniform, uniform:A, lognormal:M,S or turner:OUTCOME:COMPARISON"
    if name == "turner":
        outcome, _, comparison = rest.partition(":")
        if outcome.strip() and outcome.strip().lower() != "any" and not comparison.strip():
            raise InputError(
                f"τ prior '{text}': give the comparison type too, turner:OUTCOME:COMPARISON "
                "(e.g. turner:all-cause-mortality:pharma-placebo)"
            )
        setting = turner_setting(outcome or "any", comparison or "any")
        return TauPrior("lognormal", (setting.mu, setting.sigma), source=setting.key)
    if name in ("halfnormal", "halfcauchy"):
        (s,) = _numbers(rest, 1, f"τ prior {name}")
        if s <= 0:
            raise InputError(f"the scale of the {name} τ prior must be above 0, not {s:g}")
        return TauPrior(name, (s,))
    if name == "uniform":
        if not rest.strip():
            return TauPrior("uniform")
        (upper,) = _numbers(rest, 1, "τ prior uniform")
        if upper <= 0:
            raise InputError(f"the upper limit of the uniform τ prior must be above 0, not {upper:g}")
        return TauPrior("uniform", (upper,))
    if name == "lognormal":
        m, s = _numbers(rest, 2, "τ prior lognormal (M,S of log τ²)")
        if s <= 0:
            raise InputError(f"the S of the log-normal τ prior must be above 0, not {s:g}")
        return TauPrior("lognormal", (m, s))
    raise InputError(f"unknown τ prior '{text}'; use {choices}")


def parse_mu_prior(spec: str | MuPrior | None) -> MuPrior:
    """``uniform`` (improper; also None) or ``normal:M,S``."""
    if spec is None or isinstance(spec, MuPrior):
        return spec or MuPrior()
    text = str(spec).strip()
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    if name in ("uniform", "flat") and not rest.strip():
        return MuPrior()
    if name == "normal":
        m, s = _numbers(rest, 2, "μ prior normal (mean,sd)")
        if s <= 0:
            raise InputError(f"the sd of the normal μ prior must be above 0, not {s:g}")
        return MuPrior(m, s)
    raise InputError(f"unknown μ prior '{text}'; use uniform or normal:M,S")


# --------------------------------------------------------------------------- the posterior


def _gauss_legendre(order: int = 16):
    x, w = np.polynomial.legendre.leggauss(order)
    return x, w


_GL_X, _GL_W = _gauss_legendre()


class BayesPosterior:
    """The joint posterior of (μ, τ) for effects ``yi`` with variances ``vi``.

    Methods give CDFs, quantiles, intervals and moments of μ, τ, the predictive distribution
    and the shrinkage estimates; :func:`bayes_meta` summarises them into a
    :class:`BayesResult`. All on the analysis scale.
    """

    def __init__(self, yi, vi, *, tau_prior: TauPrior | str, mu_prior: MuPrior | str | None = None):
        self.y = np.asarray(yi, dtype=float)
        self.v = np.asarray(vi, dtype=float)
        if self.y.ndim != 1 or self.y.shape != self.v.shape or len(self.y) == 0:
            raise InputError("the effects and variances must be two lists of the same length")
        if not (np.all(np.isfinite(self.y)) and np.all(np.isfinite(self.v)) and np.all(self.v > 0)):
            raise InputError("every effect must be a number and every variance above 0")
        self.k = len(self.y)
        self.tau_prior = parse_tau_prior(tau_prior)
        self.mu_prior = parse_mu_prior(mu_prior)
        if not self.tau_prior.proper and self.k < 3:
            raise InputError(
                "the improper uniform τ prior gives an improper posterior with fewer than 3 studies; "
                "use a proper prior such as halfnormal:0.5"
            )
        spread = float(np.std(self.y)) if self.k > 1 else 0.0
        self.c = max(spread, math.sqrt(float(np.median(self.v))), 1e-8)
        if self.tau_prior.kind in ("halfnormal", "halfcauchy"):
            self.c = max(self.c, min(self.tau_prior.params[0], 10 * self.c))
        self._build()

    # -- conditional moments and marginal likelihood -------------------------------------

    def _cond(self, tau):
        """m(τ), s(τ)², ℓ(τ) for an array of τ."""
        tau = np.asarray(tau, dtype=float)
        w = 1.0 / (self.v[None, :] + tau.reshape(-1, 1) ** 2)
        sw = w.sum(axis=1)
        swy = (w * self.y).sum(axis=1)
        prior_mean, prior_sd = self.mu_prior.mean, self.mu_prior.sd
        if prior_sd is not None and prior_mean is not None:  # a proper prior (MuPrior checks both)
            w0 = 1.0 / prior_sd**2
            m = (swy + w0 * prior_mean) / (sw + w0)
            s2 = 1.0 / (sw + w0)
            quad = (w * (self.y - m[:, None]) ** 2).sum(axis=1) + w0 * (prior_mean - m) ** 2
            ll = -0.5 * self.k * _LOG_2PI + 0.5 * np.log(w).sum(axis=1) + 0.5 * math.log(w0)
            ll += -0.5 * np.log(sw + w0) - 0.5 * quad
        else:
            m = swy / sw
            s2 = 1.0 / sw
            quad = (w * (self.y - m[:, None]) ** 2).sum(axis=1)
            ll = -0.5 * (self.k - 1) * _LOG_2PI + 0.5 * np.log(w).sum(axis=1) - 0.5 * np.log(sw) - 0.5 * quad
        shape = np.shape(tau)
        return m.reshape(shape), s2.reshape(shape), ll.reshape(shape)

    def log_marginal_likelihood_tau(self, tau):
        """ℓ(τ) = log p(y | τ), μ integrated out (module notes)."""
        return self._cond(tau)[2]

    def _log_post_unnorm(self, tau):
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.tau_prior.logpdf(tau) + self._cond(tau)[2]

    def _nodes(self, h: float):
        u = np.arange(-_U_MAX, _U_MAX + h / 2, h)
        tau = self.c * np.exp(0.5 * math.pi * np.sinh(u))
        jac = tau * 0.5 * math.pi * np.cosh(u)
        return u, tau, jac

    def _build(self) -> None:
        prev = None
        h = 1.0 / 8.0
        for _ in range(12):
            _, tau, jac = self._nodes(h)
            lp = self._log_post_unnorm(tau)
            lw = lp + np.log(jac) + math.log(h)
            lw = np.where(np.isfinite(lw), lw, -np.inf)
            top = float(np.max(lw))
            if not np.isfinite(top):
                raise InputError("the posterior of τ could not be evaluated (check the prior and the data)")
            wts = np.exp(lw - top)
            z = wts.sum()
            m, s2, _ = self._cond(tau)
            cur = np.array([math.log(z) + top, (wts * tau).sum() / z, (wts * m).sum() / z])
            if prev is not None:
                scale = np.maximum(np.abs(prev[1:]), self.c)
                ok = abs(cur[0] - prev[0]) < QUAD_RTOL and np.all(
                    np.abs(cur[1:] - prev[1:]) < QUAD_RTOL * scale
                )
                if ok:
                    break
            prev = cur
            h /= 2.0
        else:
            warnings.warn(
                "the τ integration did not settle to 1e-10; results are approximate",
                TrialsynthWarning,
                stacklevel=3,
            )
        if wts[-1] / z > 1e-12 or wts[0] / z > 1e-12:
            warnings.warn(
                "the posterior of τ has mass at the edge of the integration range; results may be inaccurate",
                TrialsynthWarning,
                stacklevel=3,
            )
        self.h = h
        self.log_evidence = float(cur[0])  # log ∫ p(τ) p(y | τ) dτ
        keep = wts > 1e-300 * z  # nodes whose weight underflows carry nothing
        self.tau_nodes = tau[keep]
        self.weights = wts[keep] / z
        self.m, self.s2 = m[keep], s2[keep]

    # -- τ --------------------------------------------------------------------------------

    def tau_pdf(self, tau):
        """Posterior density of τ."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.exp(self._log_post_unnorm(np.asarray(tau, dtype=float)) - self.log_evidence)

    def tau_cdf(self, x: float) -> float:
        """P(τ ≤ x | y), by composite Gauss–Legendre in u (panels of 4 steps)."""
        if x <= 0:
            return 0.0
        ux = math.asinh(2.0 / math.pi * math.log(x / self.c))
        lo = -_U_MAX
        if ux <= lo:
            return 0.0
        panel = 4.0 * self.h
        n = max(1, math.ceil((ux - lo) / panel))
        edges = np.linspace(lo, ux, n + 1)
        half = np.diff(edges) / 2.0
        mid = (edges[:-1] + edges[1:]) / 2.0
        u = (mid[:, None] + half[:, None] * _GL_X[None, :]).ravel()
        w = (half[:, None] * _GL_W[None, :]).ravel()
        tau = self.c * np.exp(0.5 * math.pi * np.sinh(u))
        jac = tau * 0.5 * math.pi * np.cosh(u)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            f = np.exp(self._log_post_unnorm(tau) - self.log_evidence) * jac
        f = np.where(np.isfinite(f), f, 0.0)
        return float(min(1.0, (w * f).sum()))

    def tau_quantile(self, p: float) -> float:
        if not 0 < p < 1:
            raise ValueError("p must lie in (0, 1)")
        hi = self.c
        while self.tau_cdf(hi) < p:
            hi *= 2.0
        return optimize.brentq(
            lambda x: self.tau_cdf(x) - p, 0.0, hi, xtol=QUANTILE_XTOL * self.c, rtol=1e-13
        )

    def tau_mean(self) -> float:
        return float((self.weights * self.tau_nodes).sum())

    def tau_sd(self) -> float:
        m = self.tau_mean()
        return math.sqrt(max(0.0, float((self.weights * self.tau_nodes**2).sum()) - m * m))

    # -- normal mixtures ------------------------------------------------------------------

    def _mixture(self, which: str, study: int | None = None):
        """(means, variances) of the normal mixture components for μ, predictive or a shrinkage."""
        if which == "mu":
            return self.m, self.s2
        if which == "predictive":
            return self.m, self.s2 + self.tau_nodes**2
        if which == "shrinkage":
            vi, yi = self.v[study], self.y[study]
            b = vi / (vi + self.tau_nodes**2)
            return b * self.m + (1.0 - b) * yi, b * b * self.s2 + (1.0 - b) * vi
        raise ValueError(which)

    def cdf(self, x: float, which: str = "mu", study: int | None = None) -> float:
        """P(X ≤ x | y) for X = μ, the predictive θ_new, or a shrinkage θ_i (``study`` = i)."""
        if which == "tau":
            return self.tau_cdf(x)
        mean, var = self._mixture(which, study)
        return float((self.weights * special.ndtr((x - mean) / np.sqrt(var))).sum())

    def sf(self, x: float, which: str = "mu", study: int | None = None) -> float:
        """P(X > x | y), accurate for tiny tails."""
        if which == "tau":
            return 1.0 - self.tau_cdf(x)
        mean, var = self._mixture(which, study)
        return float((self.weights * special.ndtr((mean - x) / np.sqrt(var))).sum())

    def quantile(self, p: float, which: str = "mu", study: int | None = None) -> float:
        if which == "tau":
            return self.tau_quantile(p)
        if not 0 < p < 1:
            raise ValueError("p must lie in (0, 1)")
        mean, var = self._mixture(which, study)
        sd = np.sqrt(var)
        big = self.weights > 1e-14 * min(p, 1.0 - p)
        lo = float(np.min((mean - 40 * sd)[big]))
        hi = float(np.max((mean + 40 * sd)[big]))
        while self.cdf(lo, which, study) > p:
            lo -= hi - lo
        while self.cdf(hi, which, study) < p:
            hi += hi - lo
        return optimize.brentq(
            lambda x: self.cdf(x, which, study) - p, lo, hi, xtol=QUANTILE_XTOL, rtol=1e-14, maxiter=500
        )

    def mean(self, which: str = "mu", study: int | None = None) -> float:
        if which == "tau":
            return self.tau_mean()
        mean, _ = self._mixture(which, study)
        return float((self.weights * mean).sum())

    def sd(self, which: str = "mu", study: int | None = None) -> float:
        if which == "tau":
            return self.tau_sd()
        mean, var = self._mixture(which, study)
        mu = float((self.weights * mean).sum())
        return math.sqrt(max(0.0, float((self.weights * (var + mean**2)).sum()) - mu * mu))

    def interval(
        self, level: float = 0.95, which: str = "mu", method: str = "central", study: int | None = None
    ) -> tuple[float, float]:
        """Equal-tailed (``central``) or ``shortest`` credible interval of probability ``level``."""
        if method == "central":
            a = (1.0 - level) / 2.0
            return self.quantile(a, which, study), self.quantile(1.0 - a, which, study)
        if method != "shortest":
            raise ValueError("method must be 'central' or 'shortest'")
        gap = 1.0 - level

        def width(p):
            lo = self.quantile(p, which, study) if p > 0 else (0.0 if which == "tau" else -math.inf)
            return self.quantile(p + level, which, study) - lo

        if which == "tau":
            # Starting at 0 is shortest whenever the density is largest near 0.
            w0 = width(0.0)
            eps = min(1e-6, gap / 10)
            if width(eps) >= w0:
                return 0.0, self.quantile(level, which, study)
        res = optimize.minimize_scalar(
            width, bounds=(1e-12, gap - 1e-12), method="bounded", options={"xatol": 1e-10}
        )
        p = float(res.x)
        return self.quantile(p, which, study), self.quantile(p + level, which, study)

    # -- Bayes factors --------------------------------------------------------------------

    def bf01_tau0(self) -> float:
        """BF01 for τ = 0 against the model's τ prior: p(y | τ = 0)/p(y); NaN for an improper τ prior."""
        if not self.tau_prior.proper:
            return math.nan
        ll0 = float(self._cond(np.array([0.0]))[2][0])
        return math.exp(ll0 - self.log_evidence)

    def bf01_mu0(self) -> float:
        """BF01 for μ = 0: p(y | μ = 0)/p(y); NaN unless the μ prior is proper."""
        if not self.mu_prior.proper:
            return math.nan
        _, tau, jac = self._nodes(self.h)
        var = self.v[None, :] + tau[:, None] ** 2
        ll_null = -0.5 * (np.log(2 * math.pi * var) + self.y[None, :] ** 2 / var).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            lw = self.tau_prior.logpdf(tau) + ll_null + np.log(jac) + math.log(self.h)
        lw = np.where(np.isfinite(lw), lw, -np.inf)
        top = float(np.max(lw))
        log_null = top + math.log(float(np.exp(lw - top).sum()))
        return math.exp(log_null - self.log_evidence)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PosteriorSummary:
    """Median, mean, sd and a credible interval of one posterior (or predictive) distribution."""

    median: float
    mean: float
    sd: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class BayesResult(JsonResult):
    """A Bayesian random-effects meta-analysis (analysis scale: log for ratio measures).

    ``mu``, ``tau``, ``predictive`` (a new study's θ) and ``shrinkage`` (each study's θ_i) are
    :class:`PosteriorSummary` objects; intervals are ``interval`` (central/shortest) at
    ``level``. ``p_below_null`` = P(μ < null | y). Bayes factors are NaN where undefined.
    """

    k: int
    labels: tuple[str, ...]
    yi: tuple[float, ...]
    vi: tuple[float, ...]
    measure: str
    mu_prior: str
    tau_prior: str
    level: float
    interval: str
    null: float
    mu: PosteriorSummary
    tau: PosteriorSummary
    predictive: PosteriorSummary
    shrinkage: tuple[PosteriorSummary, ...]
    p_below_null: float
    bf01_tau0: float
    bf01_mu0: float
    log_evidence: float
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    def format_text(self) -> str:
        """A plain-text summary for people (ratios back-transformed)."""
        back = math.exp if self.ratio else (lambda x: x)
        name = {"OR": "odds ratio", "RR": "risk ratio", "HR": "hazard ratio"}.get(self.measure, self.measure)
        pct = f"{self.level * 100:g}%"

        def line(label, s, transform):
            return (
                f"{label:<26}{transform(s.median):>10.4g}  {pct} {self.interval} interval "
                f"{transform(s.ci_lower):.4g} to {transform(s.ci_upper):.4g}"
            )

        below = "P(ratio < 1)" if self.ratio else f"P(μ < {self.null:g})"
        lines = [
            f"Bayesian random-effects meta-analysis, {self.k} studies ({name})",
            f"Priors: μ {self.mu_prior}; τ {self.tau_prior}",
            "",
            f"{'':<26}{'median':>10}",
            line(f"overall effect ({'ratio' if self.ratio else 'μ'})", self.mu, back),
            line("heterogeneity τ", self.tau, lambda x: x),
            line("prediction (new study)", self.predictive, back),
            "",
            f"{below} = {self.p_below_null:.4g}",
            f"Bayes factor BF01 for τ = 0: {self.bf01_tau0:.4g}",
            "Bayes factor BF01 for μ = 0: "
            + (f"{self.bf01_mu0:.4g}" if math.isfinite(self.bf01_mu0) else "not defined (improper μ prior)"),
        ]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    #: The documented ``trialsynth pool --bayes --json`` object, in this key order (level in percent).
    __json_fields__ = (
        "k", "measure", "model", "scale", "mu_prior", "tau_prior", ("level", "_json_level"), "interval",
        "null", "posterior", ("studies", "_json_studies"), "notes", "**extra",
    )

    @property
    def model(self) -> str:
        return "bayes"

    @property
    def scale(self) -> str:
        """``"log"`` for ratio measures, else ``"identity"``."""
        return "log" if self.ratio else "identity"

    @property
    def _json_level(self) -> float:
        return self.level * 100

    @property
    def posterior(self) -> dict[str, Any]:
        """The posterior summaries of μ, τ and a new study's effect, and the tail and Bayes-factor numbers."""
        return {
            "mu": self.mu,
            "tau": self.tau,
            "predictive": self.predictive,
            "p_below_null": self.p_below_null,
            "bf01_tau0": self.bf01_tau0,
            "bf01_mu0": self.bf01_mu0,
        }

    @property
    def _json_studies(self) -> list[dict[str, Any]]:
        return [
            {"study": lab, "effect": y, "variance": v, "shrinkage": s}
            for lab, y, v, s in zip(self.labels, self.yi, self.vi, self.shrinkage, strict=True)
        ]


def _summary(post: BayesPosterior, which: str, level: float, interval: str, study=None) -> PosteriorSummary:
    lo, hi = post.interval(level, which, interval, study)
    return PosteriorSummary(
        median=post.quantile(0.5, which, study),
        mean=post.mean(which, study),
        sd=post.sd(which, study),
        ci_lower=lo,
        ci_upper=hi,
    )


def bayes_meta(
    yi: Sequence[float],
    vi: Sequence[float],
    *,
    labels: Sequence[str] | None = None,
    measure: str = "MD",
    tau_prior: str | TauPrior = "halfnormal:0.5",
    mu_prior: str | MuPrior | None = None,
    level: float = 0.95,
    interval: str = "central",
    null: float = 0.0,
) -> BayesResult:
    """Bayesian random-effects meta-analysis of effects ``yi`` with variances ``vi``.

    ``tau_prior``/``mu_prior`` as in the module notes (strings or :class:`TauPrior`/
    :class:`MuPrior`); ``level`` a fraction (or percent); ``interval`` ``central`` or
    ``shortest``; ``null`` the effect of no difference on the analysis scale (0).
    """
    level = level / 100.0 if level > 1 else level
    if not 0 < level < 1:
        raise InputError("the credible level must lie between 0 and 100 percent")
    if interval not in ("central", "shortest"):
        raise InputError(f"the interval type must be 'central' or 'shortest', not '{interval}'")
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    labels = [str(i + 1) for i in range(len(yi))] if labels is None else list(labels)
    check_effects(yi, vi, labels=labels)
    ok = np.isfinite(yi) & np.isfinite(vi)
    if not ok.any():
        raise NotEstimable("no study has a usable effect estimate")
    notes = []
    if not ok.all():
        left = [lab for lab, o in zip(labels, ok, strict=True) if not o]
        notes.append(f"left out (no usable estimate): {', '.join(left)}")
    y, v = yi[ok], vi[ok]
    labs = [lab for lab, o in zip(labels, ok, strict=True) if o]
    post = BayesPosterior(y, v, tau_prior=tau_prior, mu_prior=mu_prior)
    if post.k < 3 and not post.mu_prior.proper:
        notes.append(f"{post.k} studies: τ is informed almost only by its prior")
    if post.tau_prior.source:
        notes.append(f"τ prior {post.tau_prior.source}: {post.tau_prior.describe()}")
    if post.tau_prior.source.startswith("turner") and measure.upper() != "OR":
        warnings.warn(
            f"Turner et al.'s τ priors were derived for log odds ratios; with {measure.upper()} the "
            f"prior {post.tau_prior.source} is an extrapolation",
            TrialsynthWarning,
            stacklevel=2,
        )
    if post.tau_prior.kind == "uniform" and not post.tau_prior.params:
        warnings.warn(
            "the improper uniform τ prior can dominate the result with few studies; a weakly informative "
            "proper prior (e.g. halfnormal:0.5 for log ratios) is preferable",
            TrialsynthWarning,
            stacklevel=2,
        )
    return BayesResult(
        k=post.k,
        labels=tuple(labs),
        yi=tuple(float(x) for x in y),
        vi=tuple(float(x) for x in v),
        measure=measure.upper(),
        mu_prior=post.mu_prior.spec(),
        tau_prior=post.tau_prior.spec(),
        level=level,
        interval=interval,
        null=null,
        mu=_summary(post, "mu", level, interval),
        tau=_summary(post, "tau", level, interval),
        predictive=_summary(post, "predictive", level, interval),
        shrinkage=tuple(_summary(post, "shrinkage", level, interval, i) for i in range(post.k)),
        p_below_null=post.cdf(null, "mu"),
        bf01_tau0=post.bf01_tau0(),
        bf01_mu0=post.bf01_mu0(),
        log_evidence=post.log_evidence,
        notes=tuple(notes),
    )


#: Measures on a log or standardised scale, where half-normal(0.5) is a weakly informative τ prior
#: (Röver et al., Res Synth Methods 2021;12:448–474). MD and RD are in the outcome's own units.
DEFAULT_TAU_PRIOR = {
    "OR": "halfnormal:0.5",
    "RR": "halfnormal:0.5",
    "HR": "halfnormal:0.5",
    "SMD": "halfnormal:0.5",
}


