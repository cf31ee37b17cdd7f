"""The record store: schema, transactions, duplicates, screening rules, CSV export."""

import csv
import sqlite3

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.records.export import export_store
from trialsynth.io.records.store import SCHEMA_VERSION, STORE_NAME, NewRecord, RecordStore, open_store


def _rec(n: int, **kw) -> NewRecord:
    base = {
        "line": 1 + 5 * n,
        "raw": f"TI  - Trial {n}\nER  - \n",
        "fields": {"TI": [f"Trial {n}"]},
        "title": f"Trial {n}",
    }
    base.update(kw)
    return NewRecord(**base)


def _import(store, name="a.ris", n=3, database="Embase", **kw):
    return store.add_import(
        file_name=name,
        sha256=name * 4,
        format="ris",
        database=database,
        records=[_rec(i) for i in range(n)],
        search_date="2024-05-01",
        **kw,
    )


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path) as s:
        yield s


def test_new_store_has_schema_version_wal_and_foreign_keys(tmp_path):
    with open_store(tmp_path) as s:
        assert s.integrity_check() == "ok"
    db = sqlite3.connect(tmp_path / STORE_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with open_store(tmp_path) as s:  # reopening keeps everything
        assert s._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert s.reviewers_required == 2


def test_unknown_schema_version_is_refused(tmp_path):
    with open_store(tmp_path):
        pass
    db = sqlite3.connect(tmp_path / STORE_NAME)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="schema version 99"), open_store(tmp_path):
        pass


def test_missing_folder_and_missing_store(tmp_path):
    with pytest.raises(InputError, match="does not exist"), open_store(tmp_path / "nope"):
        pass
    with pytest.raises(InputError, match="no record store yet"), open_store(tmp_path, create=False):
        pass


def test_import_keeps_every_field_and_the_raw_text(store):
    raw = "TY  - JOUR\nTI  - Ünïcode title\nER  - \n"
    info = store.add_import(
        file_name="e.ris",
        sha256="x" * 64,
        format="ris",
        database="Embase",
        search_date="2024-05-01",
        records=[
            NewRecord(
                line=7,
                raw=raw,
                fields={"TI": ["Ünïcode title"], "ZZ": ["a", "b"]},
                title="Ünïcode title",
                authors=("Doe, J", "Roe, R"),
                year=2020,
                doi="10.1/x",
            )
        ],
        warnings=["e.ris, line 3: something"],
        n_skipped=1,
    )
    assert (info.n_records, info.n_skipped, info.kind) == (1, 1, "database")
    assert info.warnings == ("e.ris, line 3: something",)
    (r,) = store.records()
    assert r.raw == raw and r.line == 7 and r.position == 1
    assert r.fields == {"TI": ["Ünïcode title"], "ZZ": ["a", "b"]}
    assert r.authors == ("Doe, J", "Roe, R") and r.first_author == "Doe, J"
    assert (r.year, r.doi, r.database, r.search_date) == (2020, "10.1/x", "Embase", "2024-05-01")


def test_registers_are_recognised_by_name(store):
    assert _import(store, "ct.csv", database="ClinicalTrials.gov").kind == "register"
    assert _import(store, "cites.ris", database="Citation searching", kind="other").kind == "other"
    with pytest.raises(InputError, match="kind of a source"):
        _import(store, "bad.ris", kind="web")


def test_same_file_twice_is_refused_and_changes_nothing(store):
    _import(store)
    with pytest.raises(InputError, match="already imported"):
        _import(store)
    assert store.count_records() == 3 and len(store.imports()) == 1


def test_failed_import_leaves_nothing(store):
    records = [_rec(0), _rec(1), NewRecord(line=9, raw=None, fields={})]  # raw NOT NULL fails on row 3
    with pytest.raises(sqlite3.IntegrityError):
        store.add_import(file_name="x.ris", sha256="y" * 64, format="ris", database="Embase", records=records)
    assert store.count_records() == 0 and store.imports() == []
    assert store.integrity_check() == "ok"


def test_duplicate_groups_join_transitively_and_keep_the_first(store):
    _import(store, n=5)
    assert store.add_pairs([(2, 1, "doi", 1.0), (2, 3, "fuzzy", 0.93), (4, 5, "fuzzy", 0.91)]) == 3
    assert store.add_pairs([(1, 2, "doi", 1.0)]) == 0  # already there
    store.decide_pair(1, "duplicate", "auto")
    store.decide_pair(2, "duplicate", "ann")
    store.decide_pair(3, "duplicate", "ann")
    store.decide_pair(3, "not_duplicate", "ann")  # changed her mind: the latest counts
    assert store.duplicate_groups() == [(1, 2, 3)]
    assert store.removed_duplicates() == {2, 3}
    assert [r.id for r in store.unique_records()] == [1, 4, 5]
    assert [p.decision for p in store.pairs()] == ["duplicate", "duplicate", "not_duplicate"]
    assert store.pairs(undecided=True) == []
    with pytest.raises(InputError, match="no duplicate pair 9"):
        store.decide_pair(9, "duplicate", "ann")


