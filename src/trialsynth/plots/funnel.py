"""Contour-enhanced funnel plot (Peters et al., J Clin Epidemiol 2008;61:991–6)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from trialsynth._core.results import MetaResult
from trialsynth.plots._common import (
    COLOURS,
    FONT_SIZE,
    MEASURE_NAMES,
    TITLE_SIZE,
    describe_figure,
    log_ticks,
    rc_params,
    tick_text,
)

#: Two-sided significance regions around the null, lightest (0.05 ≤ p < 0.10) to darkest (p < 0.01).
CONTOURS = (
    (1.6448536269514722, 1.959963984540054, "#efefef", "0.05 ≤ p < 0.10"),
    (1.959963984540054, 2.5758293035489004, "#d6d6d6", "0.01 ≤ p < 0.05"),
    (2.5758293035489004, math.inf, "#b8b8b8", "p < 0.01"),
)
Z95 = 1.959963984540054


def _filled_points(trimfill) -> list[tuple[float, float]]:
    """(effect, SE) of filled studies from (yi, vi) pairs, a {'yi','vi'} mapping or an object with yi/vi."""
    if trimfill is None:
        return []
    if isinstance(trimfill, Mapping):
        yi, vi = trimfill["yi"], trimfill["vi"]
    elif hasattr(trimfill, "yi") and hasattr(trimfill, "vi"):
        yi, vi = trimfill.yi, trimfill.vi
    else:
        pairs = [tuple(p) for p in trimfill]
        yi, vi = [p[0] for p in pairs], [p[1] for p in pairs]
    out = []
    for y, v in zip(yi, vi, strict=True):
        y, v = float(y), float(v)
        if math.isfinite(y) and math.isfinite(v) and v >= 0:
            out.append((y, math.sqrt(v)))
    return out


def funnel_plot(
    result: MetaResult,
    *,
    contours: bool = True,
    trimfill: Sequence[tuple[float, float]] | Mapping[str, Sequence[float]] | None = None,
    title: str | None = None,
):
    """Funnel plot of ``result``: effect (analysis scale) against its standard error.

    The y axis (SE) is inverted, 0 at the top. Dashed lines mark the pseudo 95% confidence
    region around the pooled estimate; with ``contours`` the regions where a study would be
    significant at p < 0.10, 0.05, 0.01 against the null are shaded in greys. ``trimfill``:
    filled-in studies as ``(yi, vi)`` pairs on the analysis scale (or a mapping / object with
    ``yi`` and ``vi``), drawn hollow. For ratio measures the axis is the log scale, labelled
    with the ratios. ``fig.trialsynth`` describes what was drawn.
    """
    import matplotlib
    import numpy as np
    from matplotlib.artist import Artist
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

    pts = [(s.yi, math.sqrt(s.vi)) for s in result.studies if s.included and math.isfinite(s.vi)]
    filled = _filled_points(trimfill)
    if not pts:
        raise ValueError("no study with an effect estimate to plot")
    est = result.estimate
    ses = [se for _, se in pts + filled]
    semax = max(ses) * 1.08 if max(ses) > 0 else 1.0
    xs = [x for x, _ in pts + filled] + [est - Z95 * semax, est + Z95 * semax, 0.0]
    pad = 0.06 * (max(xs) - min(xs) or 1.0)
    x0, x1 = min(xs) - pad, max(xs) + pad
    name = MEASURE_NAMES.get(result.measure, result.measure)

    width, height = 6.9, 4.6
    with matplotlib.rc_context(rc_params()):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        top = 0.35 if title else 0.2
        ax = fig.add_axes((0.8 / width, 0.62 / height, 4.0 / width, (height - 0.62 - top) / height))
        se_grid = np.linspace(0.0, semax, 241)
        handles: list[Artist] = []
        if contours:
            for z_in, z_out, colour, text in CONTOURS:
                inner = z_in * se_grid
                outer = (
                    np.minimum(z_out * se_grid, max(abs(x0), abs(x1)) * 2) if math.isfinite(z_out) else None
                )
                if outer is None:
                    outer = np.full_like(se_grid, max(abs(x0), abs(x1)) * 2)
                for sign in (-1, 1):
                    ax.fill_betweenx(
                        se_grid,
                        sign * inner,
                        sign * outer,
                        color=colour,
                        lw=0,
                        zorder=0,
                        label=f"ts:contour {text}",
                    )
                handles.append(Patch(facecolor=colour, edgecolor="none", label=text))
            ax.add_line(Line2D([0, 0], [0, semax], color="#595959", lw=0.7, zorder=1, label="ts:null"))
        ax.add_line(Line2D([est, est], [0, semax], color="black", lw=1.0, zorder=2, label="ts:estimate"))
        for sign in (-1, 1):
            ax.add_line(
                Line2D(
                    [est, est + sign * Z95 * semax],
                    [0, semax],
                    color="black",
                    lw=0.9,
                    ls=(0, (4, 3)),
                    zorder=2,
                    label="ts:pseudo-ci",
                )
            )
        handles.append(Line2D([], [], color="black", lw=1.0, label="Pooled estimate"))
        handles.append(Line2D([], [], color="black", lw=0.9, ls=(0, (4, 3)), label="Pseudo 95% CI"))
        ax.add_line(
            Line2D(
                [x for x, _ in pts],
                [s for _, s in pts],
                ls="none",
                marker="o",
                ms=5.5,
                color=COLOURS["point"],
                mec="white",
                mew=0.5,
                zorder=4,
                label="ts:studies",
            )
        )
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                ms=5.5,
                color=COLOURS["point"],
                mec="white",
                mew=0.5,
                label="Studies",
            )
        )
        if filled:
            ax.add_line(
                Line2D(
                    [x for x, _ in filled],
                    [s for _, s in filled],
                    ls="none",
                    marker="o",
                    ms=5.5,
                    mfc="white",
                    mec=COLOURS["point"],
                    mew=1.2,
                    zorder=4,
                    label="ts:filled",
                )
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="none",
                    marker="o",
                    ms=5.5,
                    mfc="white",
                    mec=COLOURS["point"],
                    mew=1.2,
                    label="Filled (trim and fill)",
                )
            )
        ax.set_xlim(x0, x1)
        ax.set_ylim(semax, 0.0)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_ylabel("Standard error", fontsize=FONT_SIZE)
        if result.ratio:
            ticks = log_ticks(math.exp(x0), math.exp(x1))
            if len(ticks) < 3:
                ticks = [t for t in MaxNLocator(nbins=5).tick_values(math.exp(x0), math.exp(x1)) if t > 0]
            ticks = [t for t in ticks if x0 <= math.log(t) <= x1]
            ax.xaxis.set_major_locator(FixedLocator([math.log(t) for t in ticks]))
            ax.set_xticks([math.log(t) for t in ticks], labels=[tick_text(t) for t in ticks])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel(f"{name} (log scale)", fontsize=FONT_SIZE)
        else:
            ax.set_xlabel(name, fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if title:
            fig.text(
                0.8 / width,
                1 - 0.12 / height,
                title,
                ha="left",
                va="top",
                fontsize=TITLE_SIZE,
                fontweight="bold",
                parse_math=False,
            )
        leg = fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(4.95 / width, 1 - top / height),
            frameon=False,
            fontsize=FONT_SIZE - 0.5,
            handlelength=1.6,
            borderaxespad=0.0,
        )
        for t in leg.get_texts():
            t.set_parse_math(False)
    describe_figure(fig, {
        "kind": "funnel",
        "measure": result.measure,
        "x": "log" if result.ratio else "identity",
        "points": pts,
        "filled": filled,
        "estimate": est,
        "se_max": semax,
        "contours": bool(contours),
        "xlim": (x0, x1),
    })
    return fig
