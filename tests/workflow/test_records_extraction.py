"""Dual data extraction: disagreements by study, outcome and field; resolution with provenance."""

import csv
import json

import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError
from trialsynth.cli import main
from trialsynth.workflow.records.extraction import compare, resolve

HEADER = "outcome,study,use,kind,source,note,events_treatment,n_treatment,events_control,n_control\n"
ANN = HEADER + (
    "death,smith2019,yes,quoted,Table 2,,12,60,20,61\n"
    "death,jones2020,yes,quoted,Table 3,per protocol,5,40,9,41\n"
    "hfh,smith2019,yes,quoted,Table 2,,7,60,11,61\n"
)
BOB = HEADER + (
    "death,smith2019,yes,quoted,Table 2 p.5,,13,60,20,61.0\n"  # 12 vs 13; 61 and 61.0 agree
    "death,jones2020,yes,derived,Table 3,,5,40,9,41\n"  # kind differs; note only in ann's
    "death,lee2021,yes,quoted,Fig 2,,3,30,4,30\n"  # only bob entered this row
)


def _folder(tmp_path, ann=ANN, bob=BOB):
    (tmp_path / "extraction").mkdir(exist_ok=True)
    (tmp_path / "extraction" / "ann.csv").write_text(ann, encoding="utf-8")
    (tmp_path / "extraction" / "bob.csv").write_text(bob, encoding="utf-8")
    return tmp_path


def _read(path):
    return list(csv.DictReader(path.open(encoding="utf-8", newline="")))


def test_disagreements_are_listed_by_study_outcome_and_field(tmp_path):
    found = compare(_folder(tmp_path))
    assert [(d.study, d.outcome, d.field, d.value_a, d.value_b) for d in found] == [
        ("smith2019", "death", "events_treatment", "12", "13"),
        ("jones2020", "death", "kind", "quoted", "derived"),
        ("smith2019", "hfh", "(row)", "present", "missing"),
        ("lee2021", "death", "(row)", "missing", "present"),
    ]
    assert (found[0].extractor_a, found[0].extractor_b, found[0].row_a, found[0].row_b) == (
        "ann",
        "bob",
        2,
        2,
    )


RESOLUTIONS = (
    "study,outcome,field,value,resolved_by,note\n"
    "smith2019,death,events_treatment,12,carol,Table 2 counts 12 deaths\n"
    "jones2020,death,kind,quoted,carol,\n"
    "smith2019,hfh,(row),keep,carol,bob missed it\n"
    "lee2021,death,(row),drop,carol,not randomized\n"
)


def test_resolved_table_keeps_both_originals(tmp_path):
    folder = _folder(tmp_path)
    (folder / "extraction" / "resolutions.csv").write_text(RESOLUTIONS, encoding="utf-8")
    resolved, provenance = resolve(folder)
    rows = _read(resolved)
    assert [(r["study"], r["outcome"]) for r in rows] == [
        ("smith2019", "death"),
        ("jones2020", "death"),
        ("smith2019", "hfh"),
    ]
    smith = rows[0]
    assert (smith["events_treatment"], smith["n_control"]) == ("12", "61")
    assert smith["source"] == "ann: Table 2 | bob: Table 2 p.5"  # free text: both kept
    assert smith["note"] == (
        "Dual extraction resolved: events_treatment ann=12, bob=13 → 12 (carol: Table 2 counts 12 deaths)."
    )
    assert rows[1]["kind"] == "quoted"
    assert (
        rows[1]["note"]
        == "per protocol Dual extraction resolved: kind ann=quoted, bob=derived → quoted (carol)."
    )
    assert rows[2]["note"] == "Dual extraction: row entered by ann only; kept by carol (bob missed it)"
    assert list(rows[0]) == [
        "outcome",
        "study",
        "use",
        "kind",
        "source",
        "note",
        "events_treatment",
        "n_treatment",
        "events_control",
        "n_control",
    ]
    prov = _read(provenance)
    assert [(p["study"], p["field"], p["value_a"], p["value_b"], p["resolved_value"]) for p in prov] == [
        ("smith2019", "events_treatment", "12", "13", "12"),
        ("jones2020", "kind", "quoted", "derived", "quoted"),
        ("smith2019", "(row)", "present", "missing", "keep"),
        ("lee2021", "(row)", "missing", "present", "drop"),
    ]


def test_unresolved_and_unknown_resolutions_are_refused(tmp_path):
    folder = _folder(tmp_path)
    path = folder / "extraction" / "resolutions.csv"
    path.write_text("\n".join(RESOLUTIONS.splitlines()[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="1 disagreement\\(s\\) not resolved, the first: study 'lee2021'"):
        resolve(folder)
    path.write_text(RESOLUTIONS + "smith2019,death,n_treatment,60,carol,\n", encoding="utf-8")
    with pytest.raises(InputError, match="no disagreement on field 'n_treatment'") as info:
        resolve(folder)
    assert info.value.row == 6
    path.write_text(
        RESOLUTIONS.replace("lee2021,death,(row),drop", "lee2021,death,(row),maybe"), encoding="utf-8"
    )
    with pytest.raises(InputError, match="'keep' or 'drop'"):
        resolve(folder)


def test_files_are_checked(tmp_path):
    with pytest.raises(InputError, match="no extraction/ folder"):
        compare(tmp_path)
    folder = _folder(tmp_path)
    (folder / "extraction" / "cat.csv").write_text(HEADER, encoding="utf-8")
    with pytest.raises(InputError, match=r"exactly two extractor files .*ann.csv, bob.csv, cat.csv"):
        compare(folder)
    (folder / "extraction" / "cat.csv").unlink()
    _folder(tmp_path, bob=BOB + "death,smith2019,yes,quoted,x,,1,2,3,4\n")
    with pytest.raises(InputError, match="appears twice \\(rows 2 and 5\\)"):
        compare(folder)
    _folder(tmp_path, bob=BOB.replace("events_treatment", "event_treatment"))
    with pytest.raises(InputError, match="unknown column 'event_treatment'; did you mean 'events_treatment'"):
        compare(folder)
    # A column of the review's own outcomes.csv (the cumulative ordering column) is accepted.
    (folder / "outcomes.csv").write_text(HEADER.strip() + ",year\n", encoding="utf-8")
    _folder(tmp_path, ann=ANN.replace("n_control\n", "n_control,year\n", 1))
    assert len(compare(folder)) == 4


def test_cli_compare_and_resolve(tmp_path):
    folder = _folder(tmp_path)
    runner = CliRunner()
    listed = runner.invoke(main, ["extraction", "compare", str(folder)])
    assert listed.exit_code == 0
    assert "smith2019 / death / events_treatment: ann='12'  bob='13'" in listed.output
    assert "4 disagreement(s)" in listed.output
    doc = json.loads(runner.invoke(main, ["extraction", "compare", str(folder), "--json"]).output)
    assert doc[0]["field"] == "events_treatment" and doc[0]["value_b"] == "13"
    refused = runner.invoke(main, ["extraction", "resolve", str(folder)])
    assert refused.exit_code == 2 and "write the resolutions first" in refused.output
    (folder / "extraction" / "resolutions.csv").write_text(RESOLUTIONS, encoding="utf-8")
    done = runner.invoke(main, ["extraction", "resolve", str(folder)])
    assert done.exit_code == 0 and "resolved.csv" in done.output
