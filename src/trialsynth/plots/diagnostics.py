"""Baujat and Galbraith (radial) plots, drawn from the coordinates of :mod:`trialsynth.stats.diagnostics`.

Both are scatter plots whose axes are laid out in inches, so that point labels can be placed
without overlapping and the radial plot's effect arc is a true circular arc on the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from trialsynth._core.results import RATIO_MEASURES, MetaResult
from trialsynth.plots._common import (
    COLOURS,
    FONT_SIZE,
    MEASURE_NAMES,
    SMALL_SIZE,
    TITLE_SIZE,
    rc_params,
    text_width,
    tick_text,
    truncate,
)

LABEL_W = 1.6  # widest point label, inches
LABEL_H = SMALL_SIZE / 72 * 1.25
MARK_R = 0.045  # half the side of a point marker, inches
BAND_FILL = "#e6e6e6"


@dataclass
class _Frame:
    """An axes of ``w`` × ``h`` inches showing x0..x1 × y0..y1 linearly."""

    w: float
    h: float
    x0: float
    x1: float
    y0: float
    y1: float

    def inch(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.x0) / (self.x1 - self.x0) * self.w, (y - self.y0) / (self.y1 - self.y0) * self.h

    def data(self, u: float, v: float) -> tuple[float, float]:
        return self.x0 + u / self.w * (self.x1 - self.x0), self.y0 + v / self.h * (self.y1 - self.y0)


def _overlaps(a, b) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > 0 and min(a[3], b[3]) - max(a[1], b[1]) > 0


#: Candidate label positions around a point: (dx, dy) in inches, horizontal and vertical alignment.
_SPOTS = (
    (0.07, 0.0, "left", "center"),
    (-0.07, 0.0, "right", "center"),
    (0.0, 0.07, "center", "bottom"),
    (0.0, -0.07, "center", "top"),
    (0.06, 0.06, "left", "bottom"),
    (0.06, -0.06, "left", "top"),
    (-0.06, 0.06, "right", "bottom"),
    (-0.06, -0.06, "right", "top"),
)


#: Farther spots, tried when no near one fits; a thin leader line then joins label and point.
_FAR = 0.24
_FAR_SPOTS = tuple(
    (dx * _FAR, dy * _FAR, ha, va)
    for dx, dy, ha, va in (
        (1, 0, "left", "center"),
        (-1, 0, "right", "center"),
        (0.7, 0.7, "left", "bottom"),
        (-0.7, 0.7, "right", "bottom"),
        (0.7, -0.7, "left", "top"),
        (-0.7, -0.7, "right", "top"),
        (0, 1, "center", "bottom"),
        (0, -1, "center", "top"),
    )
)
#: A near label must be this much (inches) closer to its own point than to any other point,
#: so that a reader never has to guess which of two close points it names.
CLEARANCE = 0.04


def _distance(box, u: float, v: float) -> float:
    dx = max(box[0] - u, 0.0, u - box[2])
    dy = max(box[1] - v, 0.0, v - box[3])
    return math.hypot(dx, dy)


def _segment_hits(box, a, b) -> bool:
    """Whether the segment a→b passes through ``box`` (sampled; leader lines are short)."""
    return any(
        box[0] <= a[0] + t * (b[0] - a[0]) <= box[2] and box[1] <= a[1] + t * (b[1] - a[1]) <= box[3]
        for t in (i / 20 for i in range(3, 18))
    )


def _place_labels(frame: _Frame, points, wanted, texts, blocked=()):
    """Greedy label placement: for each index in ``wanted`` (priority order) the first spot
    around its point that stays inside the frame, clear of every marker and placed label and
    unambiguous (nearer its own point than any other by :data:`CLEARANCE`); failing that, a
    farther spot joined to the point by a leader line that crosses no marker or label.

    Returns ``{index: (u, v, ha, va, leader)}`` in inches; labels that fit nowhere are left out.
    """
    marks = [(u - MARK_R, v - MARK_R, u + MARK_R, v + MARK_R) for u, v in points]
    boxes = list(marks) + list(blocked)
    leaders: list[tuple[tuple[float, float], tuple[float, float]]] = []
    placed = {}
    for i in wanted:
        u, v = points[i]
        w = text_width(texts[i], SMALL_SIZE)
        own = marks[i]
        for leader, spots in ((False, _SPOTS), (True, _FAR_SPOTS)):
            for dx, dy, ha, va in spots:
                x0 = u + dx - {"left": 0.0, "right": w, "center": w / 2}[ha]
                y0 = v + dy - {"bottom": 0.0, "top": LABEL_H, "center": LABEL_H / 2}[va]
                box = (x0, y0, x0 + w, y0 + LABEL_H)
                if box[0] < 0 or box[1] < 0 or box[2] > frame.w or box[3] > frame.h:
                    continue
                if any(_overlaps(box, b) for b in boxes if b != own):
                    continue
                if any(_segment_hits(box, a, b) for a, b in leaders):
                    continue
                if leader:
                    end = (u + dx, v + dy)
                    if any(_segment_hits(b, (u, v), end) for b in boxes if b != own):
                        continue
                else:
                    mine = _distance(box, u, v)
                    if any(
                        _distance(box, *q) < mine + CLEARANCE for j, q in enumerate(points) if j != i
                    ):
                        continue
                boxes.append(box)
                if leader:
                    leaders.append(((u, v), (u + dx, v + dy)))
                placed[i] = (u + dx, v + dy, ha, va, leader)
                break
            if i in placed:
                break
    return placed


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _title(fig, title: str | None, left: float, width: float, height: float) -> None:
    if title:
        fig.text(
            left / width,
            1 - 0.12 / height,
            title,
            ha="left",
            va="top",
            fontsize=TITLE_SIZE,
            fontweight="bold",
            parse_math=False,
        )


def _studies(ax, xs, ys) -> None:
    """The study points (``ts:studies``), unclipped so that points on an axis stay whole."""
    from matplotlib.lines import Line2D

    style: dict[str, Any] = {"ls": "none", "marker": "o", "ms": 5.5, "mec": "white", "mew": 0.5, "zorder": 4}
    ax.add_line(Line2D(xs, ys, color=COLOURS["point"], clip_on=False, label="ts:studies", **style))


def _put_labels(ax, frame: _Frame, placed, texts, label: str, points=None) -> None:
    from matplotlib.lines import Line2D

    for i, (u, v, ha, va, leader) in placed.items():
        x, y = frame.data(u, v)
        ax.text(x, y, texts[i], ha=ha, va=va, fontsize=SMALL_SIZE, parse_math=False, label=label)
        if leader and points is not None:
            px, py = frame.data(*points[i])
            ax.add_line(Line2D([px, x], [py, y], color="#595959", lw=0.5, zorder=3, label="ts:leader"))


def baujat_plot(
    baujat,
    *,
    title: str | None = None,
    max_labels: int = 8,
    max_label_width: float = LABEL_W,
):
    """Baujat plot (Baujat et al., Stat Med 2002): each study's contribution to the overall
    heterogeneity statistic Q (x) against its influence on the pooled result (y).

    ``baujat``: a :class:`trialsynth.stats.diagnostics.Baujat`. The studies furthest to the top right
    (largest x/max x + y/max y), at most ``max_labels`` of them, are labelled where a label fits
    without overlapping. ``fig.trialsynth`` describes what was drawn; the points carry the label
    ``ts:studies``, their names ``ts:point-label``.
    """
    import matplotlib

    xs, ys = list(baujat.x), list(baujat.y)
    keep = [i for i in range(len(xs)) if math.isfinite(xs[i]) and math.isfinite(ys[i])]
    if not keep:
        raise ValueError("no study with Baujat coordinates to plot")
    names = [baujat.studies[i] for i in keep]
    px, py = [xs[i] for i in keep], [ys[i] for i in keep]
    xmax = max(px) or 1.0
    ymax = max(py) or 1.0
    w, h = 4.6, 3.4
    left, bottom = 0.8, 0.62
    top = 0.42 if title else 0.18
    frame = _Frame(w, h, 0.0, xmax * 1.1, 0.0, ymax * 1.12)
    texts = [truncate(n, max_label_width, SMALL_SIZE) for n in names]
    score = [px[j] / xmax + py[j] / ymax for j in range(len(px))]
    order = sorted(range(len(px)), key=lambda j: (-score[j], j))[: max(0, max_labels)]
    points = [frame.inch(px[j], py[j]) for j in range(len(px))]
    placed = _place_labels(frame, points, order, texts)
    width, height = left + w + 0.35, bottom + h + top
    with matplotlib.rc_context(rc_params()):
        fig = _figure(width, height)
        ax = fig.add_axes((left / width, bottom / height, w / width, h / height))
        ax.set_xlim(frame.x0, frame.x1)
        ax.set_ylim(frame.y0, frame.y1)
        _studies(ax, px, py)
        _put_labels(ax, frame, placed, texts, "ts:point-label", points)
        _ticks_within(ax, frame.x0, frame.x1, frame.y0, frame.y1, 6, 6)
        ax.set_xlabel("Contribution to overall heterogeneity (Q)", fontsize=FONT_SIZE)
        ax.set_ylabel("Influence on overall result", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        _title(fig, title, left, width, height)
    fig.trialsynth = {
        "kind": "baujat",
        "studies": names,
        "points": list(zip(px, py, strict=True)),
        "labelled": [names[j] for j in sorted(placed)],
        "not_plotted": [baujat.studies[i] for i in range(len(xs)) if i not in keep],
        "xlim": (frame.x0, frame.x1),
        "ylim": (frame.y0, frame.y1),
    }
    return fig


def _ticks_within(ax, x0: float, x1: float, y0: float, y1: float, nx: int, ny: int) -> None:
    """Round ticks, only those inside the limits (no label hangs beyond the axes)."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    for axis, a, b, n in ((ax.xaxis, x0, x1, nx), (ax.yaxis, y0, y1, ny)):
        eps = 1e-9 * (b - a)
        ticks = [float(t) for t in MaxNLocator(nbins=n).tick_values(a, b) if a - eps <= t <= b + eps]
        axis.set_major_locator(FixedLocator(ticks))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _arc_ticks(lo: float, hi: float, ratio: bool) -> list[float]:
    """Effect values (analysis scale) to mark on the arc, spanning lo..hi."""
    from matplotlib.ticker import MaxNLocator

    if ratio:
        # 1-2-5 steps (only powers of 10 when wide, finer when narrow), widened to the steps just
        # beyond lo and hi so that the arc ends on labelled values.
        a, b = math.exp(lo), math.exp(hi)
        span = math.log10(b / a)
        mults = (1,) if span > 2.5 else (1, 2, 5) if span > 0.7 else (1, 1.5, 2, 3, 5, 7)
        steps = [m * 10.0**e for e in range(-8, 9) for m in mults]
        below = [t for t in steps if t <= a * (1 + 1e-9)]
        above = [t for t in steps if t >= b * (1 - 1e-9)]
        a2, b2 = (below[-1] if below else a), (above[0] if above else b)
        ticks = [float(f"{t:.12g}") for t in steps if a2 * (1 - 1e-9) <= t <= b2 * (1 + 1e-9)]
        return [math.log(t) for t in ticks]
    return [float(t) for t in MaxNLocator(nbins=5).tick_values(lo, hi)]


