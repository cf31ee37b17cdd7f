"""Write a review's outputs: ``results.json``, the figures, ``report.html``, ``report.docx``,
``results.xlsx``, the included and excluded studies as RIS and BibTeX (and the RevMan
comparison for an imported RevMan review)."""

from __future__ import annotations

import json
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io._atomic import write_text_atomic
from trialsynth.report.results_json import _without_folder_paths, results_document
from trialsynth.workflow.runner import DEFAULT_REVIEW, EXAMPLES, analyse_review


def run_review(
    path: str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    docx: bool = True,
    xlsx: bool = True,
) -> Path:
    """Analyse a review folder and write ``results.json``, figures, ``report.html``, and (unless
    switched off) ``report.docx`` and ``results.xlsx``; the references of the included and
    excluded studies as ``included.ris``, ``included.bib``, ``excluded.ris``, ``excluded.bib``.

    Without ``path`` the bundled imaging-guided CRT review is run into
    ``out/imaging-guided-crt``. Every file is written atomically. Returns the path of the report.
    """
    path = Path(path) if path is not None else EXAMPLES / DEFAULT_REVIEW
    if not path.is_dir():
        raise InputError(f"{path}: not a review folder (no such directory)")
    out = Path(out_dir) if out_dir is not None else Path("out") / path.name
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse_review(path)
    doc = results_document(analysis)
    write_text_atomic(
        out / "results.json", json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )
    from trialsynth.report.html import build_context, render_report

    if (path / "revman_stored.csv").exists():  # a RevMan import: compare with RevMan's own results
        from trialsynth.workflow.revman_compare import write_comparison

        write_comparison(analysis, path, out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    # Messages name files relative to the review folder, as in results.json, so that the
    # reports are the same wherever the folder lies.
    context = _without_folder_paths(build_context(analysis, doc, out), analysis.review.path)
    report = write_text_atomic(out / "report.html", render_report(context))
    write_citation_files(analysis.review, out)
    if docx:
        from trialsynth.report.word import write_docx

        write_docx(context, doc, out)
    if xlsx:
        from trialsynth.report.excel import write_workbook

        write_workbook(analysis, doc, out / "results.xlsx")
    return report


def write_citation_files(review, out: Path) -> list[Path]:
    """``included.ris``/``.bib`` and ``excluded.ris``/``.bib`` (see :mod:`trialsynth.io.citations`)."""
    from trialsynth.io.citations import bibtex_text, review_references, ris_text

    included, excluded = review_references(review)
    written = []
    for name, refs in (("included", included), ("excluded", excluded)):
        written.append(write_text_atomic(out / f"{name}.ris", ris_text(refs)))
        written.append(write_text_atomic(out / f"{name}.bib", bibtex_text(refs)))
    return written
