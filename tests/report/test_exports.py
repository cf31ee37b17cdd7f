"""The files reviewers exchange: report.docx, results.xlsx and the RIS/BibTeX references that
``trialsynth run`` writes beside report.html.

Each file is read back with an independent reader — python-docx, openpyxl, rispy, bibtexparser
— and compared with results.json (the workbook's floats to the 16 significant digits openpyxl
writes; the Word tables the strings the HTML report prints, formatted as it formats them) or with the
records the references came from, written out by hand below. The review is made up: the PRISMA
flow and GRADE judgements of tests/fixtures/reviews/flow with one outcome, a record store with
two included and two excluded reports, and a study labelled like a spreadsheet formula.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from tests.flow_review import FLOW
from trialsynth.cli.main import main

EXPORTS = ("report.docx", "results.xlsx", "included.ris", "included.bib", "excluded.ris", "excluded.bib")
INJECTION = '=HYPERLINK("http://example.invalid","click")'

STUDIES = f"""id,label,citation,year,n_randomised_treatment,n_randomised_control,source,kind
alpha,Alpha 2001,"Invented trial, for the tests",2001,100,100,invented,quoted
beta,Beta 2005,"Invented trial, for the tests",2005,150,150,invented,quoted
gamma,"{INJECTION.replace('"', '""')}","{{citation}}",2003,80,80,invented,quoted
""".replace("{citation}", "Doe J, Roe R. A made-up trial of drug A. Lancet 2003;361(9357):1-2")
# Seven more made-up trials, so that the outcome has the ten a funnel plot needs.
EXTRA = [(f"t{i}", 2005 + i, 4 + i, 50 + 5 * i, 8 + i, 50 + 5 * i) for i in range(4, 11)]
STUDIES += "".join(
    f"{sid},Trial {sid[1:]} {year},Invented,{year},{n},{n2},invented,quoted\n"
    for sid, year, _, n, _, n2 in EXTRA
)

OUTCOMES = """outcome,study,use,events_treatment,n_treatment,events_control,n_control,kind,source,note
death,alpha,yes,10,100,20,100,quoted,invented,
death,beta,yes,15,150,25,150,quoted,invented,
death,gamma,yes,8,80,12,80,quoted,invented,
""" + "".join(f"death,{sid},yes,{e1},{n1},{e2},{n2},quoted,invented,\n" for sid, _, e1, n1, e2, n2 in EXTRA)

ROB = (
    "study,outcome,D1,D2,D3,D4,D5,overall,D1_support,D2_support,D3_support,D4_support,D5_support,\
overall_support,source\n"
    + "".join(
        f"{sid},death,{d1},low,low,{d4},low,{overall},s,s,s,s,s,s,made up\n"
        for sid, d1, d4, overall in (
            ("alpha", "low", "low", "low"),
            ("beta", "some concerns", "low", "some concerns"),
            ("gamma", "low", "high", "high"),
        )
    )
)

# Four search records: two reports of included trials (alpha: seven authors, a journal
# abbreviation; beta: full given names, no abbreviation) and two excluded at full text.
RIS = """TY  - JOUR
AU  - Alpha, Anne B.
AU  - Bravo, Carl
AU  - Charlie, Dana E
AU  - Delta, Eve
AU  - Echo, Finn G
AU  - Foxtrot, Gus
AU  - Golf, Hal
TI  - Drug A against placebo in invented adults: a randomised trial
T2  - Journal of Invented Medicine
J2  - J Invented Med
PY  - 2001
VL  - 12
IS  - 3
SP  - 1300
EP  - 1309
DO  - 10.1234/jim.2001.1300
ER  -

TY  - JOUR
AU  - Smith, John Andrew
AU  - Jones, Mary-Kate
TI  - Drug A & mortality
T2  - Invented Journal of Trials
PY  - 2005
VL  - 7
SP  - 45
EP  - 52
ER  -

TY  - JOUR
AU  - Zulu, Zoe
TI  - Is drug A better?
T2  - Observational Studies Journal
J2  - Obs Stud J
PY  - 2010
VL  - 3
SP  - 10
EP  - 19
ER  -

