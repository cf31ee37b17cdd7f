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
* Nothing entered is overwritten: screening decisions, resolutions, retrieval statuses and
  duplicate decisions are appended; the latest one per key is the current one and the
  earlier ones stay in the history (and in the CSV export).

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

from trialsynth.errors import InputError

__all__ = [
    "DECISIONS",
    "KINDS",
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
    "open_store",
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

    def __init__(self, path: Path, *, clock: Callable[[], str] = _now) -> None:
        self.path = Path(path)
        self._clock = clock
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
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
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'withdrawals'").fetchone() is None:
            with self.transaction() as db:
                db.execute(_WITHDRAWALS)

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

    def resolutions(self, *, history: bool = False) -> list[dict[str, object]]:
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

    def records_to_screen(self, stage: str) -> list[Record]:
        """The records that go through a stage: at title/abstract, the unique records from
        databases and registers; at full text, those included at title/abstract and the
        unique records from other methods (which PRISMA 2020 sends straight to retrieval)."""
        self._check_stage(stage)
        unique = self.unique_records()
        if stage == "title_abstract":
            return [r for r in unique if r.kind != "other"]
        passed = {
            s.record_id
            for s in self.screening("title_abstract")
            if s.status in ("agreed", "resolved") and s.decision == "include"
        }
        return [r for r in unique if r.kind == "other" or r.id in passed]

    def unscreened(self, stage: str, reviewer: str) -> list[Record]:
        """The records of a stage that ``reviewer`` has not decided yet (their work list)."""
        done = {d.record_id for d in self.decisions(stage) if d.reviewer == reviewer.strip()}
        return [r for r in self.records_to_screen(stage) if r.id not in done]

    def screening(self, stage: str) -> list[ScreeningState]:
        """The state of every record that goes through ``stage`` (see the module's rules)."""
        self._check_stage(stage)
        required = self.reviewers_required
        by_record: dict[int, list[Decision]] = {}
        for d in self.decisions(stage):
            by_record.setdefault(d.record_id, []).append(d)
        resolved = {
            int(r["record_id"]): r
            for r in self.resolutions()
            if r["stage"] == stage  # type: ignore[call-overload]
        }
        states = []
        for record in self.records_to_screen(stage):
            current = tuple(by_record.get(record.id, ()))
            if record.id in resolved:
                res = resolved[record.id]
                states.append(
                    ScreeningState(
                        record.id, stage, "resolved", str(res["decision"]), str(res["reason"]), current
                    )
                )
                continue
            choices = {d.decision for d in current}
            reasons = {d.reason.strip() for d in current}
            if len(current) < required:
                status = "pending"  # conflicts are settled only once every reviewer has decided
            elif "maybe" in choices or len(choices) > 1:
                status = "conflict"
            elif stage == "full_text" and choices == {"exclude"} and len(reasons) > 1:
                status = "conflict"
            else:
                status = "agreed"
            decision = current[0].decision if status == "agreed" else ""
            reason = current[0].reason if status == "agreed" and decision == "exclude" else ""
            states.append(ScreeningState(record.id, stage, status, decision, reason, current))
        return states

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
        store = RecordStore(path)
    except sqlite3.DatabaseError as exc:
        raise InputError(f"the record store cannot be opened ({exc})", file=str(path)) from None
    try:
        yield store
    finally:
        store.close()
