"""Risk-of-bias (RoB 2) figures: the traffic-light plot and the weighted summary bar plot, in
the form the robvis tool made standard (McGuinness & Higgins, Res Synth Methods 2021;12:55–61).

Judgements are drawn as circles in a colour-blind-safe palette (Okabe & Ito hues) *and* with a
symbol (+ low, − some concerns, × high), so that they never depend on colour alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trialsynth.io.review.rob import DOMAIN_NAMES, DOMAINS, JUDGEMENTS
from trialsynth.plots._common import FONT_SIZE, SMALL_SIZE, TITLE_SIZE, rc_params, text_width, truncate

#: Fill colour per judgement (Okabe & Ito 2008: bluish green, yellow, vermillion).
ROB_COLOURS = {"low": "#009E73", "some concerns": "#F0E442", "high": "#D55E00"}
ROB_SYMBOLS = {"low": "+", "some concerns": "\u2212", "high": "\u00d7"}
ROB_WORDS = {"low": "Low", "some concerns": "Some concerns", "high": "High"}
NOT_ASSESSED = "#BBBBBB"
COLUMNS = (*DOMAINS, "overall")
HEADERS = {**{d: d for d in DOMAINS}, "overall": "Overall"}

CELL = 0.32  # inches per traffic-light cell
CIRCLE_PT = 15.0  # circle diameter, points
MARGIN = 0.2


def rob_legend_lines(overall: str | None = None) -> list[str]:
    """The domain names (and the header of the overall column) and the key to the symbols, as
    three lines of moderate length."""
    names = [f"{d} {DOMAIN_NAMES[d].lower()}" for d in DOMAINS] + ([f"{overall} overall"] if overall else [])
    key = ", ".join(f"{ROB_SYMBOLS[j]} {j}" for j in JUDGEMENTS)
    return [
        "Risk of bias (RoB 2): " + "; ".join(names[:3]) + ";",
        "; ".join(names[3:]) + ".",
        f"Judgements: {key} risk of bias.",
    ]


def rob_circle(ax, x: float, y: float, judgement: str, *, label: str, size: float = CIRCLE_PT) -> None:
    """One judgement: a filled circle with its symbol, at (x, y) in ``ax``'s data coordinates."""
    from matplotlib.lines import Line2D

    ax.add_line(
        Line2D(
            [x],
            [y],
            marker="o",
            ms=size,
            ls="none",
            mfc=ROB_COLOURS[judgement],
            mec="#333333",
            mew=0.6,
            zorder=3,
            clip_on=False,
            label=label,
        )
    )
    ax.text(
        x,
        y,
        ROB_SYMBOLS[judgement],
        ha="center",
        va="center_baseline",
        fontsize=size * 0.72,
        fontweight="bold",
        color="black",
        zorder=4,
        parse_math=False,
        label=f"{label}:symbol",
    )


def _judgements(assessments) -> list[tuple[str, dict[str, str]]]:
    """``[(label, {"D1": …, "overall": …})]`` from RiskOfBias objects or (label, mapping) pairs."""
    out = []
    for item in assessments:
        if hasattr(item, "as_dict"):
            out.append((item.study, item.as_dict()))
        else:
            label, judged = item
            out.append((str(label), dict(judged)))
    for label, judged in out:
        for column in COLUMNS:
            if judged.get(column) not in JUDGEMENTS:
                raise ValueError(
                    f"study '{label}': {column} is {judged.get(column)!r}, not a RoB 2 judgement"
                )
    return out


def _canvas(width: float, height: float):
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(rc_params()):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_axis_off()
    return fig, ax


def _put(ax, x, y, text, *, ha="left", va="center_baseline", size=FONT_SIZE, bold=False, **kw):
    return ax.text(
        x,
        y,
        text,
        ha=ha,
        va=va,
        fontsize=size,
        fontweight="bold" if bold else "normal",
        parse_math=False,
        **kw,
    )


