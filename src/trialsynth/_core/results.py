"""Frozen result objects.

A result carries everything a plot or a report needs and is never rounded: numbers are
stored at full double precision on the analysis scale (log scale for ratio measures).
Formatting for people happens in ``trialsynth.report`` and ``trialsynth.plots`` only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: Measures analysed on the log scale (estimates are log ratios).
RATIO_MEASURES = frozenset({"OR", "RR", "HR", "ROM", "IRR"})

#: The note a result carries when, under the RevMan profile, a DerSimonian–Laird fit of 2×2
#: counts took τ² from Q around the Mantel–Haenszel estimate (RevMan's "M-H, Random").
REVMAN_MH_RANDOM_NOTE = (
    "RevMan M-H random effects: DerSimonian–Laird τ² from Q around the Mantel–Haenszel estimate"
)


def _clean(value: Any) -> Any:
    """Turn NaN into None and numpy scalars into Python floats, recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    if math.isnan(f):
        return None
    if f.is_integer() and type(value).__name__.startswith("int"):
        return int(f)
    return f


@dataclass(frozen=True)
class StudyRow:
    """One study in a fitted model.

    ``yi``/``vi`` are the effect and its sampling variance on the analysis scale;
    ``weight`` is the study's weight in percent (NaN where the study was not pooled);
    ``ci_lower``/``ci_upper`` its own confidence interval on the analysis scale.
    """

    study: str
    yi: float
    vi: float
    weight: float
    ci_lower: float
    ci_upper: float
    included: bool = True
    note: str = ""
    #: How the numbers behind ``yi``/``vi`` were derived (trialsynth.stats.derive.Derivation records).
    derivations: tuple = ()


@dataclass(frozen=True)
class MetaResult:
    """A fitted (or, for one study, unpooled) meta-analysis.

    Fields not applicable to the model are NaN (``tau2`` for FE/MH/Peto, say); they
    become ``null`` in JSON. ``i2`` is in percent. ``estimate``, the CI and the
    prediction interval are on the analysis scale (log for OR, RR, HR).
    """

    measure: str
    method: str
    hk: bool
    k: int
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    statistic: float
    p_value: float
    df: float
    tau2: float
    tau2_ci_lower: float
    tau2_ci_upper: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p_value: float
    pi_lower: float
    pi_upper: float
    converged: bool
    iterations: int
    level: float
    profile: str
    test: str
    pi_type: str
    studies: tuple[StudyRow, ...]
    pooled: bool = True
    hk_variant: str = ""
    corrections: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    #: Local maxima of the ML/REML likelihood of τ² over τ² ≥ 0 (the global one is ``tau2``);
    #: 0 for the other estimators.
    n_local_maxima: int = 0

    @property
    def ratio(self) -> bool:
        """True when the analysis scale is the log of a ratio."""
        return self.measure in RATIO_MEASURES

    @property
    def i2_from(self) -> str:
        """Which I² the result holds: ``"Q"`` or ``"tau2"`` (see ``trialsynth.stats.pooling``).

        ``"Q"``: I² = max(0, (Q − df)/Q) (Higgins & Thompson, Stat Med 2002), for fixed-effect
        models (FE, MH, Peto) and, under the RevMan profile, for every model (RevMan 5 reports it
        so). ``"tau2"``: I² = τ²/(τ² + s²), s² the typical within-study variance (Higgins &
        Thompson 2002), for random-effects models under the metafor profile (metafor's default).
        """
        if self.method in ("FE", "MH", "PETO") or self.profile == "revman":
            return "Q"
        return "tau2"

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2) if not math.isnan(self.tau2) else math.nan

    def to_dict(self) -> dict[str, Any]:
        """All fields, full precision, NaN as None (JSON-ready)."""
        data = asdict(self)
        data["studies"] = [asdict(s) for s in self.studies]
        return _clean(data)

    def to_json_dict(self) -> dict[str, Any]:
        """The documented ``trialsynth pool --json`` object (analysis scale)."""
        top = {
            "k": self.k,
            "measure": self.measure,
            "method": self.method,
            "hk": self.hk,
            "hk_variant": self.hk_variant or None,
            "profile": self.profile,
            "level": self.level,
            "test": self.test,
            "scale": "log" if self.ratio else "identity",
            "pooled": self.pooled,
            "estimate": self.estimate,
            "se": self.se,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "statistic": self.statistic,
            "df": self.df,
            "p_value": self.p_value,
            "tau2": self.tau2,
            "tau2_ci_lower": self.tau2_ci_lower,
            "tau2_ci_upper": self.tau2_ci_upper,
            "tau": self.tau,
            "i2": self.i2,
            "h2": self.h2,
            "q": self.q,
            "q_df": self.q_df,
            "q_p_value": self.q_p_value,
            "pi_lower": self.pi_lower,
            "pi_upper": self.pi_upper,
            "pi_type": self.pi_type,
            "converged": self.converged,
            "iterations": self.iterations,
            "n_local_maxima": self.n_local_maxima,
            "corrections": list(self.corrections),
            "notes": list(self.notes),
            "studies": [
                {
                    "study": s.study,
                    "effect": s.yi,
                    "variance": s.vi,
                    "weight": s.weight,
                    "ci_lower": s.ci_lower,
                    "ci_upper": s.ci_upper,
                    "included": s.included,
                    "note": s.note,
                    "derivations": [d.as_dict() for d in s.derivations],
                }
                for s in self.studies
            ],
        }
        top.update(self.extra)
        return _clean(top)

    def _repr_html_(self) -> str:
        """Jupyter display: summary and per-study tables (escaped) and the forest plot."""
        from trialsynth._core.display import html_for

        return html_for(self)

    def to_frame(self):  # pragma: no cover - thin pandas wrapper
        """Per-study rows as a pandas DataFrame (pandas imported lazily)."""
        import pandas as pd

        return pd.DataFrame([asdict(s) for s in self.studies])
