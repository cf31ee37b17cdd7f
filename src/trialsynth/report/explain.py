"""Plain-language text for the report: summary sentences and why a recomputed result differs
from the published one. Formatting of numbers for people happens here."""

from __future__ import annotations

import math
from typing import Any

from trialsynth.report.text import natural


def num(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def p_abstract(p: float | None) -> str:
    """A p-value as an abstract prints it: 'p = .01', 'p < .001' (no leading zero)."""
    if p is None or math.isnan(p):
        return "p not available"
    if p < 0.001:
        return "p < .001"
    text = f"{p:.3f}" if p < 0.01 else f"{p:.2f}"
    return "p = " + text.lstrip("0")


def summary_sentence(result, measure: str) -> str:
    """The abstract-style result, e.g. 'HR = 0.60; 95% CI = 0.40–0.88; p = .01'."""
    level = f"{result.level:g}%"
    est = natural(result, result.estimate)
    lo, hi = natural(result, result.ci_lower), natural(result, result.ci_upper)
    return f"{measure} = {num(est)}; {level} CI = {num(lo)}–{num(hi)}; {p_abstract(result.p_value)}"


def reported_sentence(reported, measure: str) -> str:
    """The paper's printed result in the same form, with only the parts it printed."""
    if reported is None:
        return "not reported"
    parts = []
    if reported.estimate_text:
        parts.append(f"{measure} = {reported.estimate_text}")
    if reported.ci_lower_text and reported.ci_upper_text:
        parts.append(f"95% CI = {reported.ci_lower_text}–{reported.ci_upper_text}")
    if reported.p_value_text:
        text = reported.p_value_text.strip()
        if text.lower().startswith("p"):
            parts.append(text)
        elif text[0] in "<>≤≥":
            parts.append(f"p {text[0]} {text[1:].strip()}")
        else:
            parts.append(f"p = {text}")
    return "; ".join(parts) if parts else "not reported"


def explain_difference(oa, labels: dict[str, str]) -> list[str]:
    """Reasons why the recomputed result of an outcome differs from the published one."""
    out: list[str] = []
    outcome = oa.outcome
    name = lambda s: labels.get(s, s)  # noqa: E731
    missing = [s for s in oa.studies_in_set if s not in oa.studies_with_data]
    rep = oa.reported
    if oa.primary is None:
        out.append(
            "No included trial has usable public data for this outcome, so nothing could be recomputed"
            + (f"; the paper reports {reported_sentence(rep, outcome.measure)}." if rep is not None else ".")
        )
        return out
    k = oa.primary.k
    n_set = len(oa.studies_in_set)
    if missing:
        out.append(
            f"Recomputed from {k} of the {n_set} included trials; "
            f"no usable public data for {', '.join(name(s) for s in missing)} (see the data gaps)."
        )
    if rep is not None and rep.k is not None and rep.k != k:
        out.append(f"The paper pooled {rep.k} trials for this outcome; {k} could be used here.")
    if not oa.primary.pooled:
        out.append("Only one trial has data: its own estimate is shown, and nothing was pooled.")
    derived = [r for r in oa.used_rows if r.kind == "derived"]
    if derived:
        out.append(
            "Derived numbers were used for "
            + ", ".join(f"{name(r.study)} ({r.note})" if r.note else name(r.study) for r in derived)
            + "; rounding of published percentages can move the result slightly."
        )
    definitions = {r.definition for r in oa.used_rows if r.definition}
    if len(definitions) > 1:
        out.append(
            "Outcome definitions differ between trials: "
            + "; ".join(f"{name(r.study)}: {r.definition}" for r in oa.used_rows if r.definition)
            + "."
        )
    if outcome.model.assumption:
        out.append(f"Model: {outcome.model.assumption}")
    if rep is not None and rep.estimate is not None:
        est = natural(oa.primary, oa.primary.estimate)
        diff = est - rep.estimate
        out.append(
            f"Recomputed {outcome.measure} {num(est)} vs {num(rep.estimate)} reported "
            f"(difference {diff:+.2f})."
        )
    if rep is None:
        out.append("The paper reports no pooled result for this analysis.")
    return out


def format_any(value: Any) -> str:
    """A cell for an HTML table: numbers to 2 decimals, None as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return num(value)
    return str(value)
