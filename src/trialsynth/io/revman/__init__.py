"""Import RevMan 5 reviews (``.rm5`` files and RevMan's CSV export) as review folders.

``import_revman(file, out)`` reads the file and writes a review folder (examples/FORMAT.md)
with the ``revman`` conventions profile; ``trialsynth run`` on that folder recomputes every
analysis and compares the results with those RevMan stored in the file
(``revman_comparison.csv``, see :mod:`trialsynth.workflow.revman_compare`).
"""

from __future__ import annotations

from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io.revman.csvexport import read_revman_csv
from trialsynth.io.revman.folder import write_review
from trialsynth.io.revman.model import RevManFile
from trialsynth.io.revman.rm5 import read_rm5

__all__ = ["RevManFile", "import_revman", "read_revman", "read_revman_csv", "read_rm5", "write_review"]


def read_revman(path: str | Path) -> RevManFile:
    """Read a ``.rm5`` file or a RevMan CSV export (told apart by the file's ending)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".rm5":
        return read_rm5(path)
    if suffix == ".csv":
        return read_revman_csv(path)
    raise InputError(
        "not a RevMan file: the name should end in .rm5 (RevMan 5 review) or .csv (its export)",
        file=str(path),
    )


def import_revman(path: str | Path, out: str | Path, *, force: bool = False) -> Path:
    """Import a RevMan file into the review folder ``out``; returns the folder."""
    return write_review(read_revman(path), out, force=force)
