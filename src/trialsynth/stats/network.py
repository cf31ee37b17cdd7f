"""Contrast-based frequentist network meta-analysis (consistency model), over arrays.

Data. Each study contributes the contrasts of its arms against its own baseline arm: for a study
with arms b, t₁, …, t_{m−1} the vector y = (θ_{t₁} − θ_b, …) with its known sampling covariance V. From
arm-level data the contrasts are differences of arm-level quantities a (the log odds
ln((x + c)/(n − x + c)) with variance 1/(x + c) + 1/(n − x + c) for OR; the log risk ln((x + c)/(n + 2c))
with variance 1/(x + c) − 1/(n + 2c) for RR; the mean with variance s²/n for MD), so
V = diag(v_t) + v_b·11ᵀ: the variance of the shared baseline arm is the covariance of two contrasts of
the same study (Gleser & Olkin 2009, in Cooper, Hedges & Valentine, The Handbook of Research Synthesis
and Meta-Analysis, 2nd ed., ch. 19). For two-arm studies these are the odds ratio, risk ratio and mean
difference of :mod:`trialsynth.stats.effects`. For SMD the contrasts are Hedges' g of each arm against the
baseline (:func:`trialsynth.stats.effects.continuous_effects`) with the covariance
1/n_b + g_i g_j / (2 N), N the study's total size (Gleser & Olkin 2009, eq. 19.19, a large-sample
approximation). The continuity correction c (0.5 by default) is added to every arm of a study in which
some arm has no events or only events (``to="only0"``), to every arm of every study (``"all"``, as the
metafor documentation's example for dat.hasselblad1998), or never (``"none"``); a study in which all
arms have no events (or all arms only events) carries no information on a ratio and is left out with a
warning. From contrast rows (one row per pair of arms: treatment_1, treatment_2, estimate of
treatment_1 minus treatment_2 on the analysis scale, and its standard error) a two-arm study is its
row; a multi-arm study must give every pair of its arms, from which the arm variances v_i are the
least-squares solution of var(i − j) = v_i + v_j (exact for three arms; Rücker 2012,
Res Synth Methods 3:312) and the contrasts against the study's baseline are the rows that contain it.

Model. With one parameter d_t per treatment (d_ref = 0) and X the contrast design matrix (+1 for the
arm, −1 for the baseline, the reference's column left out),

    y = Xd + u + ε,   ε ~ N(0, V),   u ~ N(0, τ² P),   P = ½(I + 11ᵀ) within a study,

one heterogeneity variance τ² common to every comparison, and random effects of two contrasts of a
multi-arm study correlated ½ (Higgins & Whitehead, Stat Med 1996;15:2733; Salanti et al., Stat
Methods Med Res 2008;17:279). This is the model of metafor's network examples, ``rma.mv(yi, V,
mods = ~ treatment dummies − 1, random = ~ comp | study, rho = 1/2)``. The likelihood does not depend
on which arm of a study is its baseline (the change of baseline is a unimodular linear map that leaves
P unchanged). τ² is estimated by REML or ML (``method="FE"`` fixes it at 0): the log-likelihood of the
one parameter is evaluated on a grid (eight points a decade) from a millionth of the typical sampling
variance to 10⁴ times the larger of it and the variance of the contrasts, and the root of its analytic
score is then found by Brent's method in the bracket around the best grid point (Harville, J Am Stat
Assoc 1977;72:320 for the REML score), so the global maximum is found to machine precision. d̂ is the
generalised-least-squares estimate with covariance (XᵀΣ⁻¹X)⁻¹, Σ = V + τ²P, and Wald (z) tests and
intervals.

Outputs.

* Every treatment against the reference, and every pair (the league table): d̂_i − d̂_j with variance
  c_ii + c_jj − 2c_ij from the covariance of d̂; prediction intervals add τ² (a new study's contrast).
* P-scores (Rücker & Schwarzer, BMC Med Res Methodol 2015;15:58): P_i = mean over j ≠ i of
  Φ((d̂_j − d̂_i)/se_ij) when lower values are better (Φ((d̂_i − d̂_j)/se_ij) when higher are).
* SUCRA (Salanti et al., J Clin Epidemiol 2011;64:163) and rank probabilities from the normal sampling
  distribution of d̂, by seeded simulation. Under that distribution SUCRA equals the P-score exactly
  (Rücker & Schwarzer 2015, section 'P-scores and SUCRA'), so the simulated SUCRA differs from it by
  Monte Carlo error only; the rank probabilities are what the simulation adds.
* Node-splitting (Dias et al., Stat Med 2010;29:932): for each pair of treatments (A, B) with direct
  evidence, in every study that has both arms the baseline is made A (the pair's first treatment in the
  network's order) and the B-versus-A contrast of those studies gets its own parameter δ; the model is
  refitted (τ² re-estimated). The indirect estimate is d̂_B − d̂_A of that fit, the direct estimate
  d̂_B − d̂_A + δ̂, their difference δ̂ with a Wald z test. A pair whose split model is not identifiable
  (no evidence besides the direct one) is left out.
* The design-by-treatment interaction model (Higgins et al., Res Synth Methods 2012;3:98; Jackson et al.,
  Stat Med 2014;33:3639): every design (the set of treatments of a study) gets its own treatment effects;
  the columns that this adds to X (those not in X's column space, taken in order) are tested jointly by a
  Wald χ² test with τ² estimated in that model. The fixed-effect decomposition of Q (Krahn, Binder &
  König, BMC Med Res Methodol 2013;13:35): Q_total of the consistency model, Q_within designs of the
  design-by-treatment model and Q_between = Q_total − Q_within.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from trialsynth._core.bounds import check_continuity_correction
from trialsynth._core.dist import chi2_sf, norm_quantile, norm_two_sided_p
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth._core.results import RATIO_MEASURES
from trialsynth._core.serialize import JsonResult
from trialsynth.stats.effects import continuous_effects

__all__ = [
    "NETWORK_MEASURES",
    "NetworkData",
    "NetworkResult",
    "NetworkStudy",
    "network_from_arms",
    "network_from_contrasts",
    "network_meta_analysis",
]

NETWORK_MEASURES = ("OR", "RR", "MD", "SMD", "HR")
METHODS = ("REML", "ML", "FE")
_ARM_MEASURES = ("OR", "RR", "MD", "SMD")


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkStudy:
    """One study: its arms (baseline first), contrasts y of arms 2… against arm 1, and their covariance.

    ``n`` holds each arm's number of participants (NaN when unknown).
    """

    name: str
    arms: tuple[str, ...]
    y: np.ndarray
    v: np.ndarray
    n: tuple[float, ...]

    @property
    def design(self) -> tuple[str, ...]:
        return tuple(sorted(self.arms))


@dataclass(frozen=True)
class NetworkData:
    """Studies of a network on the analysis scale (log for OR, RR, HR)."""

    measure: str
    studies: tuple[NetworkStudy, ...]
    corrected: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def treatments(self) -> tuple[str, ...]:
        return tuple(sorted({a for s in self.studies for a in s.arms}))


def _check_measure(measure: str, allowed: Sequence[str]) -> str:
    code = str(measure).strip().upper()
    if code not in allowed:
        raise InputError(f"measure '{measure}' is not available here; use one of {', '.join(allowed)}")
    return code


def _group_arms(study, treatment) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(study):
        groups.setdefault(str(s), []).append(i)
    for s, rows in groups.items():
        names = [str(treatment[i]) for i in rows]
        if len(set(names)) != len(names):
            twice = sorted({t for t in names if names.count(t) > 1})
            raise InputError(f"study '{s}' has more than one arm of treatment '{twice[0]}'")
    return groups


def network_from_arms(
    study: Sequence[str],
    treatment: Sequence[str],
    *,
    measure: str,
    events=None,
    n=None,
    mean=None,
    sd=None,
    add: float = 0.5,
    to: str = "only0",
) -> NetworkData:
    """Contrasts of each study's arms against its first arm, from arm-level data (module docstring).

    Binary measures (OR, RR) need ``events`` and ``n``; MD and SMD need ``mean``, ``sd`` and ``n``.
    Studies with a single arm are left out with a warning.
    """
    measure = _check_measure(measure, _ARM_MEASURES)
    if to not in ("only0", "all", "none"):
        raise InputError(f"unknown continuity correction target '{to}'; use only0, all or none")
    add = check_continuity_correction(add)
    n_arr = np.asarray(n, dtype=float)
    binary = measure in ("OR", "RR")
    if binary:
        ev = np.asarray(events, dtype=float)
    else:
        mu, sdv = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    studies: list[NetworkStudy] = []
    corrected, dropped, single = [], [], []
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero size or SD fails the check below
        for name, rows in _group_arms(study, treatment).items():
            if len(rows) < 2:
                single.append(name)
                continue
            idx = np.array(rows)
            arms = tuple(str(treatment[i]) for i in rows)
            nn = n_arr[idx]
            if binary:
                x = ev[idx]
                if np.all(x == 0) or np.all(x == nn):
                    dropped.append(name)
                    continue
                zero = bool(np.any((x == 0) | (x == nn)))
                c = add if (to == "all" or (to == "only0" and zero)) else 0.0
                if zero and c == 0:
                    raise InputError(
                        f"study '{name}' has an arm with no events (or only events) and no continuity "
                        "correction; use --to only0"
                    )
                if c:
                    corrected.append(name)
                if measure == "OR":
                    a = np.log((x + c) / (nn - x + c))
                    va = 1 / (x + c) + 1 / (nn - x + c)
                else:
                    a = np.log((x + c) / (nn + 2 * c))
                    va = 1 / (x + c) - 1 / (nn + 2 * c)
                y = a[1:] - a[0]
                v = np.diag(va[1:]) + va[0]
            elif measure == "MD":
                va = sdv[idx] ** 2 / nn
                y = mu[idx][1:] - mu[idx][0]
                v = np.diag(va[1:]) + va[0]
            else:
                m, s = mu[idx], sdv[idx]
                eff = continuous_effects(m[1:], s[1:], nn[1:], m[0], s[0], nn[0], "SMD")
                y = np.asarray(eff.yi, dtype=float)
                total = float(nn.sum())
                v = 1 / nn[0] + np.outer(y, y) / (2 * total)
                np.fill_diagonal(v, eff.vi)
            v = np.atleast_2d(v)
            if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.linalg.eigvalsh(v)[0] > 0):
                raise InputError(
                    f"study '{name}': its arms do not give finite effects with positive variances (check the "
                    "standard deviations and sizes)"
                )
            studies.append(NetworkStudy(name, arms, np.asarray(y, float), v, tuple(nn.tolist())))
    if single:
        warnings.warn(
            f"{len(single)} stud{'y' if len(single) == 1 else 'ies'} with a single arm left out: "
            + ", ".join(single),
            TrialsynthWarning,
            stacklevel=2,
        )
    if dropped:
        warnings.warn(
            f"{len(dropped)} stud{'y' if len(dropped) == 1 else 'ies'} without events in any arm (or with "
            f"only events) left out of the {measure}: " + ", ".join(dropped),
            TrialsynthWarning,
            stacklevel=2,
        )
    if corrected and to == "only0":
        warnings.warn(
            f"continuity correction {add:g} added to every arm of {len(corrected)} "
            f"stud{'y' if len(corrected) == 1 else 'ies'} with a zero cell: " + ", ".join(corrected),
            TrialsynthWarning,
            stacklevel=2,
        )
    return NetworkData(measure, tuple(studies), tuple(corrected), tuple(dropped))


def network_from_contrasts(
    study: Sequence[str],
    treatment_1: Sequence[str],
    treatment_2: Sequence[str],
    estimate,
    se,
    *,
    measure: str,
    n_1=None,
    n_2=None,
) -> NetworkData:
    """Network data from contrast rows (treatment_1 minus treatment_2, analysis scale, with its SE).

    A multi-arm study must give every pair of its arms once (module docstring); its baseline is the
    first treatment it names.
    """
    measure = _check_measure(measure, NETWORK_MEASURES)
    est = np.asarray(estimate, dtype=float)
    ses = np.asarray(se, dtype=float)
    k = len(est)
    n1 = np.full(k, np.nan) if n_1 is None else np.asarray(n_1, dtype=float)
    n2 = np.full(k, np.nan) if n_2 is None else np.asarray(n_2, dtype=float)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(study):
        groups.setdefault(str(s), []).append(i)
    studies = []
    for name, rows in groups.items():
        arms: list[str] = []
        size: dict[str, float] = {}
        pairs: dict[frozenset, int] = {}
        for i in rows:
            t1, t2 = str(treatment_1[i]), str(treatment_2[i])
            if t1 == t2:
                raise InputError(f"study '{name}' compares treatment '{t1}' with itself")
            key = frozenset((t1, t2))
            if key in pairs:
                raise InputError(f"study '{name}' gives the comparison {t1} vs {t2} more than once")
            pairs[key] = i
            for t, nn in ((t2, n2[i]), (t1, n1[i])):
                if t not in arms:
                    arms.append(t)
                if not math.isnan(nn):
                    size[t] = nn
        m = len(arms)
        if len(pairs) != m * (m - 1) // 2:
            raise InputError(
                f"study '{name}' has {m} arms ({', '.join(arms)}) but {len(pairs)} comparisons: give every "
                f"pair of its arms ({m * (m - 1) // 2} rows) so that their covariance is known"
            )

        def contrast(t: str, b: str, pairs=pairs) -> tuple[float, float]:
            i = pairs[frozenset((t, b))]
            sign = 1.0 if str(treatment_1[i]) == t else -1.0
            return sign * est[i], ses[i] ** 2

        base = arms[0]
        y = np.array([contrast(t, base)[0] for t in arms[1:]])
        if m == 2:
            v = np.array([[ses[rows[0]] ** 2]])
        else:
            # Arm variances from var(i − j) = v_i + v_j by least squares (Rücker 2012).
            design, target = [], []
            for a in range(m):
                for b in range(a + 1, m):
                    row = np.zeros(m)
                    row[[a, b]] = 1.0
                    design.append(row)
                    target.append(contrast(arms[a], arms[b])[1])
            arm_v = np.linalg.lstsq(np.array(design), np.array(target), rcond=None)[0]
            if np.any(arm_v <= 0):
                raise InputError(
                    f"study '{name}': the standard errors of its comparisons are not those of {m} arms "
                    "(an arm's variance comes out zero or negative)"
                )
            v = np.diag(arm_v[1:]) + arm_v[0]
        studies.append(NetworkStudy(name, tuple(arms), y, v, tuple(size.get(t, math.nan) for t in arms)))
    return NetworkData(measure, tuple(studies))


# ---------------------------------------------------------------------------------------------
# The model: y = X d + u + e, var = V + tau2 P, block-diagonal by study
# ---------------------------------------------------------------------------------------------
class _Blocks:
    """Studies grouped by their number of contrasts, so that every step is a batched array operation."""

    def __init__(self, ys: list[np.ndarray], vs: list[np.ndarray], xs: list[np.ndarray]):
        self.p = xs[0].shape[1]
        self.n = sum(len(y) for y in ys)
        sizes = sorted({len(y) for y in ys})
        self.groups = []
        for m in sizes:
            take = [i for i, y in enumerate(ys) if len(y) == m]
            y = np.stack([ys[i] for i in take])
            v = np.stack([vs[i] for i in take])
            x = np.stack([xs[i] for i in take])
            r = 0.5 * (np.eye(m) + np.ones((m, m)))
            self.groups.append((y, v, x, r))
        self.xtx_logdet = float(
            np.linalg.slogdet(sum(np.einsum("kia,kib->ab", g[2], g[2]) for g in self.groups))[1]
        )

    def pieces(self, tau2: float):
        p = self.p
        xwx = np.zeros((p, p))
        xwy = np.zeros(p)
        ywy = 0.0
        logdet = 0.0
        store = []
        for y, v, x, r in self.groups:
            s = v + tau2 * r
            w = np.linalg.inv(s)
            logdet += float(np.sum(np.linalg.slogdet(s)[1]))
            wx = w @ x
            xwx += np.einsum("kia,kib->ab", x, wx)
            xwy += np.einsum("kia,ki->a", wx, y)
            ywy += float(np.einsum("ki,kij,kj->", y, w, y))
            store.append((y, x, w, wx, r))
        return xwx, xwy, ywy, logdet, store

    def fit(self, tau2: float, method: str) -> dict[str, Any]:
        xwx, xwy, ywy, logdet, store = self.pieces(tau2)
        cov = np.linalg.inv(xwx)
        beta = cov @ xwy
        rwr = ywy - float(beta @ xwy)
        n, p = self.n, self.p
        if method == "REML":
            ll = -0.5 * ((n - p) * math.log(2 * math.pi) + logdet + np.linalg.slogdet(xwx)[1] + rwr)
            ll += 0.5 * self.xtx_logdet
        else:
            ll = -0.5 * (n * math.log(2 * math.pi) + logdet + rwr)
        return {"beta": beta, "cov": cov, "ll": float(ll), "rwr": rwr, "store": store, "tau2": tau2}

    def loglik_grid(self, taus: np.ndarray, method: str) -> np.ndarray:
        """The log-likelihood of :meth:`fit` at many τ² at once (the τ² axis batched into numpy)."""
        g = len(taus)
        p = self.p
        xwx = np.zeros((g, p, p))
        xwy = np.zeros((g, p))
        ywy = np.zeros(g)
        logdet = np.zeros(g)
        for y, v, x, r in self.groups:
            s = v[None] + taus[:, None, None, None] * r
            w = np.linalg.inv(s)
            logdet += np.linalg.slogdet(s)[1].sum(axis=1)
            wx = w @ x[None]
            xwx += np.einsum("kia,gkib->gab", x, wx)
            xwy += np.einsum("gkia,ki->ga", wx, y)
            ywy += np.einsum("ki,gkij,kj->g", y, w, y)
        beta = np.linalg.solve(xwx, xwy[..., None])[..., 0]
        rwr = ywy - np.einsum("ga,ga->g", beta, xwy)
        n = self.n
        if method == "REML":
            return -0.5 * ((n - p) * math.log(2 * math.pi) + logdet + np.linalg.slogdet(xwx)[1] + rwr) + (
                0.5 * self.xtx_logdet
            )
        return -0.5 * (n * math.log(2 * math.pi) + logdet + rwr)

    def score(self, tau2: float, method: str) -> float:
        """d loglik / d tau2 (ML; REML adds the trace of the fixed-effects correction)."""
        f = self.fit(tau2, method)
        beta, cov = f["beta"], f["cov"]
        tr = 0.0
        quad = 0.0
        corr = np.zeros((self.p, self.p))
        for y, x, w, wx, r in f["store"]:
            u = np.einsum("kij,kj->ki", w, y - np.einsum("kia,a->ki", x, beta))
            quad += float(np.einsum("ki,ij,kj->", u, r, u))
            tr += float(np.einsum("kij,ji->", w, r))
            if method == "REML":
                corr += np.einsum("kia,ij,kjb->ab", wx, r, wx)
        s = -0.5 * tr + 0.5 * quad
        if method == "REML":
            s += 0.5 * float(np.sum(cov * corr))
        return s


def _estimate_tau2(blocks: _Blocks, method: str, scale: float, what: str) -> tuple[float, bool, int]:
    """Global maximiser of the (RE)ML log-likelihood in τ² ≥ 0: grid, then the score's root by Brent."""
    if method == "FE":
        return 0.0, True, 0
    # From a millionth of the typical sampling variance to 10⁴ times the larger of it and the spread of
    # the contrasts (which bounds τ² whatever the sampling variances), eight points a decade.
    spread = float(np.var(np.concatenate([g[0].ravel() for g in blocks.groups])))
    bottom, top = 1e-6 * scale, 1e4 * max(scale, spread)
    decades = math.log10(top / bottom)
    grid = np.concatenate([[0.0], np.logspace(math.log10(bottom), math.log10(top), int(8 * decades) + 1)])
    lls = blocks.loglik_grid(grid, method)
    evaluations = len(grid)
    best = int(np.argmax(lls))
    if best == len(grid) - 1:
        warnings.warn(
            f"the {method} estimate of τ² in {what} is at the top of the search range ({grid[-1]:.3g}); "
            "the fit did not converge",
            TrialsynthWarning,
            stacklevel=3,
        )
        return float(grid[-1]), False, evaluations
    candidates = []
    for lo, hi in ((best - 1, best), (best, best + 1)):
        if lo < 0:
            continue
        s_lo, s_hi = blocks.score(grid[lo], method), blocks.score(grid[hi], method)
        evaluations += 2
        if s_lo > 0 > s_hi:
            root, info = optimize.brentq(
                lambda t: blocks.score(t, method),
                grid[lo],
                grid[hi],
                xtol=1e-300,
                rtol=1e-15,
                full_output=True,
            )
            evaluations += info.function_calls
            candidates.append(root)
    if best == 0 and blocks.score(0.0, method) <= 0:
        candidates.append(0.0)
    if not candidates:  # the grid maximum is flat to rounding: refine by the likelihood itself
        lo, hi = grid[max(best - 1, 0)], grid[best + 1]
        res = optimize.minimize_scalar(
            lambda t: -blocks.fit(t, method)["ll"],
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-14},
        )
        candidates.append(float(res.x))
        evaluations += int(res.nfev)
    tau2 = max(candidates, key=lambda t: blocks.fit(t, method)["ll"])
    return float(tau2), True, evaluations


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TreatmentEffect:
    """A treatment against the reference (analysis scale)."""

    treatment: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    z: float
    p_value: float
    pi_lower: float
    pi_upper: float


