"""Import search exports into a review's record store (``trialsynth records import``)."""

from __future__ import annotations

import hashlib
import re
import tomllib
import warnings
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from trialsynth._core.errors import InputError, TrialsynthWarning, read_user_file
from trialsynth._core.limits import max_records_bytes
from trialsynth.io.records.parsers import FORMATS, decode, detect_format, parse_text, ris_pmid
from trialsynth.io.records.store import KINDS, ImportInfo, RecordStore

__all__ = ["ImportOutcome", "check_search_date", "import_file", "import_text"]


@dataclass(frozen=True)
class ImportOutcome:
    """One file's import: the stored import (``None`` when the file had been imported
    before: then ``message`` says so) and the warnings met while reading it."""

    info: ImportInfo | None
    warnings: tuple[str, ...]
    message: str


def check_search_date(value: str | None, *, source: str = "--search-date") -> str | None:
    """An ISO date (YYYY-MM-DD) checked to be a real date, or None."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise InputError(f"{source} must be a date written YYYY-MM-DD, not '{text}'")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{source} '{text}' is not a date in the calendar") from None
    return text


def _review_search_date(review_dir: Path) -> str | None:
    """``[search] last_searched`` of review.toml when it is an ISO date, else None."""
    path = review_dir / "review.toml"
    if not path.is_file():
        return None
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8-sig")).get("search", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    value = table.get("last_searched") if isinstance(table, dict) else None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return value.strip()
    return None


def import_text(
    store: RecordStore,
    data: bytes,
    *,
    file_name: str,
    format: str,
    database: str | None = None,
    kind: str | None = None,
    search_date: str | None = None,
    query: str = "",
) -> ImportOutcome:
    """Parse ``data`` (a file's bytes) and store its records as one import, in one transaction."""
    digest = hashlib.sha256(data).hexdigest()
    earlier = store.find_import(digest)
    if earlier is not None:
        message = (
            f"{file_name}: already imported (import {earlier.id}, '{earlier.file_name}', "
            f"{earlier.n_records} records, {earlier.imported_at}); skipped"
        )
        return ImportOutcome(None, (), message)
    if kind is not None and kind not in KINDS:
        raise InputError(f"--kind must be one of {', '.join(KINDS)}, not '{kind}'")
    text, encoding, notes = decode(data, file_name)
    result = parse_text(text, format, file_name)
    notes = [*notes, *result.warnings]
    name = (database or "").strip() or result.database
    if not name:
        name = Path(file_name).stem
        notes.append(
            f"{file_name}: the file does not name its database; recorded as '{name}' (give --database)"
        )
    if result.format == "ris":  # accession numbers are PMIDs in a MEDLINE or PubMed export
        result.records = [
            r if r.pmid else replace(r, pmid=ris_pmid(r.fields, database=name)[0]) for r in result.records
        ]
    if not search_date:
        notes.append(f"{file_name}: no search date given (--search-date); PRISMA 2020 asks for it")
    if not result.records:
        notes.append(f"{file_name}: no record could be read")
    info = store.add_import(
        file_name=file_name,
        sha256=digest,
        format=result.format,
        database=name,
        kind=kind,
        search_date=search_date,
        query=query,
        encoding=encoding,
        records=result.records,
        n_skipped=result.skipped,
        warnings=notes,
    )
    skipped = f", {result.skipped} skipped" if result.skipped else ""
    message = (
        f"{file_name}: {info.n_records} records from {info.database} ({result.format}, {info.kind}"
        f"{', searched ' + search_date if search_date else ''}){skipped}"
    )
    return ImportOutcome(info, tuple(notes), message)


def import_file(
    store: RecordStore,
    path: str | Path,
    *,
    format: str | None = None,
    database: str | None = None,
    kind: str | None = None,
    search_date: str | None = None,
    review_dir: str | Path | None = None,
) -> ImportOutcome:
    """Import one file. ``format`` defaults to the file's extension or content; ``database``
    to what the file says (PubMed for MEDLINE and PubMed XML, ``DB`` of RIS, ...);
    ``search_date`` to ``[search] last_searched`` of the review's review.toml. Every warning
    is also issued as a :class:`TrialsynthWarning`."""
    path = Path(path)
    data = read_user_file(path, max_bytes=max_records_bytes(), limit_variable="TRIALSYNTH_MAX_RECORDS_MB")
    if format is not None and format not in FORMATS:
        raise InputError(f"unknown format '{format}'; the formats are: {', '.join(FORMATS)}", file=str(path))
    search_date = check_search_date(search_date)
    if search_date is None and review_dir is not None:
        search_date = _review_search_date(Path(review_dir))
    if format is None:
        format = detect_format(path, data[:200_000].decode("utf-8", errors="replace"))
    outcome = import_text(
        store, data, file_name=path.name, format=format, database=database, kind=kind, search_date=search_date
    )
    for note in outcome.warnings:
        warnings.warn(note, TrialsynthWarning, stacklevel=2)
    return outcome