TY  - JOUR
AU  - Yankee, Yuri
TI  - Drug B against placebo
T2  - Invented Journal of Trials
PY  - 2011
VL  - 8
IS  - 1
SP  - 5
EP  - 9
ER  -
"""

# Vancouver (ICMJE / NLM Citing Medicine), written out by hand for the records above.
VANCOUVER_INCLUDED = [
    "Alpha AB, Bravo C, Charlie DE, Delta E, Echo FG, Foxtrot G, et al. Drug A against placebo in invented "
    "adults: a randomised trial. J Invented Med. 2001;12(3):1300-9.",
    "Smith JA, Jones MK. Drug A & mortality. Invented Journal of Trials. 2005;7:45-52.",
    "Doe J, Roe R. A made-up trial of drug A. Lancet. 2003;361(9357):1-2.",
]
VANCOUVER_EXCLUDED = [
    "Zulu Z. Is drug A better? Obs Stud J. 2010;3:10-9.",
    "Yankee Y. Drug B against placebo. Invented Journal of Trials. 2011;8(1):5-9.",
]


def _make_review(root: Path) -> Path:
    from trialsynth.io.records.importing import import_file
    from trialsynth.io.records.store import open_store

    folder = root / "exports"
    folder.mkdir()
    toml = (FLOW / "review.toml").read_text(encoding="utf-8")
    toml = toml[: toml.index('[[outcomes]]\nid = "response"')]  # the first outcome only
    (folder / "review.toml").write_text(toml, encoding="utf-8")
    (folder / "studies.csv").write_text(STUDIES, encoding="utf-8")
    (folder / "outcomes.csv").write_text(OUTCOMES, encoding="utf-8")
    (folder / "risk_of_bias.csv").write_text(ROB, encoding="utf-8")
    (root / "search.ris").write_text(RIS.replace("ER  -\n", "ER  - \n"), encoding="utf-8")
    with open_store(folder) as store:
        import_file(store, root / "search.ris", database="MEDLINE", search_date="2024-01-31")
        by_author = {r.authors[0].split(",")[0]: r.id for r in store.records()}
        alpha, beta = by_author["Alpha"], by_author["Smith"]
        zulu, yankee = by_author["Zulu"], by_author["Yankee"]
        for rec in (alpha, beta, zulu, yankee):
            for reviewer in ("ann", "bob"):
                store.add_decision(rec, "title_abstract", reviewer, "include")
        for rec in (alpha, beta):
            for reviewer in ("ann", "bob"):
                store.add_decision(rec, "full_text", reviewer, "include")
        for reviewer in ("ann", "bob"):
            store.add_decision(zulu, "full_text", reviewer, "exclude", reason="Not randomized")
        store.add_decision(yankee, "full_text", "ann", "exclude", reason="Wrong comparator")
        store.add_decision(yankee, "full_text", "bob", "include")  # a conflict, resolved below
        store.resolve(yankee, "full_text", "exclude", "carol", reason="Wrong comparator")
    for record, study in ((alpha, "alpha"), (beta, "beta")):
        result = CliRunner().invoke(main, ["records", "link", str(folder), str(record), study])
        assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``trialsynth run`` on the made-up review (once for the module); returns (review, out)."""
    root = tmp_path_factory.mktemp("exports")
    folder = _make_review(root)
    out = root / "out"
    result = CliRunner().invoke(main, ["run", str(folder), "--out", str(out), "--no-pdf"])
    assert result.exit_code == 0, result.output
    return folder, out


@pytest.fixture(scope="module")
def results(run):
    return json.loads((run[1] / "results.json").read_text(encoding="utf-8"))


def test_run_writes_every_export_beside_the_report(run):
    out = run[1]
    for name in ("report.html", *EXPORTS):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))  # atomic writes leave no temp files


def test_link_refuses_a_study_not_in_studies_csv(run):
    result = CliRunner().invoke(main, ["records", "link", str(run[0]), "1", "delta"])
    assert result.exit_code != 0
    assert "no study 'delta' in studies.csv" in result.output


def test_no_docx_no_xlsx_options(tmp_path, run):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(run[0]), "--out", str(out), "--no-pdf", "--no-docx", "--no-xlsx"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists()
    assert not (out / "report.docx").exists() and not (out / "results.xlsx").exists()


# --------------------------------------------------------------------------- Word


