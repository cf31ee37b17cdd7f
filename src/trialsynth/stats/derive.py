"""From what trials report to what can be pooled: conversions with their arithmetic kept.

Every conversion is a pure function over numbers or numpy arrays (element-wise, broadcast) and
returns :class:`Derived` values: the number(s) and a :class:`Derivation` record holding the
method, the formula, the numbers that went in, the result and the reference. Nothing here
formats numbers as text; :func:`trialsynth.report.derivation.render` does.

Conversions (Cochrane Handbook for Systematic Reviews of Interventions, version 6.4, 2023,
chapter 6 (Higgins, Li & Deeks) and chapter 23 (Higgins, Eldridge & Li); section numbers below):

* SD of an arm from the SE of its mean, SD = SE·√n (6.5.2.2); from a confidence interval of its
  mean, SD = √n·(upper − lower)/(2·q), q the t quantile with n − 1 degrees of freedom for
  n < 60 and the normal quantile otherwise (6.5.2.2, where small means "fewer than 60").
* SE of a between-arm difference in means from a t statistic, a two-sided p-value (t with
  n₁ + n₂ − 2 df) or a CI of the difference; the common SD of the arms from it,
  SD = SE/√(1/n₁ + 1/n₂) (6.5.2.3).
* Mean and SD from a median with quartiles and/or minimum and maximum: Wan et al. 2014, Luo et
  al. 2018 (mean), Shi et al. 2020 (SD, five-number summary); a skewness check on the quartiles
  (Bowley's coefficient against its large-sample null distribution, the quartile test of Shi et
  al. 2023).
* SD of a change from baseline from the baseline and final SDs and their correlation, and the
  correlation from the three SDs (6.5.2.8).
* Cluster-randomised trials: design effect 1 + (m − 1)·ICC, effective sizes and events (23.1.4).
* Crossover trials: paired mean difference and its SE from the within-person differences or from
  the period SDs and a correlation (23.2.7; example in Handbook 5.1, 16.4.6.4).
* Multi-arm trials: two arms combined into one (Table 6.5.a), a shared arm split (23.3.4).
* Counts from percentages (rounded half up, flagged as derived).
* Effect measures: ratio of means (Hedges, Gurevitch & Curtis 1999), incidence rate ratio and
  difference from events and person-time (as metafor's ``escalc`` documents ``IRR``/``IRD``), NNT
  from a risk difference or from a RR/OR with an assumed control risk (Handbook 15.4.4).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from trialsynth._core.bounds import check_continuity_correction
from trialsynth._core.dist import norm_quantile, t_quantile
from trialsynth._core.errors import InputError

__all__ = [
    "HANDBOOK",
    "MEDIAN_METHODS",
    "Derivation",
    "Derived",
    "EffectDerived",
    "MeanSD",
    "cluster_effective",
    "combine_counts",
    "combine_groups",
    "correlation_from_sds",
    "count_from_percent",
    "crossover_md",
    "design_effect",
    "incidence_rate_difference",
    "incidence_rate_ratio",
    "log_ratio_of_means",
    "mean_sd_from_median",
    "nnt_from_or",
    "nnt_from_rd",
    "nnt_from_rr",
    "sd_change",
    "sd_from_ci",
    "sd_from_se",
    "sd_from_se_diff",
    "se_diff_from_ci",
    "se_diff_from_p",
    "se_diff_from_t",
    "skewness_check",
    "split_shared_arm",
]

HANDBOOK = "Cochrane Handbook v6.4"
WAN_2014 = "Wan X, Wang W, Liu J, Tong T. BMC Med Res Methodol 2014;14:135"
LUO_2018 = "Luo D, Wan X, Liu J, Tong T. Stat Methods Med Res 2018;27(6):1785-1805"
SHI_2020 = "Shi J, Luo D, Weng H, et al. Res Synth Methods 2020;11(5):641-654"
SHI_2023 = "Shi J, Luo D, Wan X, et al. Stat Methods Med Res 2023;32(7):1338-1360 (quartile test)"

#: ``--median-method`` choices: (mean method, SD method).
MEDIAN_METHODS: dict[str, tuple[str, str]] = {
    "luo-shi": ("luo", "shi"),
    "wan": ("wan", "wan"),
}

#: Below this arm size a CI of a mean is taken as t-based (Handbook 6.5.2.2: "fewer than 60").
SMALL_SAMPLE = 60


@dataclass(frozen=True, eq=False)
class Derivation:
    """How one number was derived.

    ``expression`` is a :meth:`str.format` template over the names in ``inputs`` that shows the
    arithmetic with the numbers in place (``"{se} × √{n}"``); ``formula`` is the same with symbols.
    ``inputs`` keeps every number used, reported or intermediate, in order; values are floats or
    arrays (a vectorised derivation; :meth:`at` picks one element). ``notes`` carry caveats
    (rounding, a doubtful normal assumption) and ``derived_flag`` is True for every record.
    """

    method: str
    formula: str
    expression: str
    inputs: tuple[tuple[str, Any], ...]
    output: str
    result: Any
    reference: str
    notes: tuple[str, ...] = ()
    #: What the number belongs to when that is not obvious, e.g. "treatment" for an arm's SD.
    subject: str = ""

    def input(self, name: str) -> Any:
        """The value of one input by name."""
        for key, value in self.inputs:
            if key == name:
                return value
        raise KeyError(name)

    def at(self, i: int) -> Derivation:
        """Element ``i`` of a vectorised derivation (scalars are kept as they are)."""

        def pick(v):
            a = np.asarray(v).reshape(-1)
            return a[i if a.size > 1 else 0].item()

        return replace(
            self,
            inputs=tuple((k, pick(v)) for k, v in self.inputs),
            result=pick(self.result),
        )

    def about(self, subject: str) -> Derivation:
        """The same record naming what it belongs to (an arm, a study)."""
        return replace(self, subject=subject)

    def with_notes(self, *notes: str) -> Derivation:
        return replace(self, notes=self.notes + tuple(n for n in notes if n))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (scalar derivations)."""
        return {
            "method": self.method,
            "formula": self.formula,
            "inputs": {k: _plain(v) for k, v in self.inputs},
            "output": self.output,
            "result": _plain(self.result),
            "reference": self.reference,
            "notes": list(self.notes),
            "subject": self.subject,
        }


