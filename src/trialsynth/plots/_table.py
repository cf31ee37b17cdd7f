"""The forest-table engine: text columns and one graphical column laid out in inches.

Every forest-like plot (forest, subgroup forest, cumulative, leave-one-out) is a list of
columns and a list of rows. Column widths come from measuring the text in the font it is
drawn with, so long study names never run into the next column; the figure height grows
with the number of rows, so a 60-study plot stays as legible as a 5-study one.

The figure has two axes: one covering the whole figure in inch coordinates (y downwards)
for the text, and the graph axes whose y coordinates are the same inches, so marks and
text share rows exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from trialsynth.plots._common import (
    COLOURS,
    FONT_SIZE,
    SMALL_SIZE,
    TITLE_SIZE,
    describe_figure,
    rc_params,
    text_width,
    tick_text,
    truncate,
)

ROW_H = 0.22  # inches per table row (9 pt text)
LINE_H = 0.17  # inches per header / footer line
GAP = 0.2  # between columns
MARGIN = 0.2
GRAPH_W = 2.8
SQUARE_MAX = 0.72 * ROW_H  # side of the heaviest study's square, inches
SQUARE_MIN_PT = 3.0  # smallest square drawn (points), so a 0.1% study stays visible
DIAMOND_HALF = 0.3 * ROW_H
ROB_CELL = 0.2  # width of a risk-of-bias column, inches
ROB_CIRCLE_PT = 11.0
TICK_BLOCK = 0.24  # tick marks and tick labels under the graph
FAVOURS_BLOCK = 0.2


@dataclass
class Col:
    key: str
    header: tuple[str, ...]
    align: str = "left"  # left | center | right
    graph: bool = False
    rob: bool = False  # a RoB 2 judgement column: the cell is drawn as a coloured circle
    max_width: float | None = None
    width: float = 0.0
    x0: float = 0.0


@dataclass
class Row:
    kind: str
    cells: dict[str, str] = field(default_factory=dict)
    bold: bool = False
    span: str = ""  # small text across the columns left of the graph
    mark: dict[str, Any] | None = None
    height: float = 1.0
    label: str = ""  # the full label (cells may be truncated)
    y: float = 0.0


@dataclass
class Spec:
    kind: str
    columns: list[Col]
    rows: list[Row]
    ratio: bool
    xlim: tuple[float, float]
    ticks: list[float]
    footer: list[str] = field(default_factory=list)
    title: str | None = None
    favours: tuple[str, str] | None = None
    reference: float | None = None  # dashed line at the pooled estimate (natural scale)
    meta: dict[str, Any] = field(default_factory=dict)


def _fx(ratio: bool, x: float) -> float:
    return math.log(x) if ratio else x


def _frac(spec: Spec, x: float) -> float:
    lo, hi = spec.xlim
    return (_fx(spec.ratio, x) - _fx(spec.ratio, lo)) / (_fx(spec.ratio, hi) - _fx(spec.ratio, lo))


def _measure(spec: Spec) -> None:
    """Column widths from the text they hold."""
    for col in spec.columns:
        if col.graph:
            col.width = GRAPH_W
            continue
        width = max([text_width(h, FONT_SIZE, True) for h in col.header] or [0.0])
        if col.rob:
            col.width = max(width, ROB_CELL)
            continue
        for row in spec.rows:
            text = row.cells.get(col.key, "")
            if not text:
                continue
            if col.max_width is not None and text_width(text, FONT_SIZE, row.bold) > col.max_width:
                text = truncate(text, col.max_width, FONT_SIZE, row.bold)
                row.cells[col.key] = text
            width = max(width, text_width(text, FONT_SIZE, row.bold))
        col.width = width
    # Small in-table text (subgroup heterogeneity) must end before the graph column.
    g = next(i for i, c in enumerate(spec.columns) if c.graph)
    left = sum(c.width for c in spec.columns[:g]) + GAP * max(0, g - 1)
    need = max([text_width(r.span, SMALL_SIZE) for r in spec.rows if r.span] or [0.0])
    if need > left and g > 0:
        spec.columns[0].width += need - left


def draw(spec: Spec):
    """Lay out and draw ``spec``; returns a matplotlib Figure (Agg canvas attached)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon
    from matplotlib.ticker import FixedLocator, NullLocator

    _measure(spec)
    # ---- horizontal layout (before the left shift)
    x = MARGIN
    for col in spec.columns:
        col.x0 = x
        x += col.width + GAP
    table_right = x - GAP
    graph = next(c for c in spec.columns if c.graph)
    gx0, gx1 = graph.x0, graph.x0 + graph.width
    lo, hi = spec.xlim
    null = 1.0 if spec.ratio else 0.0
    null_in = gx0 + _frac(spec, null) * GRAPH_W if lo < null < hi else None
    tick_half = max([text_width(tick_text(t)) for t in spec.ticks] or [0.0]) / 2
    lefts, rights = [MARGIN, gx0 - tick_half], [table_right, gx1 + tick_half]
    fav_extent = None
    if spec.favours and null_in is not None:
        wl, wr = text_width(spec.favours[0]), text_width(spec.favours[1])
        fav_extent = (null_in - 0.08 - wl, null_in + 0.08 + wr)
        lefts.append(fav_extent[0])
        rights.append(fav_extent[1])
    if spec.title:
        rights.append(MARGIN + text_width(spec.title, TITLE_SIZE, True))

    # ---- vertical layout (inches from the top)
    y = MARGIN
    title_y = None
    if spec.title:
        title_y = y
        y += TITLE_SIZE / 72 * 1.25 + 0.12
    nhead = max(len(c.header) for c in spec.columns)
    header_bottom = y + nhead * LINE_H
    rule_y = header_bottom + 0.05
    y = rule_y + 0.05
    for row in spec.rows:
        h = ROW_H * row.height
        row.y = y + h / 2
        y += h
    rows_bottom = y
    gy0, gy1 = rule_y, rows_bottom + 0.06
    axis_bottom = gy1 + TICK_BLOCK + (FAVOURS_BLOCK if fav_extent else 0.0)
    footer_w = max([text_width(t, SMALL_SIZE) for t in spec.footer] or [0.0])
    axis_left = min([gx0 - tick_half] + ([fav_extent[0]] if fav_extent else []))
    beside = bool(spec.footer) and MARGIN + footer_w + GAP <= axis_left
    footer_top = (rows_bottom + 0.12) if beside else (axis_bottom + 0.08)
    footer_bottom = footer_top + LINE_H * len(spec.footer)
    if spec.footer:
        rights.append(MARGIN + footer_w)
    shift = max(0.0, MARGIN - min(lefts))
    width = max(rights) + shift + MARGIN
    height = max(axis_bottom, footer_bottom if spec.footer else 0.0) + MARGIN

    with matplotlib.rc_context(rc_params()):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        tab = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        tab.set_xlim(0, width)
        tab.set_ylim(height, 0)
        tab.set_axis_off()
        tab.patch.set_visible(False)

        def put(xx, yy, text, *, ha="left", va="center_baseline", size=FONT_SIZE, bold=False, **kw):
            return tab.text(
                xx + shift,
                yy,
                text,
                ha=ha,
                va=va,
                fontsize=size,
                fontweight="bold" if bold else "normal",
                parse_math=False,
                usetex=False,
                **kw,
            )

        if spec.title:
            put(MARGIN, title_y, spec.title, va="top", size=TITLE_SIZE, bold=True)
        # headers, bottom-aligned
        for col in spec.columns:
            n = len(col.header)
            for i, line in enumerate(col.header):
                yy = header_bottom - (n - i - 0.5) * LINE_H
                if col.graph or col.align == "center":
                    put(col.x0 + col.width / 2, yy, line, ha="center", bold=True)
                elif col.align == "right":
                    put(col.x0 + col.width, yy, line, ha="right", bold=True)
                else:
                    put(col.x0, yy, line, bold=True)
        tab.add_line(
            Line2D([MARGIN + shift, max(table_right, gx1) + shift], [rule_y, rule_y], color="black", lw=0.6)
        )
        # cells
        for row in spec.rows:
            if row.span:
                put(spec.columns[0].x0, row.y, row.span, size=SMALL_SIZE)
            for col in spec.columns:
                text = row.cells.get(col.key, "")
                if not text or col.graph:
                    continue
                if col.rob:
                    from trialsynth.plots.rob import rob_circle

                    rob_circle(
                        tab,
                        col.x0 + col.width / 2 + shift,
                        row.y,
                        text,
                        label=f"ts:rob:{col.key.removeprefix('rob:')}:{row.label}",
                        size=ROB_CIRCLE_PT,
                    )
                    continue
                if col.align == "right":
                    put(col.x0 + col.width, row.y, text, ha="right", bold=row.bold)
                elif col.align == "center":
                    put(col.x0 + col.width / 2, row.y, text, ha="center", bold=row.bold)
                else:
                    put(col.x0, row.y, text, bold=row.bold)
        for i, line in enumerate(spec.footer):
            put(MARGIN, footer_top + (i + 0.5) * LINE_H, line, size=SMALL_SIZE)
        if fav_extent and spec.favours and null_in is not None:
            put(null_in - 0.08, gy1 + TICK_BLOCK + 0.02, spec.favours[0], ha="right", va="top")
            put(null_in + 0.08, gy1 + TICK_BLOCK + 0.02, spec.favours[1], ha="left", va="top")

        # ---- the graph
        ax = fig.add_axes(((gx0 + shift) / width, 1 - gy1 / height, GRAPH_W / width, (gy1 - gy0) / height))
        ax.patch.set_visible(False)
        ax.set_xscale("log" if spec.ratio else "linear")
        ax.set_xlim(lo, hi)
        ax.set_ylim(gy1, gy0)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_linewidth(0.8)
        ax.yaxis.set_major_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_locator(FixedLocator(spec.ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(spec.ticks, labels=[tick_text(t) for t in spec.ticks])
        ax.tick_params(axis="x", labelsize=FONT_SIZE, length=3.5, width=0.8, pad=2.5)
        for lab in ax.get_xticklabels():
            lab.set_parse_math(False)
        if lo < null < hi:
            ax.add_line(
                Line2D([null, null], [gy0, gy1], color=COLOURS["null"], lw=0.8, zorder=1, label="ts:null")
            )
        marks = [r for r in spec.rows if r.mark]
        if spec.reference is not None and lo < spec.reference < hi:
            ref_rows = [r.y for r in marks if (r.mark or {}).get("role") == "total"]
            y_end = ref_rows[0] if ref_rows else gy1
            ax.add_line(
                Line2D(
                    [spec.reference, spec.reference],
                    [gy0, y_end],
                    color=COLOURS["reference"],
                    lw=0.8,
                    ls=(0, (4, 3)),
                    zorder=0.5,
                    label="ts:reference",
                )
            )
        arrows = []
        for row in marks:
            m = row.mark or {}  # set: marks are the rows with one
            kind = m["type"]
            if kind in ("square", "point"):
                arrows += _interval(
                    ax,
                    m["lo"],
                    m["hi"],
                    row.y,
                    spec,
                    colour=COLOURS["ci"],
                    lw=1.0,
                    label="ts:ci",
                    who=row.label,
                )
                if kind == "square":
                    ax.add_line(
                        Line2D(
                            [m["est"]],
                            [row.y],
                            marker="s",
                            ms=m["size"],
                            ls="none",
                            color=COLOURS["square"],
                            mec=COLOURS["square"],
                            mew=0,
                            zorder=3,
                            label="ts:square",
                        )
                    )
                else:
                    ax.add_line(
                        Line2D(
                            [m["est"]],
                            [row.y],
                            marker="o",
                            ms=5.0,
                            ls="none",
                            color=COLOURS["point"],
                            mec=COLOURS["point"],
                            zorder=3,
                            label="ts:point",
                        )
                    )
            elif kind == "diamond":
                d = DIAMOND_HALF * (0.85 if m.get("role") == "subtotal" else 1.0)
                colour = COLOURS["subtotal"] if m.get("role") == "subtotal" else COLOURS["diamond"]
                ax.add_patch(
                    Polygon(
                        [(m["lo"], row.y), (m["est"], row.y - d), (m["hi"], row.y), (m["est"], row.y + d)],
                        closed=True,
                        fc=colour,
                        ec=colour,
                        lw=0.6,
                        zorder=3,
                        label="ts:diamond" if m.get("role") == "total" else "ts:subtotal",
                    )
                )
            elif kind == "pi":
                arrows += _interval(
                    ax,
                    m["lo"],
                    m["hi"],
                    row.y,
                    spec,
                    colour=COLOURS["pi"],
                    lw=3.2,
                    label="ts:pi",
                    who=row.label,
                )

    describe_figure(fig, {
        **spec.meta,
        "kind": spec.kind,
        "xscale": "log" if spec.ratio else "linear",
        "xlim": spec.xlim,
        "ticks": list(spec.ticks),
        "size_inches": (width, height),
        "row_height_inches": ROW_H,
        "footer": list(spec.footer),
        "footer_beside_axis": beside,
        "clipped": arrows,
        "rows": [
            {
                "kind": r.kind,
                "label": r.label,
                "cells": dict(r.cells),
                "span": r.span,
                "y": r.y,
                "mark": dict(r.mark) if r.mark else None,
            }
            for r in spec.rows
        ],
    })
    return fig


def _interval(ax, a: float, b: float, y: float, spec: Spec, *, colour: str, lw: float, label: str, who: str):
    """A CI line clipped to the axis, with an arrow head where it runs beyond; returns the clipped ends."""
    from matplotlib.lines import Line2D

    lo, hi = spec.xlim
    if not (math.isfinite(a) and math.isfinite(b)) and not (math.isinf(a) or math.isinf(b)):
        return []
    left, right = max(a, lo), min(b, hi)
    if left < right:
        ax.add_line(
            Line2D(
                [left, right],
                [y, y],
                color=colour,
                lw=lw,
                solid_capstyle="butt",
                zorder=2,
                clip_on=False,
                label=label,
            )
        )
    ends = []
    if a < lo:
        ax.add_line(
            Line2D(
                [lo],
                [y],
                marker="<",
                ms=5.5,
                mew=0,
                ls="none",
                color=colour,
                clip_on=False,
                zorder=4,
                label="ts:arrow",
            )
        )
        ends.append((who, "lower"))
    if b > hi:
        ax.add_line(
            Line2D(
                [hi],
                [y],
                marker=">",
                ms=5.5,
                mew=0,
                ls="none",
                color=colour,
                clip_on=False,
                zorder=4,
                label="ts:arrow",
            )
        )
        ends.append((who, "upper"))
    return ends


def square_size(weight: float, max_weight: float) -> float:
    """Marker side in points: area proportional to weight, the heaviest study SQUARE_MAX wide."""
    if not (weight > 0 and max_weight > 0):
        return SQUARE_MIN_PT
    return max(SQUARE_MIN_PT, SQUARE_MAX * 72 * math.sqrt(weight / max_weight))
