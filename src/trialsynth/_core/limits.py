"""Limits on the size of input files, checked before a file is read whole.

A table of trials is small: the largest reviews pool a few hundred trials, and a pooling
table of 20,000 rows takes about 2 s of CPU time to pool. A file far above that is a mistake
(a wrong file, a data dump) and would hold the program for minutes or exhaust memory (a
200 MB CSV ran for more than 300 s). Such files are refused with a message that names the
limit and how to raise it. Each limit can be changed by an environment variable:

* pooling tables (``pool``, ``tsa``, ``bias``, ...), the CSV files of a review folder and
  extraction files: ``TRIALSYNTH_MAX_TABLE_MB`` (default 50 MB) and
  ``TRIALSYNTH_MAX_TABLE_ROWS`` (default 100,000 rows);
* record imports (RIS, BibTeX, MEDLINE, PubMed XML, CSV, Web of Science):
  ``TRIALSYNTH_MAX_RECORDS_MB`` (default 512 MB);
* RevMan files (.rm5 and the CSV export): ``TRIALSYNTH_MAX_REVMAN_MB`` (default 64 MB).

The screening server (``trialsynth serve``) accepts request bodies up to 64 KiB (its JSON
requests are a few hundred bytes). docs/limits.md says the same for users.
"""

from __future__ import annotations

import os

from trialsynth._core.errors import InputError

__all__ = ["check_rows", "max_records_bytes", "max_revman_bytes", "max_table_bytes", "max_table_rows"]

MB = 1_000_000

DEFAULT_TABLE_MB = 50
DEFAULT_TABLE_ROWS = 100_000
DEFAULT_RECORDS_MB = 512
DEFAULT_REVMAN_MB = 64


def _setting(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InputError(f"the environment variable {name} is '{text}', not a positive number")
    return value


def max_table_bytes() -> int:
    """Largest pooling table or review-folder CSV read, in bytes (``TRIALSYNTH_MAX_TABLE_MB``)."""
    return int(_setting("TRIALSYNTH_MAX_TABLE_MB", DEFAULT_TABLE_MB) * MB)


def max_table_rows() -> int:
    """Most rows read from such a table (``TRIALSYNTH_MAX_TABLE_ROWS``)."""
    return int(_setting("TRIALSYNTH_MAX_TABLE_ROWS", DEFAULT_TABLE_ROWS))


def max_records_bytes() -> int:
    """Largest record file imported, in bytes (``TRIALSYNTH_MAX_RECORDS_MB``)."""
    return int(_setting("TRIALSYNTH_MAX_RECORDS_MB", DEFAULT_RECORDS_MB) * MB)


def max_revman_bytes() -> int:
    """Largest RevMan file read, in bytes (``TRIALSYNTH_MAX_REVMAN_MB``)."""
    return int(_setting("TRIALSYNTH_MAX_REVMAN_MB", DEFAULT_REVMAN_MB) * MB)


def check_rows(data: bytes, source: str) -> None:
    """Refuse a table with more lines than :func:`max_table_rows` (counted on the bytes, before parsing)."""
    limit = max_table_rows()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines - 1 > limit:  # the header is not a row
        raise InputError(
            f"the table has {lines - 1:,} rows, more than the limit of {limit:,} "
            "(set TRIALSYNTH_MAX_TABLE_ROWS to change it)",
            file=source,
        )
