"""Progress bars on standard error (rich) for long commands: shown only when standard error is a
terminal and the user did not ask for ``--quiet``; rich is imported only then."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from trialsynth._core.progress import Silent, listening

#: Set by ``--quiet`` (of the group or of a command): no progress bars.
_QUIET = {"value": False}


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress bars from here on."""
    if quiet:
        _QUIET["value"] = True


class _Bar:
    def __init__(self, progress, task_id) -> None:
        self._progress = progress
        self._id = task_id

    def advance(self, amount: float = 1, label: str = "") -> None:
        self._progress.update(self._id, advance=amount, label=label)

    def close(self) -> None:
        self._progress.update(self._id, label="")


def _rich_progress():
    """A started rich progress display on standard error (rich imported here, on first use)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[label]}"),
    )
    progress = Progress(*columns, console=Console(stderr=True), transient=True)
    progress.start()
    return progress


@contextmanager
def progress_bars(quiet: bool = False) -> Iterator[None]:
    """Within the block, the tasks of :mod:`trialsynth._core.progress` are drawn as progress bars
    on a terminal's standard error (never when it is redirected, or with ``quiet``). rich is
    imported when the first task starts, so a command that reports none (``pool``) never loads it."""
    set_quiet(quiet)
    if _QUIET["value"] or not sys.stderr.isatty():
        yield
        return
    started: list = []

    def factory(description: str, total: float | None):
        if _QUIET["value"]:  # a command's own --quiet, read after the group started
            return Silent()
        if not started:
            started.append(_rich_progress())
        return _Bar(started[0], started[0].add_task(description, total=total, label=""))

    try:
        with listening(factory):
            yield
    finally:
        for progress in started:
            progress.stop()
