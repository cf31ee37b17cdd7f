"""Write a review's outputs: ``results.json``, the figures, ``report.html``, ``report.docx``,
``results.xlsx``, the included and excluded studies as RIS and BibTeX (and the RevMan
comparison for an imported RevMan review)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io._atomic import write_text_atomic
from trialsynth.report.results_json import _without_folder_paths, results_document
from trialsynth.workflow.runner import DEFAULT_REVIEW, EXAMPLES, analyse_review

#: Files that mark a folder as the output of an earlier run (which a new run may replace whole).
RUN_MARKERS = ("results.json", "report.html")


def _check_output_folder(review: Path, out: Path) -> None:
    """Refuse an output folder that a run must not replace: the review folder itself or a
    folder that holds it, and a folder with other files than an earlier run's (``--out .``,
    ``--out ~/Documents``): the run replaces the output folder whole."""
    target, source = out.resolve(), review.resolve()
    if target == source or target in source.parents:
        raise InputError(
            "the output folder would hold the review folder itself; choose another --out", file=str(out)
        )
    if target.is_dir() and any(target.iterdir()) and not any((target / m).is_file() for m in RUN_MARKERS):
        raise InputError(
            "the output folder is not empty and holds no earlier run (no results.json): a run replaces "
            "its output folder whole, so choose a new or empty folder",
            file=str(out),
        )


def run_review(
    path: str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    docx: bool = True,
    xlsx: bool = True,
    finish: Callable[[Path], object] | None = None,
) -> Path:
    """Analyse a review folder and write ``results.json``, figures, ``report.html``, and (unless
    switched off) ``report.docx`` and ``results.xlsx``; the references of the included and
    excluded studies as ``included.ris``, ``included.bib``, ``excluded.ris``, ``excluded.bib``.

    Without ``path`` the bundled imaging-guided CRT review is run into
    ``out/imaging-guided-crt``. Returns the path of the report.

    The run is written into a temporary folder beside the output folder and swapped in at
    the end (:func:`trialsynth.io.atomic.replace_folder`), so the output folder always holds
    one complete run: the previous one until this one is complete, then this one. A failed
    or killed run leaves the previous output as it was. ``finish(report_path)``, when given,
    is called before the swap (``trialsynth run`` prints the PDF there). The output folder
    must be new, empty or an earlier run's (it holds ``results.json`` or ``report.html``).
    """
    from trialsynth.io.atomic import replace_folder

    path = Path(path) if path is not None else EXAMPLES / DEFAULT_REVIEW
    if not path.is_dir():
        raise InputError(f"{path}: not a review folder (no such directory)")
    out = Path(out_dir) if out_dir is not None else Path("out") / path.name
    _check_output_folder(path, out)
    analysis = analyse_review(path)
    doc = results_document(analysis)
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    from trialsynth.report.html import build_context, render_report

    with replace_folder(out.resolve()) as tmp:
        write_text_atomic(tmp / "results.json", text)
        if (path / "revman_stored.csv").exists():  # a RevMan import: compare with RevMan's own results
            from trialsynth.workflow.revman_compare import write_comparison

            write_comparison(analysis, path, tmp)
        (tmp / "figures").mkdir(parents=True, exist_ok=True)
        # Messages name files relative to the review folder, as in results.json, so that the
        # reports are the same wherever the folder lies.
        context = _without_folder_paths(build_context(analysis, doc, tmp), analysis.review.path)
        report = write_text_atomic(tmp / "report.html", render_report(context))
        write_citation_files(analysis.review, tmp)
        if docx:
            from trialsynth.report.word import write_docx

            write_docx(context, doc, tmp)
        if xlsx:
            from trialsynth.report.excel import write_workbook

            write_workbook(analysis, doc, tmp / "results.xlsx")
        if finish is not None:
            finish(report)
    return out / report.name


def write_citation_files(review, out: Path) -> list[Path]:
    """``included.ris``/``.bib`` and ``excluded.ris``/``.bib`` (see :mod:`trialsynth.io.citations`)."""
    from trialsynth.io.citations import bibtex_text, review_references, ris_text

    included, excluded = review_references(review)
    written = []
    for name, refs in (("included", included), ("excluded", excluded)):
        written.append(write_text_atomic(out / f"{name}.ris", ris_text(refs)))
        written.append(write_text_atomic(out / f"{name}.bib", bibtex_text(refs)))
    return written
