"""Report sections beyond the per-outcome ones: the PRISMA 2020 flow of study selection.

Each function returns a plain dict for the template (numbers already formatted, user text
left as entered for Jinja2 to escape) and writes its figures into the output folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trialsynth.prisma import check_prisma

#: What the report says when a review gives no flow counts: nothing is drawn from guesses.
PRISMA_NOT_REPORTED = (
    "The PRISMA 2020 flow counts (records identified, screened, assessed and excluded) are not "
    "reported for this review, so no flow diagram is drawn; the numbers are never estimated."
)


def _inline_svg(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def prisma_section(review, out: Path) -> dict[str, Any]:
    """The study-selection section: the flow diagram (SVG/PNG/PDF in ``out/figures``) and the
    places where its counts do not add up, or the sentence saying the counts are not reported."""
    counts = review.prisma
    search_note = review.search.note
    if counts is None:
        return {
            "diagram": "",
            "files": [],
            "problems": [],
            "notes": [],
            "origin": "",
            "not_reported": PRISMA_NOT_REPORTED,
            "search_note": search_note,
        }
    from trialsynth.plots import save_figure
    from trialsynth.plots.prisma import prisma_flow

    fig = prisma_flow(counts)
    paths = save_figure(fig, out / "figures" / "prisma-flow")
    svg = next(p for p in paths if p.suffix == ".svg")
    return {
        "diagram": _inline_svg(svg),
        "files": [str(p.relative_to(out)) for p in paths],
        "problems": check_prisma(counts),
        "notes": list(counts.notes),
        "origin": counts.origin,
        "not_reported": "",
        "search_note": search_note,
    }
