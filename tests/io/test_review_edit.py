"""trialsynth.io.review.edit: row edits of a review folder checked by the loader, with versions
(stale edits refused), a change log and undo. The expected files are written out by hand."""

from __future__ import annotations

import json
import threading

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.review import load_review
from trialsynth.io.review.edit import (
    GAP_NOTE,
    ReviewEditor,
    StaleEdit,
    new_review,
    outcome_models,
    set_outcome_model,
)
from trialsynth.workflow.runner import analyse_review

TARGET = {"id": "target", "label": "TARGET (Khan 2012)", "citation": "Khan FZ et al. JACC 2012",
          "year": "2012", "source": "abstract"}


def _new(folder):
    return new_review(
        folder,
        title="Imaging-guided CRT",
        population="Heart failure with CRT",
        intervention="Imaging-guided LV lead placement",
        comparator="Routine placement",
        outcome_id="response",
        outcome_name="CRT response",
        data_type="binary",
        measure="OR",
        better="higher",
        study=TARGET,
    )


def _run_checks(folder):
    """What ``trialsynth run`` checks before writing (the loader, then each outcome's data)."""
    analyse_review(folder)


def _row(ed, study):
    return next(r for r in ed.rows("outcomes.csv") if r["study"] == study)


def test_new_review_is_a_valid_folder_with_a_data_gap_row(tmp_path):
    folder = _new(tmp_path / "new")
    review = load_review(folder)
    assert review.title == "Imaging-guided CRT"
    assert [o.id for o in review.outcomes] == ["response"]
    assert [s.id for s in review.studies] == ["target"]
    lines = (folder / "outcomes.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("response,target,,no,") and lines[1].endswith(f",{GAP_NOTE}")
    with pytest.raises(InputError, match="already has a review"):
        _new(folder)


def test_new_review_refused_with_the_loaders_message_and_nothing_written(tmp_path):
    with pytest.raises(InputError, match="year") as info:
        new_review(
            tmp_path / "bad", title="T", population="P", intervention="I", comparator="C",
            outcome_id="response", outcome_name="R", data_type="binary", measure="OR",
            better="higher", study={**TARGET, "year": "twenty twelve"},
        )  # fmt: skip
    assert "studies.csv" in str(info.value) and str(tmp_path / "bad") in str(info.value)
    assert not (tmp_path / "bad" / "review.toml").exists()


def test_edits_are_checked_versioned_logged_and_undone(tmp_path):
    folder = _new(tmp_path / "r")
    ed = ReviewEditor(folder, validate=_run_checks)
    # A new study brings its data-gap row for the outcome.
    ed.change("studies.csv", who="ann", key=None, version=None,
              values={"id": "imagingcrt", "label": "ImagingCRT (Sommer 2016)", "citation": "EJHF 2016",
                      "year": "2016", "source": "abstract"})  # fmt: skip
    assert [r["study"] for r in ed.rows("outcomes.csv")] == ["target", "imagingcrt"]
    # A number that is not a number: the loader's message, nothing written.
    row = _row(ed, "target")
    before = (folder / "outcomes.csv").read_bytes()
    bad = {"use": "yes", "events_treatment": "72", "n_treatment": "103", "events_control": "57",
           "n_control": "ten", "kind": "quoted", "source": "abstract"}  # fmt: skip
    message = ed.check("outcomes.csv", row["_key"], bad)
    assert message is not None and "outcomes.csv, row 2" in message and "n_control" in message
    with pytest.raises(InputError) as info:
        ed.change("outcomes.csv", who="ann", key=row["_key"], version=row["_version"], values=bad)
    assert str(info.value) == message
    assert (folder / "outcomes.csv").read_bytes() == before
    # The counts of TARGET (70% of 103 and 55% of 104, rounded: 72 and 57).
    good = {**bad, "n_control": "104", "kind": "derived", "note": "70% x 103; 55% x 104"}
    assert ed.check("outcomes.csv", row["_key"], good) is None
    ed.change("outcomes.csv", who="ann", key=row["_key"], version=row["_version"], values=good)
    assert (folder / "outcomes.csv").read_text().splitlines()[1] == (
        "response,target,,yes,72,103,57,104,,,,,,,,,,derived,abstract,70% x 103; 55% x 104"
    )
    # Bob edits the same row from the old version: refused, not overwritten.
    with pytest.raises(StaleEdit, match="changed by someone else"):
        ed.change("outcomes.csv", who="bob", key=row["_key"], version=row["_version"], values={"note": "x"})
    # The log: who, when, file, row, old → new.
    log = [json.loads(line) for line in (folder / "changes.jsonl").read_text().splitlines()]
    assert [(e["who"], e["file"]) for e in log] == [("ann", "studies.csv"), ("ann", "outcomes.csv"),
                                                    ("ann", "outcomes.csv")]  # fmt: skip
    last = log[-1]
    assert last["key"] == {"outcome": "response", "study": "target", "analysis_set": ""}
    assert last["old"]["use"] == "no" and last["old"]["note"] == GAP_NOTE
    assert last["new"]["events_treatment"] == "72" and last["when"].endswith("+00:00")
    # Undo reverts ann's last change (the data), then the one before (the study and its gap row).
    assert len(ed.undo("ann")) == 1
    assert _row(ed, "target")["use"] == "no" and _row(ed, "target")["note"] == GAP_NOTE
    assert len(ed.undo("ann")) == 2
    assert [r["id"] for r in ed.rows("studies.csv")] == ["target"]
    assert [r["study"] for r in ed.rows("outcomes.csv")] == ["target"]
    assert ed.undo("ann") == [] and ed.undo("bob") == []
    load_review(folder)


def test_undo_refused_when_someone_changed_the_row_since(tmp_path):
    folder = _new(tmp_path / "r")
    ed = ReviewEditor(folder)
    row = _row(ed, "target")
    ed.change("outcomes.csv", who="ann", key=row["_key"], version=row["_version"], values={"note": "a"})
    row = _row(ed, "target")
    ed.change("outcomes.csv", who="bob", key=row["_key"], version=row["_version"], values={"note": "b"})
    with pytest.raises(StaleEdit):
        ed.undo("ann")
    assert _row(ed, "target")["note"] == "b"


def test_concurrent_edits_of_one_row_one_wins_the_others_are_refused(tmp_path):
    folder = _new(tmp_path / "r")
    row = _row(ReviewEditor(folder), "target")
    editor = ReviewEditor(folder)
    n = 6
    barrier = threading.Barrier(n)
    outcome: list[str] = [""] * n

    def one(i):
        barrier.wait()
        try:
            editor.change("outcomes.csv", who=f"r{i}", key=row["_key"], version=row["_version"],
                          values={"note": f"by r{i}"})  # fmt: skip
            outcome[i] = "ok"
        except StaleEdit:
            outcome[i] = "stale"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcome) == ["ok"] + ["stale"] * (n - 1)
    winner = outcome.index("ok")
    assert _row(editor, "target")["note"] == f"by r{winner}"


