"""Write a review's outputs: ``results.json``, the figures, ``report.html`` (and the RevMan
comparison for an imported RevMan review)."""

from __future__ import annotations

from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth._core.serialize import dumps_json
from trialsynth.report.results_json import results_document
from trialsynth.workflow.runner import DEFAULT_REVIEW, EXAMPLES, analyse_review


def run_review(path: str | Path | None = None, out_dir: str | Path | None = None) -> Path:
    """Analyse a review folder and write ``results.json``, figures and ``report.html``.

    Without ``path`` the bundled imaging-guided CRT review is run into
    ``out/imaging-guided-crt``. Returns the path of the report.
    """
    path = Path(path) if path is not None else EXAMPLES / DEFAULT_REVIEW
    if not path.is_dir():
        raise InputError(f"{path}: not a review folder (no such directory)")
    out = Path(out_dir) if out_dir is not None else Path("out") / path.name
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse_review(path)
    doc = results_document(analysis)
    (out / "results.json").write_text(
        dumps_json(doc) + "\n", encoding="utf-8"
    )
    from trialsynth.report.html import write_report

    if (path / "revman_stored.csv").exists():  # a RevMan import: compare with RevMan's own results
        from trialsynth.workflow.revman_compare import write_comparison

        write_comparison(analysis, path, out)
    return write_report(analysis, doc, out)
