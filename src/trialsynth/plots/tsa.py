"""The trial sequential analysis plot (see :func:`trialsynth.stats.tsa.tsa`).

The cumulative Z-curve over cumulative information with the α-spending monitoring boundaries,
the β-spending futility wedge, the conventional ±z_{1−α/2} lines and the required information
size. The legend sits below the axes, and each study label is placed, among a set of positions
around its point (nearest first), where it touches no drawn line and no other label and lies
nearer to its own point than to any other study's; if no position is free, the one that
collides least. A label placed away from its point gets a thin leader line.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from trialsynth.plots._common import FONT_SIZE, TITLE_SIZE, rc_params

__all__ = ["label_boxes", "tsa_plot"]

#: Largest |Z| shown; boundaries above it (tiny information fractions) are left out.
Y_CAP = 8.0
#: Free space kept around a label (display pixels at the figure's dpi).
LABEL_PAD = 3.0
LABEL_SIZE = 7.5  # study labels: a size smaller than the other figures' point labels (they crowd)
#: Labels placed farther than this (points) from their point get a leader line.
LEADER_FROM = 14.0
_RED, _BLUE = "#b2182b", "#2166ac"


def _label_candidates():
    """Offsets (points) and alignments around a point, nearest first."""
    out = []
    for d in (5.0, 10.0, 16.0, 24.0, 34.0, 46.0):
        out += [
            (d * 0.6, d, "left", "bottom"),
            (-d * 0.6, d, "right", "bottom"),
            (d * 0.6, -d, "left", "top"),
            (-d * 0.6, -d, "right", "top"),
            (d, 0.0, "left", "center"),
            (-d, 0.0, "right", "center"),
        ]
    return out


def _line_samples(ax) -> np.ndarray:
    """Points every pixel along every line drawn in ``ax`` (display coordinates), inside the axes."""
    box = ax.get_window_extent()
    pieces = []
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), dtype=float)
        if len(xy) == 0:
            continue
        d = line.get_transform().transform(xy)
        ok = np.all(np.isfinite(d), axis=1)
        d = d[ok]
        pieces.append(d)
        marker = line.get_marker()
        if marker not in (None, "", "None", " ", "none"):
            # The marker's square around each vertex.
            r = line.get_markersize() * ax.figure.dpi / 72.0 / 2.0
            grid = np.linspace(-r, r, max(3, math.ceil(2 * r) + 1))
            gx, gy = np.meshgrid(grid, grid)
            square = np.column_stack([gx.ravel(), gy.ravel()])
            pieces.append((d[:, None, :] + square[None, :, :]).reshape(-1, 2))
        for a, b in itertools.pairwise(d):
            n = max(2, math.ceil(float(np.hypot(*(b - a)))) + 1)
            pieces.append(a + (b - a) * np.linspace(0.0, 1.0, n)[:, None])
    if not pieces:
        return np.empty((0, 2))
    pts = np.concatenate(pieces)
    inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
    return pts[inside]


def _hits(bbox, pts: np.ndarray, pad: float) -> int:
    x0, y0, x1, y1 = bbox.x0 - pad, bbox.y0 - pad, bbox.x1 + pad, bbox.y1 + pad
    return int(
        np.count_nonzero((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1))
    )


def _ambiguous(box, anchors: np.ndarray, own: int) -> bool:
    """Whether another study's point lies nearer to the label's box than the label's own point."""
    nx = np.clip(anchors[:, 0], box.x0, box.x1)
    ny = np.clip(anchors[:, 1], box.y0, box.y1)
    dist = np.hypot(anchors[:, 0] - nx, anchors[:, 1] - ny)
    return bool(np.any(np.delete(dist, own) < dist[own]))


def _text_box(ann, renderer):
    """The box of an annotation's text alone (its leader line left out)."""
    from matplotlib.text import Text

    ann.update_positions(renderer)
    return Text.get_window_extent(ann, renderer)


def _place_labels(fig, ax, xs, ys, labels) -> list:
    """Annotate each (x, y) with its label where it collides with nothing (module notes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # settle the constrained layout before measuring
    renderer = canvas.get_renderer()
    pts = _line_samples(ax)
    axes_box = ax.get_window_extent()
    anchors = ax.transData.transform(np.column_stack([xs, ys])) if len(xs) else np.empty((0, 2))
    placed: list = []
    annotations = []
    for i, (x, y, text) in enumerate(zip(xs, ys, labels, strict=True)):
        ann = ax.annotate(
            text, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=LABEL_SIZE, color="0.25"
        )
        best, best_score = None, None
        for dx, dy, ha, va in _label_candidates():
            ann.set_position((dx, dy))
            ann.set_horizontalalignment(ha)
            ann.set_verticalalignment(va)
            box = ann.get_window_extent(renderer)
            outside = (
                box.x0 < axes_box.x0 or box.x1 > axes_box.x1 or box.y0 < axes_box.y0 or box.y1 > axes_box.y1
            )
            overlaps = sum(box.overlaps(other) for other in placed)
            score = (outside, overlaps, _hits(box, pts, LABEL_PAD), _ambiguous(box, anchors, i))
            if best_score is None or score < best_score:
                best, best_score = (dx, dy, ha, va), score
            if score == (False, 0, 0, False):
                break
        assert best is not None  # _label_candidates yields at least one placement
        dx, dy, ha, va = best
        ann.remove()
        # A label placed away from its point gets a thin leader line back to it.
        leader = (
            {"arrowstyle": "-", "color": "0.6", "lw": 0.5, "shrinkA": 1, "shrinkB": 3}
            if math.hypot(dx, dy) > LEADER_FROM
            else None
        )
        ann = ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=(dx, dy),
            ha=ha,
            va=va,
            fontsize=LABEL_SIZE,
            color="0.25",
            arrowprops=leader,
            gid="study-label",
        )
        ann.set_in_layout(False)  # labels stay inside the axes: the layout must not move for them
        placed.append(_text_box(ann, renderer))
        annotations.append(ann)
    return annotations


def label_boxes(fig) -> list:
    """Display-coordinate boxes of the study labels of a TSA figure (for checks and tests)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    renderer = canvas.get_renderer()
    (ax,) = fig.axes
    return [_text_box(t, renderer) for t in ax.texts if t.get_gid() == "study-label"]