def _plain(v):
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        x = float(a)
        return x if np.isfinite(x) else None
    return [float(x) if np.isfinite(x) else None for x in a]


@dataclass(frozen=True, eq=False)
class Derived:
    """A derived number (or array) and how it was derived."""

    value: Any
    derivation: Derivation


class MeanSD(NamedTuple):
    """Mean and SD estimated from a median with quartiles and/or range."""

    mean: Derived
    sd: Derived
    skewness: Derived | None


class EffectDerived(NamedTuple):
    """An effect size on the analysis scale and its sampling variance."""

    yi: Derived
    vi: Derived


# --------------------------------------------------------------------------- helpers


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _out(value: np.ndarray):
    """Scalars back as floats, arrays as arrays."""
    return float(value) if np.ndim(value) == 0 else value


def _require(ok, message: str) -> None:
    if not np.all(ok):
        raise InputError(message)


def _derived(value, method, formula, expression, inputs, output, reference, notes=()) -> Derived:
    value = _out(np.asarray(value, dtype=float))
    record = Derivation(
        method=method,
        formula=formula,
        expression=expression,
        inputs=tuple((k, _out(_arr(v))) for k, v in inputs),
        output=output,
        result=value,
        reference=reference,
        notes=tuple(notes),
    )
    return Derived(value, record)


def _ci_quantile(n, level, dist: str) -> tuple[np.ndarray, str]:
    """The quantile dividing a half-width into SEs: t(n − 1) below SMALL_SAMPLE ('auto'), else z."""
    n, level = _arr(n), _arr(level)
    p = 0.5 + level / 200.0
    z = norm_quantile(p)
    if dist == "z":
        return z, "z"
    with np.errstate(invalid="ignore"):
        t = t_quantile(p, np.maximum(n - 1.0, 1.0))
    if dist == "t":
        return t, "t"
    if dist != "auto":
        raise ValueError(f"dist must be 'auto', 't' or 'z', not {dist!r}")
    small = n < SMALL_SAMPLE
    kind = "t" if np.all(small) else "z" if not np.any(small) else "t or z"
    return np.where(small, t, z), kind


# --------------------------------------------------------------------------- SDs of arm means


def sd_from_se(se, n) -> Derived:
    """SD of an arm from the standard error of its mean: SD = SE·√n (Handbook 6.5.2.2)."""
    se, n = _arr(se), _arr(n)
    _require(se > 0, "a standard error must be above 0")
    _require(n > 0, "a number of patients must be above 0")
    return _derived(
        se * np.sqrt(n),
        "SD from SE",
        "SD = SE × √n",
        "{se} × √{n}",
        (("se", se), ("n", n)),
        "SD",
        f"{HANDBOOK} 6.5.2.2",
    )


def sd_from_ci(lower, upper, n, *, level=95.0, dist: str = "auto") -> Derived:
    """SD of an arm from a confidence interval of its mean (Handbook 6.5.2.2).

    SD = √n·(upper − lower)/(2·q): q is the t quantile with n − 1 df when n < 60 and the normal
    quantile otherwise (``dist="auto"``); ``dist="t"`` or ``"z"`` forces one. ``level`` in percent.
    """
    lower, upper, n = _arr(lower), _arr(upper), _arr(n)
    _require(upper > lower, "the upper confidence limit must be above the lower one")
    _require(n > 1, "a CI of a mean needs more than one patient")
    q, kind = _ci_quantile(n, level, dist)
    sd = np.sqrt(n) * (upper - lower) / (2 * q)
    return _derived(
        sd,
        "SD from CI of the mean",
        f"SD = √n × (upper − lower) / (2 × {kind}), {kind} for a {level:g}% CI",
        "√{n} × ({upper} − {lower}) / (2 × {q})",
        (("n", n), ("upper", upper), ("lower", lower), ("q", q)),
        "SD",
        f"{HANDBOOK} 6.5.2.2",
    )


# --------------------------------------------------------------------------- differences between arms


def se_diff_from_t(estimate, t) -> Derived:
    """SE of a difference in means from its t statistic: SE = |MD|/|t| (Handbook 6.5.2.3)."""
    est, t = _arr(estimate), _arr(t)
    _require(t != 0, "a t statistic of 0 gives no standard error")
    _require(est != 0, "a difference of 0 with a t statistic gives no standard error")
    return _derived(
        np.abs(est) / np.abs(t),
        "SE of the difference from t",
        "SE = |MD| / |t|",
        "|{estimate}| / |{t}|",
        (("estimate", est), ("t", t)),
        "SE",
        f"{HANDBOOK} 6.5.2.3",
    )


