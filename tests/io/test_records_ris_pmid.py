"""PMIDs in RIS exports: read where exports put them, so that duplicates match by PMID across
RIS and PubMed sources. The samples are written here, one per convention:

* a number labelled as a PMID ("PMID: 12345678", as NLM labels it; "PubMed ID"; "PUBMED
  12345678") in an identifier or note field (AN, ID, N1, M1–M3, C1–C8, U1–U5);
* the accession number AN of a record whose database (DB, or the source the import names) is
  MEDLINE or PubMed: PubMed's accession number is the PMID;
* an accession number of another database (here Embase's) is not a PMID.
"""

from __future__ import annotations

from trialsynth.io.records.importing import import_file
from trialsynth.io.records.parsers import parse_text, ris_pmid
from trialsynth.io.records.store import open_store
from trialsynth.workflow.records.dedup import find_duplicates

TITLE = "Echocardiography-guided left ventricular lead placement: a randomized controlled trial"


def _ris(*records: list[str]) -> str:
    return "".join(
        "\n".join(["TY  - JOUR", f"TI  - {TITLE}", *lines, "ER  - ", ""]) + "\n" for lines in records
    )


def test_each_convention_gives_the_pmid():
    text = _ris(
        ["DB  - Ovid MEDLINE(R)", "AN  - 23092651"],  # MEDLINE accession number
        [
            "DB  - Cochrane Central Register of Controlled Trials",
            "AN  - CN-00876543",
            "M2  - PUBMED 23092651",
        ],
        ["N1  - PMID: 23092651"],
        ["ID  - 17", "N1  - Export Date: 1 May 2024; PubMed ID: 23092651"],
        ["C2  - pmid:23092651"],  # any case, no space
    )
    records = parse_text(text, "ris", "sample.ris").records
    assert [r.pmid for r in records] == ["23092651"] * 5


def test_numbers_that_are_not_pmids_are_left_alone():
    text = _ris(
        ["DB  - Embase", "AN  - 2012345678"],  # Embase accession number
        ["DB  - Embase", "AN  - 612345"],  # a short one too: Embase's, not PubMed's
        ["AB  - Earlier trials (PMID: 11111111) found no effect."],  # the abstract cites another
        ["AN  - 23092651"],  # no database named: an accession number of unknown origin
        ["N1  - PMID: 123456789"],  # nine digits: not a PMID
    )
    records = parse_text(text, "ris", "sample.ris").records
    assert [r.pmid for r in records] == [""] * 5


def test_two_different_pmids_are_a_warning_and_none_is_used():
    result = parse_text(_ris(["N1  - PMID: 23092651", "M1  - PMID: 19811911"]), "ris", "two.ris")
    assert result.records[0].pmid == ""
    assert result.warnings == [
        "two.ris, line 1: the record names several PMIDs (23092651, 19811911); none is used for matching"
    ]
    assert ris_pmid({"N1": ["PMID: 23092651"], "M1": ["PMID 23092651"]}) == ("23092651", ["23092651"])


def test_the_source_named_at_import_counts_when_the_record_has_no_db(tmp_path):
    path = tmp_path / "pubmed-derived.ris"
    path.write_text(_ris(["AN  - 23092651"]), encoding="utf-8")
    with open_store(tmp_path) as store:
        import_file(store, path, database="PubMed", search_date="2024-05-01")
        assert [r.pmid for r in store.records()] == ["23092651"]


def test_dedup_matches_by_pmid_across_ris_and_medline(tmp_path):
    # the same trial from MEDLINE (.nbib), CENTRAL (RIS) and Ovid MEDLINE (RIS), none with a
    # DOI and with titles written differently enough that only the PMID joins them surely
    nbib = tmp_path / "pubmed.nbib"
    nbib.write_text(
        "PMID- 23092651\nTI  - Echocardiography guided LV lead placement (TARGET): randomised trial.\n"
        "AU  - Khan FZ\nDP  - 2012\n\n",
        encoding="utf-8",
    )
    central = tmp_path / "central.ris"
    central.write_text(
        "TY  - JOUR\nTI  - Targeted left ventricular lead placement to guide cardiac resynchronization "
        "therapy\nAU  - Khan, F. Z.\nPY  - 2012\nAN  - CN-00876543\nM2  - PUBMED 23092651\nER  - \n",
        encoding="utf-8",
    )
    embase = tmp_path / "embase.ris"
    embase.write_text(
        "TY  - JOUR\nTI  - An unrelated trial\nAU  - Other, A.\nPY  - 2012\nDB  - Embase\nAN  - 23092651\n"
        "ER  - \n",
        encoding="utf-8",
    )
    with open_store(tmp_path) as store:
        import_file(store, nbib, database="PubMed", search_date="2024-05-01")
        import_file(store, central, database="CENTRAL", search_date="2024-05-01")
        import_file(store, embase, database="Embase", search_date="2024-05-01")
        find_duplicates(store)
        pairs = [(p.record_a, p.record_b, p.reason) for p in store.pairs()]
    # records 1 (PubMed) and 2 (CENTRAL) share PMID 23092651; Embase's accession number,
    # the same digits by chance, is not a PMID
    assert pairs == [(1, 2, "pmid")]