def traffic_light_plot(
    assessments,
    *,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    max_label_width: float = 3.0,
):
    """Traffic-light plot: one row per study, a circle per RoB 2 domain and overall.

    ``assessments``: :class:`trialsynth.io.review.RiskOfBias` objects of one outcome, or
    ``(study label, {"D1": …, …, "D5": …, "overall": …})`` pairs; ``labels`` maps study ids to
    the names shown. The domain names and the key are listed underneath. Each circle carries the
    label ``ts:rob:<domain>:<study>``; ``fig.trialsynth`` lists the judgements drawn.
    """
    import matplotlib

    rows = _judgements(assessments)
    if not rows:
        raise ValueError("no risk-of-bias assessment to plot")
    names = [truncate((labels or {}).get(s, s), max_label_width) for s, _ in rows]
    label_w = max([text_width(n) for n in names] + [text_width("Study", FONT_SIZE, True)])
    legend = [f"{d}: {DOMAIN_NAMES[d]}" for d in DOMAINS]
    key_w = sum(text_width(ROB_WORDS[j], SMALL_SIZE) + 0.45 for j in JUDGEMENTS)
    grid_x0 = MARGIN + label_w + 0.25
    width = max(
        grid_x0 + CELL * len(COLUMNS) + 0.25 + MARGIN,
        MARGIN * 2 + max(text_width(t, SMALL_SIZE) for t in legend),
        MARGIN * 2 + key_w,
        MARGIN * 2 + (text_width(title, TITLE_SIZE, True) if title else 0.0),
    )
    y = MARGIN
    title_y = y
    if title:
        y += TITLE_SIZE / 72 * 1.3 + 0.1
    header_y = y + 0.12
    first = header_y + 0.18 + CELL / 2
    legend_y = first + CELL * len(rows) + 0.1
    height = legend_y + 0.17 * (len(legend) + 1) + 0.3 + MARGIN
    fig, ax = _canvas(width, height)
    drawn: list[dict[str, Any]] = []
    with matplotlib.rc_context(rc_params()):
        if title:
            _put(ax, MARGIN, title_y, title, va="top", size=TITLE_SIZE, bold=True)
        _put(ax, MARGIN, header_y, "Study", bold=True)
        for j, column in enumerate(COLUMNS):
            cx = grid_x0 + CELL * (j + 0.5) + (0.12 if column == "overall" else 0.0)
            _put(ax, cx, header_y, HEADERS[column], ha="center", bold=True, size=SMALL_SIZE)
        for i, ((study, judged), name) in enumerate(zip(rows, names, strict=True)):
            cy = first + CELL * i
            _put(ax, MARGIN, cy, name)
            for j, column in enumerate(COLUMNS):
                cx = grid_x0 + CELL * (j + 0.5) + (0.12 if column == "overall" else 0.0)
                rob_circle(ax, cx, cy, judged[column], label=f"ts:rob:{column}:{study}")
                drawn.append(
                    {"study": study, "domain": column, "judgement": judged[column], "x": cx, "y": cy}
                )
        for k, line in enumerate(legend):
            _put(ax, MARGIN, legend_y + 0.17 * (k + 0.5), line, size=SMALL_SIZE)
        ky = legend_y + 0.17 * len(legend) + 0.2
        kx = MARGIN + 0.1
        for j in JUDGEMENTS:
            rob_circle(ax, kx, ky, j, label="ts:rob-key", size=10.0)
            _put(ax, kx + 0.14, ky, ROB_WORDS[j], size=SMALL_SIZE)
            kx += text_width(ROB_WORDS[j], SMALL_SIZE) + 0.45
    fig.trialsynth = {"kind": "rob_traffic_light", "studies": [s for s, _ in rows], "cells": drawn}
    return fig