def test_docx_headings_use_word_styles(run):
    import docx

    d = docx.Document(str(run[1] / "report.docx"))
    headings = [(p.style.name, p.text) for p in d.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    assert headings[0] == ("Title", "Test review with a PRISMA flow and GRADE judgements")
    names = [t for _, t in headings]
    for expected in (
        "Question and methods",
        "Statistical methods",
        "Study selection (PRISMA 2020)",
        "Summary of results",
        "Summary of findings (GRADE)",
        "Risk of bias (RoB 2)",
        "References",
        "Included studies",
        "Excluded studies",
    ):
        assert expected in names, expected
    level = dict((t, s) for s, t in headings)
    assert level["Summary of results"] == "Heading 1" and level["Included studies"] == "Heading 2"


def test_docx_risk_of_bias_table(run):
    import docx

    d = docx.Document(str(run[1] / "report.docx"))
    table = next(t for t in d.tables if t.rows[0].cells[1].text == "D1")
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows == [
        ["Trial", "D1", "D2", "D3", "D4", "D5", "Overall", "Source"],
        ["Alpha 2001", "low", "low", "low", "low", "low", "low", "made up"],
        ["Beta 2005", "some concerns", "low", "low", "low", "low", "some concerns", "made up"],
        [INJECTION, "low", "low", "low", "high", "low", "high", "made up"],
    ]


def test_docx_has_figures_with_their_vector_originals(run):
    import docx

    out = run[1]
    d = docx.Document(str(out / "report.docx"))
    # PRISMA flow, forest, leave-one-out, funnel, Baujat, radial, RoB traffic light and summary.
    assert len(d.inline_shapes) == 8
    blobs = [r.target_part.blob for r in d.part.rels.values() if "image" in r.reltype]
    assert (out / "figures" / "prisma-flow.png").read_bytes() in blobs
    assert (out / "figures" / "funnel-main-death.png").read_bytes() in blobs
    for blob in blobs:
        assert Image.open(io.BytesIO(blob)).info["dpi"] == pytest.approx((300, 300), abs=0.01)
    captions = [p.text for p in d.paragraphs if p.style.name == "Caption"]
    assert len(captions) == 8
    assert sum(c.startswith("Forest plot:") for c in captions) == 1
    assert sum(c.startswith("Contour-enhanced funnel plot") for c in captions) == 1
    for text in captions:
        assert "Vector originals: figures/" in text
        for name in text.split("Vector originals: ")[1].rstrip(".").split(", "):
            assert (out / name).exists() and name.endswith((".svg", ".pdf"))


def test_docx_result_tables_equal_results_json(run, results):
    """The numbers of the Word tables are results.json's, formatted as the HTML report prints
    them: two decimals, "(lower to upper)", weights with one decimal."""
    import docx

    from trialsynth.report.explain import num

    d = docx.Document(str(run[1] / "report.docx"))
    entry = results["outcomes"][0]
    res = entry["result"]
    trials = next(
        t
        for t in d.tables
        if t.rows[0].cells[0].text == "Trial" and "Weight (%)" in [c.text for c in t.rows[0].cells]
    )
    rows = [[c.text for c in r.cells] for r in trials.rows[1:]]
    expected = [
        [
            s["label"],
            f"{num(s['estimate'])} ({num(s['ci_lower'])} to {num(s['ci_upper'])})",
            num(s["weight"], 1),
        ]
        for s in res["studies"]
    ]
    expected.append(
        ["Pooled", f"{num(res['estimate'])} ({num(res['ci_lower'])} to {num(res['ci_upper'])})", "100.0"]
    )
    assert rows == expected
    # Hand check of one row: alpha 10/100 vs 20/100, RR = 0.1/0.2 = 0.50.
    assert rows[0][:2] == [
        "Alpha 2001",
        f"0.50 ({num(res['studies'][0]['ci_lower'])} to {num(res['studies'][0]['ci_upper'])})",
    ]
    summary = next(
        t
        for t in d.tables
        if [c.text for c in t.rows[0].cells][:3] == ["Outcome", "Trials with data", "Recomputed"]
    )
    recomputed = summary.rows[1].cells[2].text
    assert f"{num(entry['estimate'])}" in recomputed and f"{num(entry['ci_lower'])}" in recomputed
    assert summary.rows[1].cells[1].text == "10 of 10"
    sof = next(t for t in d.tables if [c.text for c in t.rows[0].cells][2:3] == ["Relative effect (95% CI)"])
    assert (
        sof.rows[1].cells[2].text == f"RR {num(entry['estimate'])} ({num(entry['ci_lower'])} to "
        f"{num(entry['ci_upper'])})"
    )


def test_docx_reference_lists_are_vancouver_and_restart_numbering(run):
    import docx

    d = docx.Document(str(run[1] / "report.docx"))
    paras = d.paragraphs
    start = next(
        i for i, p in enumerate(paras) if p.text == "Included studies" and p.style.name == "Heading 2"
    )
    stop = next(
        i for i, p in enumerate(paras) if p.text == "Excluded studies" and p.style.name == "Heading 2"
    )
    included = [p.text for p in paras[start + 1 : stop]]
    # The seven extra trials' citation "Invented" has no Vancouver shape: printed as given.
    assert included == VANCOUVER_INCLUDED + ["Invented."] * 7
    excluded = [p.text for p in paras[stop + 1 : stop + 3]]
    assert excluded == [
        VANCOUVER_EXCLUDED[0] + " Reason for exclusion: Not randomized.",
        VANCOUVER_EXCLUDED[1] + " Reason for exclusion: Wrong comparator.",
    ]
    lists = [paras[start + 1 : stop], paras[stop + 1 : stop + 3]]
    num_ids = [{p._p.pPr.numPr.numId.val for p in items if p.style.name == "List Number"} for items in lists]
    # each list is List Number with a counter of its own (so each starts at 1)
    assert all(len(ids) == 1 for ids in num_ids) and num_ids[0] != num_ids[1]


def test_html_report_has_the_same_reference_list(run):
    import html

    text = html.unescape((run[1] / "report.html").read_text(encoding="utf-8"))
    for ref in VANCOUVER_INCLUDED + VANCOUVER_EXCLUDED:
        assert ref in text
    assert "Statistical methods" in text and "DerSimonian R, Laird N." in text


# --------------------------------------------------------------------------- Excel


#: openpyxl writes a float with 16 significant digits ("%.16g"; Excel itself shows 15), so a
#: number read back may differ from results.json in the 17th digit.
XLSX_REL = 1e-15


def test_xlsx_numbers_are_numeric_cells_equal_to_results_json(run, results):
    from openpyxl import load_workbook

    wb = load_workbook(run[1] / "results.xlsx")
    assert wb.sheetnames == ["Analyses", "main-death", "Data"]
    entry = results["outcomes"][0]
    index = list(wb["Analyses"].iter_rows(values_only=True))
    head = index[0]
    row = dict(zip(head, index[1], strict=True))
    for key in ("estimate", "ci_lower", "ci_upper", "p_value", "tau2", "i2", "q", "q_p_value"):
        assert row[key] == pytest.approx(entry["result"][key], rel=XLSX_REL, abs=1e-300), key
    assert row["k"] == 10 and row["sheet"] == "main-death"
    ws = wb["main-death"]
    cells = list(ws.iter_rows())
    header = [c.value for c in cells[0]]
    studies = [dict(zip(header, r, strict=True)) for r in cells[1:]]
    k = len(entry["result"]["studies"])
    assert k == 10
    for got, want in zip(studies[:k], entry["result"]["studies"], strict=True):
        assert got["row_type"].value == "study"
        for key in ("estimate", "ci_lower", "ci_upper"):
            assert got[key].data_type == "n"
            assert got[key].value == pytest.approx(want[key], rel=XLSX_REL)
        assert got["weight_percent"].value == pytest.approx(want["weight"], rel=XLSX_REL)
    pooled = studies[k]
    assert pooled["row_type"].value == "pooled"
    assert pooled["estimate"].value == pytest.approx(entry["estimate"], rel=XLSX_REL)
    sens = [s for s in studies if s["row_type"].value == "sensitivity"]
    assert len(sens) == len(entry["sensitivity"])


def test_xlsx_data_sheet_gives_the_source_of_every_number(run):
    from openpyxl import load_workbook

    rows = list(load_workbook(run[1] / "results.xlsx")["Data"].iter_rows(values_only=True))
    head, body = rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert "source" in head and "file" in head and "row" in head
    alpha = next(r for r in body if r["study"] == "alpha")
    # outcomes.csv row 2 (after the header): 10/100 vs 20/100, as typed.
    assert (
        alpha["input_events_treatment"],
        alpha["input_n_treatment"],
        alpha["input_events_control"],
        alpha["input_n_control"],
    ) == (10, 100, 20, 100)
    assert (alpha["file"], alpha["row"], alpha["source"], alpha["kind"]) == (
        "outcomes.csv",
        2,
        "invented",
        "quoted",
    )


def test_xlsx_formula_in_user_text_is_stored_as_text(run):
    from openpyxl import load_workbook

    ws = load_workbook(run[1] / "results.xlsx")["main-death"]
    cell = next(c for row in ws.iter_rows() for c in row if c.value == INJECTION)
    assert cell.data_type == "s"  # a string, not a formula ("f")
    with zipfile.ZipFile(run[1] / "results.xlsx") as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)


