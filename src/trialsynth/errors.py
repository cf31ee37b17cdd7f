"""Exceptions and warnings that users see.

Every user-facing problem is an :class:`InputError` whose message is one line that a
reviewer understands and that names where the problem is (file, row, column) when it
comes from a file. Non-fatal events (non-convergence, dropped studies, continuity
corrections) are :class:`TrialsynthWarning` warnings, never silence.
"""

from __future__ import annotations


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
        super().__init__(text.replace("\n", " "))


class TrialsynthWarning(UserWarning):
    """A warning about the data or the fit: a correction applied, a study dropped, no convergence."""
