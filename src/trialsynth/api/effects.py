"""``ts.effects``: a table of trials (a pandas DataFrame, a mapping of columns or arrays) into
effect sizes, checked as strictly as a pool CSV.

The result, :class:`EffectSizes`, keeps the validated input (the counts, means or estimates it
came from), so that :func:`trialsynth.meta_analysis` can pool it by any method, including
Mantel–Haenszel and Peto from the counts, and keeps every other column for subgroups and
meta-regression.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.poolcsv import MEASURES, NUMERIC_COLUMNS, PoolInput, parse_pool_table

__all__ = ["ARGUMENTS", "EffectSizes", "effects"]

#: metafor's argument names (``escalc``) and the pool-CSV column each one fills.
#: ``bi``/``di`` (non-events) give ``n_treatment = ai + bi`` and ``n_control = ci + di``;
#: ``yi`` is a log ratio for OR, RR, HR, ROM and IRR (``log_estimate``), else ``estimate``;
#: ``vi`` gives ``se = √vi``.
ARGUMENTS: dict[str, str] = {
    "ai": "events_treatment",
    "n1i": "n_treatment",
    "ci": "events_control",
    "n2i": "n_control",
    "m1i": "mean_treatment",
    "sd1i": "sd_treatment",
    "m2i": "mean_control",
    "sd2i": "sd_control",
    "sei": "se",
    "xi": "events",
    "ni": "n",
    "x1i": "events_treatment",
    "t1i": "person_time_treatment",
    "x2i": "events_control",
    "t2i": "person_time_control",
}
_DERIVED_ARGUMENTS = ("bi", "di", "yi", "vi")
_LOG_MEASURES = frozenset({"OR", "RR", "HR", "ROM", "IRR"})

#: The name used for a table given as a DataFrame, mapping or arrays in messages; rows are
#: counted from 0 as pandas' ``iloc`` positions.
SOURCE = "data"


@dataclass(frozen=True, eq=False)
class EffectSizes:
    """Effect sizes of a table of trials, with the table they came from.

    ``yi`` and ``vi`` are each study's effect and sampling variance on the analysis scale (log
    for ratio measures), with the continuity correction of ``options`` (NaN for a study that
    cannot be estimated, such as a table with no events in either arm for a ratio). ``data``
    is the validated input (:class:`trialsynth.io.poolcsv.PoolInput`: counts, means or
    estimates, and every other column as text). ``options`` are the effect-size options passed
    on to the pooling (``add``, ``to``, ``profile``, ``median_method``).
    """

    data: PoolInput
    yi: np.ndarray
    vi: np.ndarray
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def measure(self) -> str:
        """The effect measure (``"RR"``, ``"OR"``, ``"MD"``, …)."""
        return self.data.measure

    @property
    def labels(self) -> tuple[str, ...]:
        """The study labels, in table order."""
        return self.data.labels

    def __len__(self) -> int:
        return len(self.data.labels)

    def to_frame(self):
        """A pandas DataFrame: ``study``, ``yi``, ``vi``, the numeric input columns used and the
        other columns of the table (as text)."""
        import pandas as pd

        frame = pd.DataFrame({"study": list(self.labels), "yi": self.yi, "vi": self.vi})
        for name, values in self.data.values.items():
            frame[name] = values
        for name, values in self.data.extra_columns.items():
            if name not in frame.columns:
                frame[name] = list(values)
        return frame

    def __repr__(self) -> str:
        from trialsynth.report.text import effects_table

        return effects_table(self.labels, self.yi, self.vi, self.measure)

    def _repr_html_(self) -> str:
        return self.to_frame()._repr_html_()


def _is_frame(obj: object) -> bool:
    return hasattr(obj, "columns") and hasattr(obj, "iloc")


def _columns_of(data: Any) -> dict[str, list[Any]]:
    """Column name → list of cells, from a DataFrame or a mapping of sequences."""
    if data is None:
        return {}
    if _is_frame(data):
        return {str(name): list(data[name]) for name in data.columns}
    if isinstance(data, Mapping):
        return {str(name): list(np.asarray(values, dtype=object).ravel()) for name, values in data.items()}
    raise InputError(
        f"ts.effects takes a pandas DataFrame or a mapping of columns, not {type(data).__name__}"
    )


def _resolve(name: str, value: object, columns: dict[str, list[Any]], n: int | None) -> list[Any]:
    """A column argument given as a column name of the table, or as an array."""
    if isinstance(value, str):
        lookup = {c.strip().lower(): c for c in columns}
        key = value.strip().lower()
        if key not in lookup:
            have = ", ".join(columns) or "none"
            raise InputError(f"{name}='{value}': no such column (the columns are: {have})", file=SOURCE)
        return columns[lookup[key]]
    cells = list(np.asarray(value, dtype=object).ravel())
    if n is not None and len(cells) != n:
        raise InputError(f"{name} has {len(cells)} values for {n} studies", file=SOURCE)
    return cells


def _cell(value: object) -> str:
    """A cell as the text a CSV would hold: blank for missing, integers without '.0', floats in full."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return ""
        if x.is_integer() and abs(x) < 2**53:
            return str(int(x))
        return repr(x)
    text = str(value)
    return "" if text in ("nan", "NaN", "<NA>", "NaT") else text


