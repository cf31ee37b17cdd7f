"""Figures of a network meta-analysis: the network graph, a forest plot against the reference and the
league table as a heat map (:class:`trialsynth.stats.network.NetworkResult`).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, with
``fig.trialsynth`` describing what was drawn (positions, sizes, widths, values); matplotlib is imported
inside the functions.
"""

from __future__ import annotations

import math

from trialsynth.plots._common import (
    COLOURS,
    FONT_SIZE,
    MEASURE_NAMES,
    SMALL_SIZE,
    TITLE_SIZE,
    axis_limits,
    describe_figure,
    effect_ci_text,
    num,
    rc_params,
    tick_text,
)
from trialsynth.plots._common import text_width as _measured_width
from trialsynth.plots.diagnostics import _title

#: Largest node (marker area, points²) and widest edge (points) of the network graph.
NODE_AREA_MAX = 900.0
NODE_AREA_MIN = 60.0
EDGE_WIDTH_PER_TRIAL = 1.2
EDGE_WIDTH_MAX = 12.0
_NODE_FILL = "#9ecae1"
_EDGE = "#0b3d91"


def text_width(text: str, size: float = FONT_SIZE, bold: bool = False) -> float:
    """Text width in inches with 6% to spare: glyph hinting at screen resolutions draws text up to
    about 4% wider than the 300 dpi measurement."""
    return 1.06 * _measured_width(text, size, bold)


def _natural(result, x: float) -> float:
    return math.exp(x) if result.ratio else x


def _measure_name(result) -> str:
    return MEASURE_NAMES.get(result.measure, result.measure)


# ---------------------------------------------------------------------------------------------
# Network graph
# ---------------------------------------------------------------------------------------------
def _label_boxes(names, angles, radius, offsets, size):
    """Each label's box (x0, y0, x1, y1) in inches, placed radially outside its node."""
    boxes = []
    height = size / 72.0 * 1.25
    for name, a, offset in zip(names, angles, offsets, strict=True):
        cx, cy = (radius + offset) * math.cos(a), (radius + offset) * math.sin(a)
        w = text_width(name, size)
        c, s = math.cos(a), math.sin(a)
        # Anchor the side of the box that faces the node (ha/va chosen from the direction).
        x0 = cx if c > 0.3 else (cx - w if c < -0.3 else cx - w / 2)
        y0 = cy if s > 0.3 else (cy - height if s < -0.3 else cy - height / 2)
        boxes.append((x0, y0, x0 + w, y0 + height))
    return boxes


def _overlap(a, b, pad=0.03) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > -pad and min(a[3], b[3]) - max(a[1], b[1]) > -pad


