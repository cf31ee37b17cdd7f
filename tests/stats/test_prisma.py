"""PRISMA 2020 counts: the arithmetic that links the boxes (Page et al., BMJ 2021;372:n71, Fig. 1)."""

import pytest

from trialsynth._core.errors import InputError
from trialsynth.stats.prisma import check_prisma, prisma_from_mapping

# A flow worked by hand: 412 + 389 + 57 = 858 identified; 858 - 301 - 12 - 0 = 545 screened;
# 545 - 510 = 35 sought; 35 - 2 = 33 assessed; 33 - (18 + 7 + 2) = 6 reports included.
CONSISTENT = {
    "databases": {"PubMed": 412, "Embase": 389},
    "registers": {"ClinicalTrials.gov": 57},
    "duplicates_removed": 301,
    "automation_removed": 12,
    "records_screened": 545,
    "records_excluded": 510,
    "reports_sought": 35,
    "reports_not_retrieved": 2,
    "reports_assessed": 33,
    "reports_excluded": {"Not randomized": 18, "Wrong comparator": 7, "Conference abstract only": 2},
    "studies_included": 4,
    "reports_included": 6,
}


def test_consistent_flow_has_no_problems():
    counts = prisma_from_mapping(CONSISTENT)
    assert counts.records_identified == 858
    assert counts.reports_excluded_total == 27
    assert counts.other_removed == 0  # may be left out
    assert check_prisma(counts) == []
    doc = counts.to_json_dict()
    assert list(doc["identification"]["databases"]) == ["PubMed", "Embase"]  # order kept
    assert doc["screening"]["reports_excluded_total"] == 27
    assert doc["other_methods"] is None


def test_broken_arithmetic_is_named():
    counts = prisma_from_mapping({**CONSISTENT, "records_screened": 546, "reports_included": 5})
    problems = check_prisma(counts)
    assert any(p.startswith("records_screened is 546") and "545" in p for p in problems)
    assert any(p.startswith("reports_sought is 35") and "36" in p for p in problems)  # 546 - 510
    assert any(p.startswith("reports_included is 5") and "6" in p for p in problems)


def test_other_methods_column_adds_to_included():
    # 6 from databases + (5 sought - 1 not retrieved - 3 excluded) = 7 reports.
    table = {
        **CONSISTENT,
        "other_sources": {"Citation searching": 9},
        "other_reports_sought": 5,
        "other_reports_not_retrieved": 1,
        "other_reports_assessed": 4,
        "other_reports_excluded": {"Not randomized": 3},
        "reports_included": 7,
    }
    counts = prisma_from_mapping(table)
    assert counts.uses_other_methods
    assert check_prisma(counts) == []
    assert check_prisma(prisma_from_mapping({**table, "reports_included": 6}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"records_screened": 5.5}, "records_screened must be a whole number"),
        ({"records_screened": -1}, "must not be negative"),
        ({"record_screened": 1}, "unknown key 'record_screened'"),
        ({"databases": {"PubMed": True}}, "databases.PubMed must be a whole number"),
    ],
)
def test_bad_tables_are_refused(change, message):
    with pytest.raises(InputError, match=message):
        prisma_from_mapping({**CONSISTENT, **change}, file="review.toml")


def test_missing_required_count():
    table = dict(CONSISTENT)
    del table["records_excluded"]
    with pytest.raises(InputError, match="missing 'records_excluded'"):
        prisma_from_mapping(table)
