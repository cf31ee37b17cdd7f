"""Plain-language text for the report: summary sentences and why a recomputed result differs
from the published one. Formatting of numbers for people happens here."""

from __future__ import annotations

import math
from typing import Any

from trialsynth.report.text import ci_digits, natural

#: Up to this many trials with derived numbers, the explanation spells out each derivation;
#: beyond, it names the trials and points to the table of data used (each row's note).
DERIVED_SPELLED_OUT = 3


def num(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "\u2212∞"
    text = f"{x:.{digits}f}"
    if text.startswith("-"):  # "-0.00" is zero to a reader; a negative number takes a minus sign
        return text[1:] if float(text) == 0 else "\u2212" + text[1:]
    return text


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
    d = ci_digits(lo, hi)
    return f"{measure} = {num(est, d)}; {level} CI = {ci_range(lo, hi, d)}; {p_abstract(result.p_value)}"


def ci_range(lo: float, hi: float, digits: int = 2) -> str:
    """'0.40–0.88', or '−0.61 to −0.08' when a bound is negative (a dash beside a minus misleads)."""
    a, b = num(lo, digits), num(hi, digits)
    return f"{a} to {b}" if min(lo, hi) < 0 else f"{a}–{b}"


def _machine_number(text: str) -> float | None:
    """A number stored at machine precision (more than 6 significant digits, e.g. RevMan's own
    stored results), which no paper prints: returned as a float so that it is shown rounded."""
    digits = text.strip().lstrip("+-").replace(".", "").lstrip("0")
    if len(digits) <= 6 or not digits.isdigit():
        return None
    return float(text)


def _shown(text: str) -> str:
    value = _machine_number(text)
    return text if value is None else num(value)


def reported_sentence(reported, measure: str) -> str:
    """The paper's printed result in the same form, with only the parts it printed; numbers
    stored at machine precision (not printed ones) are shown rounded as ours are."""
    if reported is None:
        return "not reported"
    parts = []
    if reported.estimate_text:
        parts.append(f"{measure} = {_shown(reported.estimate_text)}")
    if reported.ci_lower_text and reported.ci_upper_text:
        lo, hi = _shown(reported.ci_lower_text), _shown(reported.ci_upper_text)
        dash = " to " if lo.startswith(("-", "\u2212")) or hi.startswith(("-", "\u2212")) else "–"
        parts.append(f"95% CI = {lo}{dash}{hi}")
    if reported.p_value_text:
        text = reported.p_value_text.strip()
        if (value := _machine_number(text)) is not None:
            parts.append(p_abstract(value))
        elif text.lower().startswith("p"):
            parts.append(text)
        elif text[0] in "<>≤≥":
            parts.append(f"p {text[0]} {text[1:].strip()}")
        else:
            parts.append(f"p = {text}")
    return "; ".join(parts) if parts else "not reported"


def reporter_name(review) -> str:
    """Who reported the results that reported.csv holds: the paper a review reproduces, else
    its source (e.g. the RevMan file a review was imported from, named in each row's source)."""
    return "the paper" if review.reproduces else "the source"


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _missing_text(missing: list[str], name, gaps: dict[str, str]) -> str:
    """Which trials have no data for an outcome and, when they share one reason, why."""
    names = ", ".join(name(s) for s in missing)
    reasons = {gaps.get(s, "").strip().rstrip(".") for s in missing}
    if len(reasons) == 1 and (reason := reasons.pop()):
        return f"without data for {names}: {reason}."
    return f"no usable data for {names} (the data gaps say why)."


def explain_difference(
    oa, labels: dict[str, str], gaps: dict[str, str] | None = None, reporter: str = "the paper"
) -> list[str]:
    """Reasons why the recomputed result of an outcome differs from the published one.

    ``gaps``: study id → why the study has no data for this outcome (the data-gap notes);
    ``reporter``: who reported the result compared with ("the paper", "the source file")."""
    out: list[str] = []
    outcome = oa.outcome

    def name(s: str) -> str:
        return labels.get(s, s)

    missing = [s for s in oa.studies_in_set if s not in oa.studies_with_data]
    gaps = gaps or {}
    rep = oa.reported
    if oa.primary is None:
        out.append(
            f"Nothing could be recomputed: {_missing_text(missing, name, gaps)[:-1]}"
            + (f"; {reporter} reports {reported_sentence(rep, outcome.measure)}." if rep is not None else ".")
        )
        return out
    k = oa.primary.k
    n_set = len(oa.studies_in_set)
    if missing:
        why = _missing_text(missing, name, gaps)
        out.append(f"Recomputed from {k} of the {n_set} included trials; {why}")
    if rep is not None and rep.k is not None and rep.k != k:
        out.append(f"{_upper(reporter)} pooled {rep.k} trials for this outcome; {k} could be used here.")
    if not oa.primary.pooled:
        out.append("Only one trial has data: its own estimate is shown, and nothing was pooled.")
    derived = [r for r in oa.used_rows if r.kind == "derived"]
    if len(derived) > DERIVED_SPELLED_OUT:
        out.append(
            f"Derived numbers were used for {len(derived)} trials "
            f"({', '.join(name(r.study) for r in derived)}); "
            "how each was derived is in the table of data used and their sources."
        )
    elif derived:
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
        out.append(f"{_upper(reporter)} reports no pooled result for this analysis.")
    return out


def format_any(value: Any) -> str:
    """A cell for an HTML table: numbers to 2 decimals, None as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return num(value)
    return str(value)