def se_diff_from_p(estimate, p_value, n1, n2) -> Derived:
    """SE of a difference in means from its two-sided p-value (Handbook 6.5.2.3).

    t = the t quantile at 1 − p/2 with n₁ + n₂ − 2 df; SE = |MD|/t.
    """
    est, p, n1, n2 = _arr(estimate), _arr(p_value), _arr(n1), _arr(n2)
    _require((p > 0) & (p < 1), "the p-value must be above 0 and below 1 to give a standard error")
    _require(est != 0, "a difference of 0 with a p-value gives no standard error")
    _require(n1 + n2 > 2, "a t test needs more than two patients")
    df = n1 + n2 - 2
    t = t_quantile(1 - p / 2, df)
    return _derived(
        np.abs(est) / t,
        "SE of the difference from p",
        "t = t quantile(1 − p/2, n₁ + n₂ − 2); SE = |MD| / t",
        "|{estimate}| / {t} (p = {p}, {df} df)",
        (("estimate", est), ("t", t), ("p", p), ("df", df)),
        "SE",
        f"{HANDBOOK} 6.5.2.3",
    )


def se_diff_from_ci(lower, upper, n1, n2, *, level=95.0, dist: str = "auto") -> Derived:
    """SE of a difference in means from its confidence interval (Handbook 6.5.2.3).

    SE = (upper − lower)/(2·q), q the t quantile with n₁ + n₂ − 2 df when both arms are below 60
    (``dist="auto"``), the normal quantile otherwise.
    """
    lower, upper, n1, n2 = _arr(lower), _arr(upper), _arr(n1), _arr(n2)
    _require(upper > lower, "the upper confidence limit must be above the lower one")
    p = 0.5 + _arr(level) / 200.0
    z = norm_quantile(p)
    t = t_quantile(p, np.maximum(n1 + n2 - 2, 1.0))
    if dist == "t":
        q, kind = t, "t"
    elif dist == "z":
        q, kind = z, "z"
    else:
        small = (n1 < SMALL_SAMPLE) & (n2 < SMALL_SAMPLE)
        q = np.where(small, t, z)
        kind = "t" if np.all(small) else "z" if not np.any(small) else "t or z"
    return _derived(
        (upper - lower) / (2 * q),
        "SE of the difference from its CI",
        f"SE = (upper − lower) / (2 × {kind}), {kind} for a {level:g}% CI",
        "({upper} − {lower}) / (2 × {q})",
        (("upper", upper), ("lower", lower), ("q", q)),
        "SE",
        f"{HANDBOOK} 6.5.2.3",
    )


def sd_from_se_diff(se, n1, n2) -> Derived:
    """The SD common to both arms from the SE of their difference in means (Handbook 6.5.2.3).

    SD = SE/√(1/n₁ + 1/n₂); the same SD is then used for both arms.
    """
    se, n1, n2 = _arr(se), _arr(n1), _arr(n2)
    _require(se > 0, "a standard error must be above 0")
    return _derived(
        se / np.sqrt(1 / n1 + 1 / n2),
        "SD from SE of the difference",
        "SD = SE / √(1/n₁ + 1/n₂)",
        "{se} / √(1/{n1} + 1/{n2})",
        (("se", se), ("n1", n1), ("n2", n2)),
        "SD",
        f"{HANDBOOK} 6.5.2.3",
    )


# --------------------------------------------------------------------------- medians, quartiles, ranges


