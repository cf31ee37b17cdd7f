"""HTML for Jupyter: the ``_repr_html_`` of results — a summary table, the per-study table and
the forest plot inlined as an SVG data URI. Every user text is escaped; numbers are formatted
here, never in the result objects."""

from __future__ import annotations

import base64
import io
import math
from html import escape

from trialsynth._core.display import register_html
from trialsynth.plots._common import MEASURE_NAMES, i2_definition_text, model_text, p_text
from trialsynth.report.text import fmt, natural

STYLE = (
    "<style>.trialsynth-result table{border-collapse:collapse;margin:.4em 0}"
    ".trialsynth-result th,.trialsynth-result td{padding:.15em .6em;text-align:left}"
    ".trialsynth-result td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".trialsynth-result img{max-width:100%;height:auto}</style>"
)


def _ci(result, est: float, lo: float, hi: float) -> str:
    return f"{fmt(natural(result, est))} ({fmt(natural(result, lo))} to {fmt(natural(result, hi))})"


def figure_data_uri(fig) -> str:
    """A figure as an ``<img>`` source: SVG (text kept as text), base64-encoded."""
    from trialsynth.plots.save import _METADATA

    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata=dict(_METADATA["svg"]), facecolor="white")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f'<img src="{figure_data_uri(fig)}" alt="{escape(alt)}">'


def _summary_rows(result) -> list[tuple[str, str]]:
    name = MEASURE_NAMES.get(result.measure, result.measure)
    level = f"{result.level:g}%"
    rows = [
        ("Model", model_text(result) + f"; conventions: {result.profile}"),
        ("Studies (k)", str(result.k)),
    ]
    if result.pooled:
        rows.append((f"{name} ({level} CI)", _ci(result, result.estimate, result.ci_lower, result.ci_upper)))
        stat = "t" if result.test == "t" else "Z"
        df = f", df = {result.df:g}" if result.test == "t" else ""
        rows.append(
            ("Test for overall effect", f"{stat} = {fmt(result.statistic)}{df}, {p_text(result.p_value)}")
        )
    else:
        rows.append(
            (
                f"{name} ({level} CI), not pooled",
                _ci(result, result.estimate, result.ci_lower, result.ci_upper),
            )
        )
    if result.q_df >= 1:
        rows.append(("Heterogeneity", f"Q = {fmt(result.q)}, df = {result.q_df}, {p_text(result.q_p_value)}"))
        rows.append(("I²", f"{fmt(result.i2, 1)}% ({i2_definition_text(result, 'jama')})"))
    if not math.isnan(result.tau2):
        tau2_ci = f"{level} CI {fmt(result.tau2_ci_lower, 4)} to {fmt(result.tau2_ci_upper, 4)}"
        rows.append(("τ²", f"{fmt(result.tau2, 4)} ({tau2_ci})"))
    if not math.isnan(result.pi_lower):
        rows.append(
            (
                "Prediction interval",
                f"{fmt(natural(result, result.pi_lower))} to {fmt(natural(result, result.pi_upper))}",
            )
        )
    rows += [("Note", text) for text in (*result.corrections, *result.notes)]
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _study_table(result) -> str:
    level = f"{result.level:g}%"
    head = f"<tr><th>Study</th><th>{escape(result.measure)} ({level} CI)</th><th>Weight</th></tr>"
    body = []
    for s in result.studies:
        if not s.included:
            cells = "<td class='num'>not estimable</td><td></td>"
        else:
            cells = (
                f"<td class='num'>{escape(_ci(result, s.yi, s.ci_lower, s.ci_upper))}</td>"
                f"<td class='num'>{escape(fmt(s.weight, 1))}%</td>"
            )
        body.append(f"<tr><td>{escape(s.study)}</td>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


@register_html("MetaResult")
def result_html(result) -> str:
    """HTML of a :class:`~trialsynth._core.results.MetaResult`: summary, studies, forest plot."""
    from trialsynth.plots import forest_plot

    fig = forest_plot(result)
    return (
        f"{STYLE}<div class='trialsynth-result'>{_table(_summary_rows(result))}"
        f"{_study_table(result)}{_img(fig, 'Forest plot')}</div>"
    )


@register_html("SubgroupResult")
def subgroups_html(result) -> str:
    """HTML of a :class:`~trialsynth.stats.analyses.SubgroupResult`: per-subgroup estimates, the test
    for subgroup differences and the subgroup forest plot."""
    from trialsynth.plots import forest_plot

    overall = result.overall
    level = f"{overall.level:g}%"
    head = f"<tr><th>Subgroup</th><th>k</th><th>{escape(overall.measure)} ({level} CI)</th><th>I²</th></tr>"
    body = "".join(
        f"<tr><td>{escape(name)}</td><td class='num'>{r.k}</td>"
        f"<td class='num'>{escape(_ci(r, r.estimate, r.ci_lower, r.ci_upper))}</td>"
        f"<td class='num'>{escape(fmt(r.i2, 1))}%</td></tr>"
        for name, r in [*result.groups, ("Overall", overall)]
    )
    test = (
        f"Test for subgroup differences: Q = {fmt(result.q_between)}, df = {result.q_between_df}, "
        f"{p_text(result.q_between_p_value)}"
    )
    fig = forest_plot(subgroups=result)
    return (
        f"{STYLE}<div class='trialsynth-result'><table>{head}{body}</table><p>{escape(test)}</p>"
        f"{_img(fig, 'Subgroup forest plot')}</div>"
    )
