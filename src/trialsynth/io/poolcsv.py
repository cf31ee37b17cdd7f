"""Reading trial data for pooling, defensively.

A pooling table is a CSV file (or a sheet of an Excel workbook, read by :mod:`trialsynth.io.xlsx`:
``trials.xlsx`` or ``trials.xlsx#Sheet``) with one row per study. The ``study`` column (the study
label) is always required; the other columns describe each study's result in one of the
*column sets* below. Column names are matched exactly after stripping surrounding
whitespace (case does not matter); messages always use the user's own spelling.

Column sets ("forms"), in the order in which they are tried for each row:

``binary`` -- event counts (OR, RR, RD)
    ``events_treatment``, ``n_treatment``, ``events_control``, ``n_control``: the number
    of patients with the event and the number randomised in each arm. Counts are whole
    numbers; ``n`` is above 0 and events lie between 0 and ``n``.
``continuous`` -- means and standard deviations (MD, SMD)
    ``mean_treatment``, ``sd_treatment``, ``n_treatment``, ``mean_control``,
    ``sd_control``, ``n_control``. Standard deviations are above 0.
``generic_ci`` -- an estimate with its confidence interval (any measure)
    ``estimate``, ``ci_lower``, ``ci_upper`` and optionally ``ci_level`` (a percentage,
    95 when blank or absent; between 50 and 100). For ratio measures (OR, RR, HR) the
    estimate and limits are the ratios themselves (0.60, never a log) and must be above 0.
    The estimate must lie within its interval.
``generic_log_se`` -- a log ratio and its standard error (OR, RR, HR)
    ``log_estimate``, ``se`` (natural log; ``se`` above 0).
``generic_se`` -- a difference and its standard error (MD, SMD, RD)
    ``estimate``, ``se`` (``se`` above 0).
``generic_var``, ``generic_log_var`` -- ``estimate`` (MD, SMD, RD, IRD) or ``log_estimate``
    (ratios) with its ``variance`` (above 0) in place of the SE: pooled as SE = √variance.
``hr_ome`` -- log-rank statistics (HR)
    ``o_minus_e`` (observed minus expected events in the treatment arm) and ``v`` (its
    variance, above 0).
``hr_pvalue`` -- a log-rank p-value (HR)
    ``p_value`` (above 0 and at most 1; an upper bound such as ``<0.001`` is accepted and
    flagged in :attr:`PoolInput.p_bound`), ``events`` (total events in both arms, a whole
    number above 0), ``direction`` (``treatment`` or ``control``: the arm the reported
    result favours), ``n_treatment`` and ``n_control``.

Forms from which the numbers to pool are *derived* (:mod:`trialsynth.stats.derive`; every
derivation is kept with the study, see docs/derived-numbers.md); ``*`` is ``treatment`` and
``control``, each arm with its ``n_*``:

``binary_percent`` -- ``percent_*`` with ``n_*``: the percentage of the arm with the event;
    events = round(percent/100 × n), half up (:func:`trialsynth.stats.derive.count_from_percent`).
    The row is then a ``binary`` row whose ``events_*`` are derived: its kind is ``binary`` and
    ``values["percent_*"]`` keep the percentages (OR, RR, RD)

``continuous_se`` -- ``mean_*``, ``se_*`` (SE of the arm mean; SD = SE·√n) (MD, SMD, ROM)

``continuous_ci`` -- ``mean_*``, ``ci_lower_*``, ``ci_upper_*`` (95% CI of the arm mean; SD by
    the t or normal quantile, Handbook 6.5.2.2) (MD, SMD, ROM)

``continuous_change`` -- ``mean_*`` as a mean change from baseline with ``baseline_sd_*``,
    ``final_sd_*`` and ``correlation`` (SD of the change, Handbook 6.5.2.8) (MD, SMD; for SMD
    all rows must then be change scores)

``continuous_median`` -- ``median_*`` with ``q1_*`` and ``q3_*`` and/or ``min_*`` and ``max_*``
    (mean and SD estimated; ``pool --median-method``) (MD, SMD, ROM)

``md_pvalue`` -- ``estimate``, ``p_value``, ``n_treatment``, ``n_control``: a mean difference
    known only with its two-sided p-value (SE from the t quantile, Handbook 6.5.2.3) (MD)

``rate`` -- ``events_*``, ``person_time_*`` (IRR, IRD)

Any row with counts or means may add ``icc`` and ``cluster_size`` (a cluster-randomised trial:
sizes and events divided by the design effect 1 + (m − 1)·ICC, Handbook 23.1.4).

Different rows may use different column sets: each row uses the first set, in the order
above and among the sets valid for the measure, whose cells are all filled in. A row with
no complete set is left out with a :class:`~trialsynth._core.errors.TrialsynthWarning`. Every
other column (subgroup, year, moderators, notes) is carried through verbatim.

Row numbers are those a spreadsheet shows: the header is row 1 and the first study is
row 2. Every problem is an :class:`~trialsynth._core.errors.InputError` naming the file, row
and column.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from trialsynth._core import bounds
from trialsynth._core.bounds import control_character
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth._core.results import RATIO_MEASURES
from trialsynth.io.rows import read_rows
from trialsynth.stats import derive

__all__ = ["MEASURES", "PoolInput", "parse_pool_table", "read_pool_csv"]

#: The effect measures that can be pooled, in the order they are listed to users.
MEASURES: tuple[str, ...] = (
    "OR", "RR", "RD", "MD", "SMD", "HR", "ROM", "IRR", "IRD", "PR", "PLO", "PAS", "PFT"
)
#: Single-arm proportions (events of n): raw, logit, arcsine, Freeman–Tukey double arcsine.
PROPORTION_MEASURES = frozenset({"PR", "PLO", "PAS", "PFT"})

_MEASURE_NAMES = {
    "OR": "an odds ratio",
    "RR": "a risk ratio",
    "RD": "a risk difference",
    "MD": "a mean difference",
    "SMD": "a standardised mean difference",
    "HR": "a hazard ratio",
    "PR": "a proportion",
    "PLO": "a logit proportion",
    "PAS": "an arcsine proportion",
    "PFT": "a Freeman–Tukey proportion",
    "ROM": "a ratio of means",
    "IRR": "an incidence rate ratio",
    "IRD": "an incidence rate difference",
}

_ALL = frozenset(MEASURES) - PROPORTION_MEASURES
_DIFFERENCE_MEASURES = frozenset({"MD", "SMD", "RD", "IRD"})
_MEANS_MEASURES = frozenset({"MD", "SMD", "ROM"})
_CLUSTER = ("icc", "cluster_size")
_ARMS = ("treatment", "control")


def _both(*stems: str) -> tuple[str, ...]:
    return tuple(f"{stem}_{arm}" for arm in _ARMS for stem in stems)


@dataclass(frozen=True)
class _Form:
    """One column set: its kind, required columns, optional columns and valid measures."""

    kind: str
    columns: tuple[str, ...]
    measures: frozenset[str]
    description: str
    optional: tuple[str, ...] = ()


# The order of this tuple is the precedence order used for each row.
_FORMS: tuple[_Form, ...] = (
    _Form(
        "binary",
        ("events_treatment", "n_treatment", "events_control", "n_control"),
        frozenset({"OR", "RR", "RD"}),
        "event counts",
        optional=_CLUSTER,
    ),
    _Form(
        "binary_percent",
        _both("percent", "n"),
        frozenset({"OR", "RR", "RD"}),
        "percentages with events and their denominators",
        optional=_CLUSTER,
    ),
    _Form(
        "continuous",
        ("mean_treatment", "sd_treatment", "n_treatment", "mean_control", "sd_control", "n_control"),
        _MEANS_MEASURES,
        "means and standard deviations",
        optional=_CLUSTER,
    ),
    _Form(
        "continuous_se", _both("mean", "se", "n"), _MEANS_MEASURES, "means and their SEs", optional=_CLUSTER
    ),
    _Form(
        "continuous_ci",
        _both("mean", "ci_lower", "ci_upper", "n"),
        _MEANS_MEASURES,
        "means and their 95% CIs",
        optional=_CLUSTER,
    ),
    _Form(
        "continuous_change",
        (*_both("mean", "baseline_sd", "final_sd", "n"), "correlation"),
        frozenset({"MD", "SMD"}),
        "mean changes with baseline and final SDs and a correlation",
        optional=_CLUSTER,
    ),
    _Form(
        "continuous_median",
        _both("median", "n"),
        _MEANS_MEASURES,
        "medians with quartiles and/or ranges",
        optional=(*_both("q1", "q3", "min", "max"), *_CLUSTER),
    ),
    _Form(
        "generic_ci",
        ("estimate", "ci_lower", "ci_upper"),
        _ALL,
        "estimate with confidence interval",
        optional=("ci_level",),
    ),
    _Form(
        "generic_log_se", ("log_estimate", "se"), frozenset(RATIO_MEASURES), "log ratio with standard error"
    ),
    _Form("generic_se", ("estimate", "se"), _DIFFERENCE_MEASURES, "estimate with standard error"),
    _Form(
        "generic_log_var",
        ("log_estimate", "variance"),
        frozenset(RATIO_MEASURES),
        "log ratio with its variance",
    ),
    _Form("generic_var", ("estimate", "variance"), _DIFFERENCE_MEASURES, "estimate with its variance"),
    _Form("hr_ome", ("o_minus_e", "v"), frozenset({"HR"}), "O-E and its variance V"),
    _Form("proportion", ("events", "n"), PROPORTION_MEASURES, "events of n (single arm)"),
    _Form(
        "hr_pvalue",
        ("p_value", "events", "direction", "n_treatment", "n_control"),
        frozenset({"HR"}),
        "log-rank p-value",
    ),
    _Form(
        "md_pvalue",
        ("estimate", "p_value", "n_treatment", "n_control"),
        frozenset({"MD"}),
        "MD with its p-value",
    ),
    _Form("rate", _both("events", "person_time"), frozenset({"IRR", "IRD"}), "events and person-time"),
)

#: Rows given with a variance in place of an SE, and the form they become (SE = √variance).
_VARIANCE_FORMS = {"generic_var": "generic_se", "generic_log_var": "generic_log_se"}

#: Forms whose numbers are derived before pooling (their rows carry derivations).
DERIVED_KINDS = frozenset(
    {"continuous_se", "continuous_ci", "continuous_change", "continuous_median", "md_pvalue"}
)

#: Every recognised numeric column, in the order used for :attr:`PoolInput.values`.
NUMERIC_COLUMNS: tuple[str, ...] = (
    "events_treatment",
    "n_treatment",
    "events_control",
    "n_control",
    "mean_treatment",
    "sd_treatment",
    "mean_control",
    "sd_control",
    "estimate",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "log_estimate",
    "se",
    "o_minus_e",
    "v",
    "p_value",
    "events",
    "n",
    *_both("se", "ci_lower", "ci_upper", "baseline_sd", "final_sd", "median", "q1", "q3", "min", "max"),
    "correlation",
    "icc",
    "cluster_size",
    *_both("person_time"),
    *_both("percent"),
    "variance",
)

_DIRECTIONS = ("treatment", "control")
_DEFAULT_CI_LEVEL = 95.0

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_P_UPPER_BOUND = re.compile(r"(?:<=|<|≤|=<)\s*(.*)", re.DOTALL)
_P_LOWER_BOUND = re.compile(r"(?:>=|>|≥|=>)\s*(.*)", re.DOTALL)


class _Where(TypedDict):
    """Where a cell is, as keyword arguments for :class:`InputError`."""

    file: str
    row: int
    column: str


@dataclass(frozen=True, eq=False)
class PoolInput:
    """Validated trial data ready for computing effect sizes.

    ``values`` holds one float array per recognised numeric column of the header (keys are
    the canonical lower-case column names, e.g. ``"n_treatment"``), aligned with
    ``labels``; an entry is NaN where that row did not use the column (it used another
    column set). ``values["ci_level"]`` exists whenever the ``generic_ci`` columns are
    present and holds 95 for ``generic_ci`` rows that left it blank. For ``hr_pvalue``
    rows given as a bound (``<0.001``) ``values["p_value"]`` holds the bound and
    ``p_bound`` is True. Arrays are read-only.

    ``extra_columns`` is keyed by the user's spelling of each column name and keeps every
    column that is not used for pooling (including recognised columns of a column set that
    is incomplete or not valid for the measure), as stripped strings of the kept rows.
    """

    source: str
    measure: str
    labels: tuple[str, ...]
    kinds: tuple[str, ...]
    rows: tuple[int, ...]
    values: dict[str, np.ndarray]
    direction: tuple[str, ...]
    p_bound: np.ndarray
    skipped: tuple[str, ...]
    extra_columns: dict[str, tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.labels)


# --------------------------------------------------------------------------- public API


def read_pool_csv(path: str | os.PathLike[str], *, measure: str, repeated: bool = False) -> PoolInput:
    """Read a pooling table from a CSV file (UTF-8, with or without a byte-order mark) or a
    sheet of an Excel workbook (``trials.xlsx``: its first sheet; ``trials.xlsx#Sheet``).

    See the module docstring for the columns. ``path`` as given is used as the file name
    in messages (with the sheet for a workbook). Raises :class:`InputError` for anything
    wrong with the file. ``repeated`` allows several rows per study (several effect sizes,
    for a multilevel model). Workbooks: :mod:`trialsynth.io.xlsx` (numbers as stored, never
    as displayed).
    """
    measure_code = _check_measure(measure)
    table = read_rows(path, numeric=NUMERIC_COLUMNS)
    source, records = table.source, list(table.records)

    nonblank = [(n, r) for n, r in records if any(cell.strip() for cell in r)]
    if not nonblank:
        raise InputError("the file is empty", file=source)
    header_row, header = nonblank[0]
    body = [(n, r) for n, r in records if n > header_row]
    if not any(any(cell.strip() for cell in r) for _, r in body):
        raise InputError("the file has a header row but no studies below it", file=source, row=header_row)
    return _parse(
        header,
        [r for _, r in body],
        measure=measure_code,
        source=source,
        row_numbers=[n for n, _ in body],
        header_row=header_row,
        repeated=repeated,
    )


def parse_pool_table(
    header: list[str],
    rows: list[list[str]],
    *,
    measure: str,
    source: str,
    row_numbers: list[int] | None = None,
    repeated: bool = False,
) -> PoolInput:
    """Validate an already-split table (header row plus data rows) for pooling.

    ``source`` names the table in messages; ``row_numbers`` gives each data row's number
    as the user sees it (default: 2, 3, ... with the header as row 1). Cells are stripped
    of surrounding whitespace; rows that are entirely blank are ignored. ``repeated`` allows
    several rows per study (as :func:`read_pool_csv`).
    """
    measure_code = _check_measure(measure)
    if row_numbers is None:
        row_numbers = list(range(2, len(rows) + 2))
    elif len(row_numbers) != len(rows):
        raise ValueError(f"row_numbers has {len(row_numbers)} entries for {len(rows)} rows")
    return _parse(
        header,
        rows,
        measure=measure_code,
        source=str(source),
        row_numbers=list(row_numbers),
        header_row=1,
        repeated=repeated,
    )


# --------------------------------------------------------------------------- the parser


def _check_measure(measure: object) -> str:
    """Return the upper-cased measure code, or raise InputError listing the measures."""
    code = measure.strip().upper() if isinstance(measure, str) else ""
    if code not in MEASURES:
        raise InputError(f"unknown measure '{measure}'; use one of {', '.join(MEASURES)}")
    return code


def _cell(value: object) -> str:
    """A cell as a stripped string (None becomes blank)."""
    if value is None:
        return ""
    return str(value).strip()


def _parse(
    header: Sequence[object],
    rows: Sequence[Sequence[object]],
    *,
    measure: str,
    source: str,
    row_numbers: list[int],
    header_row: int,
    repeated: bool = False,
) -> PoolInput:
    names = [_cell(h) for h in header]
    if names:
        names[0] = names[0].lstrip("\ufeff").strip()
    table = [[_cell(c) for c in row] for row in rows]
    if not any(names):
        raise InputError("the header row is blank", file=source, row=header_row)
    if not any(any(row) for row in table):
        raise InputError("there are no studies below the header row", file=source, row=header_row)
    ncols = len(names)

    # Rows longer than the header: harmless if the extra cells are blank (trailing commas).
    for row, number in zip(table, row_numbers, strict=True):
        if len(row) > ncols:
            if any(row[ncols:]):
                raise InputError(
                    f"this row has {len(row)} cells but the header has only {ncols} columns",
                    file=source,
                    row=number,
                )
            del row[ncols:]
        elif len(row) < ncols:
            row.extend([""] * (ncols - len(row)))

    # Control characters (NUL, escape sequences) never belong in a cell: they would be written
    # into every output that shows the cell (labels, moderator and subgroup columns).
    for row, number in zip(table, row_numbers, strict=True):
        for i, cell in enumerate(row):
            bad = control_character(cell)
            if bad is not None:
                raise InputError(
                    f"the cell holds a control character ({bad}), which no value may contain",
                    file=source,
                    row=number,
                    column=names[i] or f"column {i + 1}",
                )

    # Columns without a name: ignored when empty, an error when they hold data.
    for i, name in enumerate(names):
        if name:
            continue
        for row, number in zip(table, row_numbers, strict=True):
            if row[i]:
                raise InputError(
                    f"column {i + 1} has data ('{row[i]}') but no name in the header row",
                    file=source,
                    row=number,
                )

    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            continue
        key = name.casefold()
        if key in index:
            j = index[key]
            raise InputError(
                f"the column name '{name}' appears twice (columns {j + 1} and {i + 1})",
                file=source,
                row=header_row,
                column=name,
            )
        index[key] = i

    if "study" not in index:
        named = [n for n in names if n]
        hint = ""
        if len(named) == 1:
            for sep, word in ((";", "semicolons"), ("\t", "tabs")):
                if sep in named[0]:
                    hint = f"; the file seems to separate columns with {word}, but it must use commas"
                    break
        raise InputError(
            f"there is no 'study' column (the columns are: {', '.join(named)}){hint}",
            file=source,
            row=header_row,
        )

    def shown(column: str) -> str:
        return names[index[column]]

    valid = [f for f in _FORMS if measure in f.measures]
    complete = [f for f in valid if all(c in index for c in f.columns)]
    if not complete:
        raise InputError(_no_usable_set_message(measure, valid, index), file=source, row=header_row)

    used: set[str] = set()
    for form in complete:
        used.update(form.columns)
        used.update(c for c in form.optional if c in index)
    # The cluster columns are checked on every row: a row whose form cannot use them is an error.
    used.update(c for c in _CLUSTER if c in index)
    _warn_partial_sets(source, valid, complete, index, used, shown)

    # ci_level is always reported for generic_ci (95 where not given), even without the column.
    has_ci = any(f.kind == "generic_ci" for f in complete)
    has_percent = any(f.kind == "binary_percent" for f in complete)
    has_variance = any(f.kind in _VARIANCE_FORMS for f in complete)
    numeric = [
        c
        for c in NUMERIC_COLUMNS
        if c in used
        or (c == "ci_level" and has_ci)
        or (has_percent and c in _both("events"))
        or (has_variance and c == "se")
    ]
    extra = [i for i, n in enumerate(names) if n and n.casefold() != "study" and n.casefold() not in used]
    study_i = index["study"]
    # Column order used for per-cell checks: the header's order, so the first bad cell is reported.
    checked = sorted(used, key=lambda c: index[c])

    labels: list[str] = []
    kinds: list[str] = []
    kept_rows: list[int] = []
    directions: list[str] = []
    bounds: list[bool] = []
    columns: dict[str, list[float]] = {c: [] for c in numeric}
    extras: dict[str, list[str]] = {names[i]: [] for i in extra}
    skipped: list[str] = []
    seen: dict[str, int] = {}

    for row, number in zip(table, row_numbers, strict=True):
        if not any(row):
            continue
        label = row[study_i]
        if not label:
            raise InputError("the study label is blank", file=source, row=number, column=names[study_i])
        if label in seen and not repeated:
            raise InputError(
                f"study '{label}' appears twice (rows {seen[label]} and {number}); several effect sizes "
                "per study need a multilevel model (--multilevel, with an es_id column)",
                file=source,
                row=number,
                column=names[study_i],
            )
        seen[label] = number

        parsed: dict[str, float] = {}
        raw: dict[str, str] = {}
        direction = ""
        bound = False
        for column in checked:
            text = row[index[column]]
            if not text:
                continue
            raw[column] = text
            where = _Where(file=source, row=number, column=shown(column))
            if column == "direction":
                direction = _parse_direction(text, where)
            elif column == "p_value":
                parsed[column], bound = _parse_p_value(text, where)
            else:
                parsed[column] = _parse_cell(column, text, where)

        form = next((f for f in complete if all(c in raw for c in f.columns)), None)
        if form is None:
            blanks = min(
                ([c for c in f.columns if c not in raw] for f in complete),
                key=len,
            )
            warnings.warn(
                f"{source}: study '{label}' (row {number}) has blank cells and was left out "
                f"(blank: {', '.join(shown(c) for c in blanks)})",
                TrialsynthWarning,
                stacklevel=3,
            )
            skipped.append(label)
            continue

        _check_row(form, measure, parsed, raw, source, number, shown)

        if form.kind in _VARIANCE_FORMS:
            # A variance is an SE squared: the row becomes an estimate-and-SE row, SE = √variance.
            parsed["se"] = math.sqrt(parsed["variance"])
            form = next(f for f in _FORMS if f.kind == _VARIANCE_FORMS[form.kind])
            form = _Form(form.kind, form.columns, form.measures, form.description, ("variance",))
        if form.kind == "binary_percent":
            # Counts from percentages: the row becomes a binary row with derived events.
            for arm in _ARMS:
                parsed[f"events_{arm}"] = derive.count_from_percent(
                    parsed[f"percent_{arm}"], parsed[f"n_{arm}"]
                ).value
            form = next(f for f in _FORMS if f.kind == "binary")
            form = _Form(
                form.kind, form.columns, form.measures, form.description, (*form.optional, *_both("percent"))
            )
        labels.append(label)
        kinds.append(form.kind)
        kept_rows.append(number)
        in_form = set(form.columns) | set(form.optional)
        for column in numeric:
            if column in in_form:
                default = _DEFAULT_CI_LEVEL if column == "ci_level" else math.nan
                columns[column].append(parsed.get(column, default))
            else:
                columns[column].append(math.nan)
        directions.append(direction if form.kind == "hr_pvalue" else "")
        bounds.append(bound if form.kind in ("hr_pvalue", "md_pvalue") else False)
        for i in extra:
            extras[names[i]].append(row[i])

    if not labels:
        raise InputError("no study has complete data", file=source)
    if measure == "SMD" and "continuous_change" in kinds and any(k != "continuous_change" for k in kinds):
        first = labels[kinds.index("continuous_change")]
        raise InputError(
            f"study '{first}' gives a change from baseline but other studies give final values: they can be "
            "mixed for MD, not for SMD (Cochrane Handbook 10.5.2); use MD or one kind of value",
            file=source,
        )

    values = {c: _frozen_array(v, float) for c, v in columns.items()}
    return PoolInput(
        source=source,
        measure=measure,
        labels=tuple(labels),
        kinds=tuple(kinds),
        rows=tuple(kept_rows),
        values=values,
        direction=tuple(directions),
        p_bound=_frozen_array(bounds, bool),
        skipped=tuple(skipped),
        extra_columns={k: tuple(v) for k, v in extras.items()},
    )


def _frozen_array(data: Sequence[float] | Sequence[bool], dtype: type) -> np.ndarray:
    array: np.ndarray = np.array(data, dtype=dtype)
    array.setflags(write=False)
    return array


def _no_usable_set_message(measure: str, valid: list[_Form], index: dict[str, int]) -> str:
    """One line listing the column sets the measure accepts (and what the nearest one lacks)."""
    options = []
    for form in valid:
        cols = ", ".join(form.columns)
        if form.optional:
            cols += " (optional " + ", ".join(form.optional) + ")"
        options.append(f"{cols} [{form.description}]")
    message = f"no set of columns usable for {measure} was found; {measure} accepts: " + "; ".join(options)
    nearest = max(valid, key=lambda f: sum(c in index for c in f.columns))
    present = sum(c in index for c in nearest.columns)
    if present * 2 >= len(nearest.columns):  # only when the nearest set is mostly there
        missing = [c for c in nearest.columns if c not in index]
        message += f" (the {nearest.description} set lacks {', '.join(missing)})"
    return message


def _warn_partial_sets(
    source: str,
    valid: list[_Form],
    complete: list[_Form],
    index: dict[str, int],
    used: set[str],
    shown: Callable[[str], str],
) -> None:
    """Warn about columns of an incomplete column set: they are present but cannot be used."""
    warned: set[str] = set()
    for form in valid:
        if form in complete:
            continue
        stray = [c for c in form.columns if c in index and c not in used and c not in warned]
        if stray:
            missing = [c for c in form.columns if c not in index]
            warnings.warn(
                f"{source}: column(s) {', '.join(repr(shown(c)) for c in stray)} are not used "
                f"because the {form.description} set also needs {', '.join(missing)}",
                TrialsynthWarning,
                stacklevel=4,
            )
            warned.update(stray)


# --------------------------------------------------------------------------- cell checks


def _number(text: str, where: _Where) -> float:
    """Parse a plain decimal number; no inf, nan, thousands separators or decimal commas."""
    candidate = text.replace("\u2212", "-")  # a minus sign copied from a PDF
    if not _NUMBER.fullmatch(candidate):
        raise InputError(f"'{text}' is not a number (leave the cell blank if it was not reported)", **where)
    value = float(candidate)
    if not math.isfinite(value):
        raise InputError(f"'{text}' is too large to be a number", **where)
    return value


def _parse_cell(column: str, text: str, where: _Where) -> float:
    """Parse one numeric cell and check what a single cell can be checked for."""
    if column == "ci_level":
        value = _number(text[:-1].rstrip() if text.endswith("%") else text, where)
        if not 50.0 < value < 100.0:
            raise InputError(
                f"a confidence level is a percentage between 50 and 100 (e.g. 95), not '{text}'",
                **where,
            )
        return value
    value = _number(text, where)
    _check_bounds(column, value, text, where)
    if column in ("n_treatment", "n_control"):
        if value <= 0 or not value.is_integer():
            raise InputError(f"a number of patients must be a whole number above 0, not '{text}'", **where)
    elif column in ("events_treatment", "events_control"):
        if value < 0 or not value.is_integer():
            raise InputError(f"a number of events must be a whole number, 0 or more, not '{text}'", **where)
    elif column == "events":
        if value < 0 or not value.is_integer():
            raise InputError(f"a number of events must be a whole number, 0 or more, not '{text}'", **where)
    elif column == "n":
        if value <= 0 or not value.is_integer():
            raise InputError(
                f"a number of participants must be a whole number above 0, not '{text}'", **where
            )
    elif column.startswith("percent_"):
        if not 0.0 <= value <= 100.0:
            raise InputError(f"a percentage lies between 0 and 100, not '{text}'", **where)
    elif column in ("icc",):
        if not 0.0 <= value <= 1.0:
            raise InputError(f"an intracluster correlation lies between 0 and 1, not '{text}'", **where)
    elif column == "cluster_size":
        if value < 1:
            raise InputError(f"a mean cluster size is 1 or more, not '{text}'", **where)
    elif column == "correlation":
        if not -1.0 <= value <= 1.0:
            raise InputError(f"a correlation lies between −1 and 1, not '{text}'", **where)
    elif column.startswith("person_time_"):
        if value <= 0:
            raise InputError(f"person-time must be above 0, not '{text}'", **where)
    elif column.startswith(("baseline_sd_", "final_sd_")):
        if value <= 0:
            raise InputError(f"a standard deviation must be above 0, not '{text}'", **where)
    elif column in ("sd_treatment", "sd_control"):
        if value <= 0:
            raise InputError(f"a standard deviation must be above 0, not '{text}'", **where)
    elif column in ("se", "se_treatment", "se_control"):
        if value <= 0:
            raise InputError(f"a standard error must be above 0, not '{text}'", **where)
    elif column == "v":
        if value <= 0:
            raise InputError(f"the variance V must be above 0, not '{text}'", **where)
    elif column == "variance":
        if value <= 0:
            raise InputError(f"a variance must be above 0, not '{text}'", **where)
    return value


_COUNT_COLUMNS = frozenset({*_both("n", "events"), "n", "events", "cluster_size"})
_SPREAD_COLUMNS = frozenset(
    {*_both("sd", "se", "baseline_sd", "final_sd", "person_time"), "se", "v", "variance"}
)
_BOUNDED_COLUMNS = frozenset({"ci_level", "p_value", "correlation", "icc", *_both("percent")})


def _check_bounds(column: str, value: float, text: str, where: _Where) -> None:
    """Refuse a value no trial can report (see :mod:`trialsynth._core.bounds`): a count above
    10⁹, a spread outside [10⁻¹⁰, 10¹⁰], any other number beyond 10¹⁰ in magnitude, a log ratio
    beyond ln 10¹⁰. Within these bounds the arithmetic that follows is finite and exact."""
    if column in _BOUNDED_COLUMNS:
        return
    if column in _COUNT_COLUMNS:
        if value > bounds.MAX_COUNT:
            raise InputError(
                f"'{text}' is more than any trial can report (at most {bounds.MAX_COUNT:.0e} per arm)",
                **where,
            )
    elif column in _SPREAD_COLUMNS:
        if value > 0 and not bounds.MIN_SPREAD <= value <= bounds.MAX_MAGNITUDE:
            raise InputError(
                f"'{text}' is outside the range a trial can report ({bounds.MIN_SPREAD:g} to "
                f"{bounds.MAX_MAGNITUDE:g}); rescale the unit if the value is real",
                **where,
            )
    elif column == "log_estimate":
        if abs(value) > bounds.MAX_LOG_RATIO:
            raise InputError(
                f"a log ratio of '{text}' is implausible (its ratio would lie outside "
                f"{bounds.MIN_RATIO:g} to {bounds.MAX_RATIO:g})",
                **where,
            )
    elif abs(value) > bounds.MAX_MAGNITUDE:
        raise InputError(
            f"'{text}' is beyond the magnitude a trial can report ({bounds.MAX_MAGNITUDE:g}); "
            "rescale the unit if the value is real",
            **where,
        )


def _parse_p_value(text: str, where: _Where) -> tuple[float, bool]:
    """Parse a p-value; an upper bound ('<0.001') is returned with True."""
    if _P_LOWER_BOUND.fullmatch(text):
        raise InputError(
            f"a p-value given as '{text}' cannot be used; give the exact p-value (or an upper bound such "
            "as '<0.001')",
            **where,
        )
    match = _P_UPPER_BOUND.fullmatch(text)
    bound = match is not None
    number_text = match.group(1).strip() if match else text
    if not _NUMBER.fullmatch(number_text.replace("\u2212", "-")):
        raise InputError(f"'{text}' is not a p-value (e.g. 0.03 or <0.001)", **where)
    value = _number(number_text, where)
    if not 0.0 < value <= 1.0:
        raise InputError(f"a p-value must be above 0 and at most 1, not '{text}'", **where)
    return value, bound


def _parse_direction(text: str, where: _Where) -> str:
    value = text.casefold()
    if value not in _DIRECTIONS:
        raise InputError(
            f"direction must be 'treatment' or 'control' (the arm the result favours), not '{text}'",
            **where,
        )
    return value


def _check_row(
    form: _Form,
    measure: str,
    parsed: dict[str, float],
    raw: dict[str, str],
    source: str,
    number: int,
    shown: Callable[[str], str],
) -> None:
    """Checks across the cells of the column set a row uses."""

    def fail(message: str, column: str) -> InputError:
        return InputError(message, file=source, row=number, column=shown(column))

    _check_derived_row(form, measure, parsed, raw, fail)

    if form.kind == "binary":
        for arm in ("treatment", "control"):
            events, n = parsed[f"events_{arm}"], parsed[f"n_{arm}"]
            if events > n:
                raise fail(
                    f"{raw[f'events_{arm}']} events in the {arm} arm is more than its "
                    f"{raw[f'n_{arm}']} patients",
                    f"events_{arm}",
                )
    elif form.kind == "proportion":
        if parsed["events"] > parsed["n"]:
            raise fail(f"{raw['events']} events is more than its {raw['n']} participants", "events")
    elif form.kind == "generic_ci":
        est, lower, upper = parsed["estimate"], parsed["ci_lower"], parsed["ci_upper"]
        if measure in RATIO_MEASURES:
            for column in ("estimate", "ci_lower", "ci_upper"):
                if parsed[column] <= 0:
                    raise fail(
                        f"{_MEASURE_NAMES[measure]} and its confidence limits must be above 0, not "
                        f"'{raw[column]}'; give the ratio itself (e.g. 0.60), not its logarithm",
                        column,
                    )
                if not bounds.MIN_RATIO <= parsed[column] <= bounds.MAX_RATIO:
                    raise fail(
                        f"'{raw[column]}' is not a plausible ratio for a trial to report "
                        f"(it must lie between {bounds.MIN_RATIO:g} and {bounds.MAX_RATIO:g})",
                        column,
                    )
        if measure == "RD":
            _check_risk_difference(("estimate", "ci_lower", "ci_upper"), parsed, raw, fail)
        if lower >= upper:
            raise fail(
                f"the lower confidence limit {raw['ci_lower']} is not below "
                f"the upper limit {raw['ci_upper']}",
                "ci_lower",
            )
        if not lower <= est <= upper:
            raise fail(
                f"the estimate {raw['estimate']} lies outside its confidence interval "
                f"{raw['ci_lower']} to {raw['ci_upper']}",
                "estimate",
            )
    elif form.kind in ("generic_se", "generic_var"):
        if measure == "RD":
            _check_risk_difference(("estimate",), parsed, raw, fail)
    elif form.kind == "hr_pvalue":
        if parsed["events"] == 0:
            raise fail(
                f"the total number of events must be a whole number above 0, not '{raw['events']}'", "events"
            )
        if parsed["events"] > parsed["n_treatment"] + parsed["n_control"]:
            raise fail(
                f"{raw['events']} events is more than the {raw['n_treatment']} + {raw['n_control']} patients",
                "events",
            )


def _check_risk_difference(
    columns: tuple[str, ...],
    parsed: dict[str, float],
    raw: dict[str, str],
    fail: Callable[[str, str], InputError],
) -> None:
    for column in columns:
        if not -1.0 <= parsed[column] <= 1.0:
            raise fail(
                f"a risk difference lies between -1 and 1, not '{raw[column]}'; give proportions "
                "(e.g. -0.05), not percentage points",
                column,
            )


def _check_derived_row(
    form: _Form,
    measure: str,
    parsed: dict[str, float],
    raw: dict[str, str],
    fail: Callable[[str, str], InputError],
) -> None:
    """Checks across the cells of the derived forms (and the cluster columns of any row)."""
    cluster = [c for c in _CLUSTER if c in raw]
    if cluster and not set(_CLUSTER) <= set(form.optional):
        raise fail(
            f"{cluster[0]} applies to rows with counts or means (a cluster trial); this row gives "
            f"{form.description}, which should already allow for clustering",
            cluster[0],
        )
    if len(cluster) == 1:
        other = next(c for c in _CLUSTER if c not in raw)
        raise fail(f"a cluster trial needs both icc and cluster_size; {other} is blank", cluster[0])
    if measure == "ROM" and form.kind.startswith("continuous"):
        for arm in _ARMS:
            column = f"median_{arm}" if form.kind == "continuous_median" else f"mean_{arm}"
            if parsed[column] <= 0:
                raise fail(f"a ratio of means needs means above 0, not '{raw[column]}'", column)
    if form.kind == "continuous_ci":
        for arm in _ARMS:
            lower, upper, mean = parsed[f"ci_lower_{arm}"], parsed[f"ci_upper_{arm}"], parsed[f"mean_{arm}"]
            if lower >= upper:
                raise fail(
                    f"the lower confidence limit {raw[f'ci_lower_{arm}']} is not below the upper limit "
                    f"{raw[f'ci_upper_{arm}']}",
                    f"ci_lower_{arm}",
                )
            if not lower <= mean <= upper:
                raise fail(
                    f"the mean {raw[f'mean_{arm}']} lies outside its confidence interval", f"mean_{arm}"
                )
            if parsed[f"n_{arm}"] < 2:
                raise fail("a confidence interval of a mean needs 2 or more patients", f"n_{arm}")
    elif form.kind == "continuous_median":
        for arm in _ARMS:
            quartiles = [c for c in (f"q1_{arm}", f"q3_{arm}") if c in raw]
            extremes = [c for c in (f"min_{arm}", f"max_{arm}") if c in raw]
            if len(quartiles) == 1 or len(extremes) == 1:
                given = (quartiles if len(quartiles) == 1 else extremes)[0]
                raise fail(f"{given} needs its partner (q1 with q3, min with max)", given)
            if not quartiles and not extremes:
                raise fail(
                    f"a median needs q1_{arm} and q3_{arm} and/or min_{arm} and max_{arm}", f"median_{arm}"
                )
            order = [
                c for c in (f"min_{arm}", f"q1_{arm}", f"median_{arm}", f"q3_{arm}", f"max_{arm}") if c in raw
            ]
            for low, high in itertools.pairwise(order):
                if parsed[low] > parsed[high]:
                    raise fail(f"{raw[low]} ({low}) is above {raw[high]} ({high})", low)
            if quartiles and parsed[f"q1_{arm}"] == parsed[f"q3_{arm}"]:
                raise fail("the quartiles are equal: no spread to estimate an SD from", f"q1_{arm}")
            if extremes and parsed[f"min_{arm}"] == parsed[f"max_{arm}"]:
                raise fail("the minimum equals the maximum: no spread to estimate an SD from", f"min_{arm}")
            if parsed[f"n_{arm}"] < 2:
                raise fail("a mean and SD from a median need 2 or more patients", f"n_{arm}")
    elif form.kind == "continuous_change":
        for arm in _ARMS:
            sb, sf, r = parsed[f"baseline_sd_{arm}"], parsed[f"final_sd_{arm}"], parsed["correlation"]
            if sb**2 + sf**2 - 2 * r * sb * sf <= 0:
                raise fail("these SDs and this correlation leave no variance of the change", "correlation")
    elif form.kind == "md_pvalue":
        if parsed["estimate"] == 0:
            raise fail(
                "a mean difference of 0 with a p-value gives no standard error; give its SE or CI", "estimate"
            )
        if parsed["p_value"] >= 1:
            raise fail(
                "a p-value of 1 gives no standard error; give the SE or CI of the difference", "p_value"
            )
