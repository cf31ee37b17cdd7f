"""Progress bars on standard error (rich) for long commands: shown only when standard error is a
terminal and the user did not ask for ``--quiet``; rich is imported only then."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trialsynth._core.progress import terminal_bars

#: Set by ``--quiet`` (of the group or of a command): no progress bars.
_QUIET = {"value": False}


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress bars from here on."""
    if quiet:
        _QUIET["value"] = True


@contextmanager
def progress_bars(quiet: bool = False) -> Iterator[None]:
    """Within the block, the tasks of :mod:`trialsynth._core.progress` are drawn as progress bars
    on a terminal's standard error (never when it is redirected, or with ``quiet``, or after a
    command's own ``--quiet``); rich is imported when the first task starts."""
    set_quiet(quiet)
    if _QUIET["value"]:
        yield
        return
    with terminal_bars(lambda: not _QUIET["value"]):  # a command's --quiet, read after the group started
        yield
