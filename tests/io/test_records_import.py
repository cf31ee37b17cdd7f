"""Importing search exports: one small sample per format, written by hand to each format's
published specification (cited in trialsynth.io.records.parsers and below), read back field by
field, kept verbatim, and round-tripped through the store's CSV export.

Samples (tests/fixtures/records/): fictional trials with DOIs under the test prefix 10.5555.
* pubmed.nbib — NLM "MEDLINE/PubMed Data Element (Field) Descriptions": tag in columns 1–4,
  hyphen in column 5, continuation lines indented six spaces, blank line between records.
* pubmed.xml — NLM PubMed DTD (pubmed_250101.dtd): PubmedArticleSet/PubmedArticle.
* embase.ris — RIS format specification (Research Information Systems): "TG  - value", TY
  first and ER last; CRLF line ends and a wrapped abstract line, as Embase writes them.
* wos.bib — BibTeX (Patashnik, "BibTeXing", 1988) in Web of Science's export layout.
* scopus.csv — RFC 4180 CSV with Scopus's export headers, one title wrapped inside quotes.
"""

import csv
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.cli import main
from trialsynth.io.records.export import export_store
from trialsynth.io.records.importing import import_file
from trialsynth.io.records.parsers import decode, parse_text
from trialsynth.io.records.store import open_store

SAMPLES = Path(__file__).parents[1] / "fixtures" / "records"
TITLE_A = (
    "Echocardiography-guided left ventricular lead placement in cardiac resynchronization therapy: "
    "a randomized controlled trial."
)