@dataclass(frozen=True)
class Comparison:
    """treatment_1 minus treatment_2 (analysis scale)."""

    treatment_1: str
    treatment_2: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    z: float
    p_value: float


@dataclass(frozen=True)
class NodeSplit:
    """Direct and indirect evidence on treatment_1 minus treatment_2 (Dias et al. 2010)."""

    treatment_1: str
    treatment_2: str
    k_direct: int
    direct: float
    direct_se: float
    indirect: float
    indirect_se: float
    difference: float
    difference_se: float
    z: float
    p_value: float
    network: float
    network_se: float
    tau2: float


@dataclass(frozen=True)
class Ranking:
    """P-score, SUCRA, mean rank and rank probabilities (rank 1 = best) of one treatment."""

    treatment: str
    p_score: float
    sucra: float
    mean_rank: float
    rank_probabilities: tuple[float, ...]


@dataclass(frozen=True)
class NetworkResult(JsonResult):
    """A fitted network meta-analysis (analysis scale: log for OR, RR, HR). Never rounded."""

    measure: str
    method: str
    level: float
    reference: str
    treatments: tuple[str, ...]
    k: int
    n_contrasts: int
    n_designs: int
    tau2: float
    logLik: float
    converged: bool
    iterations: int
    coefficients: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    effects: tuple[TreatmentEffect, ...] = ()
    league: tuple[Comparison, ...] = ()
    ranking: tuple[Ranking, ...] = ()
    better: str = "lower"
    sucra_draws: int = 0
    seed: int | None = None
    node_splits: tuple[NodeSplit, ...] = ()
    q_total: float = math.nan
    q_total_df: int = 0
    q_within: float = math.nan
    q_within_df: int = 0
    q_between: float = math.nan
    q_between_df: int = 0
    inconsistency_chi2: float = math.nan
    inconsistency_df: int = 0
    inconsistency_p: float = math.nan
    inconsistency_tau2: float = math.nan
    participants: tuple[float, ...] = ()
    edges: tuple[tuple[str, str, int], ...] = ()
    corrections: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    def comparison(self, treatment_1: str, treatment_2: str) -> Comparison:
        for c in self.league:
            if c.treatment_1 == treatment_1 and c.treatment_2 == treatment_2:
                return c
        raise KeyError((treatment_1, treatment_2))

    def league_matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimate, CI lower and upper of row treatment minus column treatment (NaN on the diagonal)."""
        t = len(self.treatments)
        pos = {name: i for i, name in enumerate(self.treatments)}
        est, lo, hi = (np.full((t, t), np.nan) for _ in range(3))
        for c in self.league:
            i, j = pos[c.treatment_1], pos[c.treatment_2]
            est[i, j], lo[i, j], hi[i, j] = c.estimate, c.ci_lower, c.ci_upper
        return est, lo, hi

    #: The documented ``trialsynth nma --json`` object (no NaN: missing values are null).
    __json_fields__ = (
        "measure", "scale", "method", "level", "reference", "treatments", "k", "n_contrasts", "n_designs",
        ("tau2", "_json_tau2"), ("tau", "_json_tau"), "logLik", "converged", "iterations", "effects",
        ("league_table", "league"), ("ranking", "_json_ranking"), "p_scores", "inconsistency",
        ("participants", "_json_participants"), ("edges", "_json_edges"), "corrections", "dropped",
    )

    @property
    def scale(self) -> str:
        """``"log"`` for ratio measures, else ``"identity"``."""
        return "log" if self.ratio else "identity"

    @property
    def _json_tau2(self) -> float:
        return self.tau2 if self.method != "FE" else math.nan

    @property
    def _json_tau(self) -> float:
        return math.sqrt(self.tau2) if self.method != "FE" else math.nan

    @property
    def _json_ranking(self) -> dict[str, Any]:
        return {
            "better": self.better, "sucra_draws": self.sucra_draws, "seed": self.seed,
            "treatments": self.ranking,
        }

    @property
    def p_scores(self) -> dict[str, float]:
        """Each treatment's P-score (Rücker & Schwarzer 2015), by treatment."""
        return {r.treatment: r.p_score for r in self.ranking}

    @property
    def inconsistency(self) -> dict[str, Any]:
        """The design-by-treatment test, the Q decomposition and the node-splitting rows."""
        return {
            "design_by_treatment": {
                "chi2": self.inconsistency_chi2,
                "df": self.inconsistency_df,
                "p_value": self.inconsistency_p,
                "tau2": self.inconsistency_tau2,
            },
            "q": {
                "total": self.q_total,
                "total_df": self.q_total_df,
                "total_p_value": _chi2_p(self.q_total, self.q_total_df),
                "within_designs": self.q_within,
                "within_designs_df": self.q_within_df,
                "within_designs_p_value": _chi2_p(self.q_within, self.q_within_df),
                "between_designs": self.q_between,
                "between_designs_df": self.q_between_df,
                "between_designs_p_value": _chi2_p(self.q_between, self.q_between_df),
            },
            "node_splitting": self.node_splits,
        }

    @property
    def _json_participants(self) -> dict[str, float]:
        return dict(zip(self.treatments, self.participants, strict=True))

    @property
    def _json_edges(self) -> list[dict[str, Any]]:
        return [{"treatment_1": a, "treatment_2": b, "k": k} for a, b, k in self.edges]


