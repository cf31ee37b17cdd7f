"""Progress of long work — a review's outcomes and figures, a simulation's chunks, record files.

The work reports its steps through :func:`task`; nothing is shown unless a listener was installed
with :func:`listening`: :func:`terminal_bars` installs one that draws progress bars (rich) on
standard error when it is a terminal, as the command line does (``--quiet`` turns it off) and
:func:`trialsynth.fit_batch` with ``progress=True``. Without a listener a step costs one method call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class Handle(Protocol):
    """One task's progress: ``advance`` by ``amount`` steps (``label`` names the current one)."""

    def advance(self, amount: float = 1, label: str = "") -> None: ...

    def close(self) -> None: ...


class Silent:
    """A handle that shows nothing."""

    def advance(self, amount: float = 1, label: str = "") -> None:
        return None

    def close(self) -> None:
        return None


_LISTENERS: list[Callable[[str, float | None], Handle]] = []


@contextmanager
def task(description: str, total: float | None = None) -> Iterator[Handle]:
    """A unit of long work with ``total`` steps, reported to the listener if there is one.

    Used as ``with task("Outcomes", 4) as step:``, then ``step.advance()`` after each outcome.
    """
    handle: Handle = _LISTENERS[-1](description, total) if _LISTENERS else Silent()
    try:
        yield handle
    finally:
        handle.close()


@contextmanager
def listening(factory: Callable[[str, float | None], Handle]) -> Iterator[None]:
    """Within the block, every :func:`task` is reported to ``factory(description, total)``."""
    _LISTENERS.append(factory)
    try:
        yield
    finally:
        _LISTENERS.remove(factory)


def has_listener() -> bool:
    """Whether a listener (from :func:`listening`) is installed."""
    return bool(_LISTENERS)


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
def terminal_bars(shown: Callable[[], bool] = lambda: True) -> Iterator[None]:
    """Within the block, every :func:`task` is drawn as a progress bar on standard error when it is
    a terminal (never when it is redirected); ``shown()`` is asked as each task starts (False: that
    task shows nothing). rich is imported when the first task starts, so work that reports none
    (``trialsynth pool``) never loads it."""
    if not sys.stderr.isatty():
        yield
        return
    started: list = []

    def factory(description: str, total: float | None) -> Handle:
        if not shown():
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
