"""Frozen result objects.

A result carries everything a plot or a report needs and is never rounded: numbers are
stored at full double precision on the analysis scale (log scale for ratio measures).
Formatting for people happens in ``trialsynth.report`` and ``trialsynth.plots`` only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from trialsynth._core.serialize import JsonResult, to_jsonable

#: Measures analysed on the log scale (estimates are log ratios).
RATIO_MEASURES = frozenset({"OR", "RR", "HR", "ROM", "IRR"})

#: The note a result carries when, under the RevMan profile, a DerSimonian–Laird fit of 2×2
#: counts took τ² from Q around the Mantel–Haenszel estimate (RevMan's "M-H, Random").
REVMAN_MH_RANDOM_NOTE = (
    "RevMan M-H random effects: DerSimonian–Laird τ² from Q around the Mantel–Haenszel estimate"
)


@dataclass(frozen=True)
class StudyRow(JsonResult):
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

    #: The per-study object of ``trialsynth pool --json`` (``effect``/``variance`` on the analysis scale).
    __json_fields__ = (
        "study", ("effect", "yi"), ("variance", "vi"), "weight", "ci_lower", "ci_upper", "included", "note",
        ("derivations", "_json_derivations"),
    )

    @property
    def _json_derivations(self) -> list[dict[str, Any]]:
        return [d.as_dict() for d in self.derivations]


@dataclass(frozen=True)
class MetaResult(JsonResult):
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
    #: How 2×2 tables with no events (or only events) in both arms were treated: ``"kept"``
    #: (with the continuity correction: metafor's escalc/rma default, drop00 = FALSE),
    #: ``"dropped"`` (RevMan 5, rma.mh, rma.peto) or ``""`` when no study was given as counts.
    double_zero: str = ""

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
        return to_jsonable(asdict(self))

    #: The documented ``trialsynth pool --json`` object (analysis scale), in this key order;
    #: ``extra`` (subgroups, GLMM details, …) is merged in at the end.
    __json_fields__ = (
        "k", "measure", "method", "hk", ("hk_variant", "_json_hk_variant"), "profile", "level", "test",
        "scale", "pooled", "estimate", "se", "ci_lower", "ci_upper", "statistic", "df", "p_value", "tau2",
        "tau2_ci_lower", "tau2_ci_upper", "tau", "i2", "h2", "q", "q_df", "q_p_value", "pi_lower",
        "pi_upper", "pi_type", "converged", "iterations", "n_local_maxima",
        ("double_zero", "_json_double_zero"), "corrections", "notes", "studies", "**extra",
    )

    @property
    def scale(self) -> str:
        """``"log"`` for ratio measures, else ``"identity"``: the scale of the estimates."""
        return "log" if self.ratio else "identity"

    @property
    def _json_hk_variant(self) -> str | None:
        return self.hk_variant or None

    @property
    def _json_double_zero(self) -> str | None:
        return self.double_zero or None

    def _repr_html_(self) -> str:
        """Jupyter display: summary and per-study tables (escaped) and the forest plot."""
        from trialsynth._core.display import html_for

        return html_for(self)

    def to_frame(self):  # pragma: no cover - thin pandas wrapper
        """Per-study rows as a pandas DataFrame (pandas imported lazily)."""
        import pandas as pd

        return pd.DataFrame([asdict(s) for s in self.studies])
