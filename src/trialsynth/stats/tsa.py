"""Trial sequential analysis (TSA) of a cumulative meta-analysis.

TSA treats a meta-analysis as an interim analysis on its way to a *required information size*
(RIS) and monitors the cumulative Z-curve with group-sequential boundaries (Wetterslev,
Thorlund, Brok & Gluud, J Clin Epidemiol 2008;61:64–75; Thorlund et al., *User manual for
Trial Sequential Analysis (TSA)*, Copenhagen Trial Unit 2011; Wetterslev, Jakobsen & Gluud,
BMC Med Res Methodol 2017;17:39). Everything here is implemented from the published formulas.

Required information size (two-sided α, power 1 − β, z_p the standard normal quantile):

* binary outcome, control event proportion p_C and relative risk reduction RRR:
  p_E = p_C(1 − RRR), δ = p_C − p_E, p̄ = (p_C + p_E)/2,
  RIS = 4 (z_{1−α/2} + z_{1−β})² p̄(1 − p̄)/δ² participants (Wetterslev et al. 2008);
* continuous outcome, minimal relevant mean difference δ and standard deviation σ:
  RIS = 4 (z_{1−α/2} + z_{1−β})² σ²/δ² participants;
* time to event, hazard ratio HR (Schoenfeld, Biometrika 1981, equal allocation):
  RIS = 4 (z_{1−α/2} + z_{1−β})²/(ln HR)² *events*.

The RIS is adjusted for heterogeneity by the diversity D² = (V_R − V_F)/V_R, where V_F and
V_R are the variances of the pooled estimate under the fixed-effect and the random-effects
model (Wetterslev, Thorlund, Brok & Gluud, BMC Med Res Methodol 2009;9:86):
RIS_adj = RIS/(1 − D²). D² is 0 for fixed-effect, Mantel–Haenszel and Peto models.

Information (the x axis) is the cumulative number of participants (n_treatment + n_control)
in the file's row order — sort the rows chronologically — or, for hazard ratios, the
cumulative number of events. The information fraction of look k is t_k = I_k/RIS.

Monitoring boundaries. Two-sided, symmetric Lan–DeMets α-spending with the O'Brien–Fleming-type
function (Lan & DeMets, Biometrika 1983;70:659–663): the two-sided α is split equally between
the boundaries for benefit and harm and each spends α_s(t) = 2 − 2Φ(z_{1−α/4}/√t), i.e. the
function 2 − 2Φ(z_{1−α'/2}/√t) at the one-sided level α' = α/2 (the convention of ld98, gsDesign
and rpact, and of the published two-sided tables: 4.877, 3.357, 2.680, 2.290, 2.031 for five
equally spaced looks at α = 0.05). Read literally with the two-sided α, the formula
2 − 2Φ(z_{1−α/2}/√t) would give much lower early boundaries (4.38 at t = 0.2). The boundary b_k
at look k solves P(|Z_k| ≥ b_k, |Z_j| < b_j for j < k) = 2[α_s(t_k) − α_s(t_{k−1})] under the null, by
recursive numerical integration of the group-sequential sub-density (Armitage, McPherson &
Rowe, J R Stat Soc A 1969;132:235–244; Jennison & Turnbull, *Group Sequential Methods*, 2000,
ch. 19). The sub-density is carried on a Simpson grid on the score scale S = Z√t, with at least
sixteen grid points per standard deviation of the next increment (step at most 0.02).

Futility (β-spending) boundaries, the inner wedge: the O'Brien–Fleming-type β-spending function
β(t) = 2 − 2Φ(z_{1−β/2}/√t); the futility value a_k at look k solves
P_θ(Z_k ≤ a_k, a_j < Z_j < b_j for j < k) = β(t_k) − β(t_{k−1}) under the drift θ (the expected
Z at t = 1), with θ chosen so that the boundaries meet at the RIS (a = b at t = 1), which is
where TSA draws the wedge closing. The efficacy boundaries are non-binding (computed from α
alone). The wedge is symmetric: futility is declared when |Z_k| < a_k (a_k > 0); a negative a_k
means there is no futility region yet at that look.

Conventions (documented choices, since the TSA program's own internals are not published):

* Looks beyond the RIS have t capped at 1: the boundary there is the one at t = 1 (the whole α
  is spent), and the futility value equals it (the wedge has closed).
* The futility boundaries at the observed looks are those of a design with the observed looks
  (those before the RIS) followed by a final look at t = 1.
* Looks at tiny information fractions, where the cumulative α spent is below 1e-13
  (t ≲ 0.09 for α = 5 %): the boundary is set to its first-look value, the b with
  P(Z ≥ b) = α_s(t_k) (exact at the first look, a slight underestimate at later ones, and
  about 7.4 or more wherever used); such looks absorb less than 1e-13 of probability and are left out of
  the recursion. Their futility value is NaN (no futility boundary: β(t_k) is negligible too).
* The TSA-adjusted confidence interval is estimate ± b_K · SE, with b_K the α-spending boundary
  at the current (last) look instead of z_{1−α/2}.
* The conclusion is read at the last look (the current state of the evidence): "benefit" or
  "harm" when |Z_K| ≥ b_K (direction set by ``better``), "futility" when |Z_K| < a_K with
  a_K > 0 (the anticipated effect can be rejected; at or beyond the RIS this is any Z inside
  the boundaries), otherwise "not yet conclusive". An earlier crossing that the curve has since
  left is mentioned in the conclusion text.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from trialsynth._core.errors import InputError, NotEstimable, TrialsynthWarning
from trialsynth._core.results import RATIO_MEASURES
from trialsynth._core.serialize import JsonResult

__all__ = [
    "TSAResult",
    "alpha_spending_obf",
    "beta_spending_obf",
    "diversity",
    "efficacy_boundaries",
    "futility_boundaries",
    "required_information_size",
    "tsa",
]

CONCLUSIONS = ("benefit", "harm", "futility", "not yet conclusive")

#: Cumulative α (or β) below which a look is not carried in the recursion (see the module notes).
NEGLIGIBLE_SPENDING = 1e-13
#: Largest grid step on the score scale S = Z√t, and grid points per standard deviation of the
#: next look's increment.
_H_MAX = 0.02
_POINTS_PER_SD = 16.0
_MAX_POINTS = 20001


# --------------------------------------------------------------------------- small helpers


def _zq(p: float) -> float:
    """Upper-tail standard normal quantile z_{1−p} computed from p (accurate for tiny p)."""
    return float(-special.ndtri(p))


def _warn(message: str) -> None:
    warnings.warn(message, TrialsynthWarning, stacklevel=3)


def _fraction(value: float, name: str, upper: float) -> float:
    """Accept a fraction (0.05) or a percentage (5); check it lies in (0, upper)."""
    if value is None or not math.isfinite(value):
        raise InputError(f"{name} must be a number")
    v = value / 100.0 if 1.0 < value < 100.0 else value
    if not 0.0 < v < upper:
        raise InputError(f"{name} must lie between 0 and {upper:g} (or be given in percent), not {value:g}")
    return v


def _obf(t, level: float):
    """The O'Brien–Fleming-type spending function 2 − 2Φ(z_{1−level/2}/√t), t capped at 1."""
    t = np.minimum(np.asarray(t, dtype=float), 1.0)
    with np.errstate(divide="ignore"):
        return 2.0 * special.ndtr(-_zq(level / 2.0) / np.sqrt(t))


