"""Write a figure as SVG, PNG and PDF, byte-for-byte reproducibly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trialsynth.plots._common import rc_params

FORMATS = ("svg", "png", "pdf")

#: Per format: metadata without dates or version strings, so that re-runs give identical files.
_METADATA: dict[str, dict[str, str | None]] = {
    # No RDF block at all: no date, and no external namespace URLs in inline SVG.
    "svg": {"Date": None, "Creator": None, "Format": None, "Type": None},
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": "trialsynth", "Producer": "trialsynth"},
}


def save_figure(fig, path, formats: Sequence[str] = FORMATS, *, dpi: int = 300) -> list[Path]:
    """Save ``fig`` as ``path``.svg/.png/.pdf (``path`` without suffix); returns the paths written.

    PNG at ``dpi`` (300); SVG keeps text as text (``svg.fonttype = "none"``, so it stays
    searchable and editable) with a fixed id salt; PDF embeds TrueType fonts (``pdf.fonttype
    = 42``). No dates are written, so saving the same figure twice gives identical files.
    Each file is written atomically (:func:`trialsynth.io.atomic.replace_file`): a killed
    process never leaves a truncated figure.
    """
    import io

    import matplotlib

    from trialsynth.io.atomic import replace_file

    base = Path(path)
    if base.suffix.lower().lstrip(".") in FORMATS:
        base = base.with_suffix("")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown figure format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context(rc_params()):
        for fmt in formats:
            out = base.with_name(f"{base.name}.{fmt}")
            buffer = io.BytesIO()
            fig.savefig(
                buffer,
                format=fmt,
                dpi=dpi if fmt == "png" else 72,
                metadata=dict(_METADATA[fmt]),
                facecolor="white",
            )
            replace_file(out, buffer.getvalue())
            written.append(out)
    return written