def _chi2_p(q: float, df: int) -> float:
    return float(chi2_sf(q, df)) if df > 0 and not math.isnan(q) else math.nan


# ---------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------
def _check_connected(treatments: Sequence[str], studies: Sequence[NetworkStudy]) -> None:
    parent = {t: t for t in treatments}

    def find(t):
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for s in studies:
        for a in s.arms[1:]:
            parent[find(a)] = find(s.arms[0])
    parts: dict[str, list[str]] = {}
    for t in treatments:
        parts.setdefault(find(t), []).append(t)
    if len(parts) > 1:
        groups = sorted(parts.values(), key=lambda g: (-len(g), g))
        raise InputError(
            "the network is not connected: no study links "
            + " | ".join("{" + ", ".join(g) + "}" for g in groups)
        )


def _rebase(study: NetworkStudy, baseline: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """The study's contrasts against another of its arms (a unimodular linear map of y and V)."""
    if study.arms[0] == baseline:
        return study.arms, study.y, study.v
    m = len(study.arms)
    k = study.arms.index(baseline)
    arms = (baseline, *[a for a in study.arms if a != baseline])
    t = np.zeros((m - 1, m - 1))
    for row, a in enumerate(arms[1:]):
        j = study.arms.index(a)
        if j > 0:
            t[row, j - 1] = 1.0
        t[row, k - 1] -= 1.0
    return arms, t @ study.y, t @ study.v @ t.T


def _ordered(study: NetworkStudy, order: Sequence[str]) -> NetworkStudy:
    arms = tuple(sorted(study.arms, key=order.index))
    if arms == study.arms:
        return study
    _, y, v = _rebase(study, arms[0])
    rest = [a for a in study.arms if a != arms[0]]
    perm = [rest.index(a) for a in arms[1:]]
    n = tuple(study.n[study.arms.index(a)] for a in arms)
    return NetworkStudy(study.name, arms, y[perm], v[np.ix_(perm, perm)], n)


def _design_rows(arms: Sequence[str], columns: dict[str, int], p: int) -> np.ndarray:
    x = np.zeros((len(arms) - 1, p))
    for row, a in enumerate(arms[1:]):
        if a in columns:
            x[row, columns[a]] += 1.0
        if arms[0] in columns:
            x[row, columns[arms[0]]] -= 1.0
    return x


def _fit(ys, vs, xs, method: str, scale: float, what: str = "the network") -> dict[str, Any]:
    blocks = _Blocks(ys, vs, xs)
    tau2, converged, evaluations = _estimate_tau2(blocks, method, scale, what)
    out = blocks.fit(tau2, method)
    out.update(converged=converged, evaluations=evaluations, blocks=blocks)
    return out


def _independent_columns(base: np.ndarray, extra: np.ndarray) -> list[int]:
    """Columns of ``extra`` that, taken in order, each raise the rank of [base, chosen…]."""
    chosen: list[int] = []
    current = base
    rank = np.linalg.matrix_rank(current)
    for j in range(extra.shape[1]):
        trial = np.column_stack([current, extra[:, j]])
        r = np.linalg.matrix_rank(trial)
        if r > rank:
            chosen.append(j)
            current, rank = trial, r
    return chosen


def _check_network_options(data: NetworkData, reference, method: str, level: float, better: str) -> str:
    """InputError for an unknown method, direction or level, an empty, one-treatment or
    disconnected network, or an unknown reference; returns the reference (default: the first)."""
    if method not in METHODS:
        raise InputError(f"unknown method '{method}' for a network; use one of {', '.join(METHODS)}")
    if better not in ("lower", "higher"):
        raise InputError(f"better must be 'lower' or 'higher', not '{better}'")
    if not 0 < level < 100:
        raise InputError(f"the confidence level is a percentage between 0 and 100, not {level}")
    studies = data.studies
    if not studies:
        raise InputError("the network has no study with two or more arms")
    treatments = data.treatments
    if reference is None:
        reference = treatments[0]
    elif reference not in treatments:
        raise InputError(f"reference treatment '{reference}' is not in the network ({', '.join(treatments)})")
    if len(treatments) < 2:
        raise InputError("a network needs at least two treatments")
    _check_connected(treatments, studies)
    return reference


def _effects_against_reference(order, full_b, full_c, tau2: float, z_crit: float) -> list[TreatmentEffect]:
    """Each treatment against the reference (``order[0]``): estimate, CI, z test and prediction interval."""
    effects = []
    for i, t in enumerate(order[1:], start=1):
        est, se = full_b[i], math.sqrt(full_c[i, i])
        pse = math.sqrt(se**2 + tau2)
        effects.append(
            TreatmentEffect(
                t,
                float(est),
                se,
                est - z_crit * se,
                est + z_crit * se,
                est / se,
                float(norm_two_sided_p(est / se)),
                est - z_crit * pse,
                est + z_crit * pse,
            )
        )
    return effects


def _league_table(order, full_b, full_c, z_crit: float) -> tuple[list[Comparison], np.ndarray]:
    """Every ordered pair of treatments (row minus column) and the matrix of their SEs."""
    n = len(order)
    league = []
    se_mat = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            est = full_b[i] - full_b[j]
            se = math.sqrt(max(full_c[i, i] + full_c[j, j] - 2 * full_c[i, j], 0.0))
            se_mat[i, j] = se
            league.append(
                Comparison(
                    order[i],
                    order[j],
                    float(est),
                    se,
                    est - z_crit * se,
                    est + z_crit * se,
                    est / se,
                    float(norm_two_sided_p(est / se)),
                )
            )
    return league, se_mat


def _participants_and_edges(studies, order):
    """Participants per treatment (NaN when a study lacks its arm size) and the edges of the
    network graph: (treatment, earlier treatment, number of studies comparing them)."""
    participants = []
    for t in order:
        sizes = [s.n[s.arms.index(t)] for s in studies if t in s.arms]
        participants.append(math.nan if any(math.isnan(x) for x in sizes) else float(sum(sizes)))
    edge_count: dict[tuple[str, str], int] = {}
    for s in studies:
        arms = sorted(s.arms, key=order.index)
        for a in range(len(arms)):
            for b in range(a + 1, len(arms)):
                edge_count[(arms[b], arms[a])] = edge_count.get((arms[b], arms[a]), 0) + 1
    edges = tuple(
        (a, b, k)
        for (a, b), k in sorted(
            edge_count.items(), key=lambda e: (order.index(e[0][1]), order.index(e[0][0]))
        )
    )
    return participants, edges


def _q_and_inconsistency(fit, studies, order, ys, vs, xs, method, scale, inconsistency: bool):
    """The designs (arm sets, numbered) and the result's Q-decomposition and design-by-treatment
    fields: the fixed-effect Q of the consistency model, and (``inconsistency``) the interaction model."""
    designs: dict[tuple[str, ...], int] = {}
    for s in studies:
        designs.setdefault(tuple(sorted(s.arms, key=order.index)), len(designs))
    q_total = fit["rwr"] if method == "FE" else fit["blocks"].fit(0.0, "FE")["rwr"]
    extras = dict(
        q_total=q_total,
        q_total_df=sum(len(y) for y in ys) - (len(order) - 1),
        q_within=math.nan,
        q_within_df=0,
        q_between=math.nan,
        q_between_df=0,
        inconsistency_chi2=math.nan,
        inconsistency_df=0,
        inconsistency_p=math.nan,
        inconsistency_tau2=math.nan,
    )
    if inconsistency:
        extras.update(_design_by_treatment(studies, order, designs, ys, vs, xs, method, scale, q_total))
    return designs, extras


def network_meta_analysis(
    data: NetworkData,
    *,
    reference: str | None = None,
    method: str = "REML",
    level: float = 95.0,
    better: str = "lower",
    sucra_draws: int = 100_000,
    seed: int | None = 20261205,
    node_splitting: bool = True,
    inconsistency: bool = True,
) -> NetworkResult:
    """Fit the consistency model of the module docstring and every output listed there.

    ``level`` is in percent. ``better`` ("lower" or "higher") orders the ranking; ``sucra_draws``
    normal draws of d̂ (seeded by ``seed``) give SUCRA and the rank probabilities (0 skips them).
    """
    method = str(method).upper()
    reference = _check_network_options(data, reference, method, level, better)
    studies, treatments = data.studies, data.treatments
    order = (reference, *[t for t in treatments if t != reference])
    # Each study's baseline is its first arm in the network's order and its other arms follow in that
    # order: the fit does not depend on it, but metafor's REML log-likelihood has a constant ½ log|XᵀX|
    # that does, and with this convention it is the one of metafor's examples.
    studies = tuple(_ordered(s, order) for s in studies)
    others = order[1:]
    columns = {t: i for i, t in enumerate(others)}
    p = len(others)
    ys = [s.y for s in studies]
    vs = [s.v for s in studies]
    xs = [_design_rows(s.arms, columns, p) for s in studies]
    n_contrasts = sum(len(y) for y in ys)
    if n_contrasts <= p and method == "REML":
        raise InputError(
            f"{n_contrasts} contrasts cannot estimate {p} treatment effects and τ² by REML; use --method FE"
        )
    scale = float(np.median([np.median(np.diag(v)) for v in vs]))
    fit = _fit(ys, vs, xs, method, scale)
    tau2 = fit["tau2"]
    beta, cov = fit["beta"], fit["cov"]
    z_crit = float(norm_quantile(0.5 + level / 200.0))

    full_b = np.concatenate([[0.0], beta])
    full_c = np.zeros((p + 1, p + 1))
    full_c[1:, 1:] = cov
    effects = _effects_against_reference(order, full_b, full_c, tau2, z_crit)
    league, se_mat = _league_table(order, full_b, full_c, z_crit)
    ranking = _ranking(order, full_b, full_c, se_mat, better, sucra_draws, seed)

    designs, extras = _q_and_inconsistency(fit, studies, order, ys, vs, xs, method, scale, inconsistency)
    splits = _node_splits(studies, order, columns, method, scale, beta, cov) if node_splitting else ()

    participants, edges = _participants_and_edges(studies, order)
    beta.setflags(write=False)  # the result is frozen: so are its arrays
    cov.setflags(write=False)
    return NetworkResult(
        measure=data.measure,
        method=method,
        level=level,
        reference=reference,
        treatments=order,
        k=len(studies),
        n_contrasts=n_contrasts,
        n_designs=len(designs),
        tau2=tau2,
        logLik=fit["ll"],
        converged=fit["converged"],
        iterations=fit["evaluations"],
        coefficients=beta,
        covariance=cov,
        effects=tuple(effects),
        league=tuple(league),
        ranking=ranking,
        better=better,
        sucra_draws=sucra_draws,
        seed=seed,
        node_splits=splits,
        participants=tuple(participants),
        edges=edges,
        corrections=data.corrected,
        dropped=data.dropped,
        **extras,
    )


def _ranking(order, b, c, se_mat, better, draws, seed) -> tuple[Ranking, ...]:
    t = len(order)
    sign = -1.0 if better == "lower" else 1.0
    diff = sign * (b[:, None] - b[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se_mat > 0, diff / np.where(se_mat > 0, se_mat, 1.0), 0.0)
    from scipy.special import ndtr

    prob = ndtr(z)
    np.fill_diagonal(prob, 0.0)
    p_score = prob.sum(axis=1) / (t - 1)
    if draws > 0:
        rng = np.random.default_rng(seed)
        chol = np.linalg.cholesky(c[1:, 1:])
        sims = np.zeros((draws, t))
        sims[:, 1:] = b[1:] + rng.standard_normal((draws, t - 1)) @ chol.T
        ranks = np.argsort(np.argsort(-sign * sims, axis=1), axis=1)  # 0 = best
        rank_p = np.stack([(ranks == r).mean(axis=0) for r in range(t)], axis=1)
        mean_rank = (ranks + 1).mean(axis=0)
        sucra = (t - mean_rank) / (t - 1)
    else:
        rank_p = np.full((t, t), np.nan)
        mean_rank = np.full(t, np.nan)
        sucra = np.full(t, np.nan)
    return tuple(
        Ranking(order[i], float(p_score[i]), float(sucra[i]), float(mean_rank[i]), tuple(rank_p[i].tolist()))
        for i in range(t)
    )


def _design_by_treatment(studies, order, designs, ys, vs, xs, method, scale, q_total) -> dict[str, Any]:
    full_cols: dict[tuple[int, str], int] = {}
    for d, idx in designs.items():
        for t in d[1:]:
            full_cols[(idx, t)] = len(full_cols)
    zs = []
    for s in studies:
        d = tuple(sorted(s.arms, key=order.index))
        idx = designs[d]
        z = np.zeros((len(s.arms) - 1, len(full_cols)))
        for row, a in enumerate(s.arms[1:]):
            if (idx, a) in full_cols:
                z[row, full_cols[(idx, a)]] += 1.0
            if (idx, s.arms[0]) in full_cols:
                z[row, full_cols[(idx, s.arms[0])]] -= 1.0
        zs.append(z)
    x_all, z_all = np.vstack(xs), np.vstack(zs)
    keep = _independent_columns(x_all, z_all)
    df = len(keep)
    n = len(x_all)
    out: dict[str, Any] = {"q_between_df": df, "q_within_df": n - x_all.shape[1] - df}
    if df == 0:
        out.update(q_within=q_total, q_between=0.0, q_within_df=n - x_all.shape[1])
        return out
    xa = [np.column_stack([x, z[:, keep]]) for x, z in zip(xs, zs, strict=True)]
    fe = _Blocks(ys, vs, xa).fit(0.0, "FE")
    out["q_within"] = fe["rwr"]
    out["q_between"] = q_total - fe["rwr"]
    if n - x_all.shape[1] - df <= 0 and method == "REML":
        inc = fe
        inc_tau2 = 0.0
    else:
        inc = _fit(ys, vs, xa, method, scale, "the design-by-treatment interaction model")
        inc_tau2 = inc["tau2"]
    p = x_all.shape[1]
    g = inc["beta"][p:]
    cg = inc["cov"][p:, p:]
    chi2 = float(g @ np.linalg.solve(cg, g))
    out.update(
        inconsistency_chi2=chi2,
        inconsistency_df=df,
        inconsistency_p=float(chi2_sf(chi2, df)),
        inconsistency_tau2=inc_tau2,
    )
    return out


def _node_splits(studies, order, columns, method, scale, beta, cov) -> tuple[NodeSplit, ...]:
    p = len(columns)
    out = []
    for ia, a in enumerate(order):
        for b in order[ia + 1 :]:
            direct = {i for i, s in enumerate(studies) if a in s.arms and b in s.arms}
            if not direct:
                continue
            ys, vs, xs = [], [], []
            for i, s in enumerate(studies):
                if i in direct:
                    arms, y, v = _rebase(s, a)
                    x = np.column_stack([_design_rows(arms, columns, p), np.zeros(len(y))])
                    x[arms.index(b) - 1, p] = 1.0
                else:
                    arms, y, v = s.arms, s.y, s.v
                    x = np.column_stack([_design_rows(arms, columns, p), np.zeros(len(y))])
                ys.append(y)
                vs.append(v)
                xs.append(x)
            if np.linalg.matrix_rank(np.vstack(xs)) < p + 1:
                continue
            if sum(len(y) for y in ys) <= p + 1 and method == "REML":
                continue
            f = _fit(ys, vs, xs, method, scale, f"the node-splitting model of {b} vs {a}")
            lb = np.zeros(p + 1)
            if b in columns:
                lb[columns[b]] += 1.0
            if a in columns:
                lb[columns[a]] -= 1.0
            ld = lb.copy()
            ld[p] = 1.0
            ind, ind_se = float(lb @ f["beta"]), math.sqrt(float(lb @ f["cov"] @ lb))
            dir_, dir_se = float(ld @ f["beta"]), math.sqrt(float(ld @ f["cov"] @ ld))
            delta, delta_se = float(f["beta"][p]), math.sqrt(float(f["cov"][p, p]))
            net_l = lb[:p]
            out.append(
                NodeSplit(
                    b,
                    a,
                    len(direct),
                    dir_,
                    dir_se,
                    ind,
                    ind_se,
                    delta,
                    delta_se,
                    delta / delta_se,
                    float(norm_two_sided_p(delta / delta_se)),
                    float(net_l @ beta),
                    math.sqrt(float(net_l @ cov @ net_l)),
                    f["tau2"],
                )
            )
    return tuple(out)
