"""Progress of long work — a review's outcomes and figures, a simulation's chunks, record files.

The work reports its steps through :func:`task`; nothing is shown unless a listener was installed
with :func:`listening` (the command line installs one that draws progress bars on a terminal).
Without a listener a step costs one method call.
"""

from __future__ import annotations

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