def _import(tmp_path, name, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        with open_store(tmp_path) as store:
            outcome = import_file(store, SAMPLES / name, **kw)
            return outcome, store.records()


def _columns(r):
    return (r.title, r.authors, r.year, r.journal, r.volume, r.issue, r.pages, r.doi, r.pmid)


def _round_trip(tmp_path, records):
    """Export the store as CSV and import records.csv into a fresh store: same records."""
    with open_store(tmp_path) as store:
        export_store(store, tmp_path)
    second = tmp_path / "again"
    second.mkdir()
    with open_store(second) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        import_file(store, tmp_path / "records" / "records.csv", database="copy")
        copies = store.records()
    assert [_columns(c) for c in copies] == [_columns(r) for r in records]
    assert [c.raw for c in copies] == [r.raw for r in records]
    assert [c.fields for c in copies] == [r.fields for r in records]
    assert [c.keywords for c in copies] == [r.keywords for r in records]


def _raw_is_verbatim(records, name):
    text = (SAMPLES / name).read_bytes().decode("utf-8")
    lines = text.splitlines(keepends=True)
    for r in records:
        assert "".join(lines[r.line - 1 :]).startswith(r.raw)


def test_medline(tmp_path):
    outcome, records = _import(tmp_path, "pubmed.nbib", search_date="2024-05-01")
    info = outcome.info
    assert (info.format, info.database, info.kind, info.search_date, info.n_records) == (
        "medline",
        "PubMed",
        "database",
        "2024-05-01",
        3,
    )
    a, b, c = records
    # Continuation lines join with one space (six-space indent removed).
    assert a.title == TITLE_A
    assert a.abstract.startswith(
        "BACKGROUND: Lead position matters. METHODS: We randomly assigned 120 patients to"
    )
    assert a.authors == ("Hansen, Peter", "Jensen, Anne")  # FAU preferred to AU
    assert (a.year, a.journal, a.volume, a.issue, a.pages) == (
        2019,
        "Journal of cardiac pacing",
        "12",
        "3",
        "145-153",
    )
    assert (a.doi, a.pmid, a.line) == ("10.5555/jcp.2019.0145", "31000001", 1)
    assert a.record_type == "Journal Article; Randomized Controlled Trial"
    assert a.fields["PT"] == ["Journal Article", "Randomized Controlled Trial"]
    assert a.fields["SO"] == ["J Card Pacing. 2019 Mar;12(3):145-153. doi: 10.5555/jcp.2019.0145."]
    assert (b.doi, b.year, b.line) == ("10.5555/ehj.2021.0077", 2021, 29)  # from AID [doi], lower case
    assert b.fields["AID"][0] == "10.5555/EHJ.2021.0077 [doi]"  # as written
    assert (c.doi, c.authors, c.pmid) == ("", ("Müller, Jürgen",), "29000003")
    _raw_is_verbatim(records, "pubmed.nbib")
    _round_trip(tmp_path, records)


def test_pubmed_xml(tmp_path):
    outcome, records = _import(tmp_path, "pubmed.xml")
    assert (outcome.info.format, outcome.info.database) == ("pubmed_xml", "PubMed")
    a, b = records
    assert a.title == TITLE_A and a.pmid == "31000001" and a.line == 4
    assert a.abstract == (
        "BACKGROUND: Lead position matters.\n"
        "METHODS: We randomly assigned 120 patients to guided or standard lead placement."
    )
    assert a.authors == ("Hansen, Peter", "Jensen, Anne")
    assert (a.year, a.journal, a.volume, a.issue, a.pages) == (
        2019,
        "Journal of cardiac pacing",
        "12",
        "3",
        "145-153",
    )
    assert a.keywords == ("speckle tracking", "Cardiac Resynchronization Therapy")
    # Inline markup flattened; MedlineDate's year; collective author kept; DOI from ArticleIdList.
    assert b.title == "Speckle-tracking targeted lead positioning versus standard care: the TARGET-X trial."
    assert (b.year, b.authors, b.doi) == (
        2021,
        ("Okafor, Chinedu", "TARGET-X Investigators"),
        "10.5555/ehj.2021.0077",
    )
    assert a.raw.startswith("<PubmedArticle>") and a.raw.endswith("</PubmedArticle>")
    assert a.raw in (SAMPLES / "pubmed.xml").read_text(encoding="utf-8")
    assert b.raw in (SAMPLES / "pubmed.xml").read_text(encoding="utf-8")
    _round_trip(tmp_path, records)


def test_ris(tmp_path):
    outcome, records = _import(tmp_path, "embase.ris")
    assert (outcome.info.format, outcome.info.database) == ("ris", "Embase")  # from the DB tag
    a, c, d = records
    assert a.title == TITLE_A[:-1].replace(": a", ": A")
    assert a.authors == ("Hansen, P.", "Jensen, A.")
    assert (a.year, a.journal, a.volume, a.issue, a.pages) == (
        2019,
        "Journal of Cardiac Pacing",
        "12",
        "3",
        "145-153",
    )
    assert a.doi == "10.5555/jcp.2019.0145"  # resolver prefix removed, lower case
    assert a.fields["DO"] == ["https://doi.org/10.5555/JCP.2019.0145"]
    assert a.keywords == ("cardiac resynchronization therapy", "echocardiography")
    assert (c.year, c.line) == (2018, 19)  # "2018//"
    assert (d.record_type, d.journal, d.issue) == ("CONF", "Europace", "Suppl 1")
    assert (
        d.abstract
        == "Conference abstract. Imaging guidance was feasible in 40 patients and shortened procedure time."
    )
    assert a.raw.startswith("TY  - JOUR\r\n") and a.raw.endswith("ER  - \r\n")  # CRLF kept
    _raw_is_verbatim(records, "embase.ris")
    _round_trip(tmp_path, records)


def test_bibtex(tmp_path):
    outcome, records = _import(tmp_path, "wos.bib")
    assert (outcome.info.format, outcome.info.database) == ("bibtex", "Web of Science")
    b, d = records
    assert b.title == "Speckle-tracking targeted lead positioning versus standard care: the TARGET-X trial"
    assert b.authors == ("Okafor, Chinedu", "Lindqvist, Maria")
    assert (b.year, b.journal, b.volume, b.pages, b.doi) == (
        2021,
        "European Heart Journal - Pacing",
        "4",
        "77-85",
        "10.5555/ehj.2021.0077",
    )
    assert d.authors == ("Rossi, Giulia", "Müller, Jürgen")  # LaTeX accents decoded
    assert d.fields["author"] == ['Rossi, Giulia and M{\\"{u}}ller, J{\\"{u}}rgen']  # as written
    assert (d.record_type, d.journal, d.line) == ("inproceedings", "Europace", 13)
    _raw_is_verbatim(records, "wos.bib")
    _round_trip(tmp_path, records)


def test_csv(tmp_path):
    outcome, records = _import(tmp_path, "scopus.csv")
    assert (outcome.info.format, outcome.info.database) == ("csv", "Scopus")  # from the Source column
    a, e = records
    assert a.title == TITLE_A[:-1]
    assert (a.authors, a.pages, a.pmid, a.doi) == (
        ("Hansen P.", "Jensen A."),
        "145-153",
        "31000001",
        "10.5555/jcp.2019.0145",
    )
    assert e.title == "Left ventricular lead position and outcomes: a registry\nanalysis"  # quoted newline
    assert (e.line, e.pmid) == (3, "")
    _raw_is_verbatim(records, "scopus.csv")
    _round_trip(tmp_path, records)


# ------------------------------------------------------------------ malformed input


def test_malformed_medline_record_is_skipped_with_its_line(tmp_path):
    text = (SAMPLES / "pubmed.nbib").read_text(encoding="utf-8")
    text = text.replace("FAU - Okafor, Chinedu\n", "Okafor, Chinedu (no tag)\n")
    result = parse_text(text, "medline", "bad.nbib")
    assert [r.pmid for r in result.records] == ["31000001", "29000003"]
    assert result.skipped == 1
    assert result.warnings == [
        "bad.nbib, line 29: malformed MEDLINE record (line 38 is neither a 'TAG - value' line nor a "
        "continuation); the record was skipped"
    ]


def test_ris_record_without_end_is_skipped(tmp_path):
    text = (
        (SAMPLES / "embase.ris")
        .read_bytes()
        .decode("utf-8")
        .replace("EP  - 18\r\nER  - \r\n", "EP  - 18\r\n", 1)
    )
    result = parse_text(text, "ris", "bad.ris")
    assert [r.line for r in result.records] == [1, 31]
    assert result.skipped == 1
    assert result.warnings[0].startswith("bad.ris, line 19: the record starting here has no 'ER  - ' line")


def test_broken_bibtex_entry_is_skipped(tmp_path):
    text = (
        "@article{a, title = {Fine}, year = 2020}\n\n@article{b, title = {unclosed, year = 2021\n\n"
        "@article{c, title = {Also fine}, year = 2022}\n"
    )
    result = parse_text(text, "bibtex", "bad.bib")
    assert [r.title for r in result.records] == ["Fine", "Also fine"]
    assert result.skipped == 1 and result.warnings[0].startswith("bad.bib, line 3: malformed BibTeX entry")


def test_pubmed_csv_layout():
    # PubMed's "Save → CSV" columns; authors as "Surname Initials" separated by commas.
    text = (
        "PMID,Title,Authors,Citation,First Author,Journal/Book,Publication Year,Create Date,PMCID,"
        "NIHMS ID,DOI\n"
        '31000001,"Echocardiography-guided lead placement.","Hansen P, Jensen A",'
        '"J Card Pacing. 2019;12(3):145-153.",'
        '"Hansen P","J Card Pacing",2019,2019/01/11,,,10.5555/jcp.2019.0145\n'
    )
    result = parse_text(text, "csv", "csv-pubmed.csv")
    (r,) = result.records
    assert result.database == "PubMed"
    assert (r.pmid, r.authors, r.year, r.journal, r.doi) == (
        "31000001",
        ("Hansen P", "Jensen A"),
        2019,
        "J Card Pacing",
        "10.5555/jcp.2019.0145",
    )


def test_csv_row_with_wrong_width_is_skipped():
    text = "title,year\nOne,2020\nTwo,2021,extra\nThree,2022\n"
    result = parse_text(text, "csv", "bad.csv")
    assert [r.title for r in result.records] == ["One", "Three"]
    assert result.warnings == [
        "bad.csv, line 3: the row has 3 cells but the header has 2; the record was skipped"
    ]


@pytest.mark.parametrize(
    ("format", "text", "message"),
    [
        ("medline", "TI  - no pmid anywhere\n", "not a MEDLINE/PubMed text file"),
        ("ris", "@article{a, title={x}}\n", "not a RIS file"),
        ("bibtex", "TY  - JOUR\nER  - \n", "not a BibTeX file"),
        ("csv", "name,value\nx,1\n", "no title column"),
        ("pubmed_xml", "<?xml version='1.0'?><root><a/></root>", "root element is <root>"),
        ("pubmed_xml", "<PubmedArticleSet>\n<PubmedArticle>\n</PubmedArticleSet>", "not well-formed"),
    ],
)
def test_a_file_that_is_not_the_format_is_refused(format, text, message):
    with pytest.raises(InputError, match=message):
        parse_text(text, format, "x")


def test_xml_line_of_the_error_is_named():
    with pytest.raises(InputError) as info:
        parse_text("<PubmedArticleSet>\n<PubmedArticle>\n</PubmedArticleSet>", "pubmed_xml", "x.xml")
    assert info.value.row == 3


def test_xml_entities_are_refused():
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>\n'
        "<PubmedArticleSet>&lol2;</PubmedArticleSet>"
    )
    with pytest.raises(InputError, match="entities"):
        parse_text(bomb, "pubmed_xml", "bomb.xml")