# --------------------------------------------------------------------------- citations


def test_ris_read_back_by_rispy(run):
    import rispy

    out = run[1]
    included = rispy.loads((out / "included.ris").read_text(encoding="utf-8"))
    assert [e["id"] for e in included][:3] == ["alpha", "beta", "gamma"]
    a = included[0]
    assert a["authors"] == [
        "Alpha, AB",
        "Bravo, C",
        "Charlie, DE",
        "Delta, E",
        "Echo, FG",
        "Foxtrot, G",
        "Golf, H",
    ]
    assert a["title"] == "Drug A against placebo in invented adults: a randomised trial"
    assert (a["secondary_title"], a["alternate_title1"]) == ("Journal of Invented Medicine", "J Invented Med")
    assert (a["year"], a["volume"], a["number"], a["start_page"], a["end_page"]) == (
        "2001",
        "12",
        "3",
        "1300",
        "1309",
    )
    assert a["doi"] == "10.1234/jim.2001.1300"
    g = included[2]  # from studies.csv: "Doe J, Roe R. A made-up trial of drug A. Lancet 2003;361(9357):1-2"
    assert g["authors"] == ["Doe, J", "Roe, R"] and g["alternate_title1"] == "Lancet"
    assert (g["volume"], g["number"], g["start_page"], g["end_page"]) == ("361", "9357", "1", "2")
    assert any("studies.csv row 4" in n for n in g["notes"])
    excluded = rispy.loads((out / "excluded.ris").read_text(encoding="utf-8"))
    assert [e["authors"] for e in excluded] == [["Zulu, Z"], ["Yankee, Y"]]
    assert "Excluded: Not randomized" in excluded[0]["notes"]
    assert "Excluded: Wrong comparator" in excluded[1]["notes"]