def summary_fractions(assessments, weights: Mapping[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Per domain (D1–D5, overall) the share of information at each judgement.

    With ``weights`` (study label → weight in the outcome's meta-analysis) each study counts by
    its weight, and the share of the analysed studies without an assessment is
    ``"not assessed"``; assessed studies that are not in ``weights`` do not count. Without,
    every assessed study counts once. Shares sum to 1 per domain.
    """
    rows = _judgements(assessments)
    judged = dict(rows)
    if weights is None:
        w = {s: 1.0 for s, _ in rows}
    else:
        w = {str(s): float(v) for s, v in weights.items() if float(v) > 0}
    total = sum(w.values())
    if total <= 0:
        raise ValueError("no study with a positive weight")
    out: dict[str, dict[str, float]] = {}
    for column in COLUMNS:
        shares = dict.fromkeys((*JUDGEMENTS, "not assessed"), 0.0)
        for study, weight in w.items():
            key = judged[study][column] if study in judged else "not assessed"
            shares[key] += weight / total
        out[column] = shares
    return out


def rob_summary_plot(
    assessments,
    *,
    weights: Mapping[str, float] | None = None,
    title: str | None = None,
):
    """Summary bar plot: per RoB 2 domain and overall, the proportion of information (studies
    weighted by their weight in the outcome's meta-analysis, ``weights``: study label → weight)
    at low, some-concerns and high risk of bias; grey for analysed studies not assessed.

    Bars carry the labels ``ts:rob-bar:<domain>:<judgement>``; ``fig.trialsynth["fractions"]``
    holds the shares drawn (:func:`summary_fractions`).
    """
    import matplotlib
    from matplotlib.patches import Rectangle

    fractions = summary_fractions(assessments, weights)
    names = [f"{d} {DOMAIN_NAMES[d]}" for d in DOMAINS] + ["Overall risk of bias"]
    label_w = max(text_width(n) for n in names)
    bar_w, bar_h, row_h = 3.6, 0.24, 0.34
    x0 = MARGIN + label_w + 0.15
    y = MARGIN
    title_y = y
    if title:
        y += TITLE_SIZE / 72 * 1.3 + 0.1
    first = y + row_h / 2
    axis_y = first + row_h * (len(COLUMNS) - 0.5) + 0.04
    key_y = axis_y + 0.45
    show = [*JUDGEMENTS] + (
        ["not assessed"] if any(f["not assessed"] > 0 for f in fractions.values()) else []
    )
    key_w = sum(text_width(ROB_WORDS.get(j, "Not assessed"), SMALL_SIZE) + 0.45 for j in show)
    width = max(
        x0 + bar_w + MARGIN + 0.1,
        MARGIN * 2 + key_w,
        MARGIN * 2 + (text_width(title, TITLE_SIZE, True) if title else 0),
    )
    height = key_y + 0.25 + MARGIN
    fig, ax = _canvas(width, height)
    colours = {**ROB_COLOURS, "not assessed": NOT_ASSESSED}
    with matplotlib.rc_context(rc_params()):
        if title:
            _put(ax, MARGIN, title_y, title, va="top", size=TITLE_SIZE, bold=True)
        for i, (column, name) in enumerate(zip(COLUMNS, names, strict=True)):
            cy = first + row_h * i
            _put(ax, MARGIN, cy, name, bold=column == "overall")
            left = x0
            for j in (*JUDGEMENTS, "not assessed"):
                share = fractions[column][j]
                if share <= 0:
                    continue
                ax.add_patch(
                    Rectangle(
                        (left, cy - bar_h / 2),
                        share * bar_w,
                        bar_h,
                        fc=colours[j],
                        ec="white",
                        lw=0.5,
                        label=f"ts:rob-bar:{column}:{j}",
                    )
                )
                left += share * bar_w
        # percent axis
        from matplotlib.lines import Line2D

        ax.add_line(Line2D([x0, x0 + bar_w], [axis_y, axis_y], color="black", lw=0.8))
        for pct in (0, 25, 50, 75, 100):
            tx = x0 + bar_w * pct / 100
            ax.add_line(Line2D([tx, tx], [axis_y, axis_y + 0.05], color="black", lw=0.8))
            _put(ax, tx, axis_y + 0.09, f"{pct}%", ha="center", va="top", size=SMALL_SIZE)
        kx = MARGIN
        for j in show:
            ax.add_patch(
                Rectangle((kx, key_y - 0.07), 0.14, 0.14, fc=colours[j], ec="none", label="ts:rob-key")
            )
            _put(ax, kx + 0.2, key_y, ROB_WORDS.get(j, "Not assessed"), size=SMALL_SIZE)
            kx += text_width(ROB_WORDS.get(j, "Not assessed"), SMALL_SIZE) + 0.45
    fig.trialsynth = {
        "kind": "rob_summary",
        "weighted": weights is not None,
        "fractions": fractions,
        "bar_width_inches": bar_w,
    }
    return fig


def rob_by_label(assessments: Sequence, labels: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """``{study label: {"D1": …, "overall": …}}`` for the forest plot's RoB columns."""
    return {(labels or {}).get(s, s): judged for s, judged in _judgements(assessments)}