def alpha_spending_obf(t, alpha: float):
    """Two-sided α spent by fraction t: 2·α_s(t), α_s(t) = 2 − 2Φ(z_{1−α/4}/√t) on each side.

    The two-sided level α is split equally between the two boundaries and each spends the
    Lan–DeMets O'Brien–Fleming-type function at level α/2 (as ld98, gsDesign and rpact do,
    and as the published two-sided tables are computed).
    """
    return 2.0 * _obf(t, alpha / 2.0)


def beta_spending_obf(t, beta: float):
    """O'Brien–Fleming-type β-spending function β(t) = 2 − 2Φ(z_{1−β/2}/√t), t capped at 1."""
    return _obf(t, beta)


def _first_look_boundary(t: float, alpha: float) -> float:
    """b with P(Z ≥ b) = α_s(t) (one side, a first look), solved on the log scale for tiny α_s."""
    x = _zq(alpha / 4.0) / math.sqrt(t)
    target = math.log(2.0) + float(special.log_ndtr(-x))
    return optimize.brentq(lambda b: float(special.log_ndtr(-b)) - target, 0.0, x + 1.0, xtol=1e-14)


# --------------------------------------------------------------------------- the recursion


def _grid(lo: float, hi: float, sd_next: float) -> tuple[np.ndarray, np.ndarray]:
    """Simpson nodes and weights on [lo, hi], step ≤ min(_H_MAX, sd_next/_POINTS_PER_SD)."""
    step = min(_H_MAX, sd_next / _POINTS_PER_SD) if sd_next > 0 else _H_MAX
    n = max(2, math.ceil((hi - lo) / step))
    n += n % 2
    n = min(n, _MAX_POINTS - 1)
    n += n % 2
    x = np.linspace(lo, hi, n + 1)
    h = (hi - lo) / n
    w = np.full(n + 1, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return x, w * h / 3.0


class _SubDensity:
    """The sub-density of S_k = Z_k√t_k on the continuation region, on a Simpson grid."""

    def __init__(self, x: np.ndarray, w: np.ndarray, f: np.ndarray, t: float):
        self.x, self.w, self.f, self.t = x, w, f, t

    @classmethod
    def first(cls, lo: float, hi: float, t: float, drift: float, sd_next: float) -> _SubDensity:
        x, w = _grid(lo, hi, sd_next)
        sd = math.sqrt(t)
        f = np.exp(-0.5 * ((x - drift * t) / sd) ** 2) / (sd * math.sqrt(2.0 * math.pi))
        return cls(x, w, f, t)

    def upper(self, c: float, t: float, drift: float) -> float:
        """P(S_t ≥ c and the path continued to here)."""
        sd = math.sqrt(t - self.t)
        m = drift * (t - self.t)
        return float(np.sum(self.w * self.f * special.ndtr((self.x + m - c) / sd)))

    def lower(self, c: float, t: float, drift: float) -> float:
        """P(S_t ≤ c and the path continued to here)."""
        sd = math.sqrt(t - self.t)
        m = drift * (t - self.t)
        return float(np.sum(self.w * self.f * special.ndtr((c - self.x - m) / sd)))

    def step(self, lo: float, hi: float, t: float, drift: float, sd_next: float) -> _SubDensity:
        """The sub-density at fraction t on (lo, hi), after continuing at this look."""
        x, w = _grid(lo, hi, sd_next)
        sd = math.sqrt(t - self.t)
        m = drift * (t - self.t)
        f = np.empty_like(x)
        wf = self.w * self.f
        chunk = max(1, 4_000_000 // max(1, len(self.x)))
        for i in range(0, len(x), chunk):
            d = (x[i : i + chunk, None] - self.x[None, :] - m) / sd
            f[i : i + chunk] = np.exp(-0.5 * d * d) @ wf
        f /= sd * math.sqrt(2.0 * math.pi)
        return _SubDensity(x, w, f, t)


def _check_fractions(t) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or len(t) == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0) or np.any(t > 1):
        raise ValueError("information fractions must lie in (0, 1]")
    if np.any(np.diff(t) <= 0):
        raise ValueError("information fractions must be strictly increasing")
    return t


def _sd_next(t: np.ndarray, k: int) -> float:
    return math.sqrt(t[k + 1] - t[k]) if k + 1 < len(t) else 1.0


def efficacy_boundaries(t: ArrayLike, alpha: float) -> np.ndarray:
    """Two-sided Lan–DeMets O'Brien–Fleming-type boundaries (Z scale) at fractions ``t``.

    ``t`` strictly increasing in (0, 1]; ``alpha`` the two-sided level (0.05). Looks whose
    cumulative α spent is below :data:`NEGLIGIBLE_SPENDING` get their first-look value (module notes).
    """
    t = _check_fractions(t)
    spend = alpha_spending_obf(t, alpha)
    b = np.array([_first_look_boundary(tk, alpha) for tk in t])
    start = int(np.argmax(spend >= NEGLIGIBLE_SPENDING)) if np.any(spend >= NEGLIGIBLE_SPENDING) else len(t)
    if start == len(t):
        return b
    # First carried look: the earlier ones absorbed < 1e-13, so this is a first look (exact).
    c = b[start] * math.sqrt(t[start])
    dens = _SubDensity.first(-c, c, t[start], 0.0, _sd_next(t, start))
    for k in range(start + 1, len(t)):
        target = (spend[k] - spend[k - 1]) / 2.0

        def excess(cc, k=k, target=target, dens=dens):
            return dens.upper(cc, t[k], 0.0) - target

        hi = 1.0
        while excess(hi) > 0:
            hi *= 2.0
        if target <= 0:
            c = hi
        else:
            c = optimize.brentq(excess, 0.0, hi, xtol=1e-13, rtol=1e-13, maxiter=200)
        b[k] = c / math.sqrt(t[k])
        if k + 1 < len(t):
            dens = dens.step(-c, c, t[k], 0.0, _sd_next(t, k))
    return b


def _futility_pass(t: np.ndarray, b: np.ndarray, beta: float, drift: float, start: int):
    """Futility values at each look for a given drift, and the type II error minus β."""
    bspend = beta_spending_obf(t, beta)
    a = np.full(len(t), np.nan)
    closed = False
    dens = None
    shortfall = 0.0
    for k in range(start, len(t)):
        st = math.sqrt(t[k])
        hi = b[k] * st
        if closed:
            a[k] = b[k]
            continue
        prev = bspend[k - 1] if k > start else 0.0
        target = bspend[k] - prev
        if dens is None:
            sd = st

            def lower(c, k=k, sd=sd):
                return float(special.ndtr((c - drift * t[k]) / sd))

        else:

            def lower(c, k=k, dens=dens):
                return dens.lower(c, t[k], drift)

        at_top = lower(hi)
        if k == len(t) - 1:
            shortfall = at_top - target
            a[k] = b[k]
            break
        if at_top <= target:
            # The wedge closes before t = 1: the type II error is already below β.
            a[k] = b[k]
            closed = True
            shortfall = prev + at_top - beta
            continue
        lo = hi - 1.0
        while lower(lo) > target:
            lo -= 2.0 * (hi - lo)
            if lo < -50.0:
                break
        c = optimize.brentq(lambda cc, target=target: lower(cc) - target, lo, hi, xtol=1e-13, maxiter=200)
        a[k] = c / st
        if dens is None:
            dens = _SubDensity.first(c, hi, t[k], drift, _sd_next(t, k))
        else:
            dens = dens.step(c, hi, t[k], drift, _sd_next(t, k))
    return a, shortfall


def futility_boundaries(
    t: ArrayLike, alpha: float, beta: float, b: ArrayLike | None = None
) -> tuple[np.ndarray, float]:
    """β-spending futility values (Z scale) at fractions ``t`` whose last value is 1.

    Returns ``(a, drift)``: the futility value at each look (NaN where β spent is negligible;
    a = b at t = 1) and the drift θ (expected Z at t = 1) that makes the boundaries meet at
    t = 1. ``b`` are the efficacy boundaries (computed from ``alpha`` when not given).
    """
    t = _check_fractions(t)
    if t[-1] != 1.0:
        raise ValueError("the last information fraction must be 1 for futility boundaries")
    b = efficacy_boundaries(t, alpha) if b is None else np.asarray(b, dtype=float)
    bspend = beta_spending_obf(t, beta)
    carried = (bspend >= NEGLIGIBLE_SPENDING) & (alpha_spending_obf(t, alpha) >= NEGLIGIBLE_SPENDING)
    start = int(np.argmax(carried))

    def shortfall(theta):
        return _futility_pass(t, b, beta, theta, start)[1]

    fixed = _zq(alpha / 2.0) + _zq(beta)
    lo, hi = 0.5 * fixed, 1.5 * fixed
    while shortfall(lo) < 0:
        lo *= 0.5
    while shortfall(hi) > 0:
        hi *= 1.5
    theta = optimize.brentq(shortfall, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=200)
    a, _ = _futility_pass(t, b, beta, theta, start)
    return a, theta


# --------------------------------------------------------------------------- information size


def required_information_size(
    *,
    alpha: float,
    power: float,
    control_risk: float | None = None,
    rrr: float | None = None,
    mean_difference: float | None = None,
    sd: float | None = None,
    hazard_ratio: float | None = None,
) -> float:
    """The unadjusted RIS (participants; events for a hazard ratio), formulas in the module notes.

    Give exactly one of: ``control_risk`` and ``rrr`` (binary), ``mean_difference`` and ``sd``
    (continuous), ``hazard_ratio`` (time to event). ``alpha`` is two-sided; ``alpha`` and ``power``
    are fractions (0.05, 0.80) or percentages (5, 80), as in :func:`tsa`.
    """
    alpha = _fraction(alpha, "alpha", 0.5)
    power = _fraction(power, "power", 1.0)
    zsum = _zq(alpha / 2.0) + _zq(1.0 - power)
    given = [
        control_risk is not None or rrr is not None,
        mean_difference is not None or sd is not None,
        hazard_ratio is not None,
    ]
    if sum(given) != 1:
        raise InputError(
            "give the anticipated effect in one way: --control-risk with --rrr, "
            "--mean-difference with --sd, or --hazard-ratio"
        )
    if given[0]:
        if control_risk is None or rrr is None:
            raise InputError("a binary outcome needs both --control-risk and --rrr")
        if not 0.0 < control_risk < 1.0:
            raise InputError(f"the control event proportion must lie between 0 and 1, not {control_risk:g}")
        if not -1.0 / control_risk + 1.0 < rrr < 1.0 or rrr == 0.0:
            raise InputError(
                "the relative risk reduction must be a non-zero fraction below 1 (0.20 for 20 %), "
                f"not {rrr:g}"
            )
        p_e = control_risk * (1.0 - rrr)
        delta = control_risk - p_e
        p_bar = (control_risk + p_e) / 2.0
        return 4.0 * zsum**2 * p_bar * (1.0 - p_bar) / delta**2
    if given[1]:
        if mean_difference is None or sd is None:
            raise InputError("a continuous outcome needs both --mean-difference and --sd")
        if mean_difference == 0.0 or not math.isfinite(mean_difference):
            raise InputError("the anticipated mean difference must be a non-zero number")
        if not sd > 0.0:
            raise InputError(f"the standard deviation must be above 0, not {sd:g}")
        return 4.0 * zsum**2 * sd**2 / mean_difference**2
    if hazard_ratio is None:
        raise InputError("a time-to-event outcome needs --hazard-ratio")
    if not hazard_ratio > 0.0 or hazard_ratio == 1.0:
        raise InputError(f"the anticipated hazard ratio must be above 0 and not 1, not {hazard_ratio:g}")
    return 4.0 * zsum**2 / math.log(hazard_ratio) ** 2


def diversity(yi: Sequence[float], vi: Sequence[float], method: str = "DL") -> float:
    """D² = (V_R − V_F)/V_R (Wetterslev et al. 2009) with τ² from ``method``; 0 for FE."""
    from trialsynth.stats.pooling import fit_arrays

    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    ok = np.isfinite(yi) & np.isfinite(vi)
    if method.upper() in ("FE", "MH", "PETO") or ok.sum() < 2:
        return 0.0
    fe = fit_arrays(yi[ok], vi[ok], method="FE")
    re = fit_arrays(yi[ok], vi[ok], method=method.upper())
    v_f, v_r = float(fe["se"]) ** 2, float(re["se"]) ** 2
    return max(0.0, (v_r - v_f) / v_r)


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class TSAResult(JsonResult):
    """A trial sequential analysis. Per-look tuples follow the input's row order.

    ``information`` is cumulative (participants, or events for HR: ``information_unit``);
    ``fraction`` is information/RIS (not capped); ``z`` the cumulative Z (estimate/SE on the
    analysis scale); ``boundary`` the two-sided α-spending boundary (|Z| ≥ boundary crosses);
    ``futility`` the inner-wedge value (NaN where not defined). ``estimate``, ``se`` and the
    adjusted CI refer to the last look, on the analysis scale (log for ratio measures).
    """

    measure: str
    method: str
    alpha: float
    power: float
    better: str
    labels: tuple[str, ...]
    ris: float
    ris_unadjusted: float
    diversity: float
    diversity_source: str
    information_unit: str
    information: tuple[float, ...]
    fraction: tuple[float, ...]
    z: tuple[float, ...]
    boundary: tuple[float, ...]
    futility: tuple[float, ...]
    estimate: float
    se: float
    adjusted_ci_lower: float
    adjusted_ci_upper: float
    conclusion: str
    conclusion_text: str
    drift: float
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    def format_text(self) -> str:
        """A plain-text summary for people (ratios back-transformed)."""
        back = math.exp if self.ratio else (lambda x: x)
        scale = "" if not self.ratio else " (back-transformed)"
        lines = [
            f"Trial sequential analysis: {self.measure}, {self.method}, two-sided α {self.alpha:g}, "
            f"power {self.power:g}",
            f"Required information size: {self.ris:,.0f} {self.information_unit} "
            f"(unadjusted {self.ris_unadjusted:,.0f}; diversity D² {self.diversity:.3f}, "
            f"{self.diversity_source})",
            "",
            f"{'study':<28}{'information':>12}{'fraction':>10}{'Z':>9}{'boundary':>10}{'futility':>10}",
        ]
        for row in zip(
            self.labels, self.information, self.fraction, self.z, self.boundary, self.futility, strict=True
        ):
            lab, info, frac, z, b, a = row
            a_txt = f"{a:10.3f}" if math.isfinite(a) else f"{'—':>10}"
            lines.append(f"{lab[:27]:<28}{info:12,.0f}{frac:10.3f}{z:9.3f}{b:10.3f}{a_txt}")
        lines += [
            "",
            f"Estimate{scale}: {back(self.estimate):.4g}, TSA-adjusted CI {back(self.adjusted_ci_lower):.4g} "
            f"to {back(self.adjusted_ci_upper):.4g}",
            f"Conclusion: {self.conclusion}. {self.conclusion_text}",
        ]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    #: The documented ``trialsynth tsa --json`` object (analysis scale), in this key order.
    __json_fields__ = (
        "measure", "method", "scale", "alpha", "power", "better", "ris", "ris_unadjusted", "diversity",
        "diversity_source", "information_unit", ("studies", "labels"), "information", "fraction", "z",
        "boundary", "futility", "estimate", "se", "adjusted_ci_lower", "adjusted_ci_upper", "conclusion",
        "conclusion_text", "drift", "notes", "**extra",
    )

    @property
    def scale(self) -> str:
        """``"log"`` for ratio measures, else ``"identity"``."""
        return "log" if self.ratio else "identity"


# --------------------------------------------------------------------------- information per study


def _column(data, name: str) -> np.ndarray | None:
    """A numeric column from the pooled values or the carried-through extra columns."""
    if name in data.values:
        return np.asarray(data.values[name], dtype=float)
    for key, cells in data.extra_columns.items():
        if key.strip().casefold() == name:
            out = np.full(len(cells), np.nan)
            for i, cell in enumerate(cells):
                try:
                    out[i] = float(cell) if cell.strip() else np.nan
                except ValueError:
                    raise InputError(
                        f"{data.source}: study '{data.labels[i]}': '{cell}' in column '{key}' is not a number"
                    ) from None
            return out
    return None


def _information(data, measure: str) -> tuple[np.ndarray, str, list[str]]:
    """Per-study information (participants, or events for HR) and notes."""
    n = len(data.labels)
    notes: list[str] = []
    if measure == "HR":
        ev = np.full(n, np.nan)
        col = _column(data, "events")
        if col is not None:
            ev = np.where(np.isnan(ev), col, ev)
        et, ec = _column(data, "events_treatment"), _column(data, "events_control")
        if et is not None and ec is not None:
            ev = np.where(np.isnan(ev), et + ec, ev)
        if "v" in data.values:
            v = np.asarray(data.values["v"], dtype=float)
            use = np.isnan(ev) & np.isfinite(v)
            if use.any():
                ev = np.where(use, 4.0 * v, ev)
                names = [lab for lab, u in zip(data.labels, use, strict=True) if u]
                notes.append("events taken as 4·V (log-rank variance, equal allocation): " + ", ".join(names))
                _warn(
                    f"{data.source}: no event count for {', '.join(names)}; the log-rank variance V is used "
                    "as events/4 (equal allocation)"
                )
        missing = [lab for lab, e in zip(data.labels, ev, strict=True) if not np.isfinite(e)]
        if missing:
            raise InputError(
                f"{data.source}: TSA of hazard ratios counts events, and study '{missing[0]}' has no "
                "'events' (or events_treatment and events_control) column value"
            )
        return ev, "events", notes
    nt, nc = _column(data, "n_treatment"), _column(data, "n_control")
    if nt is None or nc is None:
        raise InputError(
            f"{data.source}: TSA counts participants; add n_treatment and n_control columns for every study"
        )
    total = nt + nc
    missing = [lab for lab, x in zip(data.labels, total, strict=True) if not np.isfinite(x) or x <= 0]
    if missing:
        raise InputError(
            f"{data.source}: TSA counts participants, and study '{missing[0]}' has no n_treatment "
            "and n_control"
        )
    return total, "participants", notes


# --------------------------------------------------------------------------- the analysis


def _conclusion(z, b, a, t, labels, better: str, unit: str, ris: float, info: float) -> tuple[str, str]:
    zk, bk, ak = z[-1], b[-1], a[-1]
    sign_benefit = -1.0 if better == "lower" else 1.0
    crossed_before = [labels[i] for i in range(len(z) - 1) if np.isfinite(z[i]) and abs(z[i]) >= b[i]]
    reached = t[-1] >= 1.0
    where = f"{info:,.0f} of {ris:,.0f} {unit} ({100 * t[-1]:.0f} % of the required information size)"
    if abs(zk) >= bk:
        code = "benefit" if zk * sign_benefit > 0 else "harm"
        text = (
            f"The cumulative Z-curve ({zk:.2f}) crosses the trial sequential monitoring boundary for "
            f"{code} ({bk:.2f}) at {where}: the evidence for {code} is firm at this level of α."
        )
    elif reached or (np.isfinite(ak) and ak > 0 and abs(zk) < ak):
        code = "futility"
        text = (
            f"The cumulative Z-curve ({zk:.2f}) lies inside the futility boundaries at {where}: "
            "an effect as large as the one anticipated can be rejected."
        )
    else:
        code = "not yet conclusive"
        text = (
            f"The cumulative Z-curve ({zk:.2f}) has crossed neither the monitoring boundary "
            f"({bk:.2f}) nor the futility boundary at {where}: the evidence is not yet conclusive "
            "and further trials could change it."
        )
    if crossed_before and code != "benefit" and code != "harm":
        text += f" (It crossed the monitoring boundary earlier, at {', '.join(crossed_before)}.)"
    return code, text


def _check_anticipated(measure, control_risk, rrr, mean_difference, hazard_ratio):
    """InputError for anticipated values that do not fit the measure; for HR an RRR alone becomes
    the hazard ratio 1 − RRR. Returns ``(hazard_ratio, rrr)``."""
    if measure == "HR" and rrr is not None and hazard_ratio is None and control_risk is None:
        hazard_ratio, rrr = 1.0 - rrr, None
    if measure == "HR" and (control_risk is not None or mean_difference is not None):
        raise InputError("for hazard ratios give the anticipated --hazard-ratio (or --rrr)")
    if measure in ("OR", "RR", "RD") and (mean_difference is not None or hazard_ratio is not None):
        raise InputError(f"for {measure} give the anticipated --control-risk and --rrr")
    if measure in ("MD", "SMD") and (control_risk is not None or rrr is not None or hazard_ratio is not None):
        raise InputError(f"for {measure} give the anticipated --mean-difference and --sd")
    return hazard_ratio, rrr


def _diversity_of(diversity_value, yi, vi, method: str, notes: list[str]) -> tuple[float, str]:
    """D² and its source: ``"auto"`` (from the pooled studies ``yi``/``vi`` under ``method``, 0 for
    fixed-effect models) or ``"user"`` (a fraction in [0, 1))."""
    if isinstance(diversity_value, str) and diversity_value.strip().lower() != "auto":
        try:
            diversity_value = float(diversity_value)
        except ValueError:
            raise InputError(
                f"diversity must be 'auto' or a fraction in [0, 1), not '{diversity_value}'"
            ) from None
    if not isinstance(diversity_value, str):
        d2 = float(diversity_value)
        if not 0.0 <= d2 < 1.0:
            raise InputError(f"diversity (D²) must be a fraction in [0, 1), e.g. 0.25, not {d2:g}")
        return d2, "user"
    d2 = diversity(yi, vi, method) if method not in ("MH", "PETO") else 0.0
    if method in ("FE", "MH", "PETO"):
        notes.append("fixed-effect model: no heterogeneity adjustment (D² = 0)")
    elif len(yi) < 5:
        _warn(
            f"D² from {len(yi)} studies is very imprecise; consider setting the diversity "
            "(--diversity) from prior knowledge"
        )
    return d2, "auto"


def _z_curve(data, full, method: str, pool_options) -> tuple[np.ndarray, float, float]:
    """The cumulative Z-curve (NaN where nothing is poolable yet) and the last estimate and SE."""
    from trialsynth._core.errors import TrialsynthWarning as _TW
    from trialsynth.stats.analyses import subset_input
    from trialsynth.stats.meta import pool_input

    n = len(data.labels)
    z = np.full(n, np.nan)
    est, se = np.nan, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _TW)
        for k in range(n):
            if k == n - 1:
                res = full
            else:
                try:
                    res = pool_input(subset_input(data, list(range(k + 1))), method=method, **pool_options)
                except InputError:
                    continue  # nothing poolable yet (e.g. only double-zero tables)
            if np.isfinite(res.estimate) and np.isfinite(res.se) and res.se > 0:
                z[k] = res.estimate / res.se
                est, se = res.estimate, res.se
    return z, est, se


