"""The record store: one SQLite database in the review folder.

Everything the search-and-screen stage produces lives in ``REVIEW_DIR/records.sqlite``:
the imports (one per file, with its SHA-256, source database and search date), the records
parsed from them (every parsed field, and the record's raw text verbatim), the duplicate
pairs found across sources with the user's decision on each, the screening decisions of
every reviewer at the title/abstract and full-text stages, the resolutions of conflicts,
the retrieval of full-text reports and the links from records to included studies.

Guarantees
----------
* The database runs in WAL mode with foreign keys on; the schema carries a version
  (``PRAGMA user_version``) and a store with an unknown version is refused.
* Every write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): a file is imported
  whole or not at all, so a killed import or a crash leaves the store as it was before.
* Nothing entered is overwritten: screening decisions, resolutions, retrieval statuses,
  duplicate decisions and removals before screening are appended; the latest one per key is
  the current one and the earlier ones stay in the history (and in the CSV export).

Screening rules (see :meth:`RecordStore.screening`)
---------------------------------------------------
A record's state at a stage is ``resolved`` when a resolution was recorded; otherwise
``pending`` while fewer than ``reviewers_required`` reviewers (default 2: independent dual
screening) have decided; then ``agreed`` when all gave the same include/exclude decision
(and, for exclusions at full text, the same reason), else ``conflict`` (they disagree, or
one of them said ``maybe``). An exclusion at
full text needs a reason.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trialsynth._core.errors import InputError

__all__ = [
    "DECISIONS",
    "KINDS",
    "REMOVAL_REASONS",
    "RETRIEVAL",
    "SCHEMA_VERSION",
    "STAGES",
    "STORE_NAME",
    "Decision",
    "DuplicatePair",
    "ImportInfo",
    "NewRecord",
    "Record",
    "RecordStore",
    "ScreeningState",
    "ScreeningView",
    "connect_store",
    "open_store",
    "screening_status",
]

#: File name of the store inside the review folder.
STORE_NAME = "records.sqlite"
#: Version of the schema below; stored as ``PRAGMA user_version``.
SCHEMA_VERSION = 1
STAGES = ("title_abstract", "full_text")
DECISIONS = ("include", "exclude", "maybe")
#: Where records come from, as the PRISMA 2020 flow diagram separates them: bibliographic
#: databases, trial registers, and other methods (websites, citation searching, ...).
KINDS = ("database", "register", "other")
RETRIEVAL = ("sought", "retrieved", "not_retrieved")
PAIR_DECISIONS = ("duplicate", "not_duplicate")

_SCHEMA = """
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL,
    database TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('database', 'register', 'other')),
    search_date TEXT,
    query TEXT NOT NULL DEFAULT '',
    encoding TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    n_records INTEGER NOT NULL,
    n_skipped INTEGER NOT NULL,
    warnings TEXT NOT NULL
);
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    position INTEGER NOT NULL,
    line INTEGER NOT NULL,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL,
    authors TEXT NOT NULL,
    year INTEGER,
    journal TEXT NOT NULL,
    volume TEXT NOT NULL,
    issue TEXT NOT NULL,
    pages TEXT NOT NULL,
    doi TEXT NOT NULL,
    pmid TEXT NOT NULL,
    keywords TEXT NOT NULL,
    record_type TEXT NOT NULL,
    fields TEXT NOT NULL,
    raw TEXT NOT NULL,
    UNIQUE (import_id, position)
);
CREATE INDEX records_doi ON records(doi) WHERE doi <> '';
CREATE INDEX records_pmid ON records(pmid) WHERE pmid <> '';
CREATE TABLE duplicate_pairs (
    id INTEGER PRIMARY KEY,
    record_a INTEGER NOT NULL REFERENCES records(id),
    record_b INTEGER NOT NULL REFERENCES records(id),
    reason TEXT NOT NULL CHECK (reason IN ('doi', 'pmid', 'fuzzy')),
    score REAL NOT NULL,
    found_at TEXT NOT NULL,
    CHECK (record_a < record_b),
    UNIQUE (record_a, record_b)
);
CREATE TABLE duplicate_decisions (
    id INTEGER PRIMARY KEY,
    pair_id INTEGER NOT NULL REFERENCES duplicate_pairs(id),
    decision TEXT NOT NULL CHECK (decision IN ('duplicate', 'not_duplicate')),
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL
);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL REFERENCES records(id),
    stage TEXT NOT NULL CHECK (stage IN ('title_abstract', 'full_text')),
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('include', 'exclude', 'maybe')),
    reason TEXT NOT NULL,
    note TEXT NOT NULL,
    decided_at TEXT NOT NULL
);
CREATE INDEX decisions_record ON decisions(record_id, stage);
CREATE TABLE resolutions (
    id INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL REFERENCES records(id),
    stage TEXT NOT NULL CHECK (stage IN ('title_abstract', 'full_text')),
    decision TEXT NOT NULL CHECK (decision IN ('include', 'exclude')),
    reason TEXT NOT NULL,
    resolved_by TEXT NOT NULL,
    note TEXT NOT NULL,
    resolved_at TEXT NOT NULL
);
CREATE TABLE retrievals (
    id INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL REFERENCES records(id),
    status TEXT NOT NULL CHECK (status IN ('sought', 'retrieved', 'not_retrieved')),
    note TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE study_links (
    id INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL REFERENCES records(id),
    study_id TEXT NOT NULL,
    note TEXT NOT NULL,
    linked_at TEXT NOT NULL
);
"""

#: Withdrawn screening decisions and resolutions (an "undo"): the row withdrawn stays in its
#: table and this table says who withdrew it and when. Created on open when missing, so
#: stores made before it existed gain it without a change of schema version.
_WITHDRAWALS = """
CREATE TABLE IF NOT EXISTS withdrawals (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL CHECK (target IN ('decision', 'resolution')),
    target_id INTEGER NOT NULL,
    withdrawn_by TEXT NOT NULL,
    withdrawn_at TEXT NOT NULL,
    UNIQUE (target, target_id)
)
"""

#: Records removed before screening (PRISMA 2020: "records marked as ineligible by automation
#: tools" and "records removed for other reasons"), appended like everything else: the latest
#: row of a record says whether it is removed (``remove``, with its reason) or back
#: (``restore``). Created on open when missing.
_REMOVALS = """
CREATE TABLE IF NOT EXISTS removals (
    id INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL REFERENCES records(id),
    action TEXT NOT NULL CHECK (action IN ('remove', 'restore')),
    reason TEXT NOT NULL CHECK (reason IN ('automation', 'other', '')),
    note TEXT NOT NULL,
    removed_by TEXT NOT NULL,
    removed_at TEXT NOT NULL
)
"""
#: Why a record is removed before screening: flagged by an automation tool, or another reason.
REMOVAL_REASONS = ("automation", "other")

#: An index for reading one stage's decisions from a given one on (the screening queue reads
#: only the decisions added since its last reading). Created on open when missing.
_DECISIONS_STAGE = "CREATE INDEX IF NOT EXISTS decisions_stage ON decisions(stage, id)"

#: Trial registers recognised by name when an import does not say its kind.
_REGISTERS = (
    "clinicaltrials.gov",
    "ictrp",
    "who ictrp",
    "eu ctr",
    "euctr",
    "eu clinical trials register",
    "ctis",
    "isrctn",
    "anzctr",
    "chictr",
    "drks",
)


def default_kind(database: str) -> str:
    """``register`` for a known trial register's name, else ``database``."""
    return "register" if database.strip().casefold() in _REGISTERS else "database"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ================================================================================ objects


@dataclass(frozen=True)
class NewRecord:
    """A parsed record, before it is stored. ``fields`` holds every field the parser read
    (name → list of values, as in the file); ``raw`` is the record's text verbatim;
    ``line`` the line of the file where it starts."""

    line: int
    raw: str
    fields: dict[str, list[str]]
    title: str = ""
    abstract: str = ""
    authors: tuple[str, ...] = ()
    year: int | None = None
    journal: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    doi: str = ""
    pmid: str = ""
    keywords: tuple[str, ...] = ()
    record_type: str = ""


@dataclass(frozen=True)
class Record:
    """A stored record (see :class:`NewRecord`); ``id`` is its number in the store."""

    id: int
    import_id: int
    position: int
    line: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    year: int | None
    journal: str
    volume: str
    issue: str
    pages: str
    doi: str
    pmid: str
    keywords: tuple[str, ...]
    record_type: str
    fields: dict[str, list[str]]
    raw: str
    database: str
    kind: str
    search_date: str | None = None

    @property
    def first_author(self) -> str:
        return self.authors[0] if self.authors else ""


@dataclass(frozen=True)
class ImportInfo:
    id: int
    file_name: str
    sha256: str
    format: str
    database: str
    kind: str
    search_date: str | None
    query: str
    encoding: str
    imported_at: str
    n_records: int
    n_skipped: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class DuplicatePair:
    """A candidate pair of duplicate records (``record_a < record_b``), why it was found
    (``doi``, ``pmid`` or ``fuzzy``) with its similarity ``score`` (1 for identifiers), and
    the current decision (``None`` while undecided)."""

    id: int
    record_a: int
    record_b: int
    reason: str
    score: float
    decision: str | None
    decided_by: str
    decided_at: str


@dataclass(frozen=True)
class Decision:
    id: int
    record_id: int
    stage: str
    reviewer: str
    decision: str
    reason: str
    note: str
    decided_at: str


@dataclass(frozen=True)
class ScreeningState:
    """Where a record stands at one stage: ``status`` is ``pending``, ``agreed``,
    ``conflict`` or ``resolved``; ``decision`` and ``reason`` are the final ones (empty
    unless agreed or resolved); ``decisions`` are the reviewers' current decisions."""

    record_id: int
    stage: str
    status: str
    decision: str
    reason: str
    decisions: tuple[Decision, ...] = field(default=())


# ================================================================================ the store


class RecordStore:
    """The records of one review. Open it with :func:`open_store` (a context manager)."""

    def __init__(self, path: Path, *, clock: Callable[[], str] = _now, threads: bool = False) -> None:
        self.path = Path(path)
        self._clock = clock
        # threads=True: the owner may call from several threads, one at a time (it locks)
        self._db = sqlite3.connect(
            self.path, isolation_level=None, timeout=30.0, check_same_thread=not threads
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if version == 0 and tables == 0:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._create()
        elif version != SCHEMA_VERSION:
            self._db.close()
            raise InputError(
                f"the record store has schema version {version}; this trialsynth reads version "
                f"{SCHEMA_VERSION}",
                file=str(self.path),
            )
        else:
            self._db.execute("PRAGMA journal_mode = WAL")
        present = {
            str(r[0])
            for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE name IN ('withdrawals', 'decisions_stage', 'removals')"
            )
        }
        if present != {"withdrawals", "decisions_stage", "removals"}:
            with self.transaction() as db:
                db.execute(_WITHDRAWALS)
                db.execute(_DECISIONS_STAGE)
                db.execute(_REMOVALS)

    def _create(self) -> None:
        # executescript commits on its own; the schema and its version go in one script.
        statements = [s.strip() for s in _SCHEMA.split(";") if s.strip()]
        with self.transaction() as db:
            for statement in statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("INSERT INTO settings(key, value) VALUES ('reviewers_required', '2')")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def integrity_check(self) -> str:
        """SQLite's own check of the file (``"ok"`` when sound) plus the foreign keys."""
        result = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        broken = self._db.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            return f"{len(broken)} broken foreign key(s)"
        return str(result)

    # ------------------------------------------------------------------ settings
    @property
    def reviewers_required(self) -> int:
        row = self._db.execute("SELECT value FROM settings WHERE key = 'reviewers_required'").fetchone()
        return int(row[0])

    def set_reviewers_required(self, n: int) -> None:
        """How many independent reviewers must decide each record (1 or more; default 2)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"the number of reviewers must be a whole number of at least 1, not {n!r}")
        with self.transaction() as db:
            db.execute("UPDATE settings SET value = ? WHERE key = 'reviewers_required'", (str(n),))

    def setting(self, key: str) -> str | None:
        """A value kept in the store's settings table (``None`` when unset)."""
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def settings_under(self, prefix: str) -> dict[str, str]:
        """The settings whose key starts with ``prefix`` (key → value, sorted by key)."""
        rows = self._db.execute("SELECT key, value FROM settings ORDER BY key").fetchall()
        return {str(k): str(v) for k, v in rows if str(k).startswith(prefix)}

    def set_setting(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` in the settings table (one transaction)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # ------------------------------------------------------------------ imports
    def find_import(self, sha256: str) -> ImportInfo | None:
        row = self._db.execute("SELECT * FROM imports WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else _import_info(row)

    def add_import(
        self,
        *,
        file_name: str,
        sha256: str,
        format: str,
        database: str,
        records: Sequence[NewRecord],
        kind: str | None = None,
        search_date: str | None = None,
        query: str = "",
        encoding: str = "utf-8",
        n_skipped: int = 0,
        warnings: Sequence[str] = (),
    ) -> ImportInfo:
        """Store one imported file and all its records in one transaction.

        A file whose SHA-256 is already in the store is refused with an :class:`InputError`
        naming the earlier import (importing it twice would double its records).
        """
        database = database.strip()
        if not database:
            raise InputError("the source database of an import must be named", file=file_name)
        kind = default_kind(database) if kind is None else kind
        if kind not in KINDS:
            raise InputError(f"the kind of a source must be one of {', '.join(KINDS)}, not '{kind}'")
        earlier = self.find_import(sha256)
        if earlier is not None:
            raise InputError(
                f"this file was already imported (import {earlier.id}, '{earlier.file_name}', "
                f"{earlier.imported_at}); nothing was changed",
                file=file_name,
            )
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO imports(file_name, sha256, format, database, kind, search_date, query, "
                "encoding, imported_at, n_records, n_skipped, warnings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    file_name,
                    sha256,
                    format,
                    database,
                    kind,
                    search_date,
                    query,
                    encoding,
                    self._clock(),
                    len(records),
                    n_skipped,
                    json.dumps(list(warnings), ensure_ascii=False),
                ),
            )
            import_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO records(import_id, position, line, title, abstract, authors, year, journal, "
                "volume, issue, pages, doi, pmid, keywords, record_type, fields, raw) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        import_id,
                        position,
                        r.line,
                        r.title,
                        r.abstract,
                        json.dumps(list(r.authors), ensure_ascii=False),
                        r.year,
                        r.journal,
                        r.volume,
                        r.issue,
                        r.pages,
                        r.doi,
                        r.pmid,
                        json.dumps(list(r.keywords), ensure_ascii=False),
                        r.record_type,
                        json.dumps(r.fields, ensure_ascii=False),
                        r.raw,
                    )
                    for position, r in enumerate(records, start=1)
                ),
            )
        return self.import_info(import_id)

    def import_info(self, import_id: int) -> ImportInfo:
        row = self._db.execute("SELECT * FROM imports WHERE id = ?", (import_id,)).fetchone()
        if row is None:
            raise InputError(f"there is no import {import_id} in the record store")
        return _import_info(row)

    def imports(self) -> list[ImportInfo]:
        return [_import_info(r) for r in self._db.execute("SELECT * FROM imports ORDER BY id")]

    # ------------------------------------------------------------------ records
    _RECORD_SQL = (
        "SELECT records.*, imports.database AS database, imports.kind AS kind, "
        "imports.search_date AS search_date "
        "FROM records JOIN imports ON imports.id = records.import_id"
    )

    def records(self, import_id: int | None = None) -> list[Record]:
        """Every record (of one import), in import order."""
        if import_id is None:
            rows = self._db.execute(self._RECORD_SQL + " ORDER BY records.id")
        else:
            rows = self._db.execute(
                self._RECORD_SQL + " WHERE import_id = ? ORDER BY records.id", (import_id,)
            )
        return [_record(r) for r in rows]

    def record(self, record_id: int) -> Record:
        row = self._db.execute(self._RECORD_SQL + " WHERE records.id = ?", (record_id,)).fetchone()
        if row is None:
            raise InputError(f"there is no record {record_id} in the record store")
        return _record(row)

    def count_records(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    # ------------------------------------------------------------------ duplicates
    def add_pairs(self, pairs: Sequence[tuple[int, int, str, float]]) -> int:
        """Store candidate pairs ``(record_a, record_b, reason, score)``; pairs already
        stored are left as they are. Returns how many were new."""
        new = 0
        with self.transaction() as db:
            for a, b, reason, score in pairs:
                a, b = min(a, b), max(a, b)
                if a == b:
                    continue
                cursor = db.execute(
                    "INSERT OR IGNORE INTO duplicate_pairs(record_a, record_b, reason, score, found_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (a, b, reason, float(score), self._clock()),
                )
                new += cursor.rowcount
        return new

    def pairs(self, *, undecided: bool = False) -> list[DuplicatePair]:
        """Every candidate pair with its current decision, by pair number."""
        rows = self._db.execute(
            "SELECT p.*, d.decision, d.decided_by, d.decided_at FROM duplicate_pairs p "
            "LEFT JOIN duplicate_decisions d ON d.id = "
            "(SELECT max(id) FROM duplicate_decisions WHERE pair_id = p.id) ORDER BY p.id"
        )
        out = [
            DuplicatePair(
                id=r["id"],
                record_a=r["record_a"],
                record_b=r["record_b"],
                reason=r["reason"],
                score=r["score"],
                decision=r["decision"],
                decided_by=r["decided_by"] or "",
                decided_at=r["decided_at"] or "",
            )
            for r in rows
        ]
        return [p for p in out if p.decision is None] if undecided else out

    def decide_pair(self, pair_id: int, decision: str, decided_by: str) -> None:
        """Record whether a candidate pair is a duplicate (``duplicate``/``not_duplicate``)."""
        if decision not in PAIR_DECISIONS:
            raise InputError(f"a pair decision is 'duplicate' or 'not_duplicate', not '{decision}'")
        if not decided_by.strip():
            raise InputError("say who decided the pair")
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM duplicate_pairs WHERE id = ?", (pair_id,)).fetchone() is None:
                raise InputError(f"there is no duplicate pair {pair_id}")
            db.execute(
                "INSERT INTO duplicate_decisions(pair_id, decision, decided_by, decided_at) "
                "VALUES (?, ?, ?, ?)",
                (pair_id, decision, decided_by.strip(), self._clock()),
            )

    def duplicate_groups(self) -> list[tuple[int, ...]]:
        """Groups of records confirmed to be the same (pairs decided ``duplicate``, joined
        transitively), each sorted; the first of each group is the one kept."""
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for pair in self.pairs():
            if pair.decision == "duplicate":
                ra, rb = find(pair.record_a), find(pair.record_b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        groups: dict[int, list[int]] = {}
        for x in parent:
            groups.setdefault(find(x), []).append(x)
        return sorted(tuple(sorted(g)) for g in groups.values())

    def removed_duplicates(self) -> set[int]:
        """Records removed as duplicates: all but the first (earliest stored) of each group."""
        return {r for group in self.duplicate_groups() for r in group[1:]}

    def unique_records(self) -> list[Record]:
        """The records left after removing confirmed duplicates, in import order."""
        removed = self.removed_duplicates()
        return [r for r in self.records() if r.id not in removed]

    # ------------------------------------------------------------------ screening
    def _check_record(self, db: sqlite3.Connection, record_id: int) -> None:
        if db.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)).fetchone() is None:
            raise InputError(f"there is no record {record_id} in the record store")

    @staticmethod
    def _check_stage(stage: str) -> None:
        if stage not in STAGES:
            raise InputError(f"the screening stage is 'title_abstract' or 'full_text', not '{stage}'")

    def add_decision(
        self,
        record_id: int,
        stage: str,
        reviewer: str,
        decision: str,
        *,
        reason: str = "",
        note: str = "",
    ) -> Decision:
        """Record one reviewer's decision on one record at one stage. A later decision by
        the same reviewer replaces the earlier one as current; both are kept."""
        self._check_stage(stage)
        if decision not in DECISIONS:
            raise InputError(f"a decision is include, exclude or maybe, not '{decision}'")
        if not reviewer.strip():
            raise InputError("a decision needs the reviewer's name")
        if stage == "full_text" and decision == "exclude" and not reason.strip():
            raise InputError("an exclusion at full text needs a reason (PRISMA 2020 reports them)")
        with self.transaction() as db:
            self._check_record(db, record_id)
            cursor = db.execute(
                "INSERT INTO decisions(record_id, stage, reviewer, decision, reason, note, decided_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record_id, stage, reviewer.strip(), decision, reason, note, self._clock()),
            )
            row = db.execute("SELECT * FROM decisions WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return _decision(row)

    def decisions(self, stage: str | None = None, *, history: bool = False) -> list[Decision]:
        """The current decision of each reviewer on each record (every decision ever made
        with ``history=True``), ordered by record, stage and reviewer (or time)."""
        if stage is not None:
            self._check_stage(stage)
        where = "" if stage is None else " WHERE stage = :stage"
        if history:
            sql = f"SELECT * FROM decisions{where} ORDER BY id"
        else:
            live = "id NOT IN (SELECT target_id FROM withdrawals WHERE target = 'decision')"
            where = f" WHERE {live}" if stage is None else f"{where} AND {live}"
            sql = (
                f"SELECT * FROM decisions WHERE id IN (SELECT max(id) FROM decisions{where} "
                "GROUP BY record_id, stage, reviewer) ORDER BY record_id, stage, reviewer"
            )
        return [_decision(r) for r in self._db.execute(sql, {"stage": stage})]

    def resolve(
        self,
        record_id: int,
        stage: str,
        decision: str,
        resolved_by: str,
        *,
        reason: str = "",
        note: str = "",
    ) -> None:
        """Settle a record at a stage (usually a conflict): the final include/exclude."""
        self._check_stage(stage)
        if decision not in ("include", "exclude"):
            raise InputError(f"a resolution is include or exclude, not '{decision}'")
        if not resolved_by.strip():
            raise InputError("a resolution needs the name of who resolved it")
        if stage == "full_text" and decision == "exclude" and not reason.strip():
            raise InputError("an exclusion at full text needs a reason (PRISMA 2020 reports them)")
        with self.transaction() as db:
            self._check_record(db, record_id)
            db.execute(
                "INSERT INTO resolutions(record_id, stage, decision, reason, resolved_by, note, resolved_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record_id, stage, decision, reason, resolved_by.strip(), note, self._clock()),
            )

    def resolutions(self, *, history: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM resolutions"
        if not history:
            sql += (
                " WHERE id IN (SELECT max(id) FROM resolutions WHERE id NOT IN "
                "(SELECT target_id FROM withdrawals WHERE target = 'resolution') GROUP BY record_id, stage)"
            )
        return [dict(r) for r in self._db.execute(sql + " ORDER BY id")]

    def withdraw(self, target: str, target_id: int, withdrawn_by: str) -> None:
        """Withdraw one screening decision or resolution (``target`` is ``decision`` or
        ``resolution``): an undo. The row stays in the store; it no longer counts, and the
        same reviewer's previous decision on that record (if any) is current again."""
        if target not in ("decision", "resolution"):
            raise InputError(f"what is withdrawn is a decision or a resolution, not '{target}'")
        if not withdrawn_by.strip():
            raise InputError("a withdrawal needs the name of who withdrew it")
        table = "decisions" if target == "decision" else "resolutions"
        with self.transaction() as db:
            if db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (target_id,)).fetchone() is None:
                raise InputError(f"there is no {target} {target_id} in the record store")
            if db.execute(
                "SELECT 1 FROM withdrawals WHERE target = ? AND target_id = ?", (target, target_id)
            ).fetchone():
                raise InputError(f"{target} {target_id} was already withdrawn")
            db.execute(
                "INSERT INTO withdrawals(target, target_id, withdrawn_by, withdrawn_at) VALUES (?, ?, ?, ?)",
                (target, target_id, withdrawn_by.strip(), self._clock()),
            )

    # ------------------------------------------------------------------ removed before screening
    def remove_before_screening(
        self, record_ids: Sequence[int], reason: str, removed_by: str, *, note: str = ""
    ) -> None:
        """Remove records before screening (PRISMA 2020's "records removed before screening"):
        ``reason`` is ``automation`` (marked as ineligible by an automation tool: say which in
        the note) or ``other``. All the records or none: each must exist, not be removed
        already and have no screening decision (a record screened was not removed before
        screening). Undone with :meth:`restore`; both stay in the history."""
        if reason not in REMOVAL_REASONS:
            raise InputError(f"the reason for removing a record is automation or other, not '{reason}'")
        self._removal(record_ids, "remove", reason, removed_by, note)

    def restore(self, record_ids: Sequence[int], restored_by: str, *, note: str = "") -> None:
        """Bring back records removed before screening (all of them or none)."""
        self._removal(record_ids, "restore", "", restored_by, note)

    def _removal(self, record_ids: Sequence[int], action: str, reason: str, by: str, note: str) -> None:
        if not by.strip():
            raise InputError("say who removes or restores the records (--by NAME)")
        ids = list(dict.fromkeys(int(i) for i in record_ids))
        if not ids:
            raise InputError("name the records (--ids)")
        with self.transaction() as db:
            removed = self.removals()
            screened = {
                int(r[0])
                for r in db.execute(
                    "SELECT DISTINCT record_id FROM decisions WHERE id NOT IN "
                    "(SELECT target_id FROM withdrawals WHERE target = 'decision')"
                )
            }
            for record_id in ids:
                self._check_record(db, record_id)
                if action == "remove" and record_id in removed:
                    raise InputError(
                        f"record {record_id} was already removed ({removed[record_id]}); nothing was changed"
                    )
                if action == "remove" and record_id in screened:
                    raise InputError(
                        f"record {record_id} has screening decisions: it cannot be removed before "
                        "screening (exclude it when screening); nothing was changed"
                    )
                if action == "restore" and record_id not in removed:
                    raise InputError(f"record {record_id} is not removed; nothing was changed")
            db.executemany(
                "INSERT INTO removals(record_id, action, reason, note, removed_by, removed_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(i, action, reason, note, by.strip(), self._clock()) for i in ids],
            )

    def removals(self) -> dict[int, str]:
        """The records removed before screening now, with the reason (``automation``/``other``)."""
        rows = self._db.execute(
            "SELECT record_id, action, reason FROM removals WHERE id IN "
            "(SELECT max(id) FROM removals GROUP BY record_id)"
        )
        return {int(r[0]): str(r[2]) for r in rows if r[1] == "remove"}

    def records_to_screen(self, stage: str) -> list[Record]:
        """The records that go through a stage: at title/abstract, the unique records from
        databases and registers; at full text, those included at title/abstract and the
        unique records from other methods (which PRISMA 2020 sends straight to retrieval).
        Records removed before screening go through neither."""
        wanted = set(self.stage_ids(stage))
        return [r for r in self.records() if r.id in wanted]

    def record_kinds(self) -> list[tuple[int, str]]:
        """Every record's id and the kind of its source (database, register, other), in
        import order, without reading the records themselves."""
        rows = self._db.execute(
            "SELECT records.id, imports.kind FROM records JOIN imports ON imports.id = records.import_id "
            "ORDER BY records.id"
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    def record_texts(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        """The (title, abstract) of each record of ``ids``, in that order."""
        wanted = set(ids)
        rows = self._db.execute("SELECT id, title, abstract FROM records ORDER BY id")
        texts = {int(r[0]): (str(r[1]), str(r[2])) for r in rows if int(r[0]) in wanted}
        return [texts[i] for i in ids]

    def stage_ids(self, stage: str) -> tuple[int, ...]:
        """The ids of :meth:`records_to_screen`, in import order (no record is read)."""
        self._check_stage(stage)
        removed = self.removed_duplicates() | set(self.removals())
        kinds = [(i, kind) for i, kind in self.record_kinds() if i not in removed]
        if stage == "title_abstract":
            return tuple(i for i, kind in kinds if kind != "other")
        view = ScreeningView("title_abstract")
        view.refresh(self)
        passed = view.included()
        return tuple(i for i, kind in kinds if kind == "other" or i in passed)

    def unscreened(self, stage: str, reviewer: str) -> list[Record]:
        """The records of a stage that ``reviewer`` has not decided yet (their work list)."""
        done = {d.record_id for d in self.decisions(stage) if d.reviewer == reviewer.strip()}
        return [r for r in self.records_to_screen(stage) if r.id not in done]

    def last_decision(self, stage: str, reviewer: str) -> Decision | None:
        """``reviewer``'s latest decision at ``stage`` that was not withdrawn (``None``: none)."""
        self._check_stage(stage)
        row = self._db.execute(
            "SELECT * FROM decisions WHERE stage = ? AND reviewer = ? AND id NOT IN "
            "(SELECT target_id FROM withdrawals WHERE target = 'decision') ORDER BY id DESC LIMIT 1",
            (stage, reviewer.strip()),
        ).fetchone()
        return None if row is None else _decision(row)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query in the block sees the same state of the store."""
        if self._db.in_transaction:  # already inside one
            yield self._db
            return
        self._db.execute("BEGIN")
        try:
            yield self._db
        finally:
            self._db.execute("COMMIT")

    def screening(self, stage: str) -> list[ScreeningState]:
        """The state of every record that goes through ``stage`` (see the module's rules)."""
        self._check_stage(stage)
        view = ScreeningView(stage)
        view.refresh(self)
        return [view.state(i) for i in view.ids]

    def conflicts(self, stage: str) -> list[ScreeningState]:
        """The records whose reviewers disagree (or said maybe) and that are not resolved."""
        return [s for s in self.screening(stage) if s.status == "conflict"]

    # ------------------------------------------------------------------ reports and studies
    def set_retrieval(self, record_id: int, status: str, *, note: str = "") -> None:
        """Record the retrieval of a record's full-text report: sought, retrieved, not_retrieved."""
        if status not in RETRIEVAL:
            raise InputError(f"a retrieval status is one of {', '.join(RETRIEVAL)}, not '{status}'")
        with self.transaction() as db:
            self._check_record(db, record_id)
            db.execute(
                "INSERT INTO retrievals(record_id, status, note, recorded_at) VALUES (?, ?, ?, ?)",
                (record_id, status, note, self._clock()),
            )

    def retrieval(self) -> dict[int, str]:
        """The current retrieval status of every record that has one."""
        rows = self._db.execute(
            "SELECT record_id, status FROM retrievals WHERE id IN "
            "(SELECT max(id) FROM retrievals GROUP BY record_id)"
        )
        return {int(r[0]): str(r[1]) for r in rows}

    def link_study(self, record_id: int, study_id: str, *, note: str = "") -> None:
        """Say that a record is a report of an included study (a ``studies.csv`` id). A later
        link of the same record replaces the earlier one as current."""
        if not study_id.strip():
            raise InputError("a study link needs the study id")
        with self.transaction() as db:
            self._check_record(db, record_id)
            db.execute(
                "INSERT INTO study_links(record_id, study_id, note, linked_at) VALUES (?, ?, ?, ?)",
                (record_id, study_id.strip(), note, self._clock()),
            )

    def study_links(self) -> dict[int, str]:
        rows = self._db.execute(
            "SELECT record_id, study_id FROM study_links WHERE id IN "
            "(SELECT max(id) FROM study_links GROUP BY record_id)"
        )
        return {int(r[0]): str(r[1]) for r in rows}

    # ------------------------------------------------------------------ raw access (exports)
    def rows(self, table: str) -> list[sqlite3.Row]:
        """Every row of one table of the store, by id (for the CSV export)."""
        if table not in _TABLES:
            raise ValueError(f"unknown table {table}")
        return list(self._db.execute(f"SELECT * FROM {table} ORDER BY id"))

    def columns(self, table: str) -> list[str]:
        """The column names of one table, in schema order."""
        if table not in _TABLES:
            raise ValueError(f"unknown table {table}")
        return [str(d[1]) for d in self._db.execute(f"PRAGMA table_info({table})")]


def screening_status(stage: str, current: Sequence[Decision], resolved: bool, required: int) -> str:
    """A record's status at a stage from its reviewers' current decisions (the rules in
    the module's docstring): ``resolved``, ``pending``, ``conflict`` or ``agreed``."""
    if resolved:
        return "resolved"
    if len(current) < required:
        return "pending"  # conflicts are settled only once every reviewer has decided
    choices = {d.decision for d in current}
    if "maybe" in choices or len(choices) > 1:
        return "conflict"
    if stage == "full_text" and choices == {"exclude"} and len({d.reason.strip() for d in current}) > 1:
        return "conflict"
    return "agreed"


class ScreeningView:
    """Where one stage stands, kept up to date by reading only what the store gained since
    the last :meth:`refresh`: the stage's record ids (re-read only when imports, duplicate
    decisions, removals before screening, the number of reviewers or, for the full-text
    stage, the title/abstract results changed), each record's current decision per
    reviewer, the resolutions and each record's status. Everything in the store is appended
    (a withdrawal is a row too), so the rows with ids above those already read are all the
    news there is. :meth:`RecordStore.screening` builds one from scratch; a screening session
    keeps one for its stage, so that a step costs the decisions made since the previous one."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.ids: tuple[int, ...] = ()
        self.members: frozenset[int] = frozenset()
        self.required = 2
        self.current: dict[int, dict[str, Decision]] = {}
        self.by_reviewer: dict[str, dict[int, Decision]] = {}
        self.resolutions: dict[int, sqlite3.Row] = {}
        self.status: dict[int, str] = {}  # records with a decision or resolution, in the stage
        self.counts = {"pending": 0, "agreed": 0, "conflict": 0, "resolved": 0}
        self._closed: set[int] = set()
        self._token: tuple[object, ...] | None = None
        self._marks = (0, 0, 0)  # the last decision, resolution and withdrawal read

    def _membership_token(self, db: sqlite3.Connection) -> tuple[object, ...]:
        sql = (
            "SELECT (SELECT max(id) FROM imports), (SELECT max(id) FROM duplicate_decisions), "
            "(SELECT max(id) FROM removals), (SELECT value FROM settings WHERE key = 'reviewers_required')"
        )
        if self.stage == "full_text":
            sql += (
                ", (SELECT max(id) FROM decisions WHERE stage = 'title_abstract'), "
                "(SELECT max(id) FROM resolutions WHERE stage = 'title_abstract'), "
                "(SELECT max(id) FROM withdrawals)"
            )
        return tuple(db.execute(sql).fetchone())

    def refresh(self, store: RecordStore) -> set[int]:
        """Read what changed; returns the ids of the records whose state may have changed
        (every record of the stage when its membership or the number of reviewers changed)."""
        with store.reading() as db:
            token = self._membership_token(db)
            rebuild = token != self._token
            if rebuild:
                self.ids = store.stage_ids(self.stage)
                self.members = frozenset(self.ids)
                self.required = store.reviewers_required
                self._token = token
            d_mark, r_mark, w_mark = self._marks
            touched: set[int] = set()
            for row in db.execute(
                "SELECT * FROM decisions WHERE stage = ? AND id > ? ORDER BY id", (self.stage, d_mark)
            ):
                self._set_decision(row["record_id"], row["reviewer"], _decision(row))
                touched.add(row["record_id"])
                d_mark = row["id"]
            for row in db.execute(
                "SELECT * FROM resolutions WHERE stage = ? AND id > ? ORDER BY id", (self.stage, r_mark)
            ):
                self.resolutions[row["record_id"]] = row
                touched.add(row["record_id"])
                r_mark = max(r_mark, row["id"])
            for target, target_id, w_id in db.execute(
                "SELECT target, target_id, id FROM withdrawals WHERE id > ? ORDER BY id", (w_mark,)
            ).fetchall():
                w_mark = w_id
                if target == "decision":
                    row = db.execute(
                        "SELECT record_id, reviewer FROM decisions WHERE id = ? AND stage = ?",
                        (target_id, self.stage),
                    ).fetchone()
                    if row is not None:
                        self._reread_decision(db, row["record_id"], row["reviewer"])
                        touched.add(row["record_id"])
                else:
                    row = db.execute(
                        "SELECT record_id FROM resolutions WHERE id = ? AND stage = ?",
                        (target_id, self.stage),
                    ).fetchone()
                    if row is not None:
                        self._reread_resolution(db, row["record_id"])
                        touched.add(row["record_id"])
            self._marks = (d_mark, r_mark, w_mark)
        if rebuild:
            self.status = {}
            self.counts = {"pending": 0, "agreed": 0, "conflict": 0, "resolved": 0}
            self._closed = set()
            touched = set(self.current) | set(self.resolutions)
        for record_id in touched:
            self._restate(record_id)
        return set(self.members) if rebuild else touched & self.members

    def _set_decision(self, record_id: int, reviewer: str, decision: Decision | None) -> None:
        per_record = self.current.setdefault(record_id, {})
        mine = self.by_reviewer.setdefault(reviewer, {})
        if decision is None:
            per_record.pop(reviewer, None)
            mine.pop(record_id, None)
        else:
            per_record[reviewer] = decision
            mine[record_id] = decision

    def _reread_decision(self, db: sqlite3.Connection, record_id: int, reviewer: str) -> None:
        row = db.execute(
            "SELECT * FROM decisions WHERE record_id = ? AND stage = ? AND reviewer = ? AND id NOT IN "
            "(SELECT target_id FROM withdrawals WHERE target = 'decision') ORDER BY id DESC LIMIT 1",
            (record_id, self.stage, reviewer),
        ).fetchone()
        self._set_decision(record_id, reviewer, None if row is None else _decision(row))

    def _reread_resolution(self, db: sqlite3.Connection, record_id: int) -> None:
        row = db.execute(
            "SELECT * FROM resolutions WHERE record_id = ? AND stage = ? AND id NOT IN "
            "(SELECT target_id FROM withdrawals WHERE target = 'resolution') ORDER BY id DESC LIMIT 1",
            (record_id, self.stage),
        ).fetchone()
        if row is None:
            self.resolutions.pop(record_id, None)
        else:
            self.resolutions[record_id] = row

    def _restate(self, record_id: int) -> None:
        old = self.status.pop(record_id, None)
        if old is not None and old != "pending":
            self.counts[old] -= 1
        self._closed.discard(record_id)
        if record_id not in self.members:
            return
        current = self.decisions(record_id)
        new = screening_status(self.stage, current, record_id in self.resolutions, self.required)
        self.status[record_id] = new
        if new != "pending":
            self.counts[new] += 1
        if new == "resolved" or len(current) >= self.required:
            self._closed.add(record_id)

    def decisions(self, record_id: int) -> tuple[Decision, ...]:
        """The current decisions on a record, by reviewer's name."""
        per_record = self.current.get(record_id, {})
        return tuple(per_record[name] for name in sorted(per_record))

    def pending(self) -> int:
        """How many records of the stage are pending (all but the agreed, in conflict, resolved)."""
        return len(self.ids) - self.counts["agreed"] - self.counts["conflict"] - self.counts["resolved"]

    def state(self, record_id: int) -> ScreeningState:
        """The record's :class:`ScreeningState` (the record must be one of the stage's)."""
        current = self.decisions(record_id)
        status = self.status.get(record_id, "pending")
        if status == "resolved":
            res = self.resolutions[record_id]
            return ScreeningState(
                record_id, self.stage, status, str(res["decision"]), str(res["reason"]), current
            )
        decision = current[0].decision if status == "agreed" else ""
        reason = current[0].reason if status == "agreed" and decision == "exclude" else ""
        return ScreeningState(record_id, self.stage, status, decision, reason, current)

    def included(self) -> set[int]:
        """The records finally included at this stage (agreed or resolved)."""
        return {
            i
            for i, status in self.status.items()
            if status in ("agreed", "resolved") and self.state(i).decision == "include"
        }

    def closed(self) -> frozenset[int]:
        """The records no reviewer needs to decide any more: resolved, or decided by as many
        reviewers as required."""
        return frozenset(self._closed)


#: The tables of the store, in the order the CSV export writes them.
TABLES = _TABLES = (
    "imports",
    "records",
    "duplicate_pairs",
    "duplicate_decisions",
    "decisions",
    "resolutions",
    "retrievals",
    "study_links",
    "withdrawals",
    "removals",
)


def _import_info(row: sqlite3.Row) -> ImportInfo:
    return ImportInfo(
        id=row["id"],
        file_name=row["file_name"],
        sha256=row["sha256"],
        format=row["format"],
        database=row["database"],
        kind=row["kind"],
        search_date=row["search_date"],
        query=row["query"],
        encoding=row["encoding"],
        imported_at=row["imported_at"],
        n_records=row["n_records"],
        n_skipped=row["n_skipped"],
        warnings=tuple(json.loads(row["warnings"])),
    )


def _record(row: sqlite3.Row) -> Record:
    return Record(
        id=row["id"],
        import_id=row["import_id"],
        position=row["position"],
        line=row["line"],
        title=row["title"],
        abstract=row["abstract"],
        authors=tuple(json.loads(row["authors"])),
        year=row["year"],
        journal=row["journal"],
        volume=row["volume"],
        issue=row["issue"],
        pages=row["pages"],
        doi=row["doi"],
        pmid=row["pmid"],
        keywords=tuple(json.loads(row["keywords"])),
        record_type=row["record_type"],
        fields=json.loads(row["fields"]),
        raw=row["raw"],
        database=row["database"],
        kind=row["kind"],
        search_date=row["search_date"],
    )


def _decision(row: sqlite3.Row) -> Decision:
    return Decision(
        id=row["id"],
        record_id=row["record_id"],
        stage=row["stage"],
        reviewer=row["reviewer"],
        decision=row["decision"],
        reason=row["reason"],
        note=row["note"],
        decided_at=row["decided_at"],
    )


@contextmanager
def open_store(review_dir: str | Path, *, create: bool = True) -> Iterator[RecordStore]:
    """Open the record store of a review folder (``REVIEW_DIR/records.sqlite``).

    The folder must exist. Without ``create`` a missing store is an :class:`InputError`.
    """
    store = connect_store(review_dir, create=create)
    try:
        yield store
    finally:
        store.close()


def connect_store(review_dir: str | Path, *, create: bool = True, threads: bool = False) -> RecordStore:
    """The record store of a review folder, open until its :meth:`~RecordStore.close` (prefer
    :func:`open_store`, which closes it). ``threads=True`` lets a caller that serialises its
    calls with a lock use it from several threads."""
    folder = Path(review_dir)
    if not folder.is_dir():
        raise InputError("the review folder does not exist", file=str(folder))
    path = folder / STORE_NAME
    if not create and not path.exists():
        raise InputError(
            "the review has no record store yet (import records with 'trialsynth records import')",
            file=str(path),
        )
    try:
        return RecordStore(path, threads=threads)
    except sqlite3.DatabaseError as exc:
        raise InputError(f"the record store cannot be opened ({exc})", file=str(path)) from None
