"""The library's front door: pool a table of trials into a :class:`MetaResult`.

``pool_file`` reads a CSV (see :mod:`trialsynth.io.poolcsv` for the columns), ``pool_input``
pools data already read, and ``meta_analysis`` pools effect sizes given as arrays.
Conventions follow metafor unless ``profile="revman"``; every result records the profile,
the test, the prediction-interval type and the corrections it used.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from trialsynth._core.bounds import check_continuity_correction, check_effects
from trialsynth._core.dist import crit_value
from trialsynth._core.errors import InputError, NotEstimable, TrialsynthWarning
from trialsynth._core.results import RATIO_MEASURES, REVMAN_MH_RANDOM_NOTE, MetaResult, StudyRow
from trialsynth.stats import derive
from trialsynth.stats import effects as fx
from trialsynth.stats.pooling import (
    IV_METHODS,
    PI_TYPES,
    fit_arrays,
    heterogeneity_from_estimate,
    mantel_haenszel,
    mantel_haenszel_weights,
    one_study_convention,
    peto,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

MEASURES = ("OR", "RR", "RD", "MD", "SMD", "HR", "ROM", "IRR", "IRD", "PR", "PLO", "PAS", "PFT")
METHODS = ("FE", "MH", "PETO", "DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS", "GLMM")
COUNT_METHODS = {"MH": ("OR", "RR", "RD"), "PETO": ("OR",), "GLMM": ("OR", "IRR", "PLO")}


def default_drop00(measure: str, method: str, profile: str) -> bool:
    """Whether 2×2 tables with no events (or only events) in both arms are left out by default.

    * metafor profile, inverse-variance methods: kept, with ``add`` added to each cell, for
      every measure (``escalc`` and ``rma.uni`` default to ``add = 1/2, to = "only0",
      drop00 = FALSE``; Viechtbauer, J Stat Softw 2010;36(3), and the metafor 3.8 manual).
    * Mantel–Haenszel and Peto (both profiles): left out of OR and RR, as ``rma.mh`` and
      ``rma.peto`` (``drop00 = TRUE``) and RevMan 5; the RD case is handled where it is pooled.
    * RevMan profile: left out of OR and RR (and Peto), kept for RD (Deeks & Higgins 2010,
      RevMan 5 statistical methods: such studies give no information on a ratio).
    """
    measure, method = measure.upper(), method.upper()
    if method in COUNT_METHODS or profile == "revman":
        return measure != "RD"
    return False


def _check_options(measure: str, method: str, hk_variant: str, level: float, pi_type: str, profile: str):
    if measure not in MEASURES:
        raise InputError(f"unknown measure '{measure}'; choose one of {', '.join(MEASURES)}")
    if method not in METHODS:
        raise InputError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
    if method in COUNT_METHODS and measure not in COUNT_METHODS[method]:
        allowed = ", ".join(COUNT_METHODS[method])
        raise InputError(f"method {method} works on 2×2 counts with measure {allowed}, not {measure}")
    if hk_variant not in ("knha", "adhoc"):
        raise InputError("the Hartung–Knapp variant must be 'knha' or 'adhoc'")
    if not 0 < level < 1:
        raise InputError(f"the confidence level must be between 0 and 100 percent, not {level * 100:g}")
    if pi_type not in PI_TYPES:
        raise InputError(f"unknown prediction-interval type '{pi_type}'; choose one of {', '.join(PI_TYPES)}")
    if profile not in fx.PROFILES:
        raise InputError(f"unknown conventions profile '{profile}'; choose one of {', '.join(fx.PROFILES)}")


def _level_fraction(level: float) -> float:
    """Accept a level in percent (95) or as a fraction (0.95)."""
    return level / 100.0 if level > 1 else level


_CONTINUOUS_KINDS = ("continuous", "continuous_se", "continuous_ci", "continuous_change", "continuous_median")


def _continuous_effects(val, sel, measure: str, profile: str) -> fx.Effects:
    """Effects of the rows ``sel`` given as arm means, SDs and sizes (ROM on the log scale)."""
    cols = ("mean_treatment", "sd_treatment", "n_treatment", "mean_control", "sd_control", "n_control")
    if measure == "ROM":
        rom = derive.log_ratio_of_means(*(val[c][sel] for c in cols))
        return fx.Effects(rom.yi.value, rom.vi.value, np.zeros(sel.sum(), bool), np.zeros(sel.sum(), bool))
    m1, s1, n1, m2, s2, n2 = (val[c][sel] for c in cols)
    return fx.continuous_effects(m1, s1, n1, m2, s2, n2, measure, profile=profile)


def _rate_effects(val, sel, measure: str, add: float, to: str, drop00: bool) -> fx.Effects:
    """IRR or IRD of the rows ``sel`` (events and person-time); corrected where an arm has 0
    events. A study with no events in either arm is left out of the IRR under ``drop00`` (and
    when no correction is added); otherwise kept, corrected (escalc's default)."""
    cols = ("events_treatment", "person_time_treatment", "events_control", "person_time_control")
    x1, x2 = val["events_treatment"][sel], val["events_control"][sel]
    zero = ((x1 == 0) | (x2 == 0)) & (to != "none")
    drop = bool(drop00 or to == "none")
    both0 = (x1 == 0) & (x2 == 0) & drop if measure == "IRR" else np.zeros(sel.sum(), bool)
    add = add if to != "none" else 0.0
    if measure == "IRR":
        out = derive.incidence_rate_ratio(*(val[c][sel] for c in cols), add=add, drop00=drop)
    else:
        out = derive.incidence_rate_difference(*(val[c][sel] for c in cols), add=add)
    return fx.Effects(np.atleast_1d(out.yi.value), np.atleast_1d(out.vi.value), zero & ~both0, both0)


def _effects_for_rows(
    data, *, measure: str, method: str, profile: str, add: float, to: str, drop00, median_method="luo-shi"
):
    """Per-row (yi, vi, corrected, dropped, derivations) from a PoolInput whose rows may mix input forms.

    Rows in a derived form (:data:`trialsynth.io.poolcsv.DERIVED_KINDS`) and cluster trials first get their
    means, SDs, sizes or SEs from :mod:`trialsynth.stats.derive`; ``derivations`` holds, per row,
    the tuple of :class:`~trialsynth.stats.derive.Derivation` records used.
    """
    from trialsynth.stats.derive_rows import derive_rows

    n = len(data.labels)
    yi = np.full(n, np.nan)
    vi = np.full(n, np.nan)
    corrected = np.zeros(n, dtype=bool)
    dropped = np.zeros(n, dtype=bool)
    kinds = np.asarray(data.kinds)
    val, derivations = derive_rows(
        data.kinds, data.values, labels=data.labels, median_method=median_method, source=data.source
    )
    ratio = measure in RATIO_MEASURES

    def put(sel, eff):
        yi[sel], vi[sel] = eff.yi, eff.vi
        corrected[sel], dropped[sel] = eff.corrected, eff.dropped

    sel = kinds == "binary"
    if sel.any():
        bmeasure = "PETO" if method == "PETO" else measure
        eff = fx.binary_effects(
            val["events_treatment"][sel],
            val["n_treatment"][sel],
            val["events_control"][sel],
            val["n_control"][sel],
            bmeasure,
            add=add,
            # RevMan's Peto odds ratios need no zero-cell correction: O − E and V stay finite.
            to="none" if method == "PETO" and profile == "revman" else to,
            drop00=drop00,
        )
        put(sel, eff)
    sel = np.isin(kinds, _CONTINUOUS_KINDS)
    if sel.any():
        put(sel, _continuous_effects(val, sel, measure, profile))
    sel = kinds == "md_pvalue"
    if sel.any():
        put(sel, fx.generic_from_se(val["estimate"][sel], val["se"][sel]))
    sel = kinds == "rate"
    if sel.any():
        put(sel, _rate_effects(val, sel, measure, add, to, drop00))
    sel = kinds == "generic_ci"
    if sel.any():
        lvl = val["ci_level"][sel] if "ci_level" in val else np.full(sel.sum(), 95.0)
        lvl = np.where(np.isnan(lvl), 95.0, lvl)
        put(
            sel,
            fx.generic_from_ci(
                val["estimate"][sel], val["ci_lower"][sel], val["ci_upper"][sel], ratio=ratio, level=lvl
            ),
        )
    sel = kinds == "generic_log_se"
    if sel.any():
        put(sel, fx.generic_from_se(val["log_estimate"][sel], val["se"][sel]))
    sel = kinds == "generic_se"
    if sel.any():
        put(sel, fx.generic_from_se(val["estimate"][sel], val["se"][sel]))
    sel = kinds == "proportion"
    if sel.any():
        from trialsynth.stats.proportions import proportion_effects

        put(sel, proportion_effects(val["events"][sel], val["n"][sel], measure, add=add))
    sel = kinds == "hr_ome"
    if sel.any():
        put(sel, fx.hr_from_o_minus_e(val["o_minus_e"][sel], val["v"][sel]))
    sel = kinds == "hr_pvalue"
    if sel.any():
        favours = np.asarray([d == "treatment" for d in data.direction])[sel]
        put(
            sel,
            fx.hr_from_p_value(
                val["p_value"][sel],
                val["events"][sel],
                favours,
                val["n_treatment"][sel],
                val["n_control"][sel],
            ),
        )
    return yi, vi, corrected, dropped, derivations, val


def _study_rows(labels, yi, vi, weights, included, notes, level, derivations=None) -> tuple[StudyRow, ...]:
    z = float(crit_value(level))
    derivations = derivations if derivations is not None else [()] * len(labels)
    rows = []
    for i, label in enumerate(labels):
        se = np.sqrt(vi[i]) if np.isfinite(vi[i]) else np.nan
        rows.append(
            StudyRow(
                study=label,
                yi=float(yi[i]),
                vi=float(vi[i]),
                weight=float(weights[i]) if included[i] else np.nan,
                ci_lower=float(yi[i] - z * se),
                ci_upper=float(yi[i] + z * se),
                included=bool(included[i]),
                note=notes[i],
                derivations=tuple(derivations[i]),
            )
        )
    return tuple(rows)


def _identical(y: np.ndarray) -> bool:
    """True when the effects are equal up to rounding (a spread within a few ulps)."""
    scale = max(1.0, float(np.max(np.abs(y))))
    return bool(float(np.ptp(y)) <= 8 * np.finfo(float).eps * scale)


def _warn(message: str, stacklevel: int = 3) -> None:
    warnings.warn(message, TrialsynthWarning, stacklevel=stacklevel)


#: Hartung–Knapp scales the SE by √q, q = Σw(y − μ̂)²/(k − 1); identical effects give q = 0 and a
#: confidence interval of zero width (Jackson et al., Stat Med 2017;36:3923).
_HK_IDENTICAL = (
    "Hartung–Knapp with identical effects: the scale factor q is 0, so the confidence interval has "
    "zero width; the ad hoc variant (--hk-variant adhoc, or hk_variant = \"adhoc\" in a review's "
    "model; Knapp & Hartung 2003, max(1, q)) gives the usual interval"
)


def _profile_pi_type(profile: str, pi_type: str) -> str:
    """RevMan and the Cochrane Handbook (section 10.10.4.3; Higgins, Thompson & Spiegelhalter,
    JRSS A 2009) give the prediction interval μ̂ ± t(k−2)·√(τ̂² + SE(μ̂)²); metafor's default is
    the z quantile."""
    return "higgins" if profile == "revman" and pi_type == "default" else pi_type


def _note_hk_identical(notes: list[str], y: np.ndarray, hk: bool, hk_variant: str) -> None:
    """Warn, and note, when Hartung–Knapp meets identical effects (zero-width interval)."""
    if hk and y.size >= 2 and hk_variant == "knha" and _identical(y):
        notes.append(_HK_IDENTICAL)
        _warn(_HK_IDENTICAL, stacklevel=4)


def _i2_h2_from_q(q: float, df: float) -> tuple[float, float]:
    """RevMan's I² = (Q − df)/Q (floored at 0) and H² = Q/df, for random-effects models too."""
    return (100.0 * max(0.0, (q - df) / q) if q > 0 else 0.0), q / df


def _few_studies_notes(k: int, hk: bool, model_notes: Sequence[str]) -> list[str]:
    """The result's notes, with a warning, when one study (nothing pooled) or two under HK."""
    notes = list(model_notes)
    if k == 1:
        notes.append("only one study: its own estimate is shown and nothing was pooled")
        _warn("only one study has data: its own estimate is shown, nothing was pooled")
        if hk:
            notes.append("Hartung–Knapp needs two or more studies: z test used (as metafor)")
    if hk and k == 2:
        notes.append("Hartung–Knapp with two studies: the interval rests on one degree of freedom")
        _warn("Hartung–Knapp with two studies: the confidence interval rests on one degree of freedom")
    return notes


def _pi_distribution(pi_type: str, hk: bool) -> str:
    """The prediction interval's distribution: z, t(k-1) or t(k-2) (``default``: as the CI)."""
    if pi_type == "default":
        return "t(k-1)" if hk else "z"
    return {"z": "z", "t": "t(k-1)", "higgins": "t(k-2)"}[pi_type]


def meta_analysis(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    labels: Sequence[str] | None = None,
    measure: str = "MD",
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 95.0,
    pi_type: str = "default",
    profile: str = "metafor",
    corrections: Sequence[str] = (),
    study_notes: Sequence[str] | None = None,
    tau2: float | None = None,
    study_derivations: Sequence[tuple] | None = None,
    model_notes: Sequence[str] = (),
) -> MetaResult:
    """Inverse-variance fixed- or random-effects meta-analysis of effects ``yi`` with variances ``vi``.

    A study whose effect and variance are both missing (NaN) is shown but not pooled; a variance
    ≤ 0 or NaN, or one of them missing alone, is an :class:`InputError` (the bounds of
    :mod:`trialsynth._core.bounds`). ``tau2``, when given, is used instead of estimating τ².
    Under ``profile="revman"`` I² and H² come from Q for random effects too (RevMan 5's I²).
    """
    measure, method = measure.upper(), method.upper()
    level = _level_fraction(level)
    _check_options(measure, method, hk_variant, level, pi_type, profile)
    if method not in IV_METHODS:
        raise InputError(f"method {method} needs 2×2 counts; use pool_input/pool_file")
    pi_type = _profile_pi_type(profile, pi_type)
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    labels = [str(i + 1) for i in range(len(yi))] if labels is None else list(labels)
    # The same refusals as the CLI's: a variance ≤ 0, NaN or beyond the exact range, an effect
    # whose back-transform overflows. A study with both missing is shown, not pooled.
    check_effects(yi, vi, ratio=measure in RATIO_MEASURES, labels=labels)
    notes = list(study_notes) if study_notes is not None else [""] * len(yi)
    included = np.isfinite(yi) & np.isfinite(vi)
    k = int(included.sum())
    if k == 0:
        raise NotEstimable("no study has a usable effect estimate")
    result_notes = _few_studies_notes(k, hk, model_notes)
    _note_hk_identical(result_notes, yi[included], hk, hk_variant)
    fit = fit_arrays(
        yi[included],
        vi[included],
        method=method,
        hk=hk and k >= 2,
        hk_variant=hk_variant,
        level=level,
        pi_type=pi_type,
        tau2_ci=True,
        tau2=tau2,
    )
    one_study_convention(fit, k == 1, method)
    f: dict[str, Any] = {key: val.item() if np.ndim(val) == 0 else val for key, val in fit.items()}
    if profile == "revman" and method != "FE" and f["q_df"] >= 1:
        f["i2"], f["h2"] = _i2_h2_from_q(f["q"], f["q_df"])
    if not f["converged"]:
        _warn(f"the {method} estimate of τ² did not converge")
    weights = np.full(len(yi), np.nan)
    weights[included] = fit["weights"]
    single = k == 1
    pi_used = "none" if method == "FE" or single else _pi_distribution(pi_type, hk)
    return MetaResult(
        measure=measure,
        method=method,
        hk=bool(hk),
        k=k,
        estimate=f["estimate"],
        se=f["se"],
        ci_lower=f["ci_lower"],
        ci_upper=f["ci_upper"],
        statistic=f["statistic"],
        p_value=f["p_value"],
        df=f["df"],
        tau2=f["tau2"],
        tau2_ci_lower=f["tau2_ci_lower"],
        tau2_ci_upper=f["tau2_ci_upper"],
        i2=f["i2"],
        h2=f["h2"],
        q=f["q"],
        q_df=int(f["q_df"]),
        q_p_value=f["q_p_value"],
        pi_lower=f["pi_lower"],
        pi_upper=f["pi_upper"],
        converged=bool(f["converged"]),
        iterations=int(f["iterations"]),
        level=level * 100,
        profile=profile,
        test="t" if hk and k >= 2 else "z",
        pi_type=pi_used,
        studies=_study_rows(labels, yi, vi, weights, included, notes, level, study_derivations),
        pooled=not single,
        hk_variant=hk_variant if hk else "",
        n_local_maxima=int(f["n_local_maxima"]),
        corrections=tuple(corrections),
        notes=tuple(result_notes),
    )


def _count_method_result(
    data,
    yi,
    vi,
    included,
    notes,
    corrections,
    *,
    measure,
    method,
    level,
    profile,
    values=None,
    derivations=None,
):
    """Mantel–Haenszel or Peto fit from the counts of a PoolInput (``values``: cluster-adjusted counts)."""
    val = data.values if values is None else values
    a, n1 = val["events_treatment"], val["n_treatment"]
    c, n2 = val["events_control"], val["n_control"]
    use = np.ones(len(a), dtype=bool)
    if measure in ("OR", "RR") or method == "PETO":
        # Tables with no events (or only events) in both arms carry no information.
        use = ~(((a == 0) & (c == 0)) | ((a == n1) & (c == n2)))
    ma, mn1, mc, mn2 = a[use], n1[use], c[use], n2[use]
    if profile == "revman" and method == "MH":
        zero = (ma == 0) | (mc == 0) | (ma == mn1) | (mc == mn2)
        ma, mc = ma + 0.5 * zero, mc + 0.5 * zero
        mn1, mn2 = mn1 + 1.0 * zero, mn2 + 1.0 * zero
    try:
        if method == "MH":
            est, se = mantel_haenszel(
                ma, mn1, mc, mn2, measure, rd_variance="GR" if profile == "revman" else "SGR"
            )
            w_used = mantel_haenszel_weights(ma, mn1, mc, mn2, measure)
        else:
            est, se, w_used = peto(ma, mn1, mc, mn2)
    except ValueError as exc:
        raise NotEstimable(f"{data.source}: {exc}") from None
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        # E.g. one table with events in one arm only: the MH estimate is 0 or ∞ and its SE 0 or ∞.
        raise NotEstimable(f"{data.source}: the {method} estimate is not estimable from these tables")
    weights = np.full(len(a), np.nan)
    weights[use] = w_used
    level_crit = float(crit_value(level))
    model_notes: list[str] = []
    if method == "PETO":
        # Peto's O − E and V need no continuity correction: Q is computed from the uncorrected
        # per-study Peto odds ratios (as metafor's rma.peto), the table shows the corrected ones.
        raw = fx.binary_effects(a, n1, c, n2, "PETO", to="none", drop00=True)
        het = heterogeneity_from_estimate(raw.yi, raw.vi, est)
    elif method == "MH" and measure == "RD" and profile != "revman":
        # metafor's rma.mh (drop00 = TRUE): a double-zero table stays in the Mantel–Haenszel
        # estimate but its per-study RD is left out of Q, I² and H² (df = tables with an
        # outcome − 1). RevMan 5 keeps it (0.5 added to each cell), as the else branch does.
        double = (((a == 0) & (c == 0)) | ((a == n1) & (c == n2))) & included
        het = heterogeneity_from_estimate(np.where(double, np.nan, yi), vi, est)
        if double.any():
            names = ", ".join(lab for lab, d in zip(data.labels, double, strict=True) if d)
            model_notes.append(
                f"double-zero tables ({names}) count in the Mantel–Haenszel risk difference but not in "
                "Q, I² and H² (as metafor's rma.mh with drop00 = TRUE; RevMan's profile keeps them)"
            )
    else:
        het = heterogeneity_from_estimate(yi, vi, est)
    from trialsynth._core.dist import norm_two_sided_p

    k = int(included.sum())
    return MetaResult(
        measure=measure,
        method=method,
        hk=False,
        k=k,
        estimate=est,
        se=se,
        ci_lower=est - level_crit * se,
        ci_upper=est + level_crit * se,
        statistic=est / se,
        p_value=float(norm_two_sided_p(est / se)),
        df=np.nan,
        tau2=np.nan,
        tau2_ci_lower=np.nan,
        tau2_ci_upper=np.nan,
        i2=het["i2"],
        h2=het["h2"],
        q=het["q"],
        q_df=int(het["q_df"]),
        q_p_value=het["q_p_value"],
        pi_lower=np.nan,
        pi_upper=np.nan,
        converged=True,
        iterations=0,
        level=level * 100,
        profile=profile,
        test="z",
        pi_type="none",
        studies=_study_rows(data.labels, yi, vi, weights, included, notes, level, derivations),
        pooled=k > 1,
        corrections=tuple(corrections),
        notes=tuple(model_notes) if k > 1 else ("only one study: nothing was pooled", *model_notes),
    )


def _revman_mh_tau2(data, yi, vi, measure: str, values=None) -> tuple[float, dict]:
    """RevMan 5's τ² for Mantel–Haenszel random effects (Deeks & Higgins 2010, section 3.3.4):
    Q_MH = Σwᵢ(yᵢ − θ_MH)² with inverse-variance weights wᵢ = 1/vᵢ, and
    τ² = max(0, (Q_MH − (k − 1))/(Σw − Σw²/Σw))."""
    fe = _count_method_result(
        data,
        yi,
        vi,
        np.isfinite(yi) & np.isfinite(vi),
        [""] * len(yi),
        [],
        measure=measure,
        method="MH",
        level=0.95,
        profile="revman",
        values=values,
    )
    ok = np.isfinite(yi) & np.isfinite(vi)
    w = 1.0 / vi[ok]
    c = w.sum() - (w**2).sum() / w.sum()
    het = heterogeneity_from_estimate(yi, vi, fe.estimate)
    tau2 = max(0.0, (het["q"] - het["q_df"]) / c) if het["q_df"] >= 1 else 0.0
    return tau2, het


def _check_input_options(data, method: str, add: float, to: str, median_method: str) -> None:
    """InputError for an unknown median method or correction rule, or a
    count method (MH, Peto) given a study without 2×2 counts."""
    if median_method not in derive.MEDIAN_METHODS:
        raise InputError(
            f"unknown median method '{median_method}'; choose one of {', '.join(derive.MEDIAN_METHODS)}"
        )
    if to not in fx.CORRECTION_TARGETS:
        raise InputError(
            f"unknown continuity-correction rule '{to}'; choose {', '.join(fx.CORRECTION_TARGETS)}"
        )
    if to == "sweeting" and (data.measure.upper() not in ("OR", "RR") or method == "PETO"):
        raise InputError(
            "the treatment-arm continuity correction (sweeting) is for odds and risk ratios from 2×2 counts, "
            f"not {'Peto odds ratios' if method == 'PETO' else data.measure}"
        )
    kind, form = ("binary", "2×2 counts")
    if method == "GLMM" and data.measure.upper() == "IRR":
        kind, form = ("rate", "events and person-time")
    elif method == "GLMM" and data.measure.upper() == "PLO":
        kind, form = ("proportion", "events of n")
    if method in COUNT_METHODS and any(kd != kind for kd in data.kinds):
        others = [lab for lab, kd in zip(data.labels, data.kinds, strict=True) if kd != kind]
        raise InputError(
            f"{data.source}: method {method} needs {form} for every study; "
            f"study '{others[0]}' gives another form"
        )


def _leave_out_derived(data, yi, vi, corrected, derivations, notes, corrections):
    """The sensitivity analysis without derived numbers: such rows get NaN effects (shown, not
    pooled), a note and a warning. Returns the new ``yi``, ``vi`` and ``corrected``."""
    derived = np.array([bool(steps) for steps in derivations], dtype=bool)
    if not derived.any():
        return yi, vi, corrected
    names = [lab for lab, flag in zip(data.labels, derived, strict=True) if flag]
    for i in np.nonzero(derived)[0]:
        notes[i] = "left out: its numbers are derived (sensitivity analysis without derived numbers)"
    corrections.append(f"left out, derived numbers (sensitivity analysis): {', '.join(names)}")
    _warn(f"{data.source}: left out as derived (sensitivity analysis): {', '.join(names)}", stacklevel=4)
    return np.where(derived, np.nan, yi), np.where(derived, np.nan, vi), corrected & ~derived


def _note_corrections(
    data, corrected, dropped, add: float, notes, corrections, *, double=None, to: str = "only0"
) -> None:
    """Per-row notes, result corrections and warnings for p-values given as bounds, continuity
    corrections and tables dropped from a ratio measure (``notes``/``corrections`` updated)."""
    kinds = np.asarray(data.kinds)
    for kind, effect, short in (("md_pvalue", "SE", "larger SE"), ("hr_pvalue", "HR", "HR closer to 1")):
        bound = np.asarray(data.p_bound, dtype=bool) & (kinds == kind)
        if not bound.any():
            continue
        names = [lab for lab, bflag in zip(data.labels, bound, strict=True) if bflag]
        corrections.append(
            f"p-value given as a bound, used at the bound (conservative: {short}): {', '.join(names)}"
        )
        for i in np.nonzero(bound)[0]:
            notes[i] = f"p-value given as a bound: used at the bound, so the {effect} is conservative"
        what = "the hazard ratio" if kind == "hr_pvalue" else "the SE"
        _warn(
            f"{data.source}: p-value given as a bound for {', '.join(names)}; "
            f"used at the bound, so {what} is conservative",
            stacklevel=4,
        )
    if corrected.any() and to == "sweeting":
        _note_sweeting(data, corrected, add, notes, corrections)
    elif corrected.any():
        names = [lab for lab, cflag in zip(data.labels, corrected, strict=True) if cflag]
        corrections.append(f"{add:g} added to every cell of tables with a zero cell: {', '.join(names)}")
        for i in np.nonzero(corrected)[0]:
            notes[i] = f"{add:g} added to each cell (zero cell)"
        msg = f"{data.source}: continuity correction of {add:g} added to all cells of {', '.join(names)}"
        _warn(msg, stacklevel=4)
    kept = corrected & double if double is not None else np.zeros_like(corrected)
    if kept.any():
        # metafor's escalc / rma default (drop00 = FALSE): a double-zero table is kept, corrected.
        names = [lab for lab, kflag in zip(data.labels, kept, strict=True) if kflag]
        for i in np.nonzero(kept)[0]:
            notes[i] = f"{add:g} added to each cell (no events, or only events, in both arms: kept)"
        corrections.append(
            f"kept with {add:g} added to each cell although no events (or only events) in both arms "
            "(metafor's escalc default, drop00 = FALSE; the RevMan profile leaves them out): "
            + ", ".join(names)
        )
        msg = (
            f"{data.source}: double-zero tables kept with {add:g} added to each cell "
            f"(metafor's default drop00 = FALSE; --profile revman leaves them out): {', '.join(names)}"
        )
        _warn(msg, stacklevel=4)
    if dropped.any():
        names = [lab for lab, dflag in zip(data.labels, dropped, strict=True) if dflag]
        for i in np.nonzero(dropped)[0]:
            notes[i] = "no events (or only events) in both arms: left out of the ratio measure"
        corrections.append(f"left out (no events or only events in both arms): {', '.join(names)}")
        msg = f"{data.source}: left out, no events (or only events) in both arms: {', '.join(names)}"
        _warn(msg, stacklevel=4)


def _note_sweeting(data, corrected, add: float, notes, corrections) -> None:
    """Notes, a correction line and one warning per corrected study for the treatment-arm
    continuity correction (Sweeting, Sutton & Lambert, Stat Med 2004;23:1351–75)."""
    idx = np.nonzero(corrected)[0]
    n_t = np.asarray(data.values["n_treatment"], dtype=float)[idx]
    n_c = np.asarray(data.values["n_control"], dtype=float)[idx]
    k_t, k_c = fx.sweeting_corrections(n_t, n_c, add=add)
    names = [data.labels[i] for i in idx]
    corrections.append(
        "treatment-arm continuity correction (Sweeting et al. 2004; k_T + k_C = "
        f"{2 * add:g}, k_T/k_C = n_T/n_C) added to tables with a zero cell: {', '.join(names)}"
    )
    for i, name, kt, kc in zip(idx, names, k_t, k_c, strict=True):
        notes[i] = f"treatment-arm correction: {kt:.4g} added to treatment cells, {kc:.4g} to control cells"
        _warn(
            f"{data.source}: study '{name}': treatment-arm continuity correction (Sweeting 2004), "
            f"{kt:.4g} added to each treatment cell and {kc:.4g} to each control cell",
            stacklevel=5,
        )


def pool_input(
    data,
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 95.0,
    pi_type: str = "default",
    profile: str = "metafor",
    add: float = 0.5,
    to: str = "only0",
    drop00: bool | None = None,
    glmm: str = "UM.FS",
    fixed: bool = False,
    median_method: str = "luo-shi",
    exclude_derived: bool = False,
) -> MetaResult:
    """Pool a :class:`trialsynth.io.poolcsv.PoolInput` (rows may mix input forms).

    Rows in a derived form get their numbers from :mod:`trialsynth.stats.derive` (means and SDs
    from medians by ``median_method``, see :data:`trialsynth.stats.derive.MEDIAN_METHODS`); each
    study row keeps its derivations. ``exclude_derived=True`` leaves those rows out (shown, not
    pooled): the sensitivity analysis without derived numbers.
    """
    measure, method = data.measure.upper(), method.upper()
    level = _level_fraction(level)
    _check_options(measure, method, hk_variant, level, pi_type, profile)
    _check_input_options(data, method, add, to, median_method)
    add = check_continuity_correction(add)
    if method == "GLMM":
        from trialsynth.stats.glmm_result import glmm_pool_result

        return glmm_pool_result(data, model=glmm, fixed=fixed, level=level, add=add)
    if drop00 is None:
        drop00 = default_drop00(measure, method, profile)
    yi, vi, corrected, dropped, derivations, values = _effects_for_rows(
        data,
        measure=measure,
        method=method,
        profile=profile,
        add=add,
        to=to,
        drop00=drop00,
        median_method=median_method,
    )
    notes = [""] * len(yi)
    corrections: list[str] = []
    if exclude_derived:
        yi, vi, corrected = _leave_out_derived(data, yi, vi, corrected, derivations, notes, corrections)
    # Kept double-zero tables are worth a word for ratio measures only (the profiles differ
    # there); every profile keeps them for RD, where the generic correction note suffices.
    double = _double_zero_rows(data, values) if measure != "RD" else None
    _note_corrections(data, corrected, dropped, add, notes, corrections, double=double, to=to)
    if method in COUNT_METHODS:
        included = np.isfinite(yi) & np.isfinite(vi)
        if not included.any():
            raise NotEstimable(f"{data.source}: no study has a usable effect estimate")
        result = _count_method_result(
            data,
            yi,
            vi,
            included,
            notes,
            corrections,
            measure=measure,
            method=method,
            level=level,
            profile=profile,
            values=values,
            derivations=derivations,
        )
        return replace(result, double_zero=_double_zero_convention(data, drop00))
    tau2, het, model_notes = _revman_random_tau2(data, yi, vi, measure, method, profile, values)
    result = meta_analysis(
        yi,
        vi,
        labels=data.labels,
        tau2=tau2,
        model_notes=model_notes,
        measure=measure,
        method=method,
        hk=hk,
        hk_variant=hk_variant,
        level=level,
        pi_type=pi_type,
        profile=profile,
        corrections=corrections,
        study_notes=notes,
        study_derivations=derivations,
    )
    if tau2 is not None:
        result = replace(result, **het)
    return replace(result, double_zero=_double_zero_convention(data, drop00))


def _revman_random_tau2(data, yi, vi, measure: str, method: str, profile: str, values):
    """RevMan's DerSimonian–Laird random effects on 2×2 counts take τ² (and the heterogeneity
    statistics) from the Mantel–Haenszel fit: ``(tau2, heterogeneity, notes)``, or
    ``(None, {}, [])`` where that does not apply."""
    if (
        profile == "revman"
        and method == "DL"
        and measure in COUNT_METHODS["MH"]
        and all(kd == "binary" for kd in data.kinds)
    ):
        tau2, het = _revman_mh_tau2(data, yi, vi, measure, values)
        return tau2, het, [REVMAN_MH_RANDOM_NOTE]
    return None, {}, []


def _double_zero_rows(data, values) -> np.ndarray:
    """Rows given as 2×2 counts with no events, or only events, in both arms; and rows of
    events and person-time with no events in either arm."""
    kinds = np.asarray(data.kinds)
    out = np.zeros(len(kinds), dtype=bool)
    binary, rate = kinds == "binary", kinds == "rate"
    with np.errstate(invalid="ignore"):
        if binary.any():
            a, n1, c, n2 = (
                np.asarray(values[col], dtype=float)
                for col in ("events_treatment", "n_treatment", "events_control", "n_control")
            )
            out |= binary & (((a == 0) & (c == 0)) | ((a == n1) & (c == n2)))
        if rate.any():
            x1, x2 = (np.asarray(values[col], dtype=float) for col in ("events_treatment", "events_control"))
            out |= rate & (x1 == 0) & (x2 == 0)
    return out


def _double_zero_convention(data, drop00: bool) -> str:
    """``"kept"`` or ``"dropped"`` (the double-zero convention applied), ``""`` without 2×2 counts
    (or, for the IRR, events and person-time)."""
    if "binary" not in data.kinds and not (data.measure.upper() == "IRR" and "rate" in data.kinds):
        return ""
    return "dropped" if drop00 else "kept"
