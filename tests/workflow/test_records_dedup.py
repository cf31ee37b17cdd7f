"""De-duplication across sources: identifiers, the fuzzy match, user decisions, counts."""

import json
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialsynth._core.errors import TrialsynthWarning
from trialsynth.cli import main
from trialsynth.io.records.importing import import_file
from trialsynth.io.records.store import NewRecord, open_store
from trialsynth.workflow.records.dedup import (
    find_duplicates,
    normalise_title,
    source_counts,
    surname,
    title_similarity,
)

SAMPLES = Path(__file__).parents[1] / "fixtures" / "records"
ALL = ("pubmed.nbib", "pubmed.xml", "embase.ris", "wos.bib", "scopus.csv")


def _import_all(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        with open_store(folder) as store:
            for name in ALL:
                import_file(store, SAMPLES / name, search_date="2024-05-01")


def test_normalised_title_and_surname():
    assert (
        normalise_title("Cardiac magnetic résonance-guided CRT: A pilot!")
        == "cardiacmagneticresonanceguidedcrtapilot"
    )
    assert normalise_title("  ") == ""
    assert [
        surname(a) for a in ("Müller, Jürgen", "Muller, J.", "Müller J", "John Smith", "van der Berg AB", "")
    ] == [
        "muller",
        "muller",
        "muller",
        "smith",
        "vanderberg",
        "",
    ]


def test_title_similarity_is_twice_the_lcs_over_the_total_length():
    # 2·LCS / T: "abcd" vs "abce" have the common subsequence "abc" (3) of 8 characters in all.
    assert title_similarity("abcd", "abce") == pytest.approx(2 * 3 / 8, rel=0, abs=1e-15)
    a = normalise_title("Cardiac magnetic resonance guided CRT: a pilot randomised study.")
    b = normalise_title("Cardiac magnetic resonance-guided CRT: A pilot randomized study")
    assert len(a) == len(b)  # one letter differs (s/z): LCS = L - 1, T = 2L
    assert title_similarity(a, b) == pytest.approx((len(a) - 1) / len(a), rel=0, abs=1e-15)
    assert title_similarity("", b) == 0.0
    # Transposed words: "abcxyz" vs "xyzabc" share "abc" (or "xyz"): 2·3/12.
    assert title_similarity("abcxyz", "xyzabc") == pytest.approx(0.5, rel=0, abs=1e-15)


def test_samples_give_the_expected_pairs(tmp_path):
    # Records in import order: nbib 1-3, xml 4-5, ris 6-8, bib 9-10, csv 11-12.
    _import_all(tmp_path)
    with open_store(tmp_path) as store:
        summary = find_duplicates(store)
        pairs = {(p.record_a, p.record_b): (p.reason, p.decision, p.decided_by) for p in store.pairs()}
        assert pairs == {
            (1, 4): ("doi", "duplicate", "auto"),  # same PubMed record, nbib and xml
            (1, 6): ("doi", "duplicate", "auto"),  # Embase, DOI written as a resolver URL in capitals
            (1, 11): ("doi", "duplicate", "auto"),  # Scopus
            (2, 5): ("doi", "duplicate", "auto"),
            (2, 9): ("doi", "duplicate", "auto"),  # Web of Science
            (3, 7): ("fuzzy", None, ""),  # no DOI: title, year and surname (Müller/Muller)
            (8, 10): ("fuzzy", None, ""),  # conference abstract in Embase and WoS
        }
        assert summary == {"new_pairs": 7, "auto_accepted": 5, "undecided": 2}
        assert find_duplicates(store) == {"new_pairs": 0, "auto_accepted": 0, "undecided": 2}
        store.decide_pair(6, "duplicate", "ann")
        store.decide_pair(7, "not_duplicate", "ann")
        counts = {
            c.database: (c.records, c.duplicates_removed, c.unique, c.undecided) for c in source_counts(store)
        }
        # Kept: 1, 2, 3 (PubMed), 8 (Embase), 10 (WoS), 12 (Scopus).
        assert counts == {
            "PubMed": (5, 2, 3, 0),
            "Embase": (3, 2, 1, 0),
            "Web of Science": (2, 1, 1, 0),
            "Scopus": (2, 1, 1, 0),
        }
        find_duplicates(store)  # a re-run keeps the user's decisions
        assert [p.decision for p in store.pairs()][-2:] == ["duplicate", "not_duplicate"]


def _records(store, *specs):
    records = [NewRecord(line=i + 1, raw=str(i), fields={}, **spec) for i, spec in enumerate(specs)]
    store.add_import(file_name="t", sha256="t", format="csv", database="Test", records=records)


TITLE = "Imaging guided lead placement for cardiac resynchronisation: randomised trial"


def test_fuzzy_rules(tmp_path):
    with open_store(tmp_path) as store:
        _records(
            store,
            {"title": TITLE, "year": 2020, "authors": ("Smith, A",)},
            {"title": TITLE, "year": 2021, "authors": ("Smith A",)},  # a year apart: candidate
            {"title": TITLE, "year": 2022, "authors": ("Smith, A",)},  # two years from 1, one from 2
            {"title": TITLE, "year": 2020, "authors": ("Jones, B",)},  # another first author: no
            {"title": TITLE, "year": 2020, "authors": ("Smith, A",), "doi": "10.1/a"},
            {
                "title": TITLE,
                "year": 2020,
                "authors": ("Smith, A",),
                "doi": "10.1/b",
            },  # DOIs differ from 5: no
            {"title": "Something else entirely about pacing", "year": 2020, "authors": ("Smith, A",)},
        )
        find_duplicates(store)
        fuzzy = {(p.record_a, p.record_b) for p in store.pairs() if p.reason == "fuzzy"}
    # 1-3 and 3-5, 3-6: two years apart; 4: another first author; 5-6: different DOIs; 7: another title.
    assert fuzzy == {(1, 2), (1, 5), (1, 6), (2, 3), (2, 5), (2, 6)}


def test_shared_doi_with_different_titles_is_left_to_the_user(tmp_path):
    with open_store(tmp_path) as store:
        _records(
            store,
            {"title": "Abstract 101: lead position and response", "doi": "10.1/suppl"},
            {"title": "Abstract 102: anaesthesia for device implantation", "doi": "10.1/suppl"},
        )
        assert find_duplicates(store) == {"new_pairs": 1, "auto_accepted": 0, "undecided": 1}


def test_cli_interactive_auto_and_json(tmp_path):
    _import_all(tmp_path)
    runner = CliRunner()
    auto = runner.invoke(main, ["records", "dedup", str(tmp_path), "--auto"])
    assert auto.exit_code == 0, auto.output
    assert "7 new candidate pair(s); 5 accepted by DOI/PMID; 2 awaiting a decision" in auto.output
    assert (
        "  PubMed (database): 5 records, 2 removed as duplicates, 3 unique, 1 in undecided pairs"
        in auto.output
    )
    silent = runner.invoke(main, ["records", "dedup", str(tmp_path)])  # no answers on standard input
    assert silent.exit_code == 0 and "remaining pairs stay undecided" in silent.output
    assert "2 awaiting a decision" in silent.output
    asked = runner.invoke(main, ["records", "dedup", str(tmp_path), "--by", "ann"], input="y\nn\n")
    assert asked.exit_code == 0, asked.output
    assert asked.output.count("Same record?") == 2 and "0 awaiting a decision" in asked.output
    listed = runner.invoke(main, ["records", "dedup", str(tmp_path), "--list", "--json"])
    doc = json.loads(listed.output)
    assert [(p["a"]["id"], p["b"]["id"], p["decision"], p["decided_by"]) for p in doc["pairs"][-2:]] == [
        (3, 7, "duplicate", "ann"),
        (8, 10, "not_duplicate", "ann"),
    ]
    assert doc["sources"][1] == {
        "database": "Embase",
        "kind": "database",
        "records": 3,
        "duplicates_removed": 2,
        "unique": 1,
        "undecided": 0,
    }
    assert "duplicate" in (tmp_path / "records" / "duplicate_decisions.csv").read_text(encoding="utf-8")


def test_cli_dedup_needs_a_store(tmp_path):
    result = CliRunner().invoke(main, ["records", "dedup", str(tmp_path)])
    assert result.exit_code == 2 and "no record store yet" in result.output