def radial_plot(
    radial,
    *,
    measure: str | None = None,
    title: str | None = None,
    label_outside: bool = True,
    max_label_width: float = LABEL_W,
):
    """Galbraith (radial) plot (Galbraith, Technometrics 1988), as metafor's ``radial()``.

    ``radial``: a :class:`trialsynth.stats.diagnostics.Radial`, or a fitted
    :class:`~trialsynth._core.results.MetaResult` (its pooled studies, τ², estimate and CI).
    Studies at x = 1/√(vᵢ + τ²), z = yᵢ/√(vᵢ + τ²); the line through the origin with slope θ̂ (the
    pooled estimate) and the shaded band z = θ̂x ± z₁₋α/₂; on the right an arc on which the line
    from the origin through a study reads its effect (ratios labelled as ratios), with the pooled
    CI marked on it. ``label_outside`` names the studies outside the band.

    Artists: ``ts:studies``, ``ts:estimate``, ``ts:band`` (its two edges), ``ts:band-fill``,
    ``ts:arc``, ``ts:arc-tick``, ``ts:arc-ci``, ``ts:arc-label``, ``ts:point-label``.
    """
    import matplotlib
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon

    from trialsynth.stats.diagnostics import radial_of

    if isinstance(radial, MetaResult):
        measure = measure or radial.measure
        radial = radial_of(radial)
    measure = measure or ""
    ratio = measure in RATIO_MEASURES
    xs, zs, ys = list(radial.x), list(radial.z), list(radial.yi)
    if not xs:
        raise ValueError("no study to plot")
    est, zc = radial.estimate, radial.z_crit

    # Scales (inches per unit) chosen so that the points fill about 3.2 × 3.0 inches; the arc is
    # a circle about the origin in inches, just beyond the furthest point.
    xm = max(xs)
    zlo, zhi = min([*zs, -zc, 0.0]), max([*zs, zc, 0.0])
    sx, sy = 3.2 / xm, 3.0 / (zhi - zlo)
    radius = 1.1 * max(math.hypot(x * sx, z * sy) for x, z in zip(xs, zs, strict=True))
    lo = min([*ys, radial.ci_lower, est])
    hi = max([*ys, radial.ci_upper, est])
    ticks = _arc_ticks(lo, hi, ratio)
    t_lo, t_hi = min([lo, *ticks]), max([hi, *ticks])

    def on_arc(theta: float, r: float) -> tuple[float, float]:
        phi = math.atan2(theta * sy, sx)
        return r * math.cos(phi) / sx, r * math.sin(phi) / sy

    arc = [on_arc(t_lo + (t_hi - t_lo) * j / 200, radius) for j in range(201)]
    tick_labels = [tick_text(math.exp(t) if ratio else t) for t in ticks]
    label_w = max([text_width(t, SMALL_SIZE) for t in tick_labels] or [0.0])
    z0 = min(zlo, min(z for _, z in arc)) - 0.15 / sy
    z1 = max(zhi, max(z for _, z in arc)) + 0.15 / sy
    x1 = radius / sx + 0.08 / sx
    w, h = x1 * sx, (z1 - z0) * sy
    # Keep the page size sensible: everything scales together, so the arc stays circular.
    c = min(1.0, 5.0 / w, 5.5 / h)
    sx, sy, radius, w, h = sx * c, sy * c, radius * c, w * c, h * c
    left, bottom = 0.85, 0.62
    top = 0.42 if title else 0.18
    right = 0.14 + label_w + 0.3
    width, height = left + w + right, bottom + h + top
    frame = _Frame(w, h, 0.0, x1, z0, z1)

    def band_end(c0: float) -> float:
        """x where the line z = θ̂x + c0 meets the arc."""
        a = sx**2 + (est * sy) ** 2
        b = 2 * est * c0 * sy**2
        cc = (c0 * sy) ** 2 - radius**2
        return (-b + math.sqrt(b * b - 4 * a * cc)) / (2 * a)

    outside = [i for i in range(len(xs)) if abs(zs[i] - est * xs[i]) > zc]
    texts = [truncate(s, max_label_width, SMALL_SIZE) for s in radial.studies]
    points = [frame.inch(x, z) for x, z in zip(xs, zs, strict=True)]
    far = sorted(outside, key=lambda i: (-abs(zs[i] - est * xs[i]), i))
    arc_boxes = [(u - 0.03, v - 0.03, u + 0.03, v + 0.03) for u, v in (frame.inch(*p) for p in arc[::10])]
    placed = _place_labels(frame, points, far if label_outside else [], texts, arc_boxes)

    with matplotlib.rc_context(rc_params()):
        fig = _figure(width, height)
        ax = fig.add_axes((left / width, bottom / height, w / width, h / height))
        ax.set_xlim(0.0, x1)
        ax.set_ylim(z0, z1)
        xe_hi, xe_lo = band_end(zc), band_end(-zc)
        # The band is bounded by its two lines and, on the right, by the arc's circle.
        phi_hi = math.atan2((est * xe_hi + zc) * sy, xe_hi * sx)
        phi_lo = math.atan2((est * xe_lo - zc) * sy, xe_lo * sx)
        rim = [
            (radius * math.cos(f) / sx, radius * math.sin(f) / sy)
            for f in (phi_hi + (phi_lo - phi_hi) * j / 100 for j in range(101))
        ]
        ax.add_patch(
            Polygon(
                [(0.0, zc), *rim, (0.0, -zc)],
                closed=True,
                fc=BAND_FILL,
                ec="none",
                zorder=0,
                label="ts:band-fill",
            )
        )
        for c0, xe in ((zc, xe_hi), (-zc, xe_lo)):
            ax.add_line(
                Line2D([0.0, xe], [c0, est * xe + c0], color="#7f7f7f", lw=0.7, zorder=1, label="ts:band")
            )
        xe = on_arc(est, radius)[0]
        ax.add_line(Line2D([0.0, xe], [0.0, est * xe], color="black", lw=1.0, zorder=2, label="ts:estimate"))
        ax.add_line(
            Line2D([p[0] for p in arc], [p[1] for p in arc], color="black", lw=0.8, zorder=2, label="ts:arc")
        )
        tick_pts = []
        for t, text in zip(ticks, tick_labels, strict=True):
            (a0, b0), (a1, b1) = on_arc(t, radius), on_arc(t, radius + 0.06)
            ax.add_line(Line2D([a0, a1], [b0, b1], color="black", lw=0.8, clip_on=False, label="ts:arc-tick"))
            tx, tz = on_arc(t, radius + 0.1)
            ax.text(
                tx, tz, text, ha="left", va="center", fontsize=SMALL_SIZE, parse_math=False,
                clip_on=False, label="ts:arc-label",
            )  # fmt: skip
            tick_pts.append((t, a0, b0))
        ci = [
            on_arc(radial.ci_lower + (radial.ci_upper - radial.ci_lower) * j / 50, radius) for j in range(51)
        ]
        ax.add_line(
            Line2D(
                [p[0] for p in ci],
                [p[1] for p in ci],
                color="black",
                lw=3.0,
                solid_capstyle="butt",
                zorder=3,
                clip_on=False,
                label="ts:arc-ci",
            )
        )
        _studies(ax, xs, zs)
        _put_labels(ax, frame, placed, texts, "ts:point-label", points)
        arc_name = MEASURE_NAMES.get(measure, measure or "Effect")
        mid = on_arc((t_lo + t_hi) / 2, radius)
        fig.text(
            (left + w + 0.14 + label_w + 0.14) / width,
            (bottom + frame.inch(*mid)[1]) / height,
            arc_name + (" (arc, log scale)" if ratio else " (arc)"),
            rotation=90,
            ha="center",
            va="center",
            fontsize=FONT_SIZE,
            parse_math=False,
        )
        _ticks_within(ax, 0.0, x1, z0, z1, 5, 7)
        re = radial.tau2 > 0
        ax.set_xlabel("Precision, 1/√(vᵢ + τ²)" if re else "Precision, 1/SEᵢ", fontsize=FONT_SIZE)
        ax.set_ylabel("Standardised effect, yᵢ/√(vᵢ + τ²)" if re else "Standardised effect, yᵢ/SEᵢ",
                      fontsize=FONT_SIZE)  # fmt: skip
        ax.tick_params(labelsize=FONT_SIZE)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        _title(fig, title, left, width, height)
    fig.trialsynth = {
        "kind": "radial",
        "measure": measure,
        "studies": list(radial.studies),
        "points": list(zip(xs, zs, strict=True)),
        "estimate": est,
        "z_crit": zc,
        "tau2": radial.tau2,
        "arc_ticks": [
            {"value": t, "label": s, "x": a, "z": b}
            for (t, a, b), s in zip(tick_pts, tick_labels, strict=True)
        ],
        "arc_radius_inches": radius,
        "inches_per_unit": (sx, sy),
        "outside_band": [radial.studies[i] for i in outside],
        "labelled": [radial.studies[i] for i in sorted(placed)],
    }
    return fig