def test_xml_article_without_pmid_is_skipped():
    text = (
        (SAMPLES / "pubmed.xml").read_text(encoding="utf-8").replace('<PMID Version="1">33000002</PMID>', "")
    )
    result = parse_text(text, "pubmed_xml", "x.xml")
    assert [r.pmid for r in result.records] == ["31000001"]
    assert result.warnings == ["x.xml, line 64: <PubmedArticle> without a PMID; the record was skipped"]


# ------------------------------------------------------------------ encodings


def test_utf8_bom_is_accepted():
    text, encoding, notes = decode("\ufefftitle\nx\n".encode(), "f.csv")
    assert (text, encoding, notes) == ("title\nx\n", "utf-8-sig", [])


def test_windows_1252_is_read_with_a_warning_naming_the_line():
    data = "title,year\nCaf\u00e9 trial,2020\nPlain,2021\nNa\u00efve,2019\n".encode("cp1252")
    text, encoding, notes = decode(data, "old.csv")
    assert encoding == "cp1252" and "Café trial" in text
    assert notes[:2] == ["old.csv, line 2: not UTF-8 (byte 0xe9)", "old.csv, line 4: not UTF-8 (byte 0xef)"]
    assert "read as Windows-1252" in notes[2]


def test_bytes_that_no_encoding_reads_are_an_error():
    with pytest.raises(InputError, match="neither UTF-8 nor Windows-1252") as info:
        decode(b"title\nok\n\x81\x81\n", "bin.csv")
    assert info.value.row == 3