def test_model_choice_written_to_review_toml(tmp_path):
    folder = _new(tmp_path / "r")
    ed = ReviewEditor(folder)
    version, models = outcome_models(folder)
    assert models == {"response": {}}
    set_outcome_model(ed, "response", method="DL", hk=False, who="ann", version=version)
    assert load_review(folder).outcomes[0].model.method == "DL"
    assert outcome_models(folder)[1] == {"response": {"method": "DL", "hk": False}}
    with pytest.raises(StaleEdit):  # made against the version before the change
        set_outcome_model(ed, "response", method="FE", hk=False, who="bob", version=version)
    version = outcome_models(folder)[0]
    with pytest.raises(InputError, match=r"Hartung–Knapp adjustment .* does not apply to method MH"):
        set_outcome_model(ed, "response", method="MH", hk=True, who="ann", version=version)
    set_outcome_model(ed, "response", method="REML", hk=True, who="ann", version=version)
    model = load_review(folder).outcomes[0].model
    assert (model.method, model.hk) == ("REML", True)
    assert (folder / "review.toml").read_text().count("model = ") == 1


def test_sensitivity_models_written_replaced_and_cleared(tmp_path):
    folder = _new(tmp_path / "r")
    ed = ReviewEditor(folder)
    version = outcome_models(folder)[0]
    set_outcome_model(ed, "response", method="DL", hk=False, sensitivity=["FE", "REML"], who="ann",
                      version=version)  # fmt: skip
    outcome = load_review(folder).outcomes[0]
    assert [m.method for m in outcome.sensitivity] == ["FE", "REML"]
    text = (folder / "review.toml").read_text()
    assert 'sensitivity = [{ method = "FE" }, { method = "REML" }]\n' in text
    set_outcome_model(ed, "response", method="DL", hk=False, sensitivity=[], who="ann",
                      version=outcome_models(folder)[0])  # fmt: skip
    assert load_review(folder).outcomes[0].sensitivity == ()
    assert (folder / "review.toml").read_text().count("sensitivity = ") == 1
    log = [json.loads(line) for line in (folder / "changes.jsonl").read_text().splitlines()]
    assert [e["new"]["sensitivity"] for e in log] == ['[{ method = "FE" }, { method = "REML" }]', "[]"]
    assert log[1]["old"]["sensitivity"] == '[{"method": "FE"}, {"method": "REML"}]'