def tsa_plot(result, *, title: str | None = None):
    """The TSA plot of a :class:`trialsynth.stats.tsa.TSAResult`; returns a matplotlib Figure.

    The boundaries at the observed looks are the analysis' own (solid); beyond the last look they
    are projected (dashed) for a design with further looks at every tenth of the remaining
    information up to the RIS. The Z-curve is drawn as points joined in study order, the RIS as a
    vertical line. No pyplot state is touched.
    """
    import matplotlib

    # The same font, sizes and title style as every other figure of the report.
    with matplotlib.rc_context(rc_params()):
        return _draw(result, title)


def _draw(result, title: str | None):
    from matplotlib.figure import Figure

    from trialsynth.stats.tsa import _zq, efficacy_boundaries, futility_boundaries

    info = np.asarray(result.information)
    ris = result.ris
    frac = np.asarray(result.fraction)
    b_obs = np.asarray(result.boundary)
    a_obs = np.asarray(result.futility)
    fig = Figure(figsize=(8.0, 5.4), layout="constrained")
    ax = fig.add_subplot()
    x_max = max(ris, info[-1]) * 1.05
    shown = b_obs <= Y_CAP
    if shown.any():  # (none when every observed look is too early for a boundary below ±Y_CAP)
        ax.plot(
            info[shown],
            b_obs[shown],
            color=_RED,
            lw=1.8,
            marker="_",
            ms=8,
            label="Monitoring boundary (α-spending)",
        )
        ax.plot(info[shown], -b_obs[shown], color=_RED, lw=1.8, marker="_", ms=8)
    wedge = np.isfinite(a_obs) & (a_obs > 0)
    if wedge.any():
        ax.plot(
            info[wedge], a_obs[wedge], color=_BLUE, lw=1.4, marker="_", ms=8, label="Futility (β-spending)"
        )
        ax.plot(info[wedge], -a_obs[wedge], color=_BLUE, lw=1.4, marker="_", ms=8)
    last = float(min(frac[-1], 1.0))
    if last < 1.0:
        observed = np.unique(np.minimum(frac, 1.0))
        future = np.linspace(last, 1.0, 11)[1:]
        t_all = np.unique(np.concatenate([observed, future]))
        b_all = efficacy_boundaries(t_all, result.alpha)
        a_all, _ = futility_boundaries(t_all, result.alpha, 1.0 - result.power, b_all)
        ahead = t_all >= last
        xs = np.append(t_all[ahead] * ris, x_max)
        ys = np.append(b_all[ahead], b_all[-1])
        keep = ys <= Y_CAP
        ax.plot(xs[keep], ys[keep], color=_RED, lw=1.2, ls="--", label="Monitoring boundary (projected)")
        ax.plot(xs[keep], -ys[keep], color=_RED, lw=1.2, ls="--")
        fut = ahead & np.isfinite(a_all) & (a_all > 0)
        if fut.any():
            ax.plot(t_all[fut] * ris, a_all[fut], color=_BLUE, lw=1.0, ls="--", label="Futility (projected)")
            ax.plot(t_all[fut] * ris, -a_all[fut], color=_BLUE, lw=1.0, ls="--")
    else:
        ax.plot([info[-1], x_max], [b_obs[-1], b_obs[-1]], color=_RED, lw=1.8)
        ax.plot([info[-1], x_max], [-b_obs[-1], -b_obs[-1]], color=_RED, lw=1.8)
    crit = _zq(result.alpha / 2.0)
    ax.axhline(crit, color="0.6", lw=0.8, ls=":", label=f"Conventional ±{crit:.2f}")
    ax.axhline(-crit, color="0.6", lw=0.8, ls=":")
    ax.axhline(0.0, color="0.3", lw=0.6)
    ax.axvline(ris, color="0.3", lw=1.0, ls="-.", label=f"RIS {ris:,.0f} {result.information_unit}")
    z = np.asarray(result.z)
    ok = np.isfinite(z)
    ax.plot(
        np.append(0.0, info[ok]),
        np.append(0.0, z[ok]),
        color="black",
        lw=1.6,
        marker="o",
        ms=4,
        label="Cumulative Z-curve",
        gid="z-curve",
    )
    ax.set_xlim(0.0, x_max)
    top = max(Y_CAP, float(np.nanmax(np.abs(z))) + 0.5) if ok.any() else Y_CAP
    ax.set_ylim(-top, top)
    ax.set_xlabel(f"Cumulative information ({result.information_unit})", fontsize=FONT_SIZE)
    ax.set_ylabel("Cumulative Z", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_title(
        title or f"Trial sequential analysis: {result.conclusion}",
        loc="left",
        fontsize=TITLE_SIZE,
        fontweight="bold",
    )
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=4, fontsize=LABEL_SIZE, frameon=False)
    _place_labels(fig, ax, info[ok], z[ok], list(np.asarray(result.labels)[ok]))
    return fig