def test_bibtex_read_back_by_bibtexparser(run):
    import bibtexparser

    lib = bibtexparser.parse_string((run[1] / "included.bib").read_text(encoding="utf-8"))
    assert not lib.failed_blocks
    entries = {e.key: {f.key: f.value for f in e.fields} for e in lib.entries}
    assert list(entries)[:3] == ["alpha", "beta", "gamma"]
    a = entries["alpha"]
    assert a["author"] == (
        "Alpha, A. B. and Bravo, C. and Charlie, D. E. and Delta, E. and Echo, F. G. and "
        "Foxtrot, G. and Golf, H."
    )
    assert (a["journal"], a["shortjournal"], a["year"], a["volume"], a["number"], a["pages"]) == (
        "Journal of Invented Medicine",
        "J Invented Med",
        "2001",
        "12",
        "3",
        "1300--1309",
    )
    assert entries["beta"]["title"] == r"Drug A \& mortality"  # LaTeX's & escaped
    assert entries["gamma"]["author"] == "Doe, J. and Roe, R."
    excluded = bibtexparser.parse_string((run[1] / "excluded.bib").read_text(encoding="utf-8"))
    assert [e.key for e in excluded.entries] == [f"record{i}" for i in (3, 4)]


# --------------------------------------------------------------------------- re-runs


def test_rerun_gives_byte_identical_files(run, tmp_path):
    """A second run, seconds later, writes the same bytes (no dates in the ZIPs or properties)."""
    time.sleep(2.1)  # past the ZIP format's two-second resolution and the core-properties second
    out2 = tmp_path / "again"
    shutil.copytree(run[0], tmp_path / run[0].name)  # the same folder name: the report names it
    result = CliRunner().invoke(main, ["run", str(tmp_path / run[0].name), "--out", str(out2), "--no-pdf"])
    assert result.exit_code == 0, result.output
    for name in EXPORTS:
        assert (out2 / name).read_bytes() == (run[1] / name).read_bytes(), name


def test_xlsx_network_sheet_equals_results_json(tmp_path):
    """The bundled smoking-cessation network: effects, league table and ranking as numbers."""
    from openpyxl import load_workbook

    from trialsynth.report.excel import write_workbook
    from trialsynth.report.results_json import results_document
    from trialsynth.workflow.runner import EXAMPLES, analyse_review

    analysis = analyse_review(EXAMPLES / "smoking-cessation")
    doc = json.loads(json.dumps(results_document(analysis)))  # as results.json holds it
    write_workbook(analysis, doc, tmp_path / "results.xlsx")
    rows = list(load_workbook(tmp_path / "results.xlsx")["network-cessation"].iter_rows(values_only=True))
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    (net,) = doc["networks"]
    effects = [r for r in body if r["row_type"] == "effect"]
    assert [(r["treatment_1"], r["treatment_2"]) for r in effects] == [
        (e["treatment"], "no_contact") for e in net["effects"]
    ]
    for got, want in zip(effects, net["effects"], strict=True):
        for key in ("estimate", "se", "ci_lower", "ci_upper", "p_value"):
            assert got[key] == pytest.approx(want[key], rel=XLSX_REL)
    assert sum(r["row_type"] == "comparison" for r in body) == len(net["league_table"])
    ranks = {r["treatment_1"]: r["p_score"] for r in body if r["row_type"] == "rank"}
    assert ranks == pytest.approx(net["p_scores"], rel=XLSX_REL)