def network_graph(result, *, title: str | None = None):
    """The network: one node per treatment on a circle (the reference at the top, then clockwise in the
    result's order), node area proportional to the number of participants (to the number of studies
    when some arm sizes are unknown), one edge per pair of treatments compared directly, its width
    proportional to the number of trials. Labels sit outside the circle, facing away from it; the
    circle grows until no two labels overlap.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    names = list(result.treatments)
    t = len(names)
    participants = list(result.participants)
    if all(p is not None and not math.isnan(p) for p in participants):
        size_by, weight = "participants", participants
    else:
        size_by = "studies"
        weight = [float(sum(k for a, b, k in result.edges if name in (a, b))) for name in names]
    top = max(weight)
    areas = [max(NODE_AREA_MIN, NODE_AREA_MAX * w / top) for w in weight]
    angles = [math.pi / 2 - 2 * math.pi * i / t for i in range(t)]
    node_radius_in = math.sqrt(NODE_AREA_MAX / math.pi) / 72.0  # the largest node's radius, inches
    # Each label starts just outside its own node (marker area s points² has radius √(s/π) points).
    offsets = [math.sqrt(a / math.pi) / 72.0 + 0.05 for a in areas]
    radius = max(1.1, 0.32 * t / math.pi)
    for _ in range(60):
        boxes = _label_boxes(names, angles, radius, offsets, FONT_SIZE)
        if not any(_overlap(boxes[i], boxes[j]) for i in range(t) for j in range(i + 1, t)):
            break
        radius *= 1.1
    pos = {n: (radius * math.cos(a), radius * math.sin(a)) for n, a in zip(names, angles, strict=True)}
    x0 = min(min(b[0] for b in boxes), -radius - node_radius_in) - 0.15
    x1 = max(max(b[2] for b in boxes), radius + node_radius_in) + 0.15
    y0 = min(min(b[1] for b in boxes), -radius - node_radius_in) - 0.15
    y1 = max(max(b[3] for b in boxes), radius + node_radius_in) + 0.15
    head = 0.45 if title else 0.0
    foot = 0.45
    caption = (
        f"Node area ∝ number of {'participants' if size_by == 'participants' else 'studies'}; "
        "edge width ∝ number of trials"
    )
    extra = max(0.0, text_width(caption, SMALL_SIZE) + 0.3 - (x1 - x0))
    x0, x1 = x0 - extra / 2, x1 + extra / 2
    width, height = x1 - x0, y1 - y0 + head + foot
    widths = {}
    with matplotlib.rc_context(rc_params()):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, foot / height, 1, (y1 - y0) / height))
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.axis("off")
        for a, b, k in result.edges:
            lw = min(EDGE_WIDTH_MAX, EDGE_WIDTH_PER_TRIAL * k)
            widths[(a, b)] = lw
            (xa, ya), (xb, yb) = pos[a], pos[b]
            ax.add_line(
                Line2D(
                    [xa, xb],
                    [ya, yb],
                    color=_EDGE,
                    alpha=0.55,
                    lw=lw,
                    solid_capstyle="butt",
                    zorder=1,
                    label="ts:edge",
                )
            )
        ax.scatter(
            [pos[n][0] for n in names],
            [pos[n][1] for n in names],
            s=areas,
            c=_NODE_FILL,
            edgecolors=_EDGE,
            linewidths=1.0,
            zorder=2,
            label="ts:nodes",
        )
        for name, a, offset in zip(names, angles, offsets, strict=True):
            c, s = math.cos(a), math.sin(a)
            ax.text(
                (radius + offset) * c,
                (radius + offset) * s,
                name,
                fontsize=FONT_SIZE,
                ha="left" if c > 0.3 else ("right" if c < -0.3 else "center"),
                va="bottom" if s > 0.3 else ("top" if s < -0.3 else "center"),
                fontweight="bold" if name == result.reference else "normal",
                label="ts:node-label",
            )
        fig.text(0.5, 0.18 / height, caption, ha="center", va="bottom", fontsize=SMALL_SIZE, color="#333333")
        if title:
            fig.text(
                0.5, 1 - 0.15 / height, title, ha="center", va="top", fontsize=TITLE_SIZE, fontweight="bold"
            )
    describe_figure(fig, {
        "kind": "network",
        "positions": pos,
        "node_areas": dict(zip(names, areas, strict=True)),
        "size_by": size_by,
        "edge_widths": widths,
        "radius": radius,
        "label_boxes": dict(zip(names, boxes, strict=True)),
    })
    return fig


# ---------------------------------------------------------------------------------------------
# Forest plot against the reference
# ---------------------------------------------------------------------------------------------
def network_forest_plot(result, *, title: str | None = None, p_scores: bool = True):
    """Each treatment against the reference: estimate and CI (natural scale; log axis for ratios), the
    numbers beside, and each treatment's P-score (with ``p_scores``). The treatments are listed in the
    result's order; the reference is named in the header."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullLocator

    effects = list(result.effects)
    rows = len(effects)
    ratio = result.ratio
    est = [_natural(result, e.estimate) for e in effects]
    lo = [_natural(result, e.ci_lower) for e in effects]
    hi = [_natural(result, e.ci_upper) for e in effects]
    (xa, xb), ticks = axis_limits(ratio, est, lo + hi)
    pscore = {r.treatment: r.p_score for r in result.ranking}
    name_w = max(text_width(e.treatment) for e in effects) + 0.2
    name_w = max(name_w, text_width("Treatment", bold=True) + 0.2)
    ci_head = f"{result.measure} [{result.level:g}% CI]"
    texts = [effect_ci_text(est[i], lo[i], hi[i]) for i in range(rows)]
    ci_w = max(max(text_width(s) for s in texts), text_width(ci_head, bold=True)) + 0.25
    ps_w = text_width("P-score", bold=True) + 0.25 if p_scores else 0.0
    graph_w = 2.8
    width = name_w + graph_w + ci_w + ps_w + 0.3
    row_h = 0.24
    head = 0.45 + (0.35 if title else 0.0)
    foot = 0.7
    height = head + row_h * (rows + 0.5) + foot
    drawn = []
    with matplotlib.rc_context(rc_params()):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((name_w / width, foot / height, graph_w / width, row_h * (rows + 0.5) / height))
        if ratio:
            ax.set_xscale("log")
        ax.set_xlim(xa, xb)
        ax.set_ylim(rows - 0.25, -0.75)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([tick_text(x) for x in ticks])
        ax.yaxis.set_visible(False)
        for spine in ("top", "right", "left"):
            ax.spines[spine].set_visible(False)
        null = 1.0 if ratio else 0.0
        ax.add_line(
            Line2D(
                [null, null], [-0.75, rows - 0.25], color=COLOURS["null"], lw=0.8, zorder=1, label="ts:null"
            )
        )
        for i, e in enumerate(effects):
            x, a, b = est[i], lo[i], hi[i]
            ax.add_line(
                Line2D([max(a, xa), min(b, xb)], [i, i], color=COLOURS["ci"], lw=1.0, zorder=2, label="ts:ci")
            )
            ax.plot(
                [x], [i], marker="s", color=COLOURS["square"], markersize=6, zorder=3, label="ts:estimate"
            )
            drawn.append({"treatment": e.treatment, "estimate": x, "ci_lower": a, "ci_upper": b})
        # The table beside the graph: (x in inches, alignment, header, one text per row, artist label).
        columns = [
            (0.1, "left", "Treatment", [e.treatment for e in effects], "ts:treatment"),
            (name_w + graph_w / 2, "center", f"vs {result.reference}", [], ""),
            (name_w + graph_w + 0.15, "left", ci_head, texts, "ts:ci-text"),
        ]
        if p_scores:
            cells = [num(pscore[e.treatment], 2) for e in effects]
            columns.append((width - 0.15, "right", "P-score", cells, "ts:p-score"))
        y_head = (foot + row_h * (rows + 0.5) + 0.12) / height
        for x, ha, header, cells, label in columns:
            fig.text(x / width, y_head, header, ha=ha, va="bottom", fontsize=FONT_SIZE, fontweight="bold")
            for i, cell in enumerate(cells):
                y = (foot + row_h * (rows - 0.25 - i)) / height
                fig.text(x / width, y, cell, ha=ha, va="center", fontsize=FONT_SIZE, label=label)
        model = "fixed effect" if result.method == "FE" else f"random effects ({result.method})"
        foot_text = f"{_measure_name(result)}, {model}"
        if result.method != "FE":
            foot_text += f"; τ² = {num(result.tau2, 3)}"
        if p_scores:
            foot_text += f"; P-scores rank {result.better} values as better"
        fig.text(
            0.1 / width,
            0.12 / height,
            foot_text,
            ha="left",
            va="bottom",
            fontsize=SMALL_SIZE,
            color="#333333",
        )
        _title(fig, title, 0.1, width, height)
    describe_figure(fig, {
        "kind": "network-forest",
        "reference": result.reference,
        "rows": drawn,
        "xlim": (xa, xb),
        "p_scores": dict(pscore) if p_scores else None,
    })
    return fig


