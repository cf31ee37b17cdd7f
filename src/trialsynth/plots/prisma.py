"""The PRISMA 2020 flow diagram of study selection.

The layout is that of Figure 1 of the PRISMA 2020 statement for new systematic reviews
which included searches of databases, registers and other sources (Page MJ, McKenzie JE,
Bossuyt PM, et al. BMJ 2021;372:n71): three bands down the left side (Identification,
Screening, Included); a column for databases and registers, with the records removed or
excluded at each step in boxes to its right; and, when the review used them, a second
column for other methods (websites, organisations, citation searching) whose assessed
reports join the included box.

Every box is a :class:`~matplotlib.patches.FancyBboxPatch` labelled ``ts:box:<key>``, its
text ``ts:text:<key>``, every arrow a :class:`~matplotlib.patches.FancyArrowPatch`
labelled ``ts:arrow:<from>-><to>``; ``fig.trialsynth`` lists the boxes (text and counts),
the arrows and the arithmetic problems of the counts (:func:`trialsynth.stats.prisma.check_prisma`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from trialsynth.plots._common import FONT_SIZE, SMALL_SIZE, TITLE_SIZE, describe_figure, rc_params, text_width
from trialsynth.stats.prisma import PrismaCounts, check_prisma

__all__ = ["prisma_flow"]

# Geometry, in inches.
_MARGIN = 0.15
_BAND_W = 0.34  # the rotated band labels down the left
_GAP = 0.22  # band labels to the first column
_BOX_W = 2.45
_SIDE_GAP = 0.5  # a column to its side boxes (the arrow between them)
_COLUMN_GAP = 0.35  # the databases side boxes to the other-methods column
_ROW_GAP = 0.38  # between rows (the vertical arrows)
_HEADER_H = 0.42
_PAD = 0.08  # text inside a box
_LINE = FONT_SIZE * 1.2 / 72  # matplotlib's default line spacing of 1.2 at FONT_SIZE

_COLOURS = {
    "edge": "#000000",
    "box": "#ffffff",
    "header": "#f6d57a",  # the PRISMA template's yellow for databases and registers
    "header_other": "#d9d9d9",  # and its grey for other methods
    "band": "#a8c5e6",  # and its light blue for the band labels
    "arrow": "#000000",
}


def _n(value: int) -> str:
    """'(n = 1,234)' with no-break spaces, so that a count is never split over two lines."""
    return f"(n\u00a0=\u00a0{value:,})"


def _wrap(text: str, width: float, indent: str = "") -> list[str]:
    """``text`` broken at spaces into lines at most ``width`` inches wide (a word longer than
    the width gets a line of its own). The text's own leading spaces are kept on its first
    line; continuation lines start with ``indent``."""
    prefix = text[: len(text) - len(text.lstrip(" "))]
    lines: list[str] = []
    current = ""
    for word in (w for w in text.split(" ") if w):
        trial = f"{current} {word}" if current else word
        if current and text_width(prefix + trial, SMALL_SIZE) > width:
            lines.append(prefix + current)
            prefix, current = indent, word
        else:
            current = trial
    lines.append(prefix + current)
    return lines


@dataclass
class _Box:
    key: str
    lines: list[str]  # logical lines, before wrapping
    counts: dict[str, int]
    column: int  # 0 main, 1 main's side, 2 other methods, 3 its side
    row: int
    fill: str = _COLOURS["box"]
    wrapped: list[str] = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0
    w: float = _BOX_W
    h: float = 0.0


def _boxes(counts: PrismaCounts) -> list[_Box]:
    def items(pairs) -> list[str]:
        return [f"    {label} {_n(n)}" for label, n in pairs]

    def single(key: str, text: str, name: str, value: int, column: int, row: int) -> _Box:
        return _Box(key, [f"{text} {_n(value)}"], {name: value}, column, row)

    def excluded(key: str, name: str, reasons, column: int, row: int) -> _Box:
        total = sum(n for _, n in reasons)
        head = f"Reports excluded {_n(total)}" + (":" if reasons else "")
        return _Box(
            key,
            [head, *items(reasons)],
            {name: total, **{f"reason: {k}": v for k, v in reasons}},
            column,
            row,
        )

    n_db = sum(n for _, n in counts.databases)
    n_reg = sum(n for _, n in counts.registers)
    identified = [f"Records identified {_n(counts.records_identified)} from:"]
    if counts.databases:
        identified += [f"Databases {_n(n_db)}", *items(counts.databases)]
    if counts.registers:
        identified += [f"Registers {_n(n_reg)}", *items(counts.registers)]
    out = [
        _Box(
            "identified",
            identified,
            {
                "records_identified": counts.records_identified,
                **({"databases": n_db} if counts.databases else {}),
                **({"registers": n_reg} if counts.registers else {}),
                **{f"source: {k}": v for k, v in (*counts.databases, *counts.registers)},
            },
            0,
            0,
        ),
        _Box(
            "removed",
            [
                "Records removed before screening:",
                f"    Duplicate records removed {_n(counts.duplicates_removed)}",
                f"    Records marked as ineligible by automation tools {_n(counts.automation_removed)}",
                f"    Records removed for other reasons {_n(counts.other_removed)}",
            ],
            {
                "duplicates_removed": counts.duplicates_removed,
                "automation_removed": counts.automation_removed,
                "other_removed": counts.other_removed,
            },
            1,
            0,
        ),
        single("screened", "Records screened", "records_screened", counts.records_screened, 0, 1),
        single("records_excluded", "Records excluded", "records_excluded", counts.records_excluded, 1, 1),
        single("sought", "Reports sought for retrieval", "reports_sought", counts.reports_sought, 0, 2),
        single(
            "not_retrieved",
            "Reports not retrieved",
            "reports_not_retrieved",
            counts.reports_not_retrieved,
            1,
            2,
        ),
        single(
            "assessed", "Reports assessed for eligibility", "reports_assessed", counts.reports_assessed, 0, 3
        ),
        excluded("reports_excluded", "reports_excluded_total", counts.reports_excluded, 1, 3),
        _Box(
            "included",
            [
                f"Studies included in review {_n(counts.studies_included)}",
                f"Reports of included studies {_n(counts.reports_included)}",
            ],
            {"studies_included": counts.studies_included, "reports_included": counts.reports_included},
            0,
            4,
        ),
    ]
    if not counts.uses_other_methods:
        return out
    other_total = sum(n for _, n in counts.other_sources)
    out.append(
        _Box(
            "other_identified",
            [f"Records identified from other methods {_n(other_total)}:", *items(counts.other_sources)],
            {"other_identified": other_total, **{f"source: {k}": v for k, v in counts.other_sources}},
            2,
            0,
        )
    )
    for key, text, name, value, column, row in (
        (
            "other_sought",
            "Reports sought for retrieval",
            "other_reports_sought",
            counts.other_reports_sought,
            2,
            2,
        ),
        (
            "other_not_retrieved",
            "Reports not retrieved",
            "other_reports_not_retrieved",
            counts.other_reports_not_retrieved,
            3,
            2,
        ),
        (
            "other_assessed",
            "Reports assessed for eligibility",
            "other_reports_assessed",
            counts.other_reports_assessed,
            2,
            3,
        ),
    ):
        if value is not None:
            out.append(single(key, text, name, value, column, row))
    if counts.other_reports_assessed is not None:
        out.append(
            excluded("other_excluded", "other_reports_excluded_total", counts.other_reports_excluded, 3, 3)
        )
    return out


def _layout(boxes: list[_Box], other: bool) -> tuple[float, float, list[float], list[float], list[float]]:
    """Place the boxes; return (width, height, column x, row tops, row heights) in inches."""
    text_w = _BOX_W - 2 * _PAD
    for box in boxes:
        box.wrapped = []
        for line in box.lines:
            indent = line[: len(line) - len(line.lstrip(" "))]
            box.wrapped += _wrap(line, text_w, indent + "    ")
        box.h = len(box.wrapped) * _LINE + 2 * _PAD
    x0 = _MARGIN + _BAND_W + _GAP
    xs = [x0, x0 + _BOX_W + _SIDE_GAP]
    if other:
        xs += [xs[1] + _BOX_W + _COLUMN_GAP, xs[1] + 2 * _BOX_W + _COLUMN_GAP + _SIDE_GAP]
    rows = 1 + max(b.row for b in boxes)
    heights = [max([b.h for b in boxes if b.row == r] or [0.0]) for r in range(rows)]
    # The first and last bands are one row high: tall enough for their rotated labels.
    for r, name in ((0, "Identification"), (rows - 1, "Included")):
        heights[r] = max(heights[r], text_width(name, FONT_SIZE, bold=True) + 2 * _PAD)
    tops = []
    y = _MARGIN + _HEADER_H + _ROW_GAP * 0.6
    for h in heights:
        tops.append(y)
        y += h + _ROW_GAP
    for box in boxes:
        box.x, box.y = xs[box.column], tops[box.row]
        box.h = heights[box.row]
    width = xs[-1] + _BOX_W + _MARGIN
    height = y - _ROW_GAP + _MARGIN
    return width, height, xs, tops, heights


def _arrows(boxes: dict[str, _Box]) -> list[tuple[str, str, list[tuple[float, float]]]]:
    """(from, to, vertices) of every arrow: down the columns and across to the side boxes."""

    def down(a: _Box, b: _Box):
        x = a.x + a.w / 2
        return [(x, a.y + a.h), (x, b.y)]

    def across(a: _Box, b: _Box):
        y = a.y + min(a.h, b.h) / 2
        return [(a.x + a.w, y), (b.x, y)]

    out = []
    chain = ["identified", "screened", "sought", "assessed", "included"]
    for a, b in itertools.pairwise(chain):
        out.append((a, b, down(boxes[a], boxes[b])))
    for a, b in (
        ("identified", "removed"),
        ("screened", "records_excluded"),
        ("sought", "not_retrieved"),
        ("assessed", "reports_excluded"),
    ):
        out.append((a, b, across(boxes[a], boxes[b])))
    other = [k for k in ("other_identified", "other_sought", "other_assessed") if k in boxes]
    for a, b in itertools.pairwise(other):
        out.append((a, b, down(boxes[a], boxes[b])))
    for a, b in (("other_sought", "other_not_retrieved"), ("other_assessed", "other_excluded")):
        if a in boxes and b in boxes:
            out.append((a, b, across(boxes[a], boxes[b])))
    if "other_assessed" in boxes:
        # Down from the other column's assessed box, then left into the included box.
        a, b = boxes["other_assessed"], boxes["included"]
        x = a.x + a.w / 2
        y = b.y + b.h / 2
        out.append(("other_assessed", "included", [(x, a.y + a.h), (x, y), (b.x + b.w, y)]))
    return out


def prisma_flow(counts: PrismaCounts, *, title: str | None = None):
    """Draw the PRISMA 2020 flow diagram of ``counts``; returns a matplotlib Figure.

    Boxes follow Page et al. (BMJ 2021;372:n71, Figure 1); the other-methods column is drawn
    when ``counts`` has one. Counts are drawn as entered, even when they do not add up:
    ``fig.trialsynth["problems"]`` then lists what :func:`~trialsynth.stats.prisma.check_prisma`
    found, for the caller to show beside the figure.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    other = counts.uses_other_methods
    boxes = _boxes(counts)
    width, height, xs, tops, heights = _layout(boxes, other)
    title_h = 0.35 if title else 0.0
    height += title_h
    for box in boxes:
        box.y += title_h
    tops = [t + title_h for t in tops]
    by_key = {b.key: b for b in boxes}

    with matplotlib.rc_context(rc_params()):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_axis_off()
        if title:
            ax.text(
                _MARGIN,
                _MARGIN,
                title,
                fontsize=TITLE_SIZE,
                fontweight="bold",
                va="top",
                ha="left",
                label="ts:title",
            )

        def rounded(key: str, x: float, y: float, w: float, h: float, fill: str, text: str, **kw) -> None:
            ax.add_patch(
                FancyBboxPatch(
                    (x, y),
                    w,
                    h,
                    boxstyle="round,pad=0,rounding_size=0.06",
                    facecolor=fill,
                    edgecolor=_COLOURS["edge"],
                    linewidth=0.8,
                    label=f"ts:{key}",
                )
            )
            ax.text(
                x + w / 2,
                y + h / 2,
                text,
                ha="center",
                va="center",
                fontsize=FONT_SIZE,
                label=f"ts:{key.replace('header', 'header-text').replace('band', 'band-text')}",
                **kw,
            )

        header_y = _MARGIN + title_h
        rounded(
            "header:databases",
            xs[0],
            header_y,
            xs[1] + _BOX_W - xs[0],
            _HEADER_H,
            _COLOURS["header"],
            "Identification of new studies via databases and registers",
            fontweight="bold",
        )
        if other:
            rounded(
                "header:other",
                xs[2],
                header_y,
                xs[3] + _BOX_W - xs[2],
                _HEADER_H,
                _COLOURS["header_other"],
                "Identification of new studies via other methods",
                fontweight="bold",
            )
        last = len(tops) - 1
        for name, first, end in (
            ("Identification", 0, 0),
            ("Screening", 1, last - 1),
            ("Included", last, last),
        ):
            y0, y1 = tops[first], tops[end] + heights[end]
            rounded(
                f"band:{name.lower()}",
                _MARGIN,
                y0,
                _BAND_W,
                y1 - y0,
                _COLOURS["band"],
                name,
                rotation=90,
                fontweight="bold",
            )

        for box in boxes:
            ax.add_patch(
                FancyBboxPatch(
                    (box.x, box.y),
                    box.w,
                    box.h,
                    boxstyle="square,pad=0",
                    facecolor=box.fill,
                    edgecolor=_COLOURS["edge"],
                    linewidth=0.8,
                    label=f"ts:box:{box.key}",
                )
            )
            ax.text(
                box.x + _PAD,
                box.y + _PAD,
                "\n".join(box.wrapped),
                ha="left",
                va="top",
                fontsize=SMALL_SIZE,
                linespacing=1.2 * FONT_SIZE / SMALL_SIZE,
                label=f"ts:text:{box.key}",
            )

        arrows = _arrows(by_key)
        for a, b, vertices in arrows:
            codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(vertices) - 1)
            ax.add_patch(
                FancyArrowPatch(
                    path=MplPath(vertices, codes),
                    arrowstyle="-|>,head_length=5,head_width=2.5",
                    color=_COLOURS["arrow"],
                    linewidth=0.9,
                    shrinkA=0,
                    shrinkB=0,
                    label=f"ts:arrow:{a}->{b}",
                )
            )

    describe_figure(fig, {
        "kind": "prisma",
        "origin": counts.origin,
        "other_methods": other,
        "boxes": {
            b.key: {"text": "\n".join(b.wrapped), "counts": dict(b.counts), "xywh": (b.x, b.y, b.w, b.h)}
            for b in boxes
        },
        "arrows": [(a, b) for a, b, _ in arrows],
        "problems": check_prisma(counts),
        "notes": list(counts.notes),
    })
    return fig
