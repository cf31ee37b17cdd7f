"""Summary of findings: one row per outcome, as in a GRADE summary-of-findings table.

Each row gives the number of participants (studies), the relative effect with its confidence
interval, the assumed control risk (ACR) and the corresponding risk with the intervention per
1000 (or the mean difference for continuous outcomes), the certainty of the evidence with the
reviewer's reason for every downgrade, and a check of the optimal information size (OIS) next
to the reviewer's imprecision judgement (shown beside it, never replacing it).

Corresponding risk with the intervention, from the ACR (a risk, 0-1) and the relative effect
(Cochrane Handbook, chapter 14; Schünemann et al.):

* risk ratio: ACR · RR;
* odds ratio, via odds: ACR · OR / (1 − ACR + ACR · OR);
* hazard ratio, with ACR the control risk at a fixed time (proportional hazards, so that the
  survival S_I = S_C^HR): 1 − (1 − ACR)^HR;
* risk difference: ACR + RD.

The limits of the confidence interval are transformed the same way (each formula increases
with the effect). The ACR is the one entered in the outcome's ``grade`` table (with its
source), or else the control-arm risk of the included trials with 2×2 counts: ``pooled``
(Σ events / Σ participants of the control arms, the default) or ``median`` (the median of
the trials' control-arm risks); the row says which.

OIS (GRADE guidance 6, imprecision: Guyatt et al., J Clin Epidemiol 2011;64:1283-93): the
number of participants (events for a hazard ratio) a single adequately powered trial would
need, computed by :func:`trialsynth.stats.tsa.required_information_size` without heterogeneity
adjustment. The anticipated effect is the one entered (``ois`` in the ``grade`` table); for a
binary outcome without one, a relative risk reduction of 25% (an increase, for outcomes where
higher is better) from the ACR, with two-sided α = 0.05 and power 80%, the example GRADE 6
works with. The check compares the OIS with the participants (events) of the trials with data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trialsynth._core.errors import InputError

__all__ = [
    "DEFAULT_OIS_RRR",
    "SofRow",
    "control_risk",
    "corresponding_risk",
    "sof_row",
    "summary_of_findings",
]

#: The relative risk change GRADE 6 uses for the OIS of a binary outcome when the review gives none.
DEFAULT_OIS_RRR = 0.25


def corresponding_risk(acr: float, effect, measure: str):
    """The risk with the intervention for an assumed control risk ``acr`` and a relative
    ``effect`` (natural scale: RR, OR, HR as ratios; RD as a difference). Vectorised."""
    effect = np.asarray(effect, dtype=float)
    if measure == "RR":
        out = acr * effect
    elif measure == "OR":
        out = acr * effect / (1.0 - acr + acr * effect)
    elif measure == "HR":
        out = 1.0 - (1.0 - acr) ** effect
    elif measure == "RD":
        out = acr + effect
    else:
        raise ValueError(f"no corresponding risk for measure {measure}")
    return out if out.ndim else float(out)


def control_risk(events, n, how: str = "pooled") -> float:
    """The control-arm risk of several trials: ``pooled`` Σ events / Σ n, or ``median`` of
    the per-trial risks."""
    events = np.asarray(events, dtype=float)
    n = np.asarray(n, dtype=float)
    if how == "pooled":
        return float(events.sum() / n.sum())
    if how == "median":
        return float(np.median(events / n))
    raise ValueError(f"unknown control-risk method {how!r} (pooled or median)")


@dataclass(frozen=True)
class SofRow:
    """One outcome of the summary of findings, never rounded.

    ``estimate``/``ci_lower``/``ci_upper``: the pooled (or single-trial) effect on the natural
    scale, None without data. ``participants``: the participants of the trials with data whose
    numbers are known, ``participants_unknown`` the trials whose numbers are not.
    ``acr`` with ``acr_kind`` ("entered", "pooled", "median") and ``acr_text``;
    ``risk_intervention`` (with ``risk_lower``/``risk_upper``) the corresponding risk.
    ``certainty`` ("high" ... "very low", or "not assessed") and ``downgrades``
    ((domain, rating, reason) for each domain rated down, and any reason to rate up with a
    positive rating). ``ois`` (participants, or events
    for HR; None when it cannot be computed, ``ois_text`` says why), ``ois_accrued`` and
    ``ois_met``. ``ci_includes_null`` is the other GRADE imprecision criterion.
    """

    analysis_set: str
    outcome: str
    name: str
    measure: str
    unit: str
    better: str
    studies: int
    studies_in_set: int
    participants: int | None
    participants_unknown: tuple[str, ...]
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    pooled: bool
    acr: float | None
    acr_kind: str | None
    acr_text: str
    risk_intervention: float | None
    risk_lower: float | None
    risk_upper: float | None
    certainty: str
    downgrades: tuple[tuple[str, int, str], ...]
    imprecision_rating: int | None
    ois: float | None
    ois_unit: str
    ois_accrued: float | None
    ois_met: bool | None
    ois_text: str
    ci_includes_null: bool | None
    notes: tuple[str, ...] = ()

    @property
    def has_risks(self) -> bool:
        return self.risk_intervention is not None


def _column(data, name: str) -> np.ndarray:
    values = data.values.get(name)
    return np.full(len(data.labels), np.nan) if values is None else np.asarray(values, dtype=float)


def _participants(data, randomised: dict[str, int | None]) -> tuple[int | None, tuple[str, ...]]:
    """Participants of the trials with data: the outcome row's n_treatment + n_control when
    given, else the randomised numbers of studies.csv; trials with neither are listed."""
    total = _column(data, "n_treatment") + _column(data, "n_control")
    known = 0
    unknown: list[str] = []
    for label, n in zip(data.labels, total, strict=True):
        if np.isfinite(n):
            known += int(n)
        elif (n_randomised := randomised.get(label)) is not None:
            known += int(n_randomised)
        else:
            unknown.append(label)
    return (known if known or not unknown else None), tuple(unknown)


def _events(data) -> float | None:
    """Total events of the trials with data (for an HR's OIS); None when any trial lacks them."""
    ev = _column(data, "events")
    both = _column(data, "events_treatment") + _column(data, "events_control")
    ev = np.where(np.isfinite(ev), ev, both)
    return float(ev.sum()) if len(ev) and np.all(np.isfinite(ev)) else None


def _acr(outcome, data, labels: dict[str, str]) -> tuple[float | None, str | None, str]:
    grade = outcome.grade
    if grade is not None and grade.assumed_control_risk is not None:
        return grade.assumed_control_risk, "entered", f"entered in the review: {grade.control_risk_source}"
    if outcome.measure not in ("OR", "RR", "RD", "HR"):
        return None, None, ""
    how = "pooled" if grade is None else grade.control_risk_from
    if data is None:
        return None, None, "no assumed control risk: no trial has data"
    ec, nc = _column(data, "events_control"), _column(data, "n_control")
    ok = np.isfinite(ec) & np.isfinite(nc) & (nc > 0)
    if not ok.any():
        return (
            None,
            None,
            (
                "no assumed control risk: no trial gives control-arm counts; enter assumed_control_risk "
                "with its source in the outcome's grade table"
            ),
        )
    risk = control_risk(ec[ok], nc[ok], how)
    names = [labels.get(lab, lab) for lab, use in zip(data.labels, ok, strict=True) if use]
    skipped = [labels.get(lab, lab) for lab, use in zip(data.labels, ok, strict=True) if not use]
    # When every trial with data contributes, more than a few are not named (the cell stays short).
    named = bool(skipped) or len(names) <= 3
    trials = f"{len(names)} trial{'s' if len(names) > 1 else ''}" if named else f"all {len(names)} trials"
    if how == "pooled":
        counts = f"{ec[ok].sum():.0f}/{nc[ok].sum():.0f}"
        text = f"pooled control-arm risk of {trials} ({counts}" + (f": {', '.join(names)})" if named else ")")
    else:
        text = f"median control-arm risk of {trials}" + (f" ({', '.join(names)})" if named else "")
    if skipped:
        text += f"; no control-arm counts from {', '.join(skipped)}"
    return risk, how, text


def _ois(outcome, acr: float | None, data, participants: int | None, unknown) -> tuple:
    """(ois, unit, accrued, met, text)."""
    from trialsynth.stats.tsa import required_information_size

    settings = None if outcome.grade is None else outcome.grade.ois
    hr = outcome.measure == "HR"
    unit = "events" if hr else "participants"
    if settings is None and outcome.data_type == "binary" and outcome.measure in ("OR", "RR", "RD"):
        rrr = DEFAULT_OIS_RRR if outcome.better == "lower" else -DEFAULT_OIS_RRR
        kwargs: dict = {"alpha": 0.05, "power": 0.80, "rrr": rrr}
        how = f"default relative {'reduction' if rrr > 0 else 'increase'} of 25%, α 0.05, power 80%"
    elif settings is None:
        return None, unit, None, None, "OIS not checked: the review gives no anticipated effect (ois)"
    else:
        kwargs = {"alpha": settings.alpha, "power": settings.power}
        if settings.rrr is not None:
            kwargs["rrr"] = settings.rrr
        elif settings.hazard_ratio is not None:
            kwargs["hazard_ratio"] = settings.hazard_ratio
        else:
            kwargs.update(mean_difference=settings.mean_difference, sd=settings.sd)
        how = f"entered effect, α {settings.alpha:g}, power {settings.power * 100:g}%"
    if "rrr" in kwargs:
        if acr is None:
            return None, unit, None, None, "OIS not checked: no assumed control risk"
        kwargs["control_risk"] = acr
    try:
        ois = required_information_size(**kwargs)
    except InputError as exc:
        return None, unit, None, None, f"OIS not computable: {exc.reason}"
    accrued: float | None
    if hr:
        accrued = None if data is None else _events(data)
        missing = "event counts not known"
    else:
        accrued = None if unknown else participants
        missing = f"participants of {', '.join(unknown) or 'the trials'} not known"
    if accrued is None:
        return ois, unit, None, None, f"OIS {math.ceil(ois)} {unit} ({how}); not checked: {missing}"
    met = accrued >= ois
    text = f"OIS {math.ceil(ois)} {unit} ({how}); {accrued:.0f} accrued: {'met' if met else 'not met'}"
    return ois, unit, accrued, met, text


def sof_row(
    outcome,
    analysis_set: str,
    data,
    result,
    studies_in_set: int,
    randomised: dict[str, int | None],
    labels: dict[str, str] | None = None,
) -> SofRow:
    """The summary-of-findings row of one outcome: ``data`` (a PoolInput, or None) and its
    pooled ``result`` (a MetaResult on the analysis scale, or None) from the review run;
    ``randomised`` maps study ids to their randomised totals (None when not known),
    ``labels`` to the names used in the texts."""
    estimate = lower = upper = None
    pooled = False
    null_in_ci = None
    if result is not None:
        tr = math.exp if result.ratio else float
        estimate, lower, upper = tr(result.estimate), tr(result.ci_lower), tr(result.ci_upper)
        pooled = bool(result.pooled)
        null_in_ci = bool(result.ci_lower <= 0.0 <= result.ci_upper)
    if data is not None:
        participants, unknown = _participants(data, randomised)
    else:
        participants, unknown = None, ()
    acr, acr_kind, acr_text = _acr(outcome, data, labels or {})
    risk: float | None = None
    risk_lo: float | None = None
    risk_hi: float | None = None
    if acr is not None and estimate is not None and outcome.measure in ("OR", "RR", "RD", "HR"):
        risk, risk_lo, risk_hi = (
            corresponding_risk(acr, x, outcome.measure) for x in (estimate, lower, upper)
        )
    notes = []
    if outcome.measure == "HR" and acr is not None:
        notes.append(
            "For a hazard ratio the assumed control risk is a risk by a fixed time; proportional hazards."
        )
    rd_outside = risk_lo is not None and risk_hi is not None and (risk_lo < 0 or risk_hi > 1)
    if outcome.measure == "RD" and risk is not None and rd_outside:
        notes.append("The risk difference's interval reaches outside 0-1 at this control risk.")
    grade = outcome.grade
    ois, unit, accrued, met, ois_text = _ois(outcome, acr, data, participants, unknown)
    imprecision = None
    if grade is not None and grade.assessed:
        imprecision = next(d.rating for d in grade.domains if d.domain == "imprecision")
    if grade is not None and grade.note:
        notes.append(grade.note)
    return SofRow(
        analysis_set=analysis_set,
        outcome=outcome.id,
        name=outcome.name,
        measure=outcome.measure,
        unit=outcome.unit,
        better=outcome.better,
        studies=0 if data is None else len(data.labels),
        studies_in_set=studies_in_set,
        participants=participants,
        participants_unknown=unknown,
        estimate=estimate,
        ci_lower=lower,
        ci_upper=upper,
        pooled=pooled,
        acr=acr,
        acr_kind=acr_kind,
        acr_text=acr_text,
        risk_intervention=risk,
        risk_lower=risk_lo,
        risk_upper=risk_hi,
        certainty="not assessed" if grade is None else grade.certainty,
        downgrades=()
        if grade is None
        else tuple(
            (d.domain, d.rating, d.reason)
            for d in (*grade.domains, *getattr(grade, "upgrades", ()))
            if d.rating != 0
        ),
        imprecision_rating=imprecision,
        ois=ois,
        ois_unit=unit,
        ois_accrued=accrued,
        ois_met=met,
        ois_text=ois_text,
        ci_includes_null=null_in_ci,
        notes=tuple(notes),
    )


def summary_of_findings(analysis) -> tuple[SofRow, ...]:
    """The rows of every outcome in every analysis set of a review run
    (:class:`trialsynth.workflow.runner.ReviewAnalysis`), in the review's order."""
    review = analysis.review
    randomised: dict[str, int | None] = {}
    labels = {s.id: s.label for s in review.studies}
    for s in review.studies:
        t, c = s.n_randomised_treatment, s.n_randomised_control
        randomised[s.id] = None if t is None or c is None else t + c
    return tuple(
        sof_row(oa.outcome, oa.analysis_set, oa.data, oa.primary, len(oa.studies_in_set), randomised, labels)
        for oa in analysis.outcomes
    )
