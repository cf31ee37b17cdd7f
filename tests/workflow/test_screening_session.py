"""Screening sessions: queue order, decisions, undo, skip, full-text reasons, conflicts."""

import csv

import pytest

from tests.screening_data import ids_by_title, make_review
from trialsynth._core.errors import InputError
from trialsynth.io.records.store import open_store
from trialsynth.workflow.screening.session import (
    DEFAULT_EXCLUSION_REASONS,
    ScreeningSession,
    exclusion_reasons,
)


@pytest.fixture
def review(tmp_path):
    return make_review(tmp_path / "review")


def test_import_order_until_one_include_and_one_exclude_then_the_model(review):
    ids = ids_by_title(review)
    s = ScreeningSession(review, "ann")
    first = s.next()
    assert first.ordering == "import" and first.record.id == 1
    s.decide(1, "include")  # the speckle-tracking RCT
    second = s.next()
    assert second.ordering == "import" and second.record.id == 2  # still import order: no exclude yet
    s.decide(2, "exclude")  # the pacemaker registry
    third = s.next()
    assert third.ordering == "model" and (third.trained_include, third.trained_exclude) == (1, 1)
    queue, _ = s.queue()
    # the two other randomized lead-placement trials share the included record's words
    top_two = {r.id for r in queue[:2]}
    assert top_two == {
        ids["Echocardiography-guided left ventricular lead placement: a randomized controlled trial"],
        ids["Randomized trial of scar-guided lead positioning with cardiac magnetic resonance"],
    }
    assert len(queue) == 4


def test_rank_off_keeps_import_order(review):
    s = ScreeningSession(review, "ann", rank=False)
    s.decide(1, "include")
    s.decide(2, "exclude")
    assert [r.id for r in s.queue()[0]] == [3, 4, 5, 6]
    assert s.next().ordering == "import"


def test_undo_withdraws_the_last_decision_and_keeps_it_in_the_history(review):
    s = ScreeningSession(review, "ann", rank=False)
    s.decide(1, "include")
    s.decide(2, "exclude")
    undone = s.undo()
    assert (undone.record_id, undone.decision) == (2, "exclude")
    nxt = s.next()
    assert nxt.record.id == 2 and nxt.ordering == "undo"
    with open_store(review) as store:
        assert [(d.record_id, d.decision) for d in store.decisions("title_abstract")] == [(1, "include")]
        assert [d.record_id for d in store.decisions("title_abstract", history=True)] == [1, 2]
        (w,) = store.rows("withdrawals")
        assert (w["target"], w["target_id"], w["withdrawn_by"]) == ("decision", undone.id, "ann")
    assert s.undo().record_id == 1
    assert s.undo() is None
    assert s.progress().decided == 0


def test_undo_of_a_changed_decision_brings_back_the_earlier_one(review):
    s = ScreeningSession(review, "ann", rank=False)
    s.decide(3, "exclude")
    s.decide(3, "include")
    s.undo()
    with open_store(review) as store:
        assert [(d.record_id, d.decision) for d in store.decisions("title_abstract")] == [(3, "exclude")]


def test_skip_sends_a_record_to_the_end_and_cycles_through_skipped_ones(review):
    s = ScreeningSession(review, "ann", rank=False)
    s.skip(1)
    assert [r.id for r in s.queue()[0]] == [2, 3, 4, 5, 6, 1]
    for rid in (2, 3, 4, 5, 6):
        s.skip(rid)
    assert s.next().record.id == 1  # only skipped ones left: the earliest skipped first
    s.skip(1)
    assert s.next().record.id == 2
    assert s.progress().skipped == 6 and s.progress().remaining == 6
    s.decide(2, "exclude")
    assert s.progress().skipped == 5