def test_screening_states(store):
    _import(store, n=6)
    ta = "title_abstract"
    store.add_decision(1, ta, "ann", "include")
    store.add_decision(1, ta, "bob", "include")  # agreed include
    store.add_decision(2, ta, "ann", "exclude")
    store.add_decision(2, ta, "bob", "exclude")  # agreed exclude
    store.add_decision(3, ta, "ann", "include")
    store.add_decision(3, ta, "bob", "exclude")  # conflict
    store.add_decision(4, ta, "ann", "maybe")  # pending: bob has not screened it yet
    store.add_decision(5, ta, "ann", "include")  # pending: one of two reviewers
    states = {s.record_id: (s.status, s.decision) for s in store.screening(ta)}
    assert states == {
        1: ("agreed", "include"),
        2: ("agreed", "exclude"),
        3: ("conflict", ""),
        4: ("pending", ""),
        5: ("pending", ""),
        6: ("pending", ""),
    }
    assert [s.record_id for s in store.conflicts(ta)] == [3]
    assert [r.id for r in store.unscreened(ta, "bob")] == [4, 5, 6]
    assert [r.id for r in store.unscreened(ta, "ann")] == [6]
    store.add_decision(4, ta, "bob", "maybe")  # both unsure: a conflict to settle
    assert [s.record_id for s in store.conflicts(ta)] == [3, 4]
    store.resolve(3, ta, "include", "carol", note="RCT per abstract")
    assert [s.record_id for s in store.conflicts(ta)] == [4]
    # Full text: records 1 and 3 passed title/abstract.
    assert [r.id for r in store.records_to_screen("full_text")] == [1, 3]
    ft = "full_text"
    with pytest.raises(InputError, match="needs a reason"):
        store.add_decision(1, ft, "ann", "exclude")
    store.add_decision(1, ft, "ann", "exclude", reason="Not randomized")
    store.add_decision(1, ft, "bob", "exclude", reason="Wrong comparator")  # reasons differ
    store.add_decision(3, ft, "ann", "include")
    store.add_decision(3, ft, "bob", "include")
    states = {s.record_id: (s.status, s.decision, s.reason) for s in store.screening(ft)}
    assert states == {1: ("conflict", "", ""), 3: ("agreed", "include", "")}
    store.resolve(1, ft, "exclude", "carol", reason="Not randomized")
    assert store.screening(ft)[0].reason == "Not randomized"


def test_changed_decision_keeps_history(store):
    _import(store, n=1)
    store.add_decision(1, "title_abstract", "ann", "exclude")
    store.add_decision(1, "title_abstract", "ann", "include", note="re-read the abstract")
    assert [d.decision for d in store.decisions("title_abstract")] == ["include"]
    assert [d.decision for d in store.decisions("title_abstract", history=True)] == ["exclude", "include"]


def test_bad_decisions_are_refused(store):
    _import(store, n=1)
    with pytest.raises(InputError, match="no record 7"):
        store.add_decision(7, "title_abstract", "ann", "include")
    with pytest.raises(InputError, match="stage"):
        store.add_decision(1, "abstract", "ann", "include")
    with pytest.raises(InputError, match="include, exclude or maybe"):
        store.add_decision(1, "title_abstract", "ann", "yes")
    with pytest.raises(InputError, match="reviewer"):
        store.add_decision(1, "title_abstract", " ", "include")
    with pytest.raises(InputError, match="include or exclude"):
        store.resolve(1, "title_abstract", "maybe", "carol")
    with pytest.raises(InputError, match="at least 1"):
        store.set_reviewers_required(0)


def test_single_reviewer_setting(store):
    _import(store, n=1)
    store.set_reviewers_required(1)
    store.add_decision(1, "title_abstract", "ann", "include")
    assert store.screening("title_abstract")[0].status == "agreed"


def test_retrieval_and_study_links_latest_wins(store):
    _import(store, n=2)
    store.set_retrieval(1, "sought")
    store.set_retrieval(1, "not_retrieved", note="no library access")
    store.link_study(2, "smith2019")
    assert store.retrieval() == {1: "not_retrieved"}
    assert store.study_links() == {2: "smith2019"}
    with pytest.raises(InputError, match="retrieval status"):
        store.set_retrieval(1, "lost")


def test_csv_export_is_complete_and_deterministic(tmp_path):
    with open_store(tmp_path) as s:
        s._clock = lambda: "2024-06-01T00:00:00+00:00"
        _import(s, n=2)
        s.add_decision(1, "title_abstract", "ann", "exclude")
        s.add_decision(1, "title_abstract", "ann", "include")
        first = {p.name: p.read_bytes() for p in export_store(s, tmp_path)}
        second = {p.name: p.read_bytes() for p in export_store(s, tmp_path)}
    assert first == second
    rows = list(csv.DictReader((tmp_path / "records" / "decisions.csv").open(encoding="utf-8", newline="")))
    assert [r["decision"] for r in rows] == ["exclude", "include"]  # history kept
    rows = list(csv.DictReader((tmp_path / "records" / "records.csv").open(encoding="utf-8", newline="")))
    assert rows[1]["raw"] == "TI  - Trial 1\nER  - \n"
    assert not list((tmp_path / "records").glob("*.tmp"))


def test_store_class_refuses_a_file_that_is_not_sqlite(tmp_path):
    (tmp_path / STORE_NAME).write_text("not a database")
    with pytest.raises(InputError, match="cannot be opened"), open_store(tmp_path):
        pass
    with pytest.raises(sqlite3.DatabaseError):
        RecordStore(tmp_path / STORE_NAME)
