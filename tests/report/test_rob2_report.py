"""The report and results.json show the RoB 2 signalling answers, the algorithm's suggested
judgement and the entered one ("suggested: X, entered: Y"), on a SYNTHETIC folder (invented
trials; expected suggestions read off the RoB 2 guidance's figures by hand, see
tests/io/test_rob2_folder.py)."""

from __future__ import annotations

import json

from tests.io.test_rob2_folder import BRAVO, _folder
from trialsynth.io.review import load_review
from trialsynth.report.review import run_review
from trialsynth.report.rob2_section import rob2_json, rob2_rows


def test_rows_and_json_of_one_outcome(tmp_path):
    review = load_review(_folder(tmp_path))
    (row,) = rob2_rows(review, "events", {"bravo": "Bravo 2014"})
    assert row["label"] == "Bravo 2014" and row["variant"] == "assignment"
    assert row["domains"][0] == {"answers": "1.1 Y · 1.2 PY · 1.3 N", "judgement": "low"}
    assert row["domains"][1]["answers"] == "2.1 Y · 2.2 Y · 2.3 NI · 2.6 Y"
    # D5: 5.2 N, 5.3 N, 5.1 N → some concerns; risk_of_bias.csv entered low with its support
    assert (
        row["domains"][4]["judgement"]
        == "suggested: some concerns, entered: low — Registered plan (invented)"
    )
    (entry,) = rob2_json(review, "events")
    assert entry["domains"]["D5"] == {
        "suggested": "some concerns",
        "entered": "low",
        "differs": True,
        "path": ["5.2", "5.3", "5.1"],
        "missing": [],
    }
    assert entry["overall"] == {"suggested": "some concerns", "entered": "some concerns", "differs": False}
    assert len(entry["answers"]) == len(BRAVO) and entry["answers"][5]["comment"] == "not reported"


def test_incomplete_answers_say_what_is_needed(tmp_path):
    review = load_review(_folder(tmp_path, BRAVO[:2]))
    (row,) = rob2_rows(review, "events", {})
    assert row["domains"][0]["judgement"] == "entered: low (answers incomplete) (needs 1.3)"
    assert row["domains"][2] == {"answers": "—", "judgement": "entered: low (answers incomplete) (needs 3.1)"}


GRADE = """outcome,domain,rating,reason,who,when
events,risk_of_bias,-1,Open label,ann,2026-12-06
events,inconsistency,0,,ann,2026-12-06
events,indirectness,0,,ann,2026-12-06
events,imprecision,-1,Few events,ann,2026-12-06
events,publication_bias,0,,ann,2026-12-06
events,large_effect,1,RR below 0.5 in every trial,ann,2026-12-06
"""


def test_run_writes_answers_to_results_json_and_report(tmp_path):
    out = tmp_path / "out"
    folder = _folder(tmp_path)
    (folder / "grade.csv").write_text(GRADE, encoding="utf-8")
    run_review(folder, out, docx=False, xlsx=False)
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    entry = doc["outcomes"][0]["rob2_signalling"]
    assert entry[0]["study"] == "bravo" and entry[0]["domains"]["D5"]["differs"] is True
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "RoB 2 signalling questions" in html
    assert "suggested: some concerns, entered: low — Registered plan (invented)" in html
    # GRADE from grade.csv: high − 1 − 1 + 1 = moderate, the reason to rate up with the others
    assert "<li>Large effect (rated up) (1): RR below 0.5 in every trial</li>" in html
    sof = (out / "sof.csv").read_text(encoding="utf-8")
    assert ",moderate,risk_of_bias (-1): Open label; imprecision (-1): Few events; large_effect (1):" in sof
