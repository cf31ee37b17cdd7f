"""Write a review's outputs: ``results.json``, the figures, ``report.html``, ``report.docx``,
``results.xlsx``, the included and excluded studies as RIS and BibTeX (and the RevMan
comparison for an imported RevMan review)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth._core.serialize import dumps_json
from trialsynth.io._atomic import write_text_atomic
from trialsynth.report.results_json import _without_folder_paths, results_document
from trialsynth.workflow.runner import DEFAULT_REVIEW, EXAMPLES, ReviewAnalysis, analyse_review

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
    rm5: bool = False,
    finish: Callable[[Path], object] | None = None,
) -> Path:
    """Analyse a review folder and write ``results.json``, figures, ``report.html``, and (unless
    switched off) ``report.docx`` and ``results.xlsx``; the references of the included and
    excluded studies as ``included.ris``, ``included.bib``, ``excluded.ris``, ``excluded.bib``;
    with ``rm5``, the review as a RevMan 5 file ``review.rm5``.

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

    path = review_path(path)
    out = Path(out_dir) if out_dir is not None else Path("out") / path.name
    _check_output_folder(path, out)
    analysis, doc = analyse(path)
    with replace_folder(out.resolve()) as tmp:
        report = write_outputs(path, analysis, doc, tmp, docx=docx, xlsx=xlsx, rm5=rm5)
        if finish is not None:
            finish(report)
    return out / report.name


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
    path: Path,
    analysis: ReviewAnalysis,
    doc: dict,
    out: Path,
    *,
    docx: bool = True,
    xlsx: bool = True,
    rm5: bool = False,
) -> Path:
    """Write ``results.json`` (``doc``), the figures, ``report.html`` and (unless switched off) the
    Word report and the workbook into ``out``; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "results.json", dumps_json(doc) + "\n")
    from trialsynth.report.html import build_context, render_report

    if (path / "revman_stored.csv").exists():  # a RevMan import: compare with RevMan's own results
        from trialsynth.workflow.revman_compare import write_comparison

        write_comparison(analysis, path, out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    # Messages name files relative to the review folder, as in results.json, so that the
    # reports are the same wherever the folder lies.
    from trialsynth._core.progress import task

    with task("Figures", sum(oa.primary is not None for oa in analysis.outcomes)) as progress:
        context = _without_folder_paths(build_context(analysis, doc, out, progress), analysis.review.path)
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
