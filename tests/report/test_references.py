"""The reference list in Vancouver style, and the reading of studies.csv citations.

Expected strings are written by hand from the ICMJE recommendations (the NLM's *Citing
Medicine*, 2nd ed., ch. 1, journal articles): surname and initials without stops, the first
six authors then "et al.", the title, the journal's abbreviation, ``Year;Volume(Issue):Pages``
with the repeated leading digits of the last page dropped (``1300-1309`` → ``1300-9``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trialsynth.io.citations import Reference, expand_pages, parse_citation, review_references, vancouver_name
from trialsynth.io.review import load_review
from trialsynth.report.references import methods_paragraph, vancouver, vancouver_pages

CRT = Path(__file__).resolve().parents[2] / "examples" / "imaging-guided-crt"

SEVEN = ("Alpha AB", "Bravo C", "Charlie DE", "Delta E", "Echo FG", "Foxtrot G", "Golf H")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        # Seven authors: the first six, then et al.
        (
            Reference(
                key="a",
                authors=SEVEN,
                title="Drug A in adults",
                journal="Journal of Invented Medicine",
                journal_abbrev="J Invented Med",
                year=2001,
                volume="12",
                issue="3",
                pages="1300-1309",
            ),
            "Alpha AB, Bravo C, Charlie DE, Delta E, Echo FG, Foxtrot G, et al. Drug A in adults. "
            "J Invented Med. 2001;12(3):1300-9.",
        ),
        # Exactly six: all listed, no et al.
        (
            Reference(
                key="b",
                authors=SEVEN[:6],
                title="Six authors",
                journal_abbrev="N Engl J Med",
                year=2002,
                volume="347",
                issue="4",
                pages="284-287",
            ),
            "Alpha AB, Bravo C, Charlie DE, Delta E, Echo FG, Foxtrot G. Six authors. "
            "N Engl J Med. 2002;347(4):284-7.",
        ),
        # A title that ends with a question mark takes no extra stop; no issue.
        (
            Reference(
                key="c",
                authors=("Zulu Z",),
                title="Is drug A better?",
                journal_abbrev="Obs Stud J",
                year=2010,
                volume="3",
                pages="10-19",
            ),
            "Zulu Z. Is drug A better? Obs Stud J. 2010;3:10-9.",
        ),
        # An electronic page number; a source that lists only the first author (et al.).
        (
            Reference(
                key="d",
                authors=("Page MJ",),
                et_al=True,
                title="The PRISMA 2020 statement",
                journal_abbrev="BMJ",
                year=2021,
                volume="372",
                pages="n71",
            ),
            "Page MJ, et al. The PRISMA 2020 statement. BMJ. 2021;372:n71.",
        ),
        # Without an abbreviation the journal's name is used.
        (
            Reference(
                key="e",
                authors=("Smith JA", "Jones MK"),
                title="Drug A & mortality",
                journal="Invented Journal of Trials",
                year=2005,
                volume="7",
                pages="45-52",
            ),
            "Smith JA, Jones MK. Drug A & mortality. Invented Journal of Trials. 2005;7:45-52.",
        ),
        # A citation that could not be read into fields is printed as given.
        (
            Reference(
                key="f", year=1948, text="Aronson (1948); the full reference is in Colditz et al. 1994"
            ),
            "Aronson (1948); the full reference is in Colditz et al. 1994.",
        ),
    ],
)
def test_vancouver_by_hand(ref, expected):
    assert vancouver(ref) == expected


def test_page_ranges():
    assert vancouver_pages("1300-1309") == "1300-9"
    assert vancouver_pages("284-287") == "284-7"
    assert vancouver_pages("1509-18") == "1509-18"  # already elided
    assert vancouver_pages("99-101") == "99-101"  # different lengths: nothing to drop
    assert vancouver_pages("e1234") == "e1234"
    assert expand_pages("1509-18") == ("1509", "1518")
    assert expand_pages("427-34") == ("427", "434")


def test_author_names_in_vancouver_form():
    assert vancouver_name("Khan, Fakhar Z.") == "Khan FZ"
    assert vancouver_name("Jones, Mary-Kate") == "Jones MK"
    assert vancouver_name("Higgins, J. P. T.") == "Higgins JPT"
    assert vancouver_name("Khan FZ") == "Khan FZ"
    assert vancouver_name("Cochrane Heart Group") == "Cochrane Heart Group"


def test_crt_citations_read_from_studies_csv():
    """The bundled CRT review has no record store: its studies.csv citations are read."""
    included, excluded = review_references(load_review(CRT))
    assert excluded == []
    text = [vancouver(r) for r in included]
    assert text[:4] == [
        "Khan FZ, et al. J Am Coll Cardiol. 2012;59:1509-18.",
        "Saba S, et al. Circ Heart Fail. 2013;6:427-34.",
        "Sommer A, et al. Eur J Heart Fail. 2016;18(11):1365-74.",
        "Borgquist R, et al. Cardiac resynchronization therapy guided by echocardiography, MRI, and CT "
        "imaging: a randomized controlled study. JACC Clin Electrophysiol. 2020;6(10):1300-9.",
    ]
    assert included[0].pmid == "22405632"  # "(PubMed 22405632)" read, not printed as text
    assert included[0].origin == "studies.csv row 2, column citation"


def test_citation_of_another_shape_is_kept_verbatim():
    ref = parse_citation(
        "Glikson M et al. Raise CRT (~2022; full citation not in the evidence dossier)",
        key="raise",
        year=2022,
    )
    assert ref.text.startswith("Glikson M et al. Raise CRT") and ref.authors == () and ref.year == 2022


def test_methods_paragraph_cites_only_the_methods_used():
    review = load_review(CRT)  # DL; sensitivity FE and REML with Hartung–Knapp; RevMan's I²
    m = methods_paragraph(review, rob=False, prisma=False, sof=False, funnel=False, generator="trialsynth x")
    assert m["text"].startswith("Trials were pooled with DerSimonian–Laird random effects [1].")
    assert "[2]" in m["text"] and "Hartung–Knapp adjustment [3]" in m["text"]
    assert [r.split(".")[0] for r in m["references"]] == [
        "DerSimonian R, Laird N",
        "Viechtbauer W",
        "Hartung J, Knapp G",
        "Higgins JPT, Thompson SG",
    ]
    assert "PRISMA" not in m["text"] and "GRADE" not in m["text"]


def test_methods_paragraph_says_how_double_zero_trials_were_handled():
    # The catheter review (metafor profile; REML on ORs, MH and GLMM sensitivity analyses): its
    # inverse-variance OR keeps the double-zero trial (metafor's rma/escalc, drop00 = FALSE) and
    # Mantel–Haenszel leaves it out (rma.mh, drop00 = TRUE).
    review = load_review(CRT.parent / "catheter-infections")
    m = methods_paragraph(review, rob=False, prisma=False, sof=False, funnel=False, generator="trialsynth x")
    assert "trials with no events (or only events) in both arms included, as metafor's default" in m["text"]
    assert "Mantel–Haenszel and Peto analyses left trials with no events in both arms out." in m["text"]
    # The same review under the RevMan profile: left out, as RevMan 5.
    revman = dataclasses.replace(review, analysis=dataclasses.replace(review.analysis, profile="revman"))
    m = methods_paragraph(revman, rob=False, prisma=False, sof=False, funnel=False, generator="trialsynth x")
    assert "left out trials with no events (or only events) in both arms, as RevMan 5 does" in m["text"]
    # The same outcomes as continuous mean differences: no 2×2 tables, no sentence.
    means = dataclasses.replace(review, outcomes=tuple(
        dataclasses.replace(o, data_type="continuous", measure="MD") for o in review.outcomes
    ))
    m = methods_paragraph(means, rob=False, prisma=False, sof=False, funnel=False, generator="trialsynth x")
    assert "both arms" not in m["text"]