# ---------------------------------------------------------------------------------------------
# League table heat map
# ---------------------------------------------------------------------------------------------
def league_heatmap(result, *, title: str | None = None):
    """The league table: the cell in row i, column j holds treatment i against treatment j (natural
    scale, with its CI), coloured by the estimate on the analysis scale (diverging around the null,
    purple below and orange above, Okabe–Ito-safe PuOr); bold where the CI excludes the null. The
    diagonal names the treatments."""
    import matplotlib
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    names = list(result.treatments)
    t = len(names)
    est, lo, hi = result.league_matrix()
    finite = np.abs(est[np.isfinite(est)])
    span = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    norm = Normalize(-span, span)
    cmap = matplotlib.colormaps["PuOr_r"]
    lines = {}
    for i in range(t):
        for j in range(t):
            if i != j:
                a, b, c = (_natural(result, v) for v in (est[i, j], lo[i, j], hi[i, j]))
                lines[(i, j)] = (num(a), f"({num(b)}, {num(c)})")
    small = 7.5
    cell_w = (
        max(
            max(text_width(s, small) for pair in lines.values() for s in pair),
            max(text_width(n, small, bold=True) for n in names),
        )
        + 0.16
    )
    cell_h = 0.5
    head = 0.5 if title else 0.15
    foot = 0.55
    caption = (
        f"{result.measure} of the row treatment against the column treatment [{result.level:g}% CI]; "
        "bold: CI excludes no difference"
    )
    width = max(cell_w * t, text_width(caption, SMALL_SIZE)) + 0.3
    height = cell_h * t + head + foot
    cells = {}
    with matplotlib.rc_context(rc_params()):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.15 / width, foot / height, cell_w * t / width, cell_h * t / height))
        ax.set_xlim(0, t)
        ax.set_ylim(t, 0)
        ax.axis("off")
        for i in range(t):
            for j in range(t):
                if i == j:
                    ax.add_patch(
                        Rectangle(
                            (j, i),
                            1,
                            1,
                            facecolor="#ffffff",
                            edgecolor="#777777",
                            lw=0.6,
                            label="ts:diagonal",
                        )
                    )
                    ax.text(
                        j + 0.5,
                        i + 0.5,
                        names[i],
                        ha="center",
                        va="center",
                        fontsize=small,
                        fontweight="bold",
                        label="ts:treatment",
                    )
                    continue
                colour = cmap(norm(est[i, j]))
                cells[(names[i], names[j])] = {"estimate": float(est[i, j]), "colour": colour}
                ax.add_patch(
                    Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="#777777", lw=0.6, label="ts:cell")
                )
                sig = (lo[i, j] > 0) or (hi[i, j] < 0)
                luminance = 0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2]
                ink = "white" if luminance < 0.45 else "black"
                weight = "bold" if sig else "normal"
                for dy, text, label in (
                    (0.36, lines[(i, j)][0], "ts:cell-estimate"),
                    (0.68, lines[(i, j)][1], "ts:cell-ci"),
                ):
                    ax.text(
                        j + 0.5,
                        i + dy,
                        text,
                        ha="center",
                        va="center",
                        fontsize=small,
                        color=ink,
                        fontweight=weight,
                        label=label,
                    )
        fig.text(
            0.15 / width, 0.15 / height, caption, ha="left", va="bottom", fontsize=SMALL_SIZE, color="#333333"
        )
        _title(fig, title, 0.15, width, height)
    describe_figure(fig, {"kind": "league", "treatments": names, "cells": cells, "norm": (-span, span)})
    return fig