def _sum_cells(a: list[Any], b: list[Any]) -> list[Any]:
    out = []
    for x, y in zip(a, b, strict=True):
        sx, sy = _cell(x), _cell(y)
        out.append("" if not sx or not sy else float(sx) + float(sy))
    return out


def effects(
    data: object = None,
    *,
    measure: str | None = None,
    study: str | Sequence[Any] | None = None,
    ai: str | Sequence[Any] | None = None,
    bi: str | Sequence[Any] | None = None,
    ci: str | Sequence[Any] | None = None,
    di: str | Sequence[Any] | None = None,
    n1i: str | Sequence[Any] | None = None,
    n2i: str | Sequence[Any] | None = None,
    m1i: str | Sequence[Any] | None = None,
    sd1i: str | Sequence[Any] | None = None,
    m2i: str | Sequence[Any] | None = None,
    sd2i: str | Sequence[Any] | None = None,
    yi: str | Sequence[Any] | None = None,
    vi: str | Sequence[Any] | None = None,
    sei: str | Sequence[Any] | None = None,
    xi: str | Sequence[Any] | None = None,
    ni: str | Sequence[Any] | None = None,
    x1i: str | Sequence[Any] | None = None,
    t1i: str | Sequence[Any] | None = None,
    x2i: str | Sequence[Any] | None = None,
    t2i: str | Sequence[Any] | None = None,
    add: float = 0.5,
    to: str = "only0",
    profile: str = "metafor",
    median_method: str = "luo-shi",
    repeated: bool = False,
) -> EffectSizes:
    """Effect sizes of a table of trials: the first step, as metafor's ``escalc``.

    Parameters
    ----------
    data : pandas.DataFrame or mapping of columns, optional
        One row per study. Columns named as in a pool CSV (``study``, ``events_treatment``,
        ``n_treatment``, ``events_control``, ``n_control``; ``mean_*``, ``sd_*``; ``estimate``,
        ``ci_lower``, ``ci_upper``; ``log_estimate``, ``se``; …, see :mod:`trialsynth.io.poolcsv`)
        are used as they are. Every other column is kept for subgroups and meta-regression.
    measure : str
        Required: one of OR, RR, RD, MD, SMD, HR, ROM, IRR, IRD, PR, PLO, PAS, PFT.
    study : str or sequence, optional
        The study labels (a column name or the labels); default the ``study`` column.
    ai, bi, ci, di, n1i, n2i : str or sequence, optional
        metafor's names for 2×2 counts: events (``ai``, ``ci``), non-events (``bi``, ``di``) or
        group sizes (``n1i``, ``n2i``) of the treatment and control arms.
    m1i, sd1i, m2i, sd2i : str or sequence, optional
        Means and standard deviations (group sizes in ``n1i``, ``n2i``).
    yi, vi, sei : str or sequence, optional
        An effect already computed (log scale for ratio measures) with its variance or SE.
    xi, ni : str or sequence, optional
        Events of n in a single arm (proportions: PR, PLO, PAS, PFT).
    x1i, t1i, x2i, t2i : str or sequence, optional
        Events and person-time per arm (IRR, IRD).
    add, to : optional
        Continuity correction: ``add`` added to the cells of the tables selected by ``to``
        (``"only0"``: tables with a zero cell, ``"all"``, ``"if0all"``, ``"none"``; ``"sweeting"``:
        tables with a zero cell, the treatment-arm correction of Sweeting et al. 2004, k_T + k_C =
        2·add split in proportion to the arm sizes; OR and RR).
    profile : {"metafor", "revman"}
        Conventions (metafor's by default).
    median_method : {"luo-shi", "wan"}
        Means and SDs from medians (see :mod:`trialsynth.stats.derive`).
    repeated : bool
        Allow several rows per study (for :func:`trialsynth.multilevel`).

    Each column argument is a column name of ``data`` (any case) or an array of one value
    per study, so a table keeps its own column names.

    Returns
    -------
    EffectSizes
        ``yi``, ``vi`` (analysis scale) and the validated table.

    Raises
    ------
    InputError
        No measure, an unknown measure or column, or a cell that is not valid (the message
        names the row, counted from 0 as ``iloc``, and the column).

    Examples
    --------
    >>> import trialsynth as ts
    >>> table = {"trial": ["A", "B", "C"], "tpos": [4, 6, 3], "tn": [123, 306, 231],
    ...          "cpos": [11, 29, 11], "cn": [139, 303, 220]}
    >>> es = ts.effects(table, measure="RR", study="trial", ai="tpos", n1i="tn", ci="cpos", n2i="cn")
    >>> es.yi.round(4).tolist()  # log RR; metafor's escalc gives -0.8893, -1.5854, -1.3481
    [-0.8893, -1.5854, -1.3481]
    >>> ts.effects(table)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    trialsynth._core.errors.InputError: give the effect measure, measure=...: one of OR, RR, RD, MD, ...
    """
    if measure is None:
        raise InputError(f"give the effect measure, measure=...: one of {', '.join(MEASURES)}")
    if not isinstance(measure, str) or measure.strip().upper() not in MEASURES:
        raise InputError(f"unknown measure '{measure}'; choose one of {', '.join(MEASURES)}")
    measure = measure.strip().upper()
    columns = _columns_of(data)
    given = {
        "ai": ai,
        "bi": bi,
        "ci": ci,
        "di": di,
        "n1i": n1i,
        "n2i": n2i,
        "m1i": m1i,
        "sd1i": sd1i,
        "m2i": m2i,
        "sd2i": sd2i,
        "yi": yi,
        "vi": vi,
        "sei": sei,
        "xi": xi,
        "ni": ni,
        "x1i": x1i,
        "t1i": t1i,
        "x2i": x2i,
        "t2i": t2i,
    }
    given = {k: v for k, v in given.items() if v is not None}
    n = len(next(iter(columns.values()))) if columns else None
    resolved = {k: _resolve(k, v, columns, n) for k, v in given.items()}
    if n is None:
        lengths = {len(v) for v in resolved.values()}
        if study is not None and not isinstance(study, str):
            lengths.add(len(list(study)))
        if len(lengths) != 1:
            raise InputError("give a table (DataFrame) or column arrays of one common length", file=SOURCE)
        n = lengths.pop()
    if n == 0:
        raise InputError("the table has no studies", file=SOURCE)

    mapped: dict[str, list[Any]] = {}
    used: set[str] = set()
    for arg, cells in resolved.items():
        name = given[arg]
        if isinstance(name, str):
            used.add(name.strip().lower())
        if arg in ARGUMENTS:
            mapped[ARGUMENTS[arg]] = cells
    if "bi" in resolved:
        if "ai" not in resolved:
            raise InputError("bi (non-events, treatment) needs ai (events, treatment)", file=SOURCE)
        mapped["n_treatment"] = _sum_cells(resolved["ai"], resolved["bi"])
    if "di" in resolved:
        if "ci" not in resolved:
            raise InputError("di (non-events, control) needs ci (events, control)", file=SOURCE)
        mapped["n_control"] = _sum_cells(resolved["ci"], resolved["di"])
    if "yi" in resolved:
        mapped["log_estimate" if measure in _LOG_MEASURES else "estimate"] = resolved["yi"]
        if "vi" in resolved:
            if "sei" in resolved:
                raise InputError("give vi or sei, not both", file=SOURCE)
            se = []
            for v in resolved["vi"]:
                text = _cell(v)
                se.append("" if not text else math.sqrt(float(text)) if float(text) >= 0 else text)
            mapped["se"] = se
        elif "sei" not in resolved:
            raise InputError("yi needs its variance (vi) or standard error (sei)", file=SOURCE)
    elif "vi" in resolved:
        raise InputError("vi needs the effects (yi)", file=SOURCE)

    if study is None:
        lookup = {c.strip().lower(): c for c in columns}
        if "study" not in lookup:
            have = ", ".join(columns) or "none"
            raise InputError(
                f"no study labels: give study='column' or a 'study' column (the columns are: {have})",
                file=SOURCE,
            )
        labels = columns[lookup["study"]]
        used.add("study")
    else:
        labels = _resolve("study", study, columns, n)
        if isinstance(study, str):
            used.add(study.strip().lower())

    header = ["study", *mapped]
    cells = [labels, *mapped.values()]
    taken = {h.lower() for h in header}
    for name, values in columns.items():
        key = name.strip().lower()
        if key in used or key in taken:
            continue
        header.append(name)
        cells.append(values)
        taken.add(key)
    rows = [[_cell(col[i]) for col in cells] for i in range(n)]
    table = parse_pool_table(
        header, rows, measure=measure, source=SOURCE, row_numbers=list(range(n)), repeated=repeated
    )
    options = {"add": add, "to": to, "profile": profile, "median_method": median_method}
    return EffectSizes(table, *_effect_arrays(table, options), options=options)


def _effect_arrays(data: PoolInput, options: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's effect and variance (inverse-variance effects; the corrections warn when pooled)."""
    from trialsynth.stats.meta import pool_input

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        fit = pool_input(data, method="FE", **options)
    yi = np.array([s.yi for s in fit.studies], dtype=float)
    vi = np.array([s.vi for s in fit.studies], dtype=float)
    yi[~np.array([s.included for s in fit.studies])] = np.nan
    yi.setflags(write=False)
    vi.setflags(write=False)
    return yi, vi


#: The numeric pool-CSV columns (for the docs): every one can be a column of ``data``.
POOL_COLUMNS = NUMERIC_COLUMNS
