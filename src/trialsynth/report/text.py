"""Plain-text rendering of results for the terminal."""

from __future__ import annotations

import math

from trialsynth._core.bounds import natural_scale
from trialsynth._core.results import MetaResult

METHOD_NAMES = {
    "FE": "fixed effect (inverse variance)",
    "MH": "fixed effect (Mantel–Haenszel)",
    "PETO": "fixed effect (Peto)",
    "DL": "random effects (DerSimonian–Laird)",
    "REML": "random effects (REML)",
    "PM": "random effects (Paule–Mandel)",
    "ML": "random effects (maximum likelihood)",
    "HE": "random effects (Hedges)",
    "SJ": "random effects (Sidik–Jonkman)",
    "EB": "random effects (empirical Bayes)",
    "HS": "random effects (Hunter–Schmidt)",
    "GLMM": "GLMM (see notes)",
}


#: Most decimals an estimate and its interval are printed with (a CI narrower than 10⁻⁶ is
#: shown as it rounds).
MAX_DIGITS = 6


def ci_digits(lo: float | None, hi: float | None, digits: int = 2) -> int:
    """Decimals that show an interval with two significant digits of its width: 2 for a usual
    interval, more for a narrow one (a rare-event risk difference −0.0012, −0.0031 to 0.0007
    rather than "0.00 (0.00 to 0.00)"), at most :data:`MAX_DIGITS`."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return digits
    width = abs(hi - lo)
    if width == 0:
        return digits
    return int(min(MAX_DIGITS, max(digits, math.ceil(-math.log10(width)) + 1)))


def fmt(x: float, digits: int = 2) -> str:
    """A number for people: fixed decimals, an en dash for missing values."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    """A p-value with its relation, as journals print it: 'p = 0.012', 'p < 0.001'."""
    if p is None or math.isnan(p):
        return "p = –"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}"


def natural(result: MetaResult, x: float) -> float:
    """Back-transform a value from the analysis scale (exp for ratio measures)."""
    if x is None or math.isnan(x):
        return math.nan
    return natural_scale(x, result.ratio)


FIXED_EFFECT_METHODS = ("FE", "MH", "PETO")


def prediction_note(result: MetaResult) -> str:
    """Why a result has no prediction interval ("" when it has one)."""
    if not math.isnan(result.pi_lower):
        return ""
    if not result.pooled:
        return "no prediction interval: one study, nothing was pooled"
    if result.method in FIXED_EFFECT_METHODS:
        return (
            "no prediction interval: a fixed-effect model assumes one true effect shared by every trial "
            "(τ² = 0), so there is no spread of effects to predict a new trial's from; a random-effects "
            "model gives one"
        )
    if result.pi_type == "t(k-2)" and result.k < 3:
        return "no prediction interval: its t(k − 2) quantile needs three or more studies"
    return "no prediction interval: it could not be computed from this fit"


def result_table(result: MetaResult) -> str:
    """The per-study and pooled table a person reads, ratios back-transformed."""
    level = f"{result.level:g}%"
    name_width = max([len("Study"), len("Pooled"), *(len(s.study) for s in result.studies)])
    header = f"{'Study':<{name_width}}  {result.measure:>8}  {level + ' CI':>17}  {'Weight':>7}"
    lines = [header, "-" * len(header)]
    for s in result.studies:
        if not s.included:
            lines.append(f"{s.study:<{name_width}}  {'not estimable':>8}")
            continue
        lo, hi = natural(result, s.ci_lower), natural(result, s.ci_upper)
        d = ci_digits(lo, hi)
        ci = f"{fmt(lo, d)} to {fmt(hi, d)}"
        lines.append(
            f"{s.study:<{name_width}}  {fmt(natural(result, s.yi), d):>8}  {ci:>17}  "
            f"{fmt(s.weight, 1) + '%':>7}"
        )
    lines.append("-" * len(header))
    label = "Pooled" if result.pooled else "Single study"
    lo, hi = natural(result, result.ci_lower), natural(result, result.ci_upper)
    d = ci_digits(lo, hi)
    ci = f"{fmt(lo, d)} to {fmt(hi, d)}"
    estimate = fmt(natural(result, result.estimate), d)
    lines.append(f"{label:<{name_width}}  {estimate:>8}  {ci:>17}  {'100%':>7}")
    lines.append("")
    model = METHOD_NAMES[result.method] + (" with Hartung–Knapp" if result.hk else "")
    lines.append(f"Model: {model}; k = {result.k}; conventions: {result.profile}")
    stat = "t" if result.test == "t" else "z"
    df = f" (df = {result.df:g})" if result.test == "t" else ""
    lines.append(f"Test for overall effect: {stat} = {fmt(result.statistic)}{df}, {fmt_p(result.p_value)}")
    if result.q_df >= 1:
        lines.append(
            f"Heterogeneity: Q = {fmt(result.q)}, df = {result.q_df}, {fmt_p(result.q_p_value)}; "
            f"I² = {fmt(result.i2, 1)}% ({'from Q' if result.i2_from == 'Q' else 'from τ²'}); "
            f"H² = {fmt(result.h2)}"
        )
    if result.q_df >= 1 and not math.isnan(result.tau2):  # one study: no heterogeneity to report
        lines.append(
            f"τ² = {fmt(result.tau2, 4)} ({level} CI {fmt(result.tau2_ci_lower, 4)} to "
            f"{fmt(result.tau2_ci_upper, 4)})"
        )
    if not math.isnan(result.pi_lower):
        lines.append(
            f"Prediction interval ({result.pi_type}): {fmt(natural(result, result.pi_lower))} to "
            f"{fmt(natural(result, result.pi_upper))}"
        )
    elif result.pooled and result.method in FIXED_EFFECT_METHODS:
        lines.append(f"Prediction interval: none ({prediction_note(result).split(': ', 1)[1]})")
    for text in (*result.corrections, *result.notes):
        lines.append(f"Note: {text}")
    return "\n".join(lines)


def effects_table(labels, yi, vi, measure: str, max_rows: int = 20) -> str:
    """The effect sizes of ``ts.effects`` as a short table (analysis scale, as metafor's escalc)."""
    scale = "log " if measure in ("OR", "RR", "HR", "ROM", "IRR") else ""
    name_width = max([len("Study"), *(len(str(s)) for s in labels[:max_rows])])
    header = f"{'Study':<{name_width}}  {'yi':>9}  {'vi':>9}"
    lines = [f"Effect sizes: {scale}{measure}, k = {len(labels)}", header, "-" * len(header)]
    for label, y, v in list(zip(labels, yi, vi, strict=True))[:max_rows]:
        lines.append(f"{label!s:<{name_width}}  {fmt(float(y), 4):>9}  {fmt(float(v), 4):>9}")
    if len(labels) > max_rows:
        lines.append(f"… {len(labels) - max_rows} more (to_frame() shows every study)")
    return "\n".join(lines)