def test_progress_counts(review):
    ann = ScreeningSession(review, "ann", rank=False)
    bob = ScreeningSession(review, "bob", rank=False)
    ann.decide(1, "include")
    ann.decide(2, "exclude")
    ann.decide(3, "maybe")
    bob.decide(1, "include")
    bob.decide(2, "include")
    p = ann.progress()
    assert (p.total, p.decided, p.include, p.exclude, p.maybe, p.remaining) == (6, 3, 1, 1, 1, 3)
    # record 1 agreed (both include); 2 conflict (include vs exclude); 3 pending (ann's maybe
    # waits for its second independent reviewer before it can be a conflict); 4–6 pending
    assert (p.agreed, p.conflicts, p.pending, p.resolved, p.reviewers_required) == (1, 1, 4, 0, 2)
    # bob still has 3, 4, 5, 6; so has carol: 1 (agreed) and 2 (a conflict between two
    # reviewers) already have their two reviewers
    assert [r.id for r in bob.queue()[0]] == [3, 4, 5, 6]
    assert bob.progress().remaining == 4
    carol = ScreeningSession(review, "carol", rank=False)
    assert [r.id for r in carol.queue()[0]] == [3, 4, 5, 6]


def test_conflicts_resolved_by_a_third_reviewer_or_by_consensus_and_undone(review):
    ann = ScreeningSession(review, "ann")
    bob = ScreeningSession(review, "bob")
    ann.decide(1, "include")
    bob.decide(1, "exclude", reason="not randomized?")
    ann.decide(3, "maybe")
    bob.decide(3, "include")
    carol = ScreeningSession(review, "carol")
    conflicts = carol.conflicts()
    assert [c.record.id for c in conflicts] == [1, 3]
    assert {(d.reviewer, d.decision, d.reason) for d in conflicts[0].decisions} == {
        ("ann", "include", ""),
        ("bob", "exclude", "not randomized?"),
    }
    assert carol.resolve(1, "include", note="randomized per methods") == "third reviewer"
    assert ann.resolve(3, "include") == "consensus"
    with open_store(review) as store:
        res = {r["record_id"]: r for r in store.resolutions()}
        assert (res[1]["resolved_by"], res[1]["note"]) == ("carol", "third reviewer: randomized per methods")
        assert (res[3]["resolved_by"], res[3]["note"]) == ("ann", "consensus")
        assert store.conflicts("title_abstract") == []
    with pytest.raises(InputError, match="not in conflict"):
        carol.resolve(2, "exclude")
    assert carol.undo_resolution() == 1
    assert [c.record.id for c in carol.conflicts()] == [1]
    assert carol.undo_resolution() is None


def test_full_text_exclusion_needs_a_reason_from_the_list(tmp_path):
    review = make_review(tmp_path / "r", reasons=["Not randomized", "Wrong population"])
    assert exclusion_reasons(review) == ("Not randomized", "Wrong population")
    ann, bob = ScreeningSession(review, "ann"), ScreeningSession(review, "bob")
    for s in (ann, bob):
        s.decide(1, "include")
        s.decide(3, "include")
    ft = ScreeningSession(review, "ann", "full_text")
    assert [r.id for r in ft.queue()[0]] == [1, 3]
    with pytest.raises(InputError, match="one of the review's reasons: Not randomized; Wrong population"):
        ft.decide(1, "exclude")
    with pytest.raises(InputError, match="one of the review's reasons"):
        ft.decide(1, "exclude", reason="Wrong comparator")
    ft.decide(1, "exclude", reason="Not randomized")
    with pytest.raises(InputError, match="not screened at the full_text stage"):
        ft.decide(2, "include")
    with pytest.raises(InputError, match="only an exclusion takes a reason"):
        ft.decide(3, "include", reason="Not randomized")
    ScreeningSession(review, "bob", "full_text").decide(1, "exclude", reason="Wrong population")
    # both exclude with different reasons: a conflict, settled with one of the reasons
    (conflict,) = ft.conflicts()
    assert conflict.record.id == 1
    with pytest.raises(InputError, match="one of the review's reasons"):
        ft.resolve(1, "exclude")
    ft.resolve(1, "exclude", reason="Not randomized")
    with open_store(review) as store:
        (state,) = [s for s in store.screening("full_text") if s.record_id == 1]
        assert (state.status, state.decision, state.reason) == ("resolved", "exclude", "Not randomized")


