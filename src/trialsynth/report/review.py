"""Write a review's outputs: ``results.json``, the figures, ``report.html``, ``report.docx``,
``results.xlsx``, the included and excluded studies as RIS and BibTeX (and the RevMan
comparison for an imported RevMan review)."""

from __future__ import annotations

import json
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io._atomic import write_text_atomic
from trialsynth.report.results_json import _without_folder_paths, results_document
from trialsynth.workflow.runner import DEFAULT_REVIEW, EXAMPLES, ReviewAnalysis, analyse_review


def run_review(
    path: str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    docx: bool = True,
    xlsx: bool = True,
    rm5: bool = False,
) -> Path:
    """Analyse a review folder and write ``results.json``, figures, ``report.html``, and (unless
    switched off) ``report.docx`` and ``results.xlsx``; the references of the included and
    excluded studies as ``included.ris``, ``included.bib``, ``excluded.ris``, ``excluded.bib``;
    with ``rm5``, the review as a RevMan 5 file ``review.rm5``.

    Without ``path`` the bundled imaging-guided CRT review is run into
    ``out/imaging-guided-crt``. Every file is written atomically. Returns the path of the report.
    """
    path = review_path(path)
    out = Path(out_dir) if out_dir is not None else Path("out") / path.name
    analysis, doc = analyse(path)
    return write_outputs(path, analysis, doc, out, docx=docx, xlsx=xlsx)


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


def write_outputs(
    path: Path, analysis: ReviewAnalysis, doc: dict, out: Path, *, docx: bool = True, xlsx: bool = True
) -> Path:
    """Write ``results.json`` (``doc``), the figures, ``report.html`` and (unless switched off) the
    Word report and the workbook into ``out``; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
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
    if rm5:
        _write_rm5(analysis, out / "review.rm5")
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


def _write_rm5(analysis, target: Path) -> None:
    """The review as a RevMan 5 file; a review RevMan cannot hold at all is a warning, not a failure."""
    import warnings

    from trialsynth._core.errors import TrialsynthWarning
    from trialsynth.workflow.revman_export import write_revman_export

    try:
        write_revman_export(analysis, target)
    except InputError as exc:
        warnings.warn(f"review.rm5 not written: {exc}", TrialsynthWarning, stacklevel=3)
