"""Exceptions and warnings that users see.

Every user-facing problem is an :class:`InputError` whose message is one line that a
reviewer understands and that names where the problem is (file, row, column) when it
comes from a file. Non-fatal events (non-convergence, dropped studies, continuity
corrections) are :class:`TrialsynthWarning` warnings, never silence.
"""

from __future__ import annotations

import os
import re

_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


class InputError(ValueError):
    """Bad input from a user: a file, a column, an option. The message is one line."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.reason = message
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        text = (", ".join(where) + ": " + message) if where else message
        # One line whatever the file held: every character str.splitlines() breaks on (CR, VT,
        # FF, the file/group/record separators, NEL, LS, PS as well as LF) becomes a space.
        super().__init__(_LINE_BREAKS.sub(" ", text))


class TrialsynthWarning(UserWarning):
    """A warning about the data or the fit: a correction applied, a study dropped, no convergence."""


def read_user_file(
    path: str | os.PathLike[str], *, max_bytes: int | None = None, limit_variable: str | None = None
) -> bytes:
    """The bytes of a file a user named, or an :class:`InputError` naming it in one line
    (missing, a folder, not readable, or larger than ``max_bytes``, checked before reading;
    ``limit_variable`` names the environment variable that sets the limit)."""
    source = os.fspath(path)
    try:
        if max_bytes is not None and os.path.isfile(source) and os.stat(source).st_size > max_bytes:
            how = f" (set {limit_variable} to change it)" if limit_variable else ""
            raise InputError(
                f"the file is larger than {max_bytes / 1e6:g} MB, the limit for this kind of file{how}",
                file=source,
            )
        with open(source, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputError("the file does not exist", file=source) from None
    except IsADirectoryError:
        raise InputError("this is a folder, not a file", file=source) from None
    except PermissionError:
        raise InputError("the file cannot be read (permission denied)", file=source) from None
    except OSError as exc:
        raise InputError(f"the file cannot be read ({exc.strerror or exc})", file=source) from None


class NotEstimable(InputError):
    """No study of a (sub)set has a usable effect estimate (e.g. every table is double-zero).

    A review reports such a subset — a subgroup level, a cumulative step, an outcome — as not
    estimable, by name, and goes on with the rest; alone (``pool``) it is an input error.
    """