def tsa(
    data,
    *,
    method: str = "DL",
    alpha: float = 0.05,
    power: float = 0.80,
    control_risk: float | None = None,
    rrr: float | None = None,
    mean_difference: float | None = None,
    sd: float | None = None,
    hazard_ratio: float | None = None,
    diversity_value: float | str = "auto",
    better: str = "lower",
    **pool_options,
) -> TSAResult:
    """Trial sequential analysis of a :class:`trialsynth.io.poolcsv.PoolInput` in its row order.

    ``method`` is the pooling method of the cumulative meta-analysis (DerSimonian–Laird by
    default, as TSA); ``alpha`` two-sided and ``power`` as fractions (or percentages);
    ``diversity_value`` is ``"auto"`` (D² of the full data under ``method``) or a fraction in
    [0, 1). ``better`` is ``"lower"`` when effects below the null favour the treatment (fewer
    bad events, a lower score) or ``"higher"``. Other options go to
    :func:`trialsynth.stats.meta.pool_input` (continuity correction, profile).
    """
    from trialsynth.stats.meta import pool_input

    measure = data.measure.upper()
    method = method.upper()
    alpha = _fraction(alpha, "alpha", 0.5)
    power = _fraction(power, "power", 1.0)
    if power <= 0.5:
        raise InputError(f"power must be above 50 %, not {power:g}")
    if better not in ("lower", "higher"):
        raise InputError("better must be 'lower' or 'higher'")
    hazard_ratio, rrr = _check_anticipated(measure, control_risk, rrr, mean_difference, hazard_ratio)
    ris0 = required_information_size(
        alpha=alpha,
        power=power,
        control_risk=control_risk,
        rrr=rrr,
        mean_difference=mean_difference,
        sd=sd,
        hazard_ratio=hazard_ratio,
    )
    info_each, unit, notes = _information(data, measure)
    info = np.cumsum(info_each)

    full = pool_input(data, method=method, **pool_options)
    yi = np.array([s.yi for s in full.studies])
    vi = np.array([s.vi for s in full.studies])
    inc = np.array([s.included for s in full.studies])
    d2, d2_source = _diversity_of(diversity_value, yi[inc], vi[inc], method, notes)
    ris = ris0 / (1.0 - d2)

    z, est, se = _z_curve(data, full, method, pool_options)
    if not np.isfinite(z[-1]):
        raise NotEstimable(f"{data.source}: the meta-analysis of all studies has no usable estimate")

    frac = info / ris
    capped = np.minimum(frac, 1.0)
    before = frac < 1.0
    looks = np.unique(np.append(capped[before], 1.0))
    b_all = efficacy_boundaries(looks, alpha)
    a_all, drift = futility_boundaries(looks, alpha, 1.0 - power, b_all)
    pos = np.searchsorted(looks, capped)
    boundary = b_all[pos]
    futility = a_all[pos]
    bk = boundary[-1]
    lower, upper = est - bk * se, est + bk * se
    code, text = _conclusion(z, boundary, futility, frac, data.labels, better, unit, ris, info[-1])
    if int(inc.sum()) < len(inc):
        notes.append("studies left out of the pooled estimate still count towards the information")
    return TSAResult(
        measure=measure,
        method=method,
        alpha=alpha,
        power=power,
        better=better,
        labels=tuple(data.labels),
        ris=ris,
        ris_unadjusted=ris0,
        diversity=d2,
        diversity_source=d2_source,
        information_unit=unit,
        information=tuple(float(x) for x in info),
        fraction=tuple(float(x) for x in frac),
        z=tuple(float(x) for x in z),
        boundary=tuple(float(x) for x in boundary),
        futility=tuple(float(x) for x in futility),
        estimate=float(est),
        se=float(se),
        adjusted_ci_lower=float(lower),
        adjusted_ci_upper=float(upper),
        conclusion=code,
        conclusion_text=text,
        drift=float(drift),
        notes=tuple(notes),
    )




# --------------------------------------------------------------------------- the plot


