"""Empirical heterogeneity priors: Turner et al. (2015) predictive distributions for τ².

Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT. Predictive distributions for
between-study heterogeneity and simple methods for their application in Bayesian
meta-analysis. Stat Med 2015;34(6):984–998, Table IV: for a new meta-analysis of a binary
outcome on the log odds-ratio scale, log τ² ~ N(μ, σ²), with μ and σ by outcome type (16) and
type of intervention comparison (5); the general setting (any outcome, any comparison) is
log τ² ~ N(−2.56, 1.74²) (p. 993). The table is bundled as
``trialsynth/data/turner2015_tau2_priors.csv``, which carries its citation.

The priors are on τ², while the Bayesian model (:mod:`trialsynth.stats.bayes`) puts its prior on τ.
Since log τ = ½ log τ², log τ ~ N(μ/2, (σ/2)²): τ is log-normal with halved parameters, and its
density is p(τ) = 2τ · p_{τ²}(τ²) (the Jacobian of τ ↦ τ²). :func:`tau_lognormal` does this
transformation explicitly.

Selecting a setting: ``turner:<outcome>:<comparison>``, e.g. ``turner:all-cause-mortality:pharma-placebo``,
or ``turner`` alone for the general setting. The keys are listed by :func:`turner_keys` and in
``trialsynth pool --help``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from trialsynth._core.errors import InputError

__all__ = ["TURNER_SOURCE", "TurnerSetting", "tau_lognormal", "turner_keys", "turner_setting"]

TURNER_SOURCE = "Turner et al., Stat Med 2015;34:984–998, Table IV"
_FILE = "turner2015_tau2_priors.csv"


@dataclass(frozen=True)
class TurnerSetting:
    """One row of Turner et al.'s Table IV: log τ² ~ N(mu, sigma²) for an outcome and comparison."""

    outcome: str
    outcome_label: str
    comparison: str
    comparison_label: str
    mu: float
    sigma: float

    @property
    def key(self) -> str:
        return "turner" if self.outcome == "any" else f"turner:{self.outcome}:{self.comparison}"

    def describe(self) -> str:
        if self.outcome == "any":
            return "Turner et al., Stat Med 2015;34:984–998, p. 993 (general setting)"
        return f"{TURNER_SOURCE} ({self.outcome_label.lower()}, {self.comparison_label.lower()})"


@cache
def _table() -> dict[tuple[str, str], TurnerSetting]:
    text = resources.files("trialsynth").joinpath("data", _FILE).read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    rows = {}
    for row in csv.DictReader(io.StringIO(body)):
        setting = TurnerSetting(
            outcome=row["outcome"],
            outcome_label=row["outcome_label"],
            comparison=row["comparison"],
            comparison_label=row["comparison_label"],
            mu=float(row["mu"]),
            sigma=float(row["sigma"]),
        )
        rows[setting.outcome, setting.comparison] = setting
    return rows


def turner_keys() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The outcome keys and the comparison keys of Table IV (``any`` for the general setting)."""
    table = _table()
    outcomes = tuple(dict.fromkeys(o for o, _ in table if o != "any"))
    comparisons = tuple(dict.fromkeys(c for _, c in table if c != "any"))
    return outcomes, comparisons


def _normalise(word: str) -> str:
    return word.strip().lower().replace("_", "-").replace(" ", "-").replace("/", "-")


def turner_setting(outcome: str = "any", comparison: str = "any") -> TurnerSetting:
    """The Table IV setting for ``outcome`` and ``comparison`` (keys of :func:`turner_keys`).

    ``outcome = "any"`` (with ``comparison`` "any" or left out) is the general setting.
    """
    o, c = _normalise(outcome), _normalise(comparison)
    if o == "any":
        c = "any"
    table = _table()
    if (o, c) in table:
        return table[o, c]
    outcomes, comparisons = turner_keys()
    if o not in outcomes:
        raise InputError(
            f"unknown Turner et al. outcome type '{outcome}'; use one of: any, {', '.join(outcomes)}"
        )
    raise InputError(
        f"unknown Turner et al. comparison type '{comparison}'; use one of: {', '.join(comparisons)}"
    )


def tau_lognormal(mu_tau2: float, sigma_tau2: float) -> tuple[float, float]:
    """(m, s) of log τ ~ N(m, s²) from log τ² ~ N(mu_tau2, sigma_tau2²): m = mu/2, s = sigma/2."""
    return mu_tau2 / 2.0, sigma_tau2 / 2.0