# ------------------------------------------------------------------ command line


def test_cli_import_reimport_and_errors(tmp_path):
    runner = CliRunner()
    files = [str(SAMPLES / n) for n in ("pubmed.nbib", "embase.ris")]
    result = runner.invoke(main, ["records", "import", str(tmp_path), *files, "--search-date", "2024-05-01"])
    assert result.exit_code == 0, result.output
    assert "pubmed.nbib: 3 records from PubMed (medline, database, searched 2024-05-01)" in result.output
    assert "embase.ris: 3 records from Embase (ris, database, searched 2024-05-01)" in result.output
    again = runner.invoke(main, ["records", "import", str(tmp_path), files[0]])
    assert again.exit_code == 0 and "already imported (import 1" in again.output
    with open_store(tmp_path) as store:
        assert store.count_records() == 6
    rows = list(csv.DictReader((tmp_path / "records" / "imports.csv").open(encoding="utf-8", newline="")))
    assert [r["database"] for r in rows] == ["PubMed", "Embase"]
    bad = tmp_path / "notes.ris"
    bad.write_text("just some notes\n", encoding="utf-8")
    refused = runner.invoke(main, ["records", "import", str(tmp_path), str(bad), str(SAMPLES / "wos.bib")])
    assert refused.exit_code == 2 and "not a RIS file" in refused.output
    assert "wos.bib: 2 records from Web of Science" in refused.output  # the good file still imported
    assert "1 of 2 file(s) not imported" in refused.output
    wrong_date = runner.invoke(
        main, ["records", "import", str(tmp_path), str(bad), "--search-date", "2024-13-01"]
    )
    assert wrong_date.exit_code == 2 and "not a date in the calendar" in wrong_date.output


def test_search_date_defaults_to_review_toml(tmp_path):
    (tmp_path / "review.toml").write_text('[search]\nlast_searched = "2021-03-15"\n', encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_store(tmp_path) as store:
            outcome = import_file(store, SAMPLES / "scopus.csv", review_dir=tmp_path)
    assert outcome.info.search_date == "2021-03-15"
    assert not [w for w in caught if "search date" in str(w.message)]


def test_missing_database_and_date_are_warned(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("title\nA trial\n", encoding="utf-8")
    with pytest.warns(TrialsynthWarning) as caught, open_store(tmp_path) as store:
        outcome = import_file(store, path)
    assert outcome.info.database == "mine"
    messages = [str(w.message) for w in caught]
    assert any("does not name its database; recorded as 'mine'" in m for m in messages)
    assert any("no search date given" in m for m in messages)


@pytest.mark.parametrize("name", ["pubmed.nbib", "pubmed.xml", "embase.ris", "wos.bib", "scopus.csv"])
def test_damaged_files_give_warnings_or_a_clear_error_never_a_crash(name):
    """Every cut of each sample, and copies with bytes overwritten, give either records with
    warnings or an InputError; no other exception escapes (seeded, so the run is repeatable)."""
    import random

    from trialsynth.io.records.parsers import FORMATS, detect_format

    data = (SAMPLES / name).read_bytes()
    rng = random.Random(20240501)
    variants = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 60))]
    for _ in range(60):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.choice(b'\x00\xff{}<>-\n\r",@ TYER')
        variants.append(bytes(damaged))
    fmt = detect_format(SAMPLES / name, data.decode("utf-8"))
    assert fmt in FORMATS
    for variant in variants:
        try:
            text, _, _ = decode(variant, name)
            result = parse_text(text, fmt, name)
        except InputError:
            continue
        assert all(w.startswith(name) for w in result.warnings)
