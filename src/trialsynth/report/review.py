"""Write a review's outputs: ``results.json``, the figures, ``report.html`` (and the RevMan
comparison for an imported RevMan review)."""

from __future__ import annotations

import json
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.report.results_json import results_document
from trialsynth.workflow.runner import DEFAULT_REVIEW, EXAMPLES, ReviewAnalysis, analyse_review


def run_review(path: str | Path | None = None, out_dir: str | Path | None = None) -> Path:
    """Analyse a review folder and write ``results.json``, figures and ``report.html``.

    Without ``path`` the bundled imaging-guided CRT review is run into
    ``out/imaging-guided-crt``. Returns the path of the report.
    """
    path = review_path(path)
    out = Path(out_dir) if out_dir is not None else Path("out") / path.name
    analysis, doc = analyse(path)
    return write_outputs(path, analysis, doc, out)


def review_path(path: str | Path | None = None) -> Path:
    """The review folder ``path``, or the bundled imaging-guided CRT review; an
    :class:`InputError` when it is not a folder."""
    path = Path(path) if path is not None else EXAMPLES / DEFAULT_REVIEW
    if not path.is_dir():
        raise InputError(f"{path}: not a review folder (no such directory)")
    return path


def analyse(path: Path) -> tuple[ReviewAnalysis, dict]:
    """The analysis of a review folder and the ``results.json`` document made from it."""
    analysis = analyse_review(path)
    return analysis, results_document(analysis)


def write_outputs(path: Path, analysis: ReviewAnalysis, doc: dict, out: Path) -> Path:
    """Write ``results.json`` (``doc``), the figures and ``report.html`` into ``out``; returns the
    report's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )
    from trialsynth.report.html import write_report

    if (path / "revman_stored.csv").exists():  # a RevMan import: compare with RevMan's own results
        from trialsynth.workflow.revman_compare import write_comparison

        write_comparison(analysis, path, out)
    return write_report(analysis, doc, out)