def test_exclusion_reasons_default_and_bad_review_toml(tmp_path):
    assert exclusion_reasons(tmp_path) == DEFAULT_EXCLUSION_REASONS
    toml = tmp_path / "review.toml"
    toml.write_text('[review]\ntitle = "x"\n', encoding="utf-8")
    assert exclusion_reasons(tmp_path) == DEFAULT_EXCLUSION_REASONS
    for text, message in [
        ("[screening]\nexclusion_reasons = []\n", "non-empty list"),
        ('[screening]\nexclusion_reasons = ["a", " "]\n', "empty reason"),
        ('[screening]\nexclusion_reasons = ["Wrong dose", "wrong dose"]\n', "twice"),
        ('[screening]\nreasons = ["a"]\n', "unknown key 'reasons'"),
        ("[screening\n", "cannot be read"),
    ]:
        toml.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            exclusion_reasons(tmp_path)


def test_reviewer_and_stage_are_checked(review, tmp_path):
    with pytest.raises(InputError, match="--reviewer"):
        ScreeningSession(review, "  ")
    with pytest.raises(InputError, match="'title_abstract' or 'full_text'"):
        ScreeningSession(review, "ann", "abstract")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no record store"):
        ScreeningSession(tmp_path / "empty", "ann")


def test_export_writes_the_withdrawals_table(review):
    s = ScreeningSession(review, "ann")
    s.decide(1, "include")
    s.undo()
    s.export()
    rows = list(csv.DictReader((review / "records" / "withdrawals.csv").open(encoding="utf-8", newline="")))
    assert [(r["target"], r["target_id"], r["withdrawn_by"]) for r in rows] == [("decision", "1", "ann")]


def test_the_review_loader_accepts_a_screening_table(tmp_path):
    import shutil
    from pathlib import Path

    from trialsynth.io.review.load import load_review

    folder = tmp_path / "bcg"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "bcg", folder)
    with (folder / "review.toml").open("a", encoding="utf-8") as f:
        f.write('\n[screening]\nexclusion_reasons = ["Not randomized", "No BCG arm"]\n')
    assert load_review(folder).studies
    assert exclusion_reasons(folder) == ("Not randomized", "No BCG arm")


def test_a_store_made_before_withdrawals_existed_gains_the_table(review):
    import sqlite3

    from trialsynth.io.records.store import STORE_NAME

    db = sqlite3.connect(review / STORE_NAME)
    db.execute("DROP TABLE withdrawals")
    db.commit()
    db.close()
    with open_store(review) as store:
        assert store.integrity_check() == "ok"
        assert store.rows("withdrawals") == []
    s = ScreeningSession(review, "ann")
    s.decide(1, "include")
    assert s.undo().record_id == 1


def test_withdraw_refuses_unknown_rows_and_a_second_withdrawal(review):
    with open_store(review) as store:
        d = store.add_decision(1, "title_abstract", "ann", "include")
        with pytest.raises(InputError, match="decision or a resolution"):
            store.withdraw("import", d.id, "ann")
        with pytest.raises(InputError, match="no decision 99"):
            store.withdraw("decision", 99, "ann")
        with pytest.raises(InputError, match="name of who withdrew"):
            store.withdraw("decision", d.id, " ")
        store.withdraw("decision", d.id, "ann")
        with pytest.raises(InputError, match="already withdrawn"):
            store.withdraw("decision", d.id, "ann")
        assert store.decisions("title_abstract") == []
        assert store.decisions() == []
        assert len(store.decisions(history=True)) == 1
