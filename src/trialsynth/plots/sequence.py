"""Forest-like plots of a sequence of pooled estimates: cumulative and leave-one-out."""

from __future__ import annotations

from collections.abc import Sequence

from trialsynth._core.results import MetaResult
from trialsynth.plots._common import (
    MEASURE_NAMES,
    axis_limits,
    effect_ci_text,
    isnan,
    level_text,
    model_text,
    natural,
)
from trialsynth.plots._table import Col, Row, Spec, draw


def _sequence_plot(
    steps: Sequence[tuple[str, MetaResult]],
    *,
    kind: str,
    label_header: str,
    explanation: str,
    overall: MetaResult | None,
    labels: tuple[str, str] | None,
    title: str | None,
    xlim: tuple[float, float] | None,
    max_label_width: float | None,
):
    steps = [(str(lab), res) for lab, res in steps]
    if not steps:
        raise ValueError(f"a {kind} plot needs at least one step")
    first = steps[0][1]
    for lab, res in steps:
        if res.measure != first.measure:
            raise ValueError(f"step '{lab}' has measure {res.measure}, the first step {first.measure}")
    ratio = first.ratio
    level = level_text(first)
    name = MEASURE_NAMES.get(first.measure, first.measure)
    cols = [
        Col("label", (label_header,), "left", max_width=max_label_width),
        Col("k", ("k",), "right"),
        Col("effect", (name, f"{level} CI"), "right"),
        Col("i2", ("I²",), "right"),
        Col("graph", (name, f"{level} CI"), graph=True),
    ]
    rows: list[Row] = []
    core: list[float] = []
    extent: list[float] = []
    for lab, res in steps:
        est = natural(res, res.estimate)
        lo, hi = natural(res, res.ci_lower), natural(res, res.ci_upper)
        cells = {"label": lab, "k": str(res.k), "i2": "–" if isnan(res.i2) else f"{res.i2:.0f}%"}
        if isnan(est):
            cells["effect"] = "Not estimable"
            rows.append(Row("step", cells, label=lab))
            continue
        cells["effect"] = effect_ci_text(est, lo, hi)
        core.append(est)
        extent += [lo, hi]
        rows.append(Row("step", cells, mark={"type": "point", "est": est, "lo": lo, "hi": hi}, label=lab))
    reference = None
    diamond = None
    if overall is not None and overall.pooled:
        rows.append(Row("blank", height=0.35))
        d_lo, d_est, d_hi = (
            natural(overall, v) for v in (overall.ci_lower, overall.estimate, overall.ci_upper)
        )
        label = f"All studies ({level} CI)"
        rows.append(
            Row(
                "total",
                {
                    "label": label,
                    "k": str(overall.k),
                    "effect": effect_ci_text(d_est, d_lo, d_hi),
                    "i2": "–" if isnan(overall.i2) else f"{overall.i2:.0f}%",
                },
                bold=True,
                mark={"type": "diamond", "role": "total", "lo": d_lo, "est": d_est, "hi": d_hi},
                label=label,
            )
        )
        core += [d_lo, d_est, d_hi]
        reference = d_est
        diamond = (d_lo, d_est, d_hi)
    limits, ticks = axis_limits(ratio, core, extent, xlim)
    spec = Spec(
        kind=kind,
        columns=cols,
        rows=rows,
        ratio=ratio,
        xlim=limits,
        ticks=ticks,
        footer=[f"{model_text(first)}; {explanation}"],
        title=title,
        favours=(labels[0], labels[1]) if labels else None,
        reference=reference,
        meta={"measure": first.measure, "diamond": diamond, "steps": [lab for lab, _ in steps]},
    )
    return draw(spec)


def cumulative_plot(
    results: Sequence[tuple[str, MetaResult]],
    *,
    labels: tuple[str, str] | None = ("Favours treatment", "Favours control"),
    title: str | None = None,
    xlim: tuple[float, float] | None = None,
    max_label_width: float | None = 4.0,
):
    """Cumulative meta-analysis: one row per step ``(study added, result after adding it)``,
    as :func:`trialsynth.stats.analyses.cumulative` returns them; point and CI of each pooled estimate."""
    return _sequence_plot(
        results,
        kind="cumulative",
        label_header="Study added",
        explanation="each row pools the studies up to and including it",
        overall=None,
        labels=labels,
        title=title,
        xlim=xlim,
        max_label_width=max_label_width,
    )


def leave_one_out_plot(
    results: Sequence[tuple[str, MetaResult]],
    *,
    overall: MetaResult | None = None,
    labels: tuple[str, str] | None = ("Favours treatment", "Favours control"),
    title: str | None = None,
    xlim: tuple[float, float] | None = None,
    max_label_width: float | None = 4.0,
):
    """Leave-one-out: one row per ``(study omitted, result without it)``, as
    :func:`trialsynth.stats.analyses.leave_one_out` returns them; ``overall`` (the fit of all studies)
    adds a diamond and a dashed reference line."""
    return _sequence_plot(
        results,
        kind="leave_one_out",
        label_header="Study omitted",
        explanation="each row pools all studies but the one named",
        overall=overall,
        labels=labels,
        title=title,
        xlim=xlim,
        max_label_width=max_label_width,
    )