def _bracket(median, low, high, low_name: str, high_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two summary values around a median, checked: low ≤ median ≤ high and low < high."""
    low, high = _arr(low), _arr(high)
    _require(low <= median, f"{low_name} is above the median")
    _require(high >= median, f"{high_name} is below the median")
    _require(high > low, f"{high_name} must be above {low_name}")
    return low, high


def _xi(n):
    """ξ(n) = 2Φ⁻¹((n − 0.375)/(n + 0.25)): the expected range of n standard normals (Wan 2014)."""
    return 2 * norm_quantile((n - 0.375) / (n + 0.25))


def _eta(n):
    """η(n) = 2Φ⁻¹((0.75n − 0.125)/(n + 0.25)): the expected IQR of n standard normals (Wan 2014)."""
    return 2 * norm_quantile((0.75 * n - 0.125) / (n + 0.25))


def _mean_from_median(mean_method, scenario, inputs, n, m, a, b, lo, hi) -> Derived:
    """The mean of :func:`mean_sd_from_median` (``luo``: Luo et al. 2018; ``wan``: Wan et al. 2014)."""
    if mean_method == "luo":
        ref_mean = LUO_2018
        if scenario == "S1":
            w = 4 / (4 + n**0.75)
            mean = w * (a + b) / 2 + (1 - w) * m
            formula = "mean = w·(min + max)/2 + (1 − w)·median, w = 4/(4 + n^0.75)"
            expr = "{w} × ({min} + {max})/2 + (1 − {w}) × {median}"
            extra = [("w", w)]
        elif scenario == "S3":
            w = 0.7 + 0.39 / n
            mean = w * (lo + hi) / 2 + (1 - w) * m
            formula = "mean = w·(q1 + q3)/2 + (1 − w)·median, w = 0.7 + 0.39/n"
            expr = "{w} × ({q1} + {q3})/2 + (1 − {w}) × {median}"
            extra = [("w", w)]
        else:
            w1 = 2.2 / (2.2 + n**0.75)
            w2 = 0.7 - 0.72 / n**0.55
            mean = w1 * (a + b) / 2 + w2 * (lo + hi) / 2 + (1 - w1 - w2) * m
            formula = (
                "mean = w1·(min + max)/2 + w2·(q1 + q3)/2 + (1 − w1 − w2)·median, "
                "w1 = 2.2/(2.2 + n^0.75), w2 = 0.7 − 0.72/n^0.55"
            )
            expr = "{w1} × ({min} + {max})/2 + {w2} × ({q1} + {q3})/2 + (1 − {w1} − {w2}) × {median}"
            extra = [("w1", w1), ("w2", w2)]
    else:
        ref_mean = WAN_2014
        extra = []
        if scenario == "S1":
            mean = (a + 2 * m + b) / 4
            formula, expr = "mean = (min + 2·median + max)/4", "({min} + 2 × {median} + {max}) / 4"
        elif scenario == "S3":
            mean = (lo + m + hi) / 3
            formula, expr = "mean = (q1 + median + q3)/3", "({q1} + {median} + {q3}) / 3"
        else:
            mean = (a + 2 * lo + 2 * m + 2 * hi + b) / 8
            formula = "mean = (min + 2·q1 + 2·median + 2·q3 + max)/8"
            expr = "({min} + 2 × {q1} + 2 × {median} + 2 × {q3} + {max}) / 8"
    return _derived(
        mean,
        f"Mean from median ({scenario}, {'Luo 2018' if mean_method == 'luo' else 'Wan 2014'})",
        formula,
        expr,
        tuple(inputs) + tuple(extra),
        "mean",
        ref_mean,
    )


def _sd_from_median(sd_method, scenario, inputs, n, a, b, lo, hi) -> Derived:
    """The SD of :func:`mean_sd_from_median` (Wan et al. 2014; Shi et al. 2020 for S2 under ``shi``)."""
    sd_inputs = list(inputs)
    if scenario in ("S1", "S2"):
        xi = _xi(n)
        sd_inputs.append(("xi", xi))
    if scenario in ("S2", "S3"):
        eta = _eta(n)
        sd_inputs.append(("eta", eta))
    if scenario == "S1":
        sd = (b - a) / xi
        formula = "SD = (max − min)/ξ(n), ξ(n) = 2Φ⁻¹((n − 0.375)/(n + 0.25))"
        expr, ref_sd, label = "({max} − {min}) / {xi}", WAN_2014, "Wan 2014"
    elif scenario == "S3":
        sd = (hi - lo) / eta
        formula = "SD = (q3 − q1)/η(n), η(n) = 2Φ⁻¹((0.75n − 0.125)/(n + 0.25))"
        expr, ref_sd, label = "({q3} − {q1}) / {eta}", WAN_2014, "Wan 2014"
    elif sd_method == "shi":
        w = 1 / (1 + 0.07 * n**0.6)
        sd = w * (b - a) / xi + (1 - w) * (hi - lo) / eta
        sd_inputs.append(("w", w))
        formula = "SD = w·(max − min)/ξ(n) + (1 − w)·(q3 − q1)/η(n), w = 1/(1 + 0.07·n^0.6)"
        expr = "{w} × ({max} − {min}) / {xi} + (1 − {w}) × ({q3} − {q1}) / {eta}"
        ref_sd, label = SHI_2020, "Shi 2020"
    else:
        sd = 0.5 * (b - a) / xi + 0.5 * (hi - lo) / eta
        formula = "SD = ½·(max − min)/ξ(n) + ½·(q3 − q1)/η(n)"
        expr = "({max} − {min}) / (2 × {xi}) + ({q3} − {q1}) / (2 × {eta})"
        ref_sd, label = WAN_2014, "Wan 2014"
    return _derived(
        sd, f"SD from median ({scenario}, {label})", formula, expr, tuple(sd_inputs), "SD", ref_sd
    )


def mean_sd_from_median(
    n,
    median,
    *,
    q1=None,
    q3=None,
    minimum=None,
    maximum=None,
    method: str = "luo-shi",
) -> MeanSD:
    """Sample mean and SD estimated from the median with quartiles and/or minimum and maximum.

    The scenario follows from which arguments are given: S1 {min, median, max}, S2 {min, q1,
    median, q3, max}, S3 {q1, median, q3} (Wan et al. 2014's labels). ``method``:

    ``"luo-shi"``
        (default; the current recommendation, used by the Cochrane Handbook 6.5.2.5's cited
        methods and by metafor's ``conv.fivenum``): mean by Luo et al. 2018 — S1:
        w·(a + b)/2 + (1 − w)·m, w = 4/(4 + n^0.75); S2:
        w₁·(a + b)/2 + w₂·(q₁ + q₃)/2 + (1 − w₁ − w₂)·m, w₁ = 2.2/(2.2 + n^0.75),
        w₂ = 0.7 − 0.72/n^0.55; S3: w·(q₁ + q₃)/2 + (1 − w)·m, w = 0.7 + 0.39/n;
        SD by Wan et al. 2014 for S1 and S3, (b − a)/ξ(n) and (q₃ − q₁)/η(n), and by Shi et al. 2020
        for S2: w·(b − a)/ξ(n) + (1 − w)·(q₃ − q₁)/η(n), w = 1/(1 + 0.07·n^0.6).

    ``"wan"``
        Wan et al. 2014 throughout — mean (a + 2m + b)/4 (S1), (a + 2q₁ + 2m + 2q₃ + b)/8
        (S2), (q₁ + m + q₃)/3 (S3); SD as above for S1 and S3 and, for S2,
        ½·(b − a)/ξ(n) + ½·(q₃ − q₁)/η(n).

    ξ(n) = 2Φ⁻¹((n − 0.375)/(n + 0.25)), η(n) = 2Φ⁻¹((0.75n − 0.125)/(n + 0.25)).
    When quartiles are given, ``skewness`` holds :func:`skewness_check`. All formulas assume
    roughly normal data.
    """
    if method not in MEDIAN_METHODS:
        raise InputError(f"unknown median method '{method}'; use one of {', '.join(MEDIAN_METHODS)}")
    mean_method, sd_method = MEDIAN_METHODS[method]
    has_q = q1 is not None and q3 is not None
    has_r = minimum is not None and maximum is not None
    if not (has_q or has_r):
        raise InputError("a median needs its quartiles (q1, q3) or its range (min, max) to estimate a mean")
    n, m = _arr(n), _arr(median)
    _require(n > 1, "estimating a mean and SD from a median needs more than one patient")
    inputs: list[tuple[str, Any]] = [("n", n)]
    a = b = lo = hi = None
    if has_r:
        a, b = _bracket(m, minimum, maximum, "the minimum", "the maximum")
        inputs += [("min", a)]
    if has_q:
        lo, hi = _bracket(m, q1, q3, "the first quartile", "the third quartile")
        inputs += [("q1", lo)]
    inputs += [("median", m)]
    if has_q:
        inputs += [("q3", hi)]
    if has_r:
        inputs += [("max", b)]
    scenario = "S2" if has_q and has_r else "S3" if has_q else "S1"

    mean_d = _mean_from_median(mean_method, scenario, inputs, n, m, a, b, lo, hi)
    sd_d = _sd_from_median(sd_method, scenario, inputs, n, a, b, lo, hi)

    skew = skewness_check(n, m, lo, hi) if has_q else None
    if skew is not None:
        doubtful = np.asarray(skew.value) > 1
        if np.all(doubtful):  # a vectorised call leaves per-row notes to the caller
            note = "quartiles suggest skewed data: the normal-based estimate is doubtful"
            mean_d = _with_note(mean_d, note)
            sd_d = _with_note(sd_d, note)
    return MeanSD(mean_d, sd_d, skew)


def _with_note(d: Derived, note: str) -> Derived:
    return Derived(d.value, d.derivation.with_notes(note))


#: Large-sample SD of √n·Bowley's coefficient (q1 + q3 − 2m)/(q3 − q1) under normality, from the
#: asymptotic covariance of sample quantiles: n·Var(q1 + q3 − 2m) = 0.5/f₁² + 1/f₀² − 1/(f₁f₀)
#: with f₁ = φ(Φ⁻¹(0.75)), f₀ = φ(0) (σ = 1), divided by the normal IQR 2Φ⁻¹(0.75).
def _bowley_null_sd() -> float:
    zq = float(norm_quantile(0.75))
    f1 = np.exp(-0.5 * zq * zq) / np.sqrt(2 * np.pi)
    f0 = 1 / np.sqrt(2 * np.pi)
    return float(np.sqrt(0.5 / f1**2 + 1 / f0**2 - 1 / (f1 * f0)) / (2 * zq))


BOWLEY_NULL_SD = _bowley_null_sd()


def skewness_check(n, median, q1, q3, *, level: float = 95.0) -> Derived:
    """Is a median with quartiles compatible with normal data? (Shi et al. 2023, quartile test.)

    Bowley's coefficient B = (q1 + q3 − 2·median)/(q3 − q1) is about normal with mean 0 and SD
    c/√n under normality, c = 1.3561 (derived in :data:`BOWLEY_NULL_SD` from the asymptotic
    covariance of sample quantiles; Shi et al. 2023 give the 5% critical value 2.66/√n). The
    value returned is |B|/critical value: above 1 means skewness detected at the given level and
    the normal-based conversions are doubtful.
    """
    n, m, lo, hi = _arr(n), _arr(median), _arr(q1), _arr(q3)
    bowley = (lo + hi - 2 * m) / (hi - lo)
    crit = norm_quantile(0.5 + level / 200.0) * BOWLEY_NULL_SD / np.sqrt(n)
    ratio = np.abs(bowley) / crit
    notes = ("skewed: |B| above the critical value",) if np.all(ratio > 1) else ()
    return _derived(
        ratio,
        "Skewness check (Bowley)",
        f"B = (q1 + q3 − 2·median)/(q3 − q1); skewed when |B| > z × {BOWLEY_NULL_SD:.4f}/√n ({level:g}%)",
        "|{B}| / {critical}",
        (("n", n), ("q1", lo), ("median", m), ("q3", hi), ("B", bowley), ("critical", crit)),
        "|B| / critical value",
        SHI_2023,
        notes,
    )


# --------------------------------------------------------------------------- change scores


def sd_change(sd_baseline, sd_final, correlation) -> Derived:
    """SD of the change from baseline (Handbook 6.5.2.8).

    SD_change = √(SD_b² + SD_f² − 2·r·SD_b·SD_f).
    """
    sb, sf, r = _arr(sd_baseline), _arr(sd_final), _arr(correlation)
    _require((sb > 0) & (sf > 0), "a standard deviation must be above 0")
    _require((r >= -1) & (r <= 1), "a correlation lies between −1 and 1")
    var = sb**2 + sf**2 - 2 * r * sb * sf
    _require(var > 0, "the baseline and final SDs with this correlation give no variance of the change")
    return _derived(
        np.sqrt(var),
        "SD of change from baseline",
        "SD_change = √(SD_b² + SD_f² − 2·r·SD_b·SD_f)",
        "√({sd_baseline}² + {sd_final}² − 2 × {r} × {sd_baseline} × {sd_final})",
        (("sd_baseline", sb), ("sd_final", sf), ("r", r)),
        "SD_change",
        f"{HANDBOOK} 6.5.2.8",
    )


def correlation_from_sds(sd_baseline, sd_final, sd_change) -> Derived:
    """The baseline–final correlation implied by the three SDs of a trial that reports them all.

    r = (SD_b² + SD_f² − SD_change²)/(2·SD_b·SD_f) (Handbook 6.5.2.8), to impute in other trials.
    """
    sb, sf, sc = _arr(sd_baseline), _arr(sd_final), _arr(sd_change)
    _require((sb > 0) & (sf > 0) & (sc > 0), "a standard deviation must be above 0")
    r = (sb**2 + sf**2 - sc**2) / (2 * sb * sf)
    _require(
        (r >= -1) & (r <= 1), "these three SDs are not consistent (the implied correlation is beyond ±1)"
    )
    return _derived(
        r,
        "Correlation from SDs",
        "r = (SD_b² + SD_f² − SD_change²) / (2·SD_b·SD_f)",
        "({sd_baseline}² + {sd_final}² − {sd_change}²) / (2 × {sd_baseline} × {sd_final})",
        (("sd_baseline", sb), ("sd_final", sf), ("sd_change", sc)),
        "r",
        f"{HANDBOOK} 6.5.2.8",
    )


# --------------------------------------------------------------------------- cluster and crossover trials


def design_effect(cluster_size, icc) -> Derived:
    """Design effect of a cluster-randomised trial: 1 + (m − 1)·ICC (Handbook 23.1.4)."""
    m, icc = _arr(cluster_size), _arr(icc)
    _require(m >= 1, "the mean cluster size must be 1 or more")
    _require((icc >= 0) & (icc <= 1), "an intracluster correlation lies between 0 and 1")
    return _derived(
        1 + (m - 1) * icc,
        "Design effect",
        "DE = 1 + (m − 1) × ICC",
        "1 + ({m} − 1) × {icc}",
        (("m", m), ("icc", icc)),
        "DE",
        f"{HANDBOOK} 23.1.4",
    )


def cluster_effective(n, cluster_size, icc, *, events=None) -> tuple[Derived, Derived | None]:
    """Effective sample size (and events) of one arm of a cluster trial: n/DE (and events/DE).

    Means and SDs are unchanged; counts are divided by the design effect and kept unrounded
    (Handbook 23.1.4).
    """
    de = design_effect(cluster_size, icc).value

    def divided(value, name: str, label: str) -> Derived:
        value = _arr(value)
        return _derived(
            value / de,
            f"Effective {label} (cluster trial)",
            f"{name}_eff = {name} / (1 + (m − 1) × ICC)",
            f"{{{name}}} / {{de}}",
            ((name, value), ("de", de), ("m", cluster_size), ("icc", icc)),
            f"{name}_eff",
            f"{HANDBOOK} 23.1.4",
        )

    return divided(n, "n", "sample size"), None if events is None else divided(events, "events", "events")


def crossover_md(
    mean_e, mean_c, n, *, sd_diff=None, sd_e=None, sd_c=None, correlation=None
) -> tuple[Derived, Derived]:
    """Paired mean difference of a crossover trial and its SE (Handbook 23.2.7).

    MD = M_E − M_C; SE = SD_diff/√n, with SD_diff given (from the within-person differences or
    imputed) or from the period SDs and a correlation: SD_diff = √(SD_E² + SD_C² − 2·r·SD_E·SD_C).
    """
    me, mc, n = _arr(mean_e), _arr(mean_c), _arr(n)
    _require(n > 0, "a number of patients must be above 0")
    steps: list[tuple[str, Any]] = []
    if sd_diff is None:
        if sd_e is None or sd_c is None or correlation is None:
            raise InputError(
                "a crossover trial needs the SD of the differences, or both SDs and a correlation"
            )
        sdd = sd_change(sd_e, sd_c, correlation)  # the same algebra as a change score
        sd_diff_v = _arr(sdd.value)
        steps = [("sd_e", sd_e), ("sd_c", sd_c), ("r", correlation)]
        formula = "SE = √(SD_E² + SD_C² − 2·r·SD_E·SD_C) / √n"
        expr = "√({sd_e}² + {sd_c}² − 2 × {r} × {sd_e} × {sd_c}) / √{n}"
    else:
        sd_diff_v = _arr(sd_diff)
        _require(sd_diff_v > 0, "a standard deviation must be above 0")
        steps = [("sd_diff", sd_diff_v)]
        formula, expr = "SE = SD_diff / √n", "{sd_diff} / √{n}"
    md = _derived(
        me - mc,
        "Crossover mean difference",
        "MD = M_E − M_C",
        "{mean_e} − {mean_c}",
        (("mean_e", me), ("mean_c", mc)),
        "MD",
        f"{HANDBOOK} 23.2.7",
    )
    se = _derived(
        sd_diff_v / np.sqrt(n),
        "SE of crossover MD (paired)",
        formula,
        expr,
        (*tuple(steps), ("n", n)),
        "SE",
        f"{HANDBOOK} 23.2.7",
    )
    return md, se


# --------------------------------------------------------------------------- multi-arm trials


def combine_groups(n1, mean1, sd1, n2, mean2, sd2) -> tuple[Derived, Derived, Derived]:
    """Two groups combined into one: n, mean and SD (Handbook Table 6.5.a).

    N = N₁ + N₂; M = (N₁M₁ + N₂M₂)/N;
    SD = √(((N₁ − 1)SD₁² + (N₂ − 1)SD₂² + N₁N₂/N·(M₁ − M₂)²)/(N − 1)).
    """
    n1, m1, s1, n2, m2, s2 = (_arr(x) for x in (n1, mean1, sd1, n2, mean2, sd2))
    _require((n1 > 0) & (n2 > 0), "a number of patients must be above 0")
    n = n1 + n2
    mean = (n1 * m1 + n2 * m2) / n
    sd = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2 + n1 * n2 / n * (m1 - m2) ** 2) / (n - 1))
    ref = f"{HANDBOOK} Table 6.5.a"
    ins = (("n1", n1), ("m1", m1), ("sd1", s1), ("n2", n2), ("m2", m2), ("sd2", s2))
    return (
        _derived(n, "Combined groups: n", "N = N1 + N2", "{n1} + {n2}", ins[0:1] + ins[3:4], "n", ref),
        _derived(
            mean,
            "Combined groups: mean",
            "M = (N1·M1 + N2·M2) / (N1 + N2)",
            "({n1} × {m1} + {n2} × {m2}) / ({n1} + {n2})",
            ins,
            "mean",
            ref,
        ),
        _derived(
            sd,
            "Combined groups: SD",
            "SD = √(((N1 − 1)SD1² + (N2 − 1)SD2² + N1·N2/(N1 + N2)·(M1 − M2)²) / (N1 + N2 − 1))",
            "√((({n1} − 1) × {sd1}² + ({n2} − 1) × {sd2}² + {n1} × {n2} / ({n1} + {n2}) × ({m1} − {m2})²)"
            " / ({n1} + {n2} − 1))",
            ins,
            "SD",
            ref,
        ),
    )


def combine_counts(events1, n1, events2, n2) -> tuple[Derived, Derived]:
    """Two groups combined into one for counts: events and sizes added (Handbook 6.5.a / 23.3.4)."""
    e1, n1, e2, n2 = _arr(events1), _arr(n1), _arr(events2), _arr(n2)
    ref = f"{HANDBOOK} 23.3.4"
    return (
        _derived(
            e1 + e2,
            "Combined groups: events",
            "events = e1 + e2",
            "{e1} + {e2}",
            (("e1", e1), ("e2", e2)),
            "events",
            ref,
        ),
        _derived(
            n1 + n2, "Combined groups: n", "N = N1 + N2", "{n1} + {n2}", (("n1", n1), ("n2", n2)), "n", ref
        ),
    )


def split_shared_arm(n, k, *, events=None) -> tuple[Derived, Derived | None]:
    """A control arm shared by ``k`` comparisons split into ``k`` parts (Handbook 23.3.4).

    n/k (and events/k) per comparison, kept unrounded, so the shared patients are not counted
    ``k`` times. Means and SDs are unchanged.
    """
    n, k = _arr(n), _arr(k)
    _require((k >= 2) & (k == np.round(k)), "a shared arm is split between 2 or more comparisons")
    ref = f"{HANDBOOK} 23.3.4"
    n_d = _derived(
        n / k, "Shared arm split: n", "n_part = n / k", "{n} / {k}", (("n", n), ("k", k)), "n", ref
    )
    if events is None:
        return n_d, None
    e = _arr(events)
    e_d = _derived(
        e / k,
        "Shared arm split: events",
        "events_part = events / k",
        "{events} / {k}",
        (("events", e), ("k", k)),
        "events",
        ref,
    )
    return n_d, e_d


# --------------------------------------------------------------------------- counts from percentages


def count_from_percent(percent, n) -> Derived:
    """Number of patients from a percentage of ``n``: round(percent/100 × n), half up.

    The count is flagged as derived. When several whole numbers are consistent with the
    percentage as printed, the note says so (the percentage's own rounding limits the count).
    """
    pct, n = _arr(percent), _arr(n)
    _require((pct >= 0) & (pct <= 100), "a percentage lies between 0 and 100")
    _require((n > 0) & (n == np.round(n)), "a number of patients must be a whole number above 0")
    exact = pct / 100 * n
    count = np.floor(exact + 0.5)
    notes = ["rounded to a whole number; derived, not reported"]
    return _derived(
        count,
        "Count from percentage",
        "events = round(percent / 100 × n)",
        "round({percent}% × {n}) = round({exact})",
        (("percent", pct), ("n", n), ("exact", exact)),
        "events",
        f"{HANDBOOK} 6.4.1 (counts from percentages, rounded)",
        notes,
    )


# --------------------------------------------------------------------------- more effect measures


def log_ratio_of_means(mean1, sd1, n1, mean2, sd2, n2) -> EffectDerived:
    """Log ratio of means (ROM) and its variance (Hedges, Gurevitch & Curtis, Ecology 1999;80:1150).

    yi = ln(M₁/M₂), vi = SD₁²/(n₁M₁²) + SD₂²/(n₂M₂²); both means must be positive.
    """
    m1, s1, n1, m2, s2, n2 = (_arr(x) for x in (mean1, sd1, n1, mean2, sd2, n2))
    _require((m1 > 0) & (m2 > 0), "a ratio of means needs both means above 0")
    ref = "Hedges LV, Gurevitch J, Curtis PS. Ecology 1999;80(4):1150-1156"
    yi = _derived(
        np.log(m1 / m2),
        "Log ratio of means",
        "ln ROM = ln(M1 / M2)",
        "ln({m1} / {m2})",
        (("m1", m1), ("m2", m2)),
        "ln ROM",
        ref,
    )
    vi = _derived(
        s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2),
        "Variance of ln ROM",
        "v = SD1²/(n1·M1²) + SD2²/(n2·M2²)",
        "{sd1}²/({n1} × {m1}²) + {sd2}²/({n2} × {m2}²)",
        (("sd1", s1), ("n1", n1), ("m1", m1), ("sd2", s2), ("n2", n2), ("m2", m2)),
        "v",
        ref,
    )
    return EffectDerived(yi, vi)


def _rate_inputs(events1, time1, events2, time2, add: float, to_zero: bool):
    add = check_continuity_correction(add)
    x1, t1, x2, t2 = _arr(events1), _arr(time1), _arr(events2), _arr(time2)
    _require((x1 >= 0) & (x2 >= 0), "a number of events must be 0 or more")
    _require((t1 > 0) & (t2 > 0), "person-time must be above 0")
    zero = ((x1 == 0) | (x2 == 0)) if to_zero else np.zeros(np.shape(x1 + x2), dtype=bool)
    both0 = (x1 == 0) & (x2 == 0)
    x1c = np.where(zero, x1 + add, x1)
    x2c = np.where(zero, x2 + add, x2)
    notes = (f"{add:g} added to the event counts (a zero count)",) if np.any(zero) else ()
    return x1c, t1, x2c, t2, zero, both0, notes


def incidence_rate_ratio(
    events1, time1, events2, time2, *, add: float = 0.5, drop00: bool = False
) -> EffectDerived:
    """Log incidence rate ratio and its variance from events and person-time.

    yi = ln((x₁/t₁)/(x₂/t₂)), vi = 1/x₁ + 1/x₂; ``add`` is added to both counts of a study with a
    zero count (as metafor's ``escalc(measure="IRR")`` with ``to="only0"``). A study with no
    events in either arm is kept with the correction, as escalc's default ``drop00 = FALSE``
    (then yi = ln(t₂/t₁), vi = 2/add); ``drop00=True`` gives it no IRR (NaN).
    """
    x1, t1, x2, t2, _zero, both0, notes = _rate_inputs(events1, time1, events2, time2, add, True)
    ref = "Rothman KJ, Greenland S, Lash TL. Modern Epidemiology, 3rd ed. 2008, ch. 14"
    gone = both0 & drop00
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(gone, np.nan, np.log((x1 / t1) / (x2 / t2)))
        v = np.where(gone, np.nan, 1 / x1 + 1 / x2)
    ins = (("x1", x1), ("t1", t1), ("x2", x2), ("t2", t2))
    return EffectDerived(
        _derived(
            y,
            "Log incidence rate ratio",
            "ln IRR = ln((x1/t1)/(x2/t2))",
            "ln(({x1}/{t1}) / ({x2}/{t2}))",
            ins,
            "ln IRR",
            ref,
            notes,
        ),
        _derived(
            v, "Variance of ln IRR", "v = 1/x1 + 1/x2", "1/{x1} + 1/{x2}", ins[0:1] + ins[2:3], "v", ref
        ),
    )


def incidence_rate_difference(events1, time1, events2, time2, *, add: float = 0.5) -> EffectDerived:
    """Incidence rate difference and its variance: yi = x₁/t₁ − x₂/t₂, vi = x₁/t₁² + x₂/t₂².

    As for the IRR, ``add`` is added to both counts of a study with a zero count (metafor's
    ``escalc(measure="IRD")`` default, ``to="only0"``), so that arm's variance is not 0.
    """
    x1, t1, x2, t2, _, _, notes = _rate_inputs(events1, time1, events2, time2, add, True)
    ref = "Rothman KJ, Greenland S, Lash TL. Modern Epidemiology, 3rd ed. 2008, ch. 14"
    ins = (("x1", x1), ("t1", t1), ("x2", x2), ("t2", t2))
    return EffectDerived(
        _derived(
            x1 / t1 - x2 / t2,
            "Incidence rate difference",
            "IRD = x1/t1 − x2/t2",
            "{x1}/{t1} − {x2}/{t2}",
            ins,
            "IRD",
            ref,
            notes,
        ),
        _derived(
            x1 / t1**2 + x2 / t2**2,
            "Variance of IRD",
            "v = x1/t1² + x2/t2²",
            "{x1}/{t1}² + {x2}/{t2}²",
            ins,
            "v",
            ref,
        ),
    )


def _nnt(arr_, method, formula, expr, inputs) -> Derived:
    _require(arr_ != 0, "a risk difference of 0 gives no number needed to treat")
    return _derived(
        1 / arr_,
        method,
        formula + "; positive: treat this many to prevent one event, negative: to cause one",
        expr,
        inputs,
        "NNT",
        f"{HANDBOOK} 15.4.4 (round NNT up to a whole number when reporting)",
    )


def nnt_from_rd(rd) -> Derived:
    """NNT from a risk difference (treatment − control): NNT = 1/(−RD) (Handbook 15.4.4.1)."""
    rd = _arr(rd)
    return _nnt(-rd, "NNT from RD", "NNT = 1 / (−RD)", "1 / (−{rd})", (("rd", rd),))


def nnt_from_rr(rr, control_risk) -> Derived:
    """NNT from a risk ratio and an assumed control risk: 1/(ACR·(1 − RR)) (Handbook 15.4.4.2)."""
    rr, acr = _arr(rr), _arr(control_risk)
    _require(rr > 0, "a risk ratio must be above 0")
    _require((acr > 0) & (acr < 1), "the assumed control risk lies between 0 and 1")
    return _nnt(
        acr * (1 - rr),
        "NNT from RR",
        "NNT = 1 / (ACR × (1 − RR))",
        "1 / ({acr} × (1 − {rr}))",
        (("acr", acr), ("rr", rr)),
    )


def nnt_from_or(or_, control_risk) -> Derived:
    """NNT from an odds ratio and an assumed control risk (Handbook 15.4.4.3).

    NNT = 1/(ACR − OR·ACR/(1 − ACR + OR·ACR)).
    """
    or_, acr = _arr(or_), _arr(control_risk)
    _require(or_ > 0, "an odds ratio must be above 0")
    _require((acr > 0) & (acr < 1), "the assumed control risk lies between 0 and 1")
    return _nnt(
        acr - or_ * acr / (1 - acr + or_ * acr),
        "NNT from OR",
        "NNT = 1 / (ACR − OR × ACR / (1 − ACR + OR × ACR))",
        "1 / ({acr} − {or} × {acr} / (1 − {acr} + {or} × {acr}))",
        (("acr", acr), ("or", or_)),
    )
