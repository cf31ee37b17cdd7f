"""Web of Science plain-text export (Clarivate, "Web of Science Core Collection Field Tags"):
a sample written here, read field by field, imported, exported and read back."""

from __future__ import annotations

import csv
import json

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.records.export import export_store
from trialsynth.io.records.importing import import_file
from trialsynth.io.records.parsers import detect_format, parse_text
from trialsynth.io.records.store import open_store
from trialsynth.workflow.records.dedup import find_duplicates

HEADER = "\ufeffFN Clarivate Analytics Web of Science\nVR 1.0\n"
RECORD_1 = """PT J
AU Khan, FZ
   Virdee, MS
   Palmer, CR
AF Khan, Fakhar Z.
   Virdee, Mumohan S.
   Palmer, Christopher R.
TI Targeted left ventricular lead placement to guide cardiac
   resynchronization therapy: the TARGET study
SO JOURNAL OF THE AMERICAN COLLEGE OF CARDIOLOGY
LA English
DT Article
DE cardiac resynchronization therapy; speckle tracking; lead position
AB Background
   Lead position matters.
   Methods
   We randomized 220 patients.
C1 [Khan, Fakhar Z.] Papworth Hosp, Cambridge, England.
   [Virdee, Mumohan S.] Papworth Hosp, Cambridge, England.
PY 2012
VL 59
IS 17
BP 1509
EP 1518
DI 10.1016/j.jacc.2011.12.030
UT WOS:000302857400005
PM 22405632
ER
"""
RECORD_2 = """PT J
AU Saba, S
TI Echocardiography-guided left ventricular lead placement
SO CIRCULATION-HEART FAILURE
DT Article
PY 2013
VL 6
IS 3
AR e000123
DI https://doi.org/10.1161/CIRCHEARTFAILURE.112.000078
UT WOS:000319470600012
ER
"""
SAMPLE = HEADER + RECORD_1 + "\n" + RECORD_2 + "\nEF\n"


def test_fields_are_read_by_the_documented_tags():
    result = parse_text(SAMPLE, "wos", "savedrecs.txt")
    assert result.warnings == [] and result.skipped == 0 and result.database == "Web of Science"
    first, second = result.records
    assert first.line == 3 and second.line == 3 + RECORD_1.count("\n") + 1
    assert first.title == (
        "Targeted left ventricular lead placement to guide cardiac resynchronization therapy: "
        "the TARGET study"
    )
    assert first.authors == ("Khan, FZ", "Virdee, MS", "Palmer, CR")  # one author a line
    assert first.fields["AF"] == ["Khan, Fakhar Z.", "Virdee, Mumohan S.", "Palmer, Christopher R."]
    assert first.fields["C1"] == [
        "[Khan, Fakhar Z.] Papworth Hosp, Cambridge, England.",
        "[Virdee, Mumohan S.] Papworth Hosp, Cambridge, England.",
    ]
    assert first.abstract == "Background Lead position matters. Methods We randomized 220 patients."
    assert (first.year, first.journal, first.volume, first.issue, first.pages) == (
        2012,
        "JOURNAL OF THE AMERICAN COLLEGE OF CARDIOLOGY",
        "59",
        "17",
        "1509-1518",
    )
    assert (first.doi, first.pmid, first.record_type) == ("10.1016/j.jacc.2011.12.030", "22405632", "Article")
    assert first.keywords == ("cardiac resynchronization therapy", "speckle tracking", "lead position")
    assert first.fields["UT"] == ["WOS:000302857400005"]
    # an article number stands for pages; the DOI loses its resolver prefix and its case
    assert (second.pages, second.doi, second.pmid) == ("e000123", "10.1161/circheartfailure.112.000078", "")
    # each record's text is kept verbatim, from PT to ER
    assert first.raw == RECORD_1 and second.raw == RECORD_2


def test_format_is_recognised_by_its_header_or_the_ciw_extension():
    assert detect_format("savedrecs.txt", SAMPLE) == "wos"
    assert detect_format("savedrecs.txt", SAMPLE.replace("\n", "\r\n")) == "wos"
    assert detect_format("export.ciw", "PT J\n") == "wos"


def test_round_trip_through_the_store_and_its_csv_export(tmp_path):
    path = tmp_path / "savedrecs.txt"
    path.write_bytes(SAMPLE.encode("utf-8"))
    review = tmp_path / "review"
    review.mkdir()
    with open_store(review) as store:
        outcome = import_file(store, path, search_date="2024-05-01")
        assert outcome.info.database == "Web of Science" and outcome.info.format == "wos"
        export_store(store, review)
        stored = store.records()
    with open(review / "records" / "records.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # what was read comes back from the CSV copy as it was in the file
    assert [row["raw"] for row in rows] == [RECORD_1, RECORD_2]
    assert [json.loads(row["fields"]) for row in rows] == [r.fields for r in stored]
    assert [(row["title"], row["doi"], row["pmid"]) for row in rows] == [
        (stored[0].title, "10.1016/j.jacc.2011.12.030", "22405632"),
        (stored[1].title, "10.1161/circheartfailure.112.000078", ""),
    ]
    # and the records read back parse to the same fields
    again = parse_text(HEADER + "".join(row["raw"] + "\n" for row in rows) + "EF\n", "wos", "again.txt")
    assert [r.fields for r in again.records] == [r.fields for r in stored]


def test_pubmed_id_joins_a_wos_record_to_its_pubmed_twin(tmp_path):
    wos = tmp_path / "savedrecs.txt"
    wos.write_text(SAMPLE, encoding="utf-8")
    nbib = tmp_path / "pubmed.nbib"
    nbib.write_text(
        "PMID- 22405632\nTI  - Targeted left ventricular lead placement to guide cardiac "
        "resynchronization therapy: the TARGET study.\nAU  - Khan FZ\nDP  - 2012 Apr 24\n\n",
        encoding="utf-8",
    )
    with open_store(tmp_path) as store:
        import_file(store, wos, search_date="2024-05-01")
        import_file(store, nbib, database="PubMed", search_date="2024-05-01")
        find_duplicates(store)
        assert [(p.record_a, p.record_b, p.reason, p.decision) for p in store.pairs()] == [
            (1, 3, "pmid", "duplicate")
        ]


def test_damaged_files_give_warnings_naming_the_line():
    no_er = HEADER + RECORD_1.replace("ER\n", "") + RECORD_2 + "EF\n"
    result = parse_text(no_er, "wos", "cut.txt")
    assert [r.title for r in result.records] == ["Echocardiography-guided left ventricular lead placement"]
    assert result.skipped == 1
    assert result.warnings[0].startswith("cut.txt, line 3: the record starting here has no 'ER' line")
    truncated = parse_text(HEADER + RECORD_1, "wos", "short.txt")
    assert len(truncated.records) == 1
    assert truncated.warnings == [
        f"short.txt, line {2 + RECORD_1.count(chr(10))}: the file does not end with 'EF': "
        "it may have been cut short"
    ]
    stray = parse_text(HEADER + "TI stray title\n" + RECORD_2 + "EF\n", "wos", "stray.txt")
    assert len(stray.records) == 1
    assert stray.warnings == [
        "stray.txt, line 3: a 'TI' line outside a record (records start with 'PT') was not read"
    ]
    with pytest.raises(InputError, match="not a Web of Science plain-text file"):
        parse_text("TY  - JOUR\nER  - \n", "wos", "x.ris")
