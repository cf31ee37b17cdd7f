"""PRISMA 2020 counts from the record store (Page et al., BMJ 2021;372:n71, Figure 1),
checked against a flow worked by hand below."""

import json

import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError
from trialsynth.cli import main
from trialsynth.io.records.store import NewRecord, ScreeningView, open_store
from trialsynth.stats.prisma import check_prisma
from trialsynth.workflow.records.prisma import prisma_from_store


def _add(store, name, database, n, kind=None):
    records = [NewRecord(line=i + 1, raw=f"{name}{i}", fields={}, title=f"{name} {i}") for i in range(n)]
    store.add_import(file_name=name, sha256=name, format="csv", database=database, records=records, kind=kind)


def _both(store, record, stage, decision, reason=""):
    store.add_decision(record, stage, "ann", decision, reason=reason)
    store.add_decision(record, stage, "bob", decision, reason=reason)


def _build(store):
    # Records: PubMed 1-3, Embase 4-6, Scopus 7-8, ClinicalTrials.gov 9, citation searching 10.
    _add(store, "pubmed", "PubMed", 3)
    _add(store, "embase", "Embase", 3)
    _add(store, "scopus", "Scopus", 2)
    _add(store, "ctgov", "ClinicalTrials.gov", 1)
    _add(store, "cites", "Citation searching", 1, kind="other")
    store.add_pairs([(1, 4, "doi", 1.0), (1, 7, "pmid", 1.0), (3, 5, "fuzzy", 0.95), (2, 6, "fuzzy", 0.91)])
    for pair, decision in ((1, "duplicate"), (2, "duplicate"), (3, "duplicate"), (4, "not_duplicate")):
        store.decide_pair(pair, decision, "ann")
    ta, ft = "title_abstract", "full_text"
    _both(store, 1, ta, "include")
    _both(store, 2, ta, "include")
    _both(store, 3, ta, "exclude")
    store.add_decision(6, ta, "ann", "include")
    store.add_decision(6, ta, "bob", "exclude")
    store.resolve(6, ta, "exclude", "carol")
    _both(store, 8, ta, "exclude")
    store.add_decision(9, ta, "ann", "include")
    store.add_decision(9, ta, "bob", "maybe")
    store.resolve(9, ta, "include", "carol")
    store.set_retrieval(9, "sought")
    store.set_retrieval(9, "not_retrieved", note="registry entry without results")
    _both(store, 1, ft, "include")
    _both(store, 2, ft, "exclude", reason="Not randomized")
    _both(store, 10, ft, "include")
    store.link_study(1, "hansen2019")
    store.link_study(10, "hansen2019")


def test_counts_from_a_store_match_the_hand_worked_flow(tmp_path):
    with open_store(tmp_path) as store:
        _build(store)
        counts = prisma_from_store(store)
    # Identified: databases 3 + 3 + 2 = 8, registers 1 -> 9; other methods 1.
    assert counts.databases == (("PubMed", 3), ("Embase", 3), ("Scopus", 2))
    assert counts.registers == (("ClinicalTrials.gov", 1),)
    assert counts.other_sources == (("Citation searching", 1),)
    # Removed as duplicates: 4 and 7 (of 1), 5 (of 3); 2-6 rejected -> 3. Screened 9 - 3 = 6.
    assert (counts.duplicates_removed, counts.records_screened) == (3, 6)
    # Excluded 3, 6 (resolved), 8 -> 3; sought 1, 2, 9 -> 3; 9 not retrieved; assessed 1, 2.
    assert (counts.records_excluded, counts.reports_sought, counts.reports_not_retrieved) == (3, 3, 1)
    assert counts.reports_assessed == 2
    assert counts.reports_excluded == (("Not randomized", 1),)
    # Other methods: record 10 sought, assessed and included.
    assert (
        counts.other_reports_sought,
        counts.other_reports_not_retrieved,
        counts.other_reports_assessed,
    ) == (1, 0, 1)
    # Included reports 1 and 10, both of study hansen2019.
    assert (counts.reports_included, counts.studies_included) == (2, 1)
    assert counts.origin == "records" and counts.notes == ()
    assert check_prisma(counts) == []


def test_unfinished_screening_is_noted_and_does_not_add_up(tmp_path):
    with open_store(tmp_path) as store:
        _add(store, "pubmed", "PubMed", 3)
        _both(store, 1, "title_abstract", "include")
        store.add_decision(2, "title_abstract", "ann", "exclude")  # second reviewer missing
        _both(store, 1, "full_text", "include")
        counts = prisma_from_store(store)
    assert (counts.records_screened, counts.records_excluded, counts.reports_sought) == (3, 0, 1)
    assert counts.notes == (
        "2 record(s) without a final title/abstract decision (pending or in conflict)",
        "1 included report(s) not linked to a study; each counted as its own study",
    )
    assert counts.studies_included == 1
    assert any(p.startswith("reports_sought is 1") for p in check_prisma(counts))


