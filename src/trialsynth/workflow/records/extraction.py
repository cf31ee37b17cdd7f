"""Dual data extraction: two extractors enter outcome data independently, disagreements are
listed, and the resolved table keeps both originals in its provenance.

Files, in ``REVIEW_DIR/extraction/``:

``<extractor>.csv`` (exactly two, named after the extractors, e.g. ``ann.csv``, ``bob.csv``)
    The columns of ``outcomes.csv`` (examples/FORMAT.md), one row per study, outcome and
    analysis set. Each extractor fills the file alone.
``resolutions.csv``
    One row per disagreement: ``study``, ``outcome``, ``analysis_set`` (blank when the rows
    have none), ``field``, ``value`` (the value to keep; for a row only one extractor
    entered, ``field`` is ``(row)`` and ``value`` is ``keep`` or ``drop``), ``resolved_by``,
    ``note``.
``resolved.csv`` (written by :func:`resolve`)
    A table with the columns of ``outcomes.csv``, ready to be copied into it; every
    resolved row's ``note`` ends with the provenance of each resolved field (both extractors'
    values, the value kept, who resolved it and why).
``provenance.csv`` (written by :func:`resolve`)
    One row per resolved field: study, outcome, analysis_set, field, both extractors and
    their values, the resolved value, who resolved it, note.

Compared fields: the data columns, ``use``, ``kind`` and ``denominator`` (numbers compared
as numbers, so ``12`` and ``12.0`` agree; everything else as text, surrounding spaces
ignored), and any extra column. The free-text ``source``, ``note`` and ``definition`` are
not compared: when they differ, both texts are kept, labelled by extractor.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io.atomic import replace_file
from trialsynth.io.poolcsv import NUMERIC_COLUMNS
from trialsynth.io.review._csv import Table, read_table
from trialsynth.io.review.load import OUTCOME_OPTIONAL, OUTCOME_REQUIRED

__all__ = ["Disagreement", "compare", "extractor_files", "resolve"]

FOLDER = "extraction"
RESERVED = ("resolutions.csv", "resolved.csv", "provenance.csv")
FREE_TEXT = ("source", "note", "definition")
ROW = "(row)"
RESOLUTION_COLUMNS = ("study", "outcome", "field", "value", "resolved_by")

Key = tuple[str, str, str]  # study, outcome, analysis_set


@dataclass(frozen=True)
class Disagreement:
    """One field on which the two extractors differ (``field`` is ``(row)`` when only one
    of them entered the row; then the values are ``present``/``missing``)."""

    study: str
    outcome: str
    analysis_set: str
    field: str
    extractor_a: str
    value_a: str
    extractor_b: str
    value_b: str
    row_a: int | None
    row_b: int | None


@dataclass(frozen=True)
class _Sheet:
    extractor: str
    table: Table
    rows: dict[Key, tuple[int, dict[str, str]]]


def extractor_files(review_dir: str | Path) -> list[Path]:
    """The two extractors' files, in name order; anything else is an :class:`InputError`."""
    folder = Path(review_dir) / FOLDER
    if not folder.is_dir():
        raise InputError("the review has no extraction/ folder with the extractors' files", file=str(folder))
    files = sorted(p for p in folder.glob("*.csv") if p.name not in RESERVED)
    if len(files) != 2:
        names = ", ".join(p.name for p in files) or "none"
        raise InputError(
            f"dual extraction needs exactly two extractor files in extraction/ (found: {names})",
            file=str(folder),
        )
    return files


def _review_columns(review_dir: Path) -> tuple[str, ...]:
    """The header of the review's outcomes.csv, if it has one (it may add the cumulative
    ordering column to the standard ones)."""
    path = review_dir / "outcomes.csv"
    if not path.is_file():
        return ()
    try:
        first = path.read_text(encoding="utf-8-sig").splitlines()[:1]
    except (OSError, UnicodeDecodeError):
        return ()
    return tuple(h.strip() for row in csv.reader(first) for h in row if h.strip())


