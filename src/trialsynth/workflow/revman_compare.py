"""Compare our results with the results RevMan stored in the file a review was imported from.

``revman_stored.csv`` (written by the import) lists every number RevMan stored: per study
(``EFFECT_SIZE``, ``CI_START``, ``CI_END``, ``SE``, ``VAR``, ``WEIGHT``, the base-10 logs
``LOG_*``), per subgroup and per analysis (also ``Z``, ``P_Z``, heterogeneity ``CHI2``,
``DF``, ``P_CHI2``, ``I2``, ``TAU2``) and the test for subgroup differences (``Q``, ``P_Q``,
``I2_Q``). Ratios are on the natural scale, ``SE``/``VAR`` on the log scale, ``Z`` is |z|,
``WEIGHT`` in percent of the analysis (of the subgroup when RevMan shows subtotals only).

Tolerances (:data:`TOLERANCES`): a ``.rm5`` file stores doubles (about 16 significant
digits), so agreement is asked to 1e-9 relative (RevMan and we sum in different orders,
which moves the last few digits). The CSV export rounds to eight decimals, so there
agreement means a difference of at most half a unit in the eighth decimal (5e-9), plus
1e-12 for binary floating point. P-values get 1e-6 relative on top, in both: RevMan's own
χ² tail function is less exact than ours. In the Fleiss 1993 sample RevMan stores
P_CHI2 = 0.1269422521561745 for Q = 9.946055983220074 on 6 df, where R's
``pchisq(9.946055983220074, 6, lower.tail = FALSE)`` and trialsynth both give
0.1269421779062949 (a relative difference of 5.8e-7).
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

from trialsynth._core.dist import norm_quantile
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.revman.folder import STORED_COLUMNS, SUBGROUP_COLUMN, SUBTOTALS_ONLY

#: precision of the stored value -> (relative tolerance, absolute tolerance, relative for p-values)
TOLERANCES = {"double": (1e-9, 1e-12, 1e-6), "8 decimals": (0.0, 5e-9 + 1e-12, 1e-6)}
_P_VALUES = ("P_Z", "P_CHI2", "P_Q")
_LN10 = math.log(10.0)

COMPARISON_COLUMNS = (
    "outcome",
    "level",
    "subgroup",
    "study",
    "statistic",
    "revman",
    "ours",
    "difference",
    "tolerance",
    "agrees",
    "note",
    "source",
)


@dataclass(frozen=True)
class Comparison:
    """One RevMan-stored number beside ours. ``agrees`` is None when it was not compared
    (``note`` says why); ``tolerance`` is the absolute difference allowed."""

    outcome: str
    level: str
    subgroup: str
    study: str
    statistic: str
    revman: str
    ours: float
    tolerance: float
    agrees: bool | None
    note: str
    source: str

    @property
    def difference(self) -> float:
        try:
            return self.ours - float(self.revman)
        except ValueError:
            return math.nan


def read_stored(path: Path) -> list[dict[str, str]]:
    """The rows of ``revman_stored.csv``, checked for its columns and numbers."""
    source = str(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in STORED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"column(s) {', '.join(missing)} are missing", file=source, row=1)
        rows = []
        for number, row in enumerate(reader, start=2):
            if row["statistic"] != "ESTIMABLE":
                try:
                    float(row["value"])
                except ValueError:
                    raise InputError(
                        f"'{row['value']}' is not a number", file=source, row=number, column="value"
                    ) from None
            if row["precision"] not in TOLERANCES:
                raise InputError(
                    f"precision '{row['precision']}' is not one of {', '.join(TOLERANCES)}",
                    file=source,
                    row=number,
                    column="precision",
                )
            rows.append(row)
    return rows


def _pooled_value(result, statistic: str, transform) -> tuple[float, str]:
    nat, log10 = transform
    values = {
        "EFFECT_SIZE": nat(result.estimate),
        "CI_START": nat(result.ci_lower),
        "CI_END": nat(result.ci_upper),
        "LOG_EFFECT_SIZE": log10(result.estimate),
        "LOG_CI_START": log10(result.ci_lower),
        "LOG_CI_END": log10(result.ci_upper),
        "Z": abs(result.statistic),
        "P_Z": result.p_value,
        "CHI2": result.q,
        "DF": float(result.q_df),
        "P_CHI2": result.q_p_value,
        "I2": result.i2,
        "TAU2": result.tau2,
    }
    if statistic in values:
        return values[statistic], ""
    return math.nan, f"{statistic} is not a result trialsynth computes"


def _study_value(row, statistic: str, level: float, transform, method: str) -> tuple[float, str]:
    nat, log10 = transform
    if not row.included:
        return math.nan, "the study is not pooled (not estimable)"
    se = math.sqrt(row.vi)
    z = float(norm_quantile(0.5 + level / 200.0))
    values = {
        "EFFECT_SIZE": nat(row.yi),
        "CI_START": nat(row.yi - z * se),
        "CI_END": nat(row.yi + z * se),
        "LOG_EFFECT_SIZE": log10(row.yi),
        "LOG_CI_START": log10(row.yi - z * se),
        "LOG_CI_END": log10(row.yi + z * se),
        "SE": se,
        "VAR": row.vi,
        "WEIGHT": row.weight,
    }
    if statistic == "O_E":
        if method != "PETO":
            return math.nan, "RevMan fills O_E only for Peto analyses"
        return row.yi / row.vi, ""
    if statistic in values:
        return values[statistic], ""
    return math.nan, f"{statistic} is not a result trialsynth computes"


def compare(analysis, stored: list[dict[str, str]]) -> list[Comparison]:
    """Each stored RevMan number beside ours.

    ``analysis`` comes from :func:`trialsynth.workflow.runner.analyse_review`.
    """
    primary_set = analysis.review.primary_set
    by_outcome = {oa.outcome.id: oa for oa in analysis.outcomes if oa.analysis_set == primary_set}
    out = []
    for row in stored:
        oa = by_outcome.get(row["outcome"])
        rel, absolute, rel_p = TOLERANCES[row["precision"]]
        if row["statistic"] in _P_VALUES:
            rel = rel_p
        ours, note = math.nan, ""
        if oa is None or oa.primary is None:
            note = "the outcome has no result"
        else:
            ours, note = _ours(oa, row)
        value = row["value"]
        if row["statistic"] == "ESTIMABLE":
            agrees = None
            if oa is not None and oa.primary is not None and not note:
                agrees = (value.upper() == "YES") == bool(ours)
            tolerance = 0.0
        else:
            stored_value = float(value)
            tolerance = absolute + rel * abs(stored_value)
            if note or not math.isfinite(ours):
                agrees = None
                note = note or "no value of ours"
            else:
                agrees = abs(ours - stored_value) <= tolerance
        out.append(
            Comparison(
                outcome=row["outcome"],
                level=row["level"],
                subgroup=row["subgroup"],
                study=row["study"],
                statistic=row["statistic"],
                revman=value,
                ours=ours,
                tolerance=tolerance,
                agrees=agrees,
                note=note,
                source=row["source"],
            )
        )
    return out


def _ours(oa, row) -> tuple[float, str]:
    result = oa.primary
    ratio = result.ratio
    if ratio:
        transform = (math.exp, lambda x: x / _LN10)
    else:
        transform = (lambda x: x, lambda x: math.nan)
    statistic, level = row["statistic"], row["level"]
    subgroups = next((s for sub, s in oa.subgroups if sub.column == SUBGROUP_COLUMN), None)
    if statistic.startswith("LOG_") and not ratio:
        return math.nan, "RevMan's base-10 logs apply to ratios only"
    if level == "total":
        if statistic == "WEIGHT":
            return sum(s.weight for s in result.studies if s.included), ""
        if statistic == "TAU2" and result.method in ("FE", "MH", "PETO"):
            return math.nan, "fixed-effect analysis: RevMan writes τ² = 0, trialsynth estimates none"
        return _pooled_value(result, statistic, transform)
    if level == "subgroup_test":
        if subgroups is None:
            return math.nan, "trialsynth found no subgroups to test"
        q, df = subgroups.q_between, subgroups.q_between_df
        values = {
            "Q": q,
            "P_Q": subgroups.q_between_p_value,
            "I2_Q": 100 * max(0.0, (q - df) / q) if q > 0 else 0.0,
        }
        return values.get(statistic, math.nan), ""
    group = None
    if row["subgroup"] and subgroups is not None:
        group = next((g for name, g in subgroups.groups if name == row["subgroup"]), None)
    if level == "subgroup":
        if group is None:
            return math.nan, "trialsynth has no result for this subgroup"
        if statistic == "WEIGHT":
            members = {s.study for s in group.studies}
            return sum(s.weight for s in result.studies if s.included and s.study in members), ""
        if statistic == "TAU2" and group.method in ("FE", "MH", "PETO"):
            return math.nan, "fixed-effect analysis: RevMan writes τ² = 0, trialsynth estimates none"
        return _pooled_value(group, statistic, transform)
    # a study
    study_row = next((s for s in result.studies if s.study == row["study"]), None)
    if study_row is None:
        if statistic == "ESTIMABLE":
            return 0.0, ""
        return math.nan, "the study is not in trialsynth's analysis (no usable data)"
    if statistic == "ESTIMABLE":
        return float(study_row.included), ""
    if statistic == "WEIGHT" and SUBTOTALS_ONLY in oa.outcome.note and group is not None:
        study_row = next(s for s in group.studies if s.study == row["study"])
    return _study_value(study_row, statistic, float(row["ci_level"]), transform, result.method)


def write_comparison(analysis, review_dir: str | Path, out: str | Path) -> list[Comparison]:
    """Compare with ``revman_stored.csv`` of ``review_dir``; write ``revman_comparison.csv`` in ``out``."""
    import io

    from trialsynth.io.atomic import replace_file

    rows = compare(analysis, read_stored(Path(review_dir) / "revman_stored.csv"))
    path = Path(out) / "revman_comparison.csv"
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COMPARISON_COLUMNS)
    for c in rows:
        writer.writerow(
            [
                c.outcome,
                c.level,
                c.subgroup,
                c.study,
                c.statistic,
                c.revman,
                "" if math.isnan(c.ours) else repr(c.ours),
                "" if math.isnan(c.difference) else f"{c.difference:.3g}",
                f"{c.tolerance:.3g}",
                {True: "yes", False: "NO", None: "not compared"}[c.agrees],
                c.note,
                c.source,
            ]
        )
    replace_file(path, buffer.getvalue())
    differ = [c for c in rows if c.agrees is False]
    if differ:
        first = differ[0]
        warnings.warn(
            f"{len(differ)} of {len(rows)} results RevMan stored differ from ours beyond RevMan's "
            f"stored precision (first: outcome {first.outcome} {first.level} "
            f"{first.study or first.subgroup} {first.statistic}: "
            f"RevMan {first.revman}, ours {first.ours!r}); see {path.name}",
            TrialsynthWarning,
            stacklevel=2,
        )
    return rows