#: A [prisma] table of flow counts entered by hand (they add up: 10 − 2 = 8 screened, 8 − 6 = 2
#: sought, 2 assessed − 1 excluded = 1 included).
HAND_COUNTS = (
    "[prisma]\ndatabases = { PubMed = 10 }\nduplicates_removed = 2\nrecords_screened = 8\n"
    "records_excluded = 6\nreports_sought = 2\nreports_assessed = 2\nreports_excluded = { Other = 1 }\n"
    "studies_included = 1\nreports_included = 1\n"
)


def test_cli_prisma_json_from_store(tmp_path):
    with open_store(tmp_path) as store:
        _build(store)
        expected = prisma_from_store(store).to_json_dict()
    result = CliRunner().invoke(main, ["prisma", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    # the two-screener agreement (κ, AC1) comes beside the counts: see test_prisma_agreement.py
    assert set(doc.pop("screening_agreement")) <= {"title_abstract", "full_text"}
    # the stopping rule's state per reviewer who began sampling (nobody here): see
    # test_screening_sampling.py
    assert doc.pop("screening_stopping") == []
    assert doc == expected
    assert doc["identification"]["records_identified"] == 9
    assert doc["other_methods"]["reports_sought"] == 1


def test_cli_prisma_falls_back_to_review_toml(tmp_path):
    (tmp_path / "review.toml").write_text(
        HAND_COUNTS,
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["prisma", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["origin"] == "review.toml" and doc["identification"]["records_identified"] == 10
    text = CliRunner().invoke(main, ["prisma", str(tmp_path)])
    assert "records screened: 8" in text.output


def test_cli_prisma_without_records_or_table(tmp_path):
    result = CliRunner().invoke(main, ["prisma", str(tmp_path)])
    assert result.exit_code == 2 and "no records and no review.toml" in result.output


def test_cli_prisma_reads_review_toml_through_the_review_loader(tmp_path, monkeypatch):
    # one reader of [prisma]: the command uses the review loader's, which checks the table
    # the same way load_review does
    import trialsynth.io.review.load as load

    calls = []
    real = load._prisma

    def spy(toml, top):
        calls.append(toml.source)
        return real(toml, top)

    monkeypatch.setattr(load, "_prisma", spy)
    (tmp_path / "review.toml").write_text(
        HAND_COUNTS,
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["prisma", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert calls == [str(tmp_path / "review.toml")]


def test_cli_prisma_errors_name_review_toml_the_key_and_its_line(tmp_path):
    toml = tmp_path / "review.toml"
    toml.write_text(
        '[prisma]\ndatabases = { PubMed = 10 }\nduplicates_removed = 2\nrecords_screened = "eight"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["prisma", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{toml}, line 4:" in result.output and "records_screened" in result.output
    toml.write_text("prisma = 3\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["prisma", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{toml}, line 1: 'prisma' must be a table" in result.output
    toml.write_text("[review]\ntitle = 'x'\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["prisma", str(tmp_path)])
    assert result.exit_code == 2 and "review.toml has no [prisma] table" in result.output


def test_cli_prisma_warns_once_when_the_hand_counts_do_not_add_up(tmp_path):
    (tmp_path / "review.toml").write_text(
        HAND_COUNTS.replace("screened = 8", "screened = 7").replace("excluded = 6", "excluded = 5"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["prisma", str(tmp_path)])
    assert result.exit_code == 0, result.output
    # 10 identified − 2 duplicates = 8, not the 7 screened: one warning, naming the file
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warned == [
        f"warning: {tmp_path / 'review.toml'} [prisma]: the flow counts do not add up: records_screened "
        "is 7, but records identified (10) minus records removed before screening (2) gives 8"
    ]


def test_records_removed_before_screening_fill_their_boxes(tmp_path):
    # The flow of test_counts_from_a_store_match_the_hand_worked_flow, changed: Scopus record
    # 8's two exclusions are withdrawn and an automation tool removes it before screening; a
    # new register record 11 (ICTRP) is removed for another reason; the tool also marks
    # record 4, already removed as a duplicate of 1: it counts once, as a duplicate.
    with open_store(tmp_path) as store:
        _build(store)
        _add(store, "ictrp", "ICTRP", 1)  # record 11, a register
        store.remove_before_screening([11], "other", "ann", note="withdrawn registration")
        store.withdraw(
            "decision",
            next(d.id for d in store.decisions() if d.record_id == 8 and d.reviewer == "ann"),
            "ann",
        )
        store.withdraw(
            "decision",
            next(d.id for d in store.decisions() if d.record_id == 8 and d.reviewer == "bob"),
            "bob",
        )
        store.remove_before_screening([8, 4], "automation", "ann", note="RobotSearch RCT classifier")
        counts = prisma_from_store(store)
        assert store.removals() == {11: "other", 8: "automation", 4: "automation"}
    # Identified: databases 3 + 3 + 2 = 8, registers ClinicalTrials.gov 1 + ICTRP 1 -> 10.
    assert counts.registers == (("ClinicalTrials.gov", 1), ("ICTRP", 1))
    # Removed before screening: duplicates 4, 5, 7 -> 3 (record 4 counted here only);
    # automation: 8 -> 1; other reasons: 11 -> 1.
    assert (counts.duplicates_removed, counts.automation_removed, counts.other_removed) == (3, 1, 1)
    # Screened: 10 - 3 - 1 - 1 = 5 (records 1, 2, 3, 6, 9); excluded 3 and 6 -> 2.
    assert counts.records_screened == 5 and counts.records_excluded == 2
    # Sought: 1, 2, 9 -> 3, as before.
    assert counts.reports_sought == 3
    assert check_prisma(counts) == []


def test_removals_are_appended_checked_and_undone(tmp_path):
    with open_store(tmp_path) as store:
        _build(store)
        for bad, message in (
            (lambda: store.remove_before_screening([99], "automation", "ann"), "there is no record 99"),
            (lambda: store.remove_before_screening([5], "tool", "ann"), "automation or other, not 'tool'"),
            (lambda: store.remove_before_screening([1], "other", "ann"), "record 1 has screening decisions"),
            (lambda: store.remove_before_screening([5], "other", " "), "say who removes"),
            (lambda: store.restore([5], "ann"), "record 5 is not removed"),
        ):
            with pytest.raises(InputError, match=message):
                bad()
        # all or nothing: record 1 was screened, so record 5 is not removed either
        with pytest.raises(InputError, match="record 1 has screening decisions"):
            store.remove_before_screening([5, 1], "other", "ann")
        assert store.removals() == {}
        store.remove_before_screening([5], "other", "ann", note="retracted")
        with pytest.raises(InputError, match=r"record 5 was already removed \(other\)"):
            store.remove_before_screening([5], "automation", "ann")
        store.restore([5], "bob", note="not retracted after all")
        assert store.removals() == {}
        rows = [(r["record_id"], r["action"], r["reason"], r["removed_by"]) for r in store.rows("removals")]
        assert rows == [(5, "remove", "other", "ann"), (5, "restore", "", "bob")]


def test_removed_records_leave_the_screening_queue(tmp_path):
    with open_store(tmp_path) as store:
        _add(store, "pubmed", "PubMed", 4)
        store.remove_before_screening([2], "automation", "ann")
        assert [s.record_id for s in store.screening("title_abstract")] == [1, 3, 4]
        view = ScreeningView("title_abstract")
        view.refresh(store)
        store.restore([2], "ann")
        view.refresh(store)  # the view sees the restore
        assert view.ids == (1, 2, 3, 4)


def test_cli_records_exclude(tmp_path):
    with open_store(tmp_path) as store:
        _add(store, "pubmed", "PubMed", 10)
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "records",
            "exclude",
            str(tmp_path),
            "--ids",
            "2,4-6",
            "--reason",
            "automation",
            "--by",
            "ann",
            "--note",
            "RCT classifier",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 record(s) removed before screening (automation)" in result.output
    result = runner.invoke(main, ["records", "exclude", str(tmp_path), "--ids", "9", "--reason", "other"])
    assert result.exit_code == 0, result.output
    doc = json.loads(runner.invoke(main, ["prisma", str(tmp_path), "--json"]).stdout)
    ident = doc["identification"]
    assert (ident["duplicates_removed"], ident["automation_removed"], ident["other_removed"]) == (0, 4, 1)
    assert doc["screening"]["records_screened"] == 10 - 4 - 1
    restored = runner.invoke(main, ["records", "exclude", str(tmp_path), "--ids", "5", "--restore"])
    assert restored.exit_code == 0 and "1 record(s) restored" in restored.output
    assert "removals.csv" in {p.name for p in (tmp_path / "records").iterdir()}
    for args, message in (
        (["--ids", "3"], "Missing option '--reason'"),
        (["--ids", "3-1", "--reason", "other"], "runs backwards"),
        (["--ids", "x", "--reason", "other"], "not a record number"),
        (["--ids", "5", "--reason", "other", "--restore"], "--restore takes no --reason"),
    ):
        result = runner.invoke(main, ["records", "exclude", str(tmp_path), *args])
        assert result.exit_code == 2 and message in result.output, result.output