def _read(path: Path, extra: tuple[str, ...] = ()) -> _Sheet:
    """One extractor's file: the columns of outcomes.csv only (a misspelt column is an error)."""
    table = read_table(path, required=OUTCOME_REQUIRED, optional=(*OUTCOME_OPTIONAL, *extra))
    rows: dict[Key, tuple[int, dict[str, str]]] = {}
    names = [h.strip().casefold() for h in table.header]
    for number, cells in table:
        values = {name: cell for name, cell in zip(names, cells, strict=True) if name}
        key = (values["study"].strip(), values["outcome"].strip(), values.get("analysis_set", "").strip())
        if not key[0] or not key[1]:
            raise InputError("every row needs a study and an outcome", file=str(path), row=number)
        if key in rows:
            raise InputError(
                f"study '{key[0]}', outcome '{key[1]}' appears twice (rows {rows[key][0]} and {number})",
                file=str(path),
                row=number,
            )
        rows[key] = (number, values)
    return _Sheet(path.stem, table, rows)


def _same(column: str, a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    if column in NUMERIC_COLUMNS:
        try:
            return float(a) == float(b)
        except ValueError:
            return False
    return False


def _columns(a: _Sheet, b: _Sheet) -> list[str]:
    names = [h.strip().casefold() for h in a.table.header if h.strip()]
    names += [n for n in (h.strip().casefold() for h in b.table.header if h.strip()) if n not in names]
    return names


def _keys(a: _Sheet, b: _Sheet) -> list[Key]:
    """Rows in the first extractor's order, then the rows only the second entered."""
    return [*a.rows, *(k for k in b.rows if k not in a.rows)]


def _compare(a: _Sheet, b: _Sheet) -> list[Disagreement]:
    compared = [c for c in _columns(a, b) if c not in ("study", "outcome", "analysis_set", *FREE_TEXT)]
    out = []
    for key in _keys(a, b):
        row_a, row_b = a.rows.get(key), b.rows.get(key)
        if row_a is None or row_b is None:
            out.append(
                Disagreement(
                    *key,
                    ROW,
                    a.extractor,
                    "present" if row_a else "missing",
                    b.extractor,
                    "present" if row_b else "missing",
                    row_a[0] if row_a else None,
                    row_b[0] if row_b else None,
                )
            )
            continue
        for column in compared:
            value_a, value_b = row_a[1].get(column, ""), row_b[1].get(column, "")
            if not _same(column, value_a, value_b):
                out.append(
                    Disagreement(
                        *key,
                        column,
                        a.extractor,
                        value_a.strip(),
                        b.extractor,
                        value_b.strip(),
                        row_a[0],
                        row_b[0],
                    )
                )
    return out


def compare(review_dir: str | Path) -> list[Disagreement]:
    """Every disagreement between the two extractors, by study, outcome, analysis set and field."""
    first, second = extractor_files(review_dir)
    extra = _review_columns(Path(review_dir))
    return _compare(_read(first, extra), _read(second, extra))


def _resolutions(path: Path) -> dict[tuple[str, str, str, str], tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise InputError(
            "write the resolutions first (columns: study, outcome, analysis_set, field, value, "
            "resolved_by, note)",
            file=str(path),
        )
    table = read_table(path, required=RESOLUTION_COLUMNS, optional=("analysis_set", "note"))
    out: dict[tuple[str, str, str, str], tuple[int, dict[str, str]]] = {}
    for number, cells in table:
        values = {c: table.cell(cells, c) for c in (*RESOLUTION_COLUMNS, "analysis_set", "note")}
        key = (
            values["study"].strip(),
            values["outcome"].strip(),
            values["analysis_set"].strip(),
            values["field"].strip().casefold(),
        )
        if not values["resolved_by"].strip():
            raise InputError(
                "say who resolved this disagreement", file=str(path), row=number, column="resolved_by"
            )
        if key in out:
            raise InputError(
                f"this field is resolved twice (rows {out[key][0]} and {number})", file=str(path), row=number
            )
        out[key] = (number, values)
    return out


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    replace_file(path, buffer.getvalue())


def resolve(review_dir: str | Path) -> tuple[Path, Path]:
    """Apply ``extraction/resolutions.csv`` and write ``resolved.csv`` and ``provenance.csv``.

    Every disagreement must be resolved, and every resolution must answer a disagreement
    (so that a typo never leaves a value unresolved or silently overrides an agreed one).
    """
    folder = Path(review_dir) / FOLDER
    first, second = extractor_files(review_dir)
    extra = _review_columns(Path(review_dir))
    a, b = _read(first, extra), _read(second, extra)
    disagreements = _compare(a, b)
    resolutions_path = folder / "resolutions.csv"
    resolutions = _resolutions(resolutions_path)
    wanted = {(d.study, d.outcome, d.analysis_set, d.field): d for d in disagreements}
    for key, (number, _) in resolutions.items():
        if key not in wanted:
            raise InputError(
                f"there is no disagreement on field '{key[3]}' of study '{key[0]}', outcome '{key[1]}'",
                file=str(resolutions_path),
                row=number,
            )
    missing = [k for k in wanted if k not in resolutions]
    if missing:
        s, o, _, f = missing[0]
        raise InputError(
            f"{len(missing)} disagreement(s) not resolved, the first: study '{s}', outcome '{o}', "
            f"field '{f}'",
            file=str(resolutions_path),
        )
    columns = _columns(a, b)
    header_names = {h.strip().casefold(): h.strip() for h in (*b.table.header, *a.table.header) if h.strip()}
    out_rows: list[list[str]] = []
    provenance: list[list[str]] = []
    for key in _keys(a, b):
        row_a, row_b = a.rows.get(key), b.rows.get(key)
        if row_a is None or row_b is None:
            number, res = resolutions[(*key, ROW.casefold())]
            choice = res["value"].strip().casefold()
            if choice not in ("keep", "drop"):
                raise InputError(
                    f"a row entered by one extractor is resolved with 'keep' or 'drop', not '{res['value']}'",
                    file=str(resolutions_path),
                    row=number,
                    column="value",
                )
            d = wanted[(*key, ROW)]
            provenance.append(
                [
                    *key,
                    ROW,
                    d.extractor_a,
                    d.value_a,
                    d.extractor_b,
                    d.value_b,
                    choice,
                    res["resolved_by"].strip(),
                    res["note"],
                ]
            )
            if choice == "drop":
                continue
            only = row_a or row_b
            assert only is not None  # the key comes from a's rows or b's
            values: dict[str, str] = dict(only[1])
            notes = [values.get("note", "").strip()]
            why = f" ({res['note'].strip()})" if res["note"].strip() else ""
            notes.append(
                f"Dual extraction: row entered by {d.extractor_a if row_a else d.extractor_b} only; kept by "
                f"{res['resolved_by'].strip()}{why}"
            )
            values["note"] = " ".join(n for n in notes if n)
            out_rows.append([values.get(c, "") for c in columns])
            continue
        values_a, values_b = row_a[1], row_b[1]
        values = {}
        trail: list[str] = []
        for column in columns:
            va, vb = values_a.get(column, ""), values_b.get(column, "")
            if column in FREE_TEXT and va.strip() != vb.strip() and va.strip() and vb.strip():
                values[column] = f"{a.extractor}: {va.strip()} | {b.extractor}: {vb.strip()}"
                continue
            if column in FREE_TEXT or _same(column, va, vb) or column in ("study", "outcome", "analysis_set"):
                values[column] = va if va.strip() else vb
                continue
            number, res = resolutions[(*key, column)]
            chosen = res["value"]
            values[column] = chosen
            who = res["resolved_by"].strip()
            why = f": {res['note'].strip()}" if res["note"].strip() else ""
            trail.append(
                f"{header_names.get(column, column)} {a.extractor}={va.strip() or '(blank)'}, "
                f"{b.extractor}={vb.strip() or '(blank)'} → {chosen.strip() or '(blank)'} ({who}{why})"
            )
            provenance.append(
                [
                    *key,
                    header_names.get(column, column),
                    a.extractor,
                    va.strip(),
                    b.extractor,
                    vb.strip(),
                    chosen.strip(),
                    who,
                    res["note"],
                ]
            )
        if trail:
            note = values.get("note", "").strip()
            values["note"] = (
                (note + " " if note else "") + "Dual extraction resolved: " + "; ".join(trail) + "."
            )
        out_rows.append([values.get(c, "") for c in columns])
    resolved = folder / "resolved.csv"
    _write_csv(resolved, [header_names.get(c, c) for c in columns], out_rows)
    prov = folder / "provenance.csv"
    _write_csv(
        prov,
        [
            "study",
            "outcome",
            "analysis_set",
            "field",
            "extractor_a",
            "value_a",
            "extractor_b",
            "value_b",
            "resolved_value",
            "resolved_by",
            "note",
        ],
        provenance,
    )
    return resolved, prov
