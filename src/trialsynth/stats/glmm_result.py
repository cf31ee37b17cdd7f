"""A binomial–normal (or Poisson–normal) model fit as a :class:`MetaResult` (``method="GLMM"``).

Measure OR from 2×2 counts, IRR from events and person-time. The study rows show each trial's log
odds ratio (log rate ratio) with ½ added to tables with a zero cell (to both counts for IRR), for
the forest plot only: the model uses the counts as they are; and no weight (a GLMM has none).
Cochran's Q slot holds the Wald-type test of heterogeneity; the likelihood-ratio test, σ² (UM.RS),
the log-likelihood and the integration method are in ``extra["glmm"]``. The prediction interval is
μ̂ ± z·√(SE² + τ²) (metafor's ``predict`` for ``rma.glmm``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from trialsynth._core.dist import crit_value
from trialsynth._core.errors import TrialsynthWarning
from trialsynth._core.results import MetaResult, StudyRow
from trialsynth.stats import derive
from trialsynth.stats import effects as fx
from trialsynth.stats.glmm import glmm_irr, glmm_or, glmm_proportion
from trialsynth.stats.proportions import proportion_effects

MODEL_NAMES = {
    "UM.FS": "unconditional binomial–normal model with fixed study effects",
    "UM.RS": "unconditional binomial–normal model with random study effects",
    "CM.EL": "conditional model, exact (noncentral hypergeometric) likelihood",
    "CM.AL": "conditional model, approximate (binomial) likelihood",
}
IRR_MODEL_NAMES = {
    "UM.FS": "unconditional Poisson–normal model with fixed study effects",
    "UM.RS": "unconditional Poisson–normal model with random study effects",
    "CM.EL": "conditional binomial–normal model (exact given each study's total events)",
    "CM.AL": "conditional binomial–normal model (exact given each study's total events)",
}
PROPORTION_NAME = "binomial–normal model of logit proportions (Hamza et al., J Clin Epidemiol 2008;61:41–51)"
REFERENCE = "Stijnen, Hamza & Özdemir, Stat Med 2010;29:3046–67; Jackson et al., Stat Med 2018;37:1059–85"


def _shown_rates(x1, t1, x2, t2, add: float) -> fx.Effects:
    """Per-study log rate ratios for display, ``add`` added to both counts where one is zero."""
    out = derive.incidence_rate_ratio(x1, t1, x2, t2, add=add)
    zero = (x1 == 0) | (x2 == 0)
    both0 = (x1 == 0) & (x2 == 0)
    return fx.Effects(np.atleast_1d(out.yi.value), np.atleast_1d(out.vi.value), zero & ~both0, both0)


def _fit_and_shown(data, model: str, fixed: bool, level: float, add: float):
    """The GLMM fit of ``data`` and the per-study effects shown beside it (corrected for
    display only), with why a study can be left out of the model."""
    val = data.values
    measure = data.measure.upper()
    a, c = val.get("events_treatment"), val.get("events_control")
    method = "FE" if fixed else "ML"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrialsynthWarning)
        if measure == "PLO":
            fit = glmm_proportion(val["events"], val["n"], method=method, level=level)
        elif measure == "IRR":
            n1, n2 = val["person_time_treatment"], val["person_time_control"]
            fit = glmm_irr(a, n1, c, n2, model=model, method=method, level=level)
        else:
            n1, n2 = val["n_treatment"], val["n_control"]
            fit = glmm_or(a, n1, c, n2, model=model, method=method, level=level)
    for w in caught:
        warnings.warn(f"{data.source}: {w.message}", w.category, stacklevel=4)
    if measure == "PLO":
        shown = proportion_effects(val["events"], val["n"], "PLO", add=add)
        why = ""
    elif measure == "IRR":
        shown = _shown_rates(a, n1, c, n2, add)
        why = "no events in both arms"
    else:
        shown = fx.binary_effects(a, n1, c, n2, "OR", add=add, to="only0", drop00=True)
        why = "no events (or only events) in both arms"
    return fit, shown, why


def _study_rows(data, fit, shown, why: str, level: float, add: float) -> list[StudyRow]:
    """One row per study: its shown effect with a z interval, and whether the model used it."""
    included = np.asarray(fit.included)
    z = float(crit_value(level))
    rows = []
    for i, label in enumerate(data.labels):
        yi, vi = float(shown.yi[i]), float(shown.vi[i])
        se = math.sqrt(vi) if math.isfinite(vi) else math.nan
        note = ""
        if not included[i]:
            note = f"{why}: left out of the model"
        elif shown.corrected[i]:
            note = f"{add:g} added to each cell for display only (the model uses the counts)"
        rows.append(
            StudyRow(
                study=label,
                yi=yi,
                vi=vi,
                weight=math.nan,
                ci_lower=yi - z * se,
                ci_upper=yi + z * se,
                included=bool(included[i]),
                note=note,
            )
        )
    return rows


def glmm_pool_result(data, *, model: str, fixed: bool, level: float, add: float = 0.5) -> MetaResult:
    """Fit ``model`` to the rows of ``data``: a PoolInput with measure OR (2×2 counts), IRR
    (events and person-time) or PLO (events of n in one arm; ``model`` is then not used: there is
    one binomial–normal model of logit proportions)."""
    measure = data.measure.upper()
    fit, shown, why = _fit_and_shown(data, model, fixed, level, add)
    rows = _study_rows(data, fit, shown, why, level, add)
    included = np.asarray(fit.included)
    z = float(crit_value(level))
    if fixed or fit.k < 2:
        pi_lower = pi_upper = math.nan
        pi_type = "none"
    else:
        half = z * math.sqrt(fit.se**2 + fit.tau2)
        pi_lower, pi_upper = fit.estimate - half, fit.estimate + half
        pi_type = "z"
    code = fit.model
    if measure == "PLO":
        name = PROPORTION_NAME
    else:
        name = (IRR_MODEL_NAMES if measure == "IRR" else MODEL_NAMES)[code]
    notes = [
        f"GLMM {code} ({name}), {'fixed effect' if fixed else 'random effects, τ² by ML'}; "
        f"integration: {fit.integration}; {REFERENCE}",
    ]
    if not fit.converged:
        notes.append("the GLMM fit did not converge: estimates may be unreliable")
    left_out = [label for label, used in zip(data.labels, included, strict=True) if not used]
    corrections = [f"left out ({why}): {', '.join(left_out)}"] if left_out else []
    return MetaResult(
        measure=measure,
        method="GLMM",
        hk=False,
        k=fit.k,
        estimate=fit.estimate,
        se=fit.se,
        ci_lower=fit.ci_lower,
        ci_upper=fit.ci_upper,
        statistic=fit.z,
        p_value=fit.p_value,
        df=math.nan,
        tau2=fit.tau2 if not fixed else math.nan,
        tau2_ci_lower=math.nan,
        tau2_ci_upper=math.nan,
        i2=fit.i2,
        h2=fit.h2,
        q=fit.qe_wald,
        q_df=fit.qe_df,
        q_p_value=fit.qe_wald_p,
        pi_lower=pi_lower,
        pi_upper=pi_upper,
        converged=fit.converged,
        iterations=fit.iterations,
        level=fit.level,
        profile="metafor",
        test="z",
        pi_type=pi_type,
        studies=tuple(rows),
        pooled=fit.k > 1,
        corrections=tuple(corrections),
        notes=tuple(notes),
        extra={
            "glmm": {
                "model": code,
                "fixed": bool(fixed),
                "integration": fit.integration,
                "qe_wald": fit.qe_wald,
                "qe_wald_p": fit.qe_wald_p,
                "qe_lrt": fit.qe_lrt,
                "qe_lrt_p": fit.qe_lrt_p,
                "qe_df": fit.qe_df,
                "sigma2": fit.sigma2,
                "loglik": fit.loglik,
            }
        },
    )
