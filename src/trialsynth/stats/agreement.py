"""Agreement between two raters on a nominal scale: Cohen's κ and Gwet's AC1.

Two raters put the same n subjects into q categories; ``table[a, b]`` counts the subjects the
first rater put in category a and the second in category b. With p_ab = table[a, b] / n and
the margins p_a+ (first rater) and p_+b (second rater):

* observed agreement p_o = Σ_k p_kk;
* **Cohen's κ** (Cohen, *Educ Psychol Meas* 1960;20:37–46): chance agreement
  p_e = Σ_k p_k+ · p_+k and κ = (p_o − p_e) / (1 − p_e);
* **Gwet's AC1** (Gwet, *Br J Math Stat Psychol* 2008;61:29–48, eqs. for γ₁ with two raters):
  with π_k = (p_k+ + p_+k)/2 the mean share of category k, chance agreement
  p_e = Σ_k π_k (1 − π_k) / (q − 1) and AC1 = (p_o − p_e) / (1 − p_e).

κ is not defined when p_e = 1 (both raters used one and the same category throughout); AC1's
p_e is at most 1 − 1/q (when the π_k are all equal), so AC1 is always defined for q ≥ 2. AC1
stays close to p_o when the raters agree on nearly everything in one category (the "kappa
paradox" of screening, where most records are excluded by both: κ can then be low or negative
although the raters almost always agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Agreement", "two_rater_agreement"]


@dataclass(frozen=True)
class Agreement:
    """Agreement of two raters: ``subjects`` rated by both, ``agreed`` (same category),
    ``categories`` q, observed agreement ``p_observed``; Cohen's ``kappa`` with its chance
    agreement ``p_chance_kappa`` (``kappa`` is ``None`` when that is 1), and Gwet's ``ac1``
    with ``p_chance_ac1`` (``None`` with no subjects)."""

    subjects: int
    agreed: int
    categories: int
    p_observed: float | None
    p_chance_kappa: float | None
    kappa: float | None
    p_chance_ac1: float | None
    ac1: float | None


def two_rater_agreement(table) -> Agreement:
    """Cohen's κ and Gwet's AC1 from a q × q table of counts (q ≥ 2; see the module's docstring)."""
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 2:
        raise ValueError("the agreement table is square with at least two categories")
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("the agreement table holds counts (finite, not negative)")
    q = t.shape[0]
    n = float(t.sum())
    agreed = float(np.trace(t))
    if n == 0:
        return Agreement(0, 0, q, None, None, None, None, None)
    p = t / n
    p_o = float(np.trace(p))
    row, col = p.sum(axis=1), p.sum(axis=0)
    pe_kappa = float(row @ col)
    kappa = None if pe_kappa >= 1 else (p_o - pe_kappa) / (1 - pe_kappa)
    pi = (row + col) / 2
    pe_ac1 = float(pi @ (1 - pi)) / (q - 1)
    ac1 = (p_o - pe_ac1) / (1 - pe_ac1)
    return Agreement(
        subjects=round(n),
        agreed=round(agreed),
        categories=q,
        p_observed=p_o,
        p_chance_kappa=pe_kappa,
        kappa=kappa,
        p_chance_ac1=pe_ac1,
        ac1=ac1,
    )
