"""``trialsynth km``: a hazard ratio from digitised Kaplan–Meier curves and numbers at risk.

The files are read by :mod:`trialsynth.io.kmcsv`; each arm's individual patient data are
reconstructed by the algorithm of Guyot et al. 2012 and the log HR with its SE comes from a Cox
model on them (and, for comparison, the log-rank O − E and V), :mod:`trialsynth.stats.km`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trialsynth._core.errors import InputError
from trialsynth.io.kmcsv import read_km_curves, read_numbers_at_risk
from trialsynth.stats.km import IPD, HazardRatio, hazard_ratio_from_km, reconstruct_ipd


@dataclass(frozen=True)
class ArmSummary:
    """One reconstructed arm: its size, events and censored patients."""

    arm: str
    n: int
    events: int
    censored: int


@dataclass(frozen=True)
class KMHazardRatio:
    """The HR of ``treatment`` against ``control`` from reconstructed IPD (log scale), and the arms."""

    treatment: ArmSummary
    control: ArmSummary
    hazard_ratio: HazardRatio
    level: float

    def to_json_dict(self) -> dict:
        hr = self.hazard_ratio
        z = _z(self.level)
        return {
            "method": "Guyot et al. 2012 reconstruction; Cox model (Breslow), log-rank O - E and V",
            "treatment": vars(self.treatment),
            "control": vars(self.control),
            "log_hr": hr.log_hr_cox,
            "se": hr.se_cox,
            "level": self.level,
            "ci_lower": hr.log_hr_cox - z * hr.se_cox,
            "ci_upper": hr.log_hr_cox + z * hr.se_cox,
            "log_hr_logrank": hr.log_hr_logrank,
            "se_logrank": hr.se_logrank,
            "o_minus_e": hr.o_minus_e,
            "v": hr.v,
        }


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 200))


def _arm(name: str, ipd: IPD) -> ArmSummary:
    events = int(ipd.event.sum())
    return ArmSummary(name, int(ipd.time.size), events, int(ipd.time.size) - events)


def km_file(
    curves,
    at_risk,
    *,
    treatment: str | None = None,
    control: str | None = None,
    level: float = 95.0,
    total_events: dict[str, int] | None = None,
) -> KMHazardRatio:
    """Reconstruct both arms of ``curves`` with their numbers ``at_risk`` and return the HR.

    Without ``treatment``/``control`` the files must hold exactly two arms, taken in the order of
    the curves file (treatment first). ``total_events`` (per arm) pins the last interval's events
    where a paper reports them.
    """
    if not 50 < level < 100:
        raise InputError(f"the confidence level must be between 50 and 100 percent, not {level:g}")
    points = read_km_curves(curves)
    risk = read_numbers_at_risk(at_risk)
    names = list(points)
    if treatment is None and control is None:
        if len(names) != 2:
            raise InputError(
                f"the curves file has {len(names)} arms ({', '.join(names)}); name two with "
                "--treatment and --control",
                file=str(curves),
            )
        treatment, control = names
    elif treatment is None or control is None:
        raise InputError("give both --treatment and --control, or neither (two arms, treatment first)")
    if treatment == control:
        raise InputError(f"--treatment and --control are both '{treatment}'")
    ipd = {}
    for arm in (treatment, control):
        if arm not in points:
            raise InputError(
                f"no arm '{arm}' in the curves file (arms: {', '.join(names)})", file=str(curves)
            )
        if arm not in risk:
            raise InputError(f"no numbers at risk for arm '{arm}'", file=str(at_risk))
        try:
            ipd[arm] = reconstruct_ipd(*points[arm], *risk[arm], total_events=(total_events or {}).get(arm))
        except InputError as exc:
            raise InputError(f"arm '{arm}': {exc.reason}", file=str(curves)) from None
    result = hazard_ratio_from_km(ipd[treatment], ipd[control])
    if not (math.isfinite(result.log_hr_cox) and math.isfinite(result.se_cox)):
        raise InputError(
            "no hazard ratio can be estimated: the reconstructed data have no events in an arm",
            file=str(curves),
        )
    return KMHazardRatio(_arm(treatment, ipd[treatment]), _arm(control, ipd[control]), result, level)
