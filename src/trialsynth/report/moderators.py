"""Report text and results.json entries for a review's meta-regressions (``[[moderators]]``)
and its small-study tests (Egger, Begg, Harbord), as ``trialsynth run`` computes them."""

from __future__ import annotations

import math
from typing import Any

from trialsynth.report.explain import num, p_abstract


def meta_regression_entries(oa) -> list[dict[str, Any]]:
    """results.json: one entry per moderator (analysis scale: log for ratios)."""
    return [
        {
            "column": mod.column,
            "name": mod.name,
            "unit": mod.unit,
            "scale": "log" if oa.primary is not None and oa.primary.ratio else "identity",
            "method": reg.method,
            "hk": reg.hk,
            **reg.to_json_dict(),
        }
        for mod, reg in oa.meta_regressions
    ]


def small_study_entry(oa) -> dict[str, Any] | None:
    """results.json: the small-study tests, or None (fewer than ten pooled trials)."""
    tests = oa.small_study
    if tests is None:
        return None
    out: dict[str, Any] = {"k": tests["k"], "method": tests["method"]}
    for key in ("egger", "begg", "harbord"):
        if key in tests:
            out[key] = tests[key].to_json_dict()
    return out


def meta_regression_sections(oa) -> list[dict[str, Any]]:
    """The report's rows: each coefficient with its CI and p, the test of the moderator and R²."""
    out = []
    for mod, reg in oa.meta_regressions:
        unit = f" (per {mod.unit})" if mod.unit else ""
        rows = [
            {
                "label": c.name,
                "estimate": f"{num(c.estimate, 4)} ({num(c.ci_lower, 4)} to {num(c.ci_upper, 4)})",
                "p": p_abstract(c.p_value),
            }
            for c in reg.coefficients
        ]
        stat = f"F({reg.qm_df}, {reg.qm_df2:g})" if reg.hk else f"QM (df = {reg.qm_df})"
        model = "fixed-effects" if reg.method == "FE" else f"mixed-effects ({reg.method} τ²)"
        fit = f"{stat} = {num(reg.qm)}, {p_abstract(reg.qm_p_value)}; k = {reg.k}"
        if reg.method != "FE":
            fit += f"; residual τ² = {num(reg.tau2, 4)}; R² = {num(reg.r2, 0)}%"
        scale = "log scale" if oa.primary is not None and oa.primary.ratio else "scale of the measure"
        out.append(
            {
                "name": mod.name + unit,
                "rows": rows,
                "test": f"Meta-regression, {model} model, coefficients on the {scale}. Test of the "
                f"moderator: {fit}.",
            }
        )
    return out


def small_study_sentence(oa) -> str:
    """One paragraph: Egger's and Begg's tests (and Harbord's), or '' with fewer than ten trials."""
    tests = oa.small_study
    if tests is None:
        return ""
    eg = tests["egger"]
    stat = "t" if math.isfinite(eg.df) else "z"
    df = f" (df = {eg.df:g})" if math.isfinite(eg.df) else ""
    model = "inverse-variance fixed effect" if tests["method"] == "FE" else f"{tests['method']} τ²"
    parts = [
        f"Egger's regression test (standard error as predictor, {model}): {stat} = {num(eg.statistic)}{df}, "
        f"{p_abstract(eg.p_value)}",
        f"Begg and Mazumdar's rank correlation: Kendall's τ = {num(tests['begg'].tau, 3)}, "
        f"{p_abstract(tests['begg'].p_value)}",
    ]
    if "harbord" in tests:
        hb = tests["harbord"]
        parts.append(
            f"Harbord's score test: t = {num(hb.statistic)} (df = {hb.df}), {p_abstract(hb.p_value)}"
        )
    return (
        f"Tests for funnel-plot asymmetry on {tests['k']} pooled trials: "
        + "; ".join(parts)
        + ". A small p suggests small-study effects, of which publication bias is one possible cause."
    )
