"""Derivations as text: the one place a :class:`~trialsynth.stats.derive.Derivation` is formatted.

``render`` gives one line such as ``SD from SE: 1.2 × √40 = 7.589`` (numbers to four significant
digits, whole numbers as integers; the subject, e.g. the arm, after the method:
``SD from SE, treatment: …``); ``render_all`` joins a row's derivations with "; ".
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["number", "render", "render_all", "row_derivations"]


def number(x, digits: int = 4) -> str:
    """A number as shown in derivations: whole numbers plainly, others to ``digits`` significant digits."""
    x = float(x)
    if not math.isfinite(x):
        return "undefined"
    if x.is_integer() and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.{digits}g}".replace("-", "−")


def render(derivation, digits: int = 4) -> str:
    """One derivation (scalar) as "method: arithmetic = result [notes]"."""
    values = {name: number(value, digits) for name, value in derivation.inputs}
    subject = f", {derivation.subject}" if derivation.subject else ""
    arithmetic = derivation.expression.format(**values)
    text = f"{derivation.method}{subject}: {arithmetic} = {number(derivation.result, digits)}"
    if derivation.notes:
        text += " (" + "; ".join(derivation.notes) + ")"
    return text


def render_all(derivations: Iterable, digits: int = 4) -> str:
    """A row's derivations joined with "; " (empty when nothing was derived)."""
    return "; ".join(render(d, digits) for d in derivations)


def row_derivations(oa) -> dict[str, str]:
    """Per pooled label of an outcome analysis, the derivations of its numbers as one text
    (arms combined or split, then what :mod:`trialsynth.stats.derive` computed when pooling);
    "" when none."""
    rows = {r.study: r for r in oa.used_rows}
    out = {}
    for s in oa.primary.studies:
        row = rows.get(s.study)
        steps = (*(getattr(row, "derivations", ()) if row is not None else ()), *s.derivations)
        out[s.study] = render_all(steps)
    return out
