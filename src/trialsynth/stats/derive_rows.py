"""Apply :mod:`trialsynth.stats.derive` to the rows of a pooling table.

Input: the rows' forms (``kinds``, as :mod:`trialsynth.io.poolcsv` names them) and their numeric columns
(``values``, one float array per column, NaN where a row does not use a column). Output: a copy
of ``values`` in which every row in a derived form has the columns its effect is computed from
(``mean_*``, ``sd_*``, ``n_*``, ``events_*``, ``se``) and, per row, the derivations used.

Order of the steps: arm SDs (and means) from what the row gives, using the reported sizes; then
the cluster adjustment of sizes and events by the design effect. Pure numerics over arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from trialsynth._core.errors import TrialsynthWarning
from trialsynth.stats import derive

__all__ = ["derive_rows"]

_ARMS = ("treatment", "control")


def derive_rows(
    kinds: Sequence[str],
    values: dict[str, np.ndarray],
    *,
    labels: Sequence[str] | None = None,
    median_method: str = "luo-shi",
    source: str = "",
) -> tuple[dict[str, np.ndarray], list[tuple[derive.Derivation, ...]]]:
    """The columns needed for pooling, derived where a row's form asks for it; see the module docstring."""
    kinds_a = np.asarray(kinds)
    k = len(kinds_a)
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(k)]
    val = {c: np.array(v, dtype=float) for c, v in values.items()}
    steps: list[list[derive.Derivation]] = [[] for _ in range(k)]

    def column(name: str) -> np.ndarray:
        if name not in val:
            val[name] = np.full(k, np.nan)
        return val[name]

    def record(rows: np.ndarray, derived: derive.Derived, subject: str = "") -> None:
        for j, i in enumerate(rows):
            steps[i].append(derived.derivation.at(j).about(subject))

    # Binary rows given as percentages (trialsynth.io.poolcsv fills their events the same way).
    percent = val.get("percent_treatment")
    rows = (
        np.flatnonzero((kinds_a == "binary") & np.isfinite(percent))
        if percent is not None
        else np.array([], int)
    )
    for arm in _ARMS if rows.size else ():
        out = derive.count_from_percent(val[f"percent_{arm}"][rows], val[f"n_{arm}"][rows])
        column(f"events_{arm}")[rows] = out.value
        record(rows, out, arm)

    for arm in _ARMS:
        n = column(f"n_{arm}")
        sd = column(f"sd_{arm}")
        mean = column(f"mean_{arm}")

        rows = np.flatnonzero(kinds_a == "continuous_se")
        if rows.size:
            out = derive.sd_from_se(val[f"se_{arm}"][rows], n[rows])
            sd[rows] = out.value
            record(rows, out, arm)

        rows = np.flatnonzero(kinds_a == "continuous_ci")
        if rows.size:
            out = derive.sd_from_ci(val[f"ci_lower_{arm}"][rows], val[f"ci_upper_{arm}"][rows], n[rows])
            sd[rows] = out.value
            record(rows, out, arm)

        rows = np.flatnonzero(kinds_a == "continuous_change")
        if rows.size:
            out = derive.sd_change(
                val[f"baseline_sd_{arm}"][rows], val[f"final_sd_{arm}"][rows], val["correlation"][rows]
            )
            sd[rows] = out.value
            record(rows, out, arm)

        rows = np.flatnonzero(kinds_a == "continuous_median")
        if rows.size:
            _medians(arm, rows, val, mean, sd, steps, labels, median_method, source)

    rows = np.flatnonzero(kinds_a == "md_pvalue")
    if rows.size:
        out = derive.se_diff_from_p(
            val["estimate"][rows], val["p_value"][rows], val["n_treatment"][rows], val["n_control"][rows]
        )
        column("se")[rows] = out.value
        record(rows, out)

    if "icc" in val and "cluster_size" in val:
        rows = np.flatnonzero(np.isfinite(val["icc"]) & np.isfinite(val["cluster_size"]))
        if rows.size:
            m, icc = val["cluster_size"][rows], val["icc"][rows]
            record(rows, derive.design_effect(m, icc))
            for arm in _ARMS:
                events = val.get(f"events_{arm}")
                ev = events[rows] if events is not None else None
                has_events = ev is not None and np.all(np.isfinite(ev))
                n_eff, e_eff = derive.cluster_effective(
                    val[f"n_{arm}"][rows], m, icc, events=ev if has_events else None
                )
                val[f"n_{arm}"][rows] = n_eff.value
                record(rows, n_eff, arm)
                if e_eff is not None:
                    val[f"events_{arm}"][rows] = e_eff.value
                    record(rows, e_eff, arm)
    return val, [tuple(s) for s in steps]


def _medians(arm, rows, val, mean, sd, steps, labels, median_method, source) -> None:
    """Mean and SD from the median, grouped by which of quartiles and range each row gives."""

    def record_one(i: int, step: derive.Derivation) -> None:
        steps[i].append(step)

    def given(stem: str) -> np.ndarray:
        col = val.get(f"{stem}_{arm}")
        return np.isfinite(col[rows]) if col is not None else np.zeros(rows.size, dtype=bool)

    has_q = given("q1") & given("q3")
    has_r = given("min") & given("max")
    for use_q, use_r in ((True, True), (True, False), (False, True)):
        part = rows[(has_q == use_q) & (has_r == use_r)]
        if not part.size:
            continue
        out = derive.mean_sd_from_median(
            val[f"n_{arm}"][part],
            val[f"median_{arm}"][part],
            q1=val[f"q1_{arm}"][part] if use_q else None,
            q3=val[f"q3_{arm}"][part] if use_q else None,
            minimum=val[f"min_{arm}"][part] if use_r else None,
            maximum=val[f"max_{arm}"][part] if use_r else None,
            method=median_method,
        )
        mean[part] = out.mean.value
        sd[part] = out.sd.value
        skewed = np.zeros(part.size, dtype=bool)
        if out.skewness is not None:
            skewed = np.broadcast_to(np.asarray(out.skewness.value) > 1, part.shape)
        note = "quartiles suggest skewed data: the normal-based estimate is doubtful"
        for derived in (out.mean, out.sd, out.skewness):
            if derived is None:
                continue
            for j, i in enumerate(part):
                step = derived.derivation.at(j).about(arm)
                record_one(i, step.with_notes(note) if skewed[j] and note not in step.notes else step)
        if out.skewness is not None:
            for i in part[skewed]:
                warnings.warn(
                    f"{source + ': ' if source else ''}study '{labels[i]}', {arm} arm: the median and "
                    "quartiles suggest skewed data, so the mean and SD estimated from them are doubtful",
                    TrialsynthWarning,
                    stacklevel=4,
                )
