"""The made-up fixture review tests/fixtures/reviews/flow (PRISMA counts, GRADE tables) and
helpers to break a copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

FLOW = Path(__file__).resolve().parent / "fixtures" / "reviews" / "flow"


def copy_flow(tmp_path: Path) -> Path:
    folder = tmp_path / "flow"
    shutil.copytree(FLOW, folder)
    return folder


def edit(folder: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in the copy's review.toml."""
    path = folder / "review.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
