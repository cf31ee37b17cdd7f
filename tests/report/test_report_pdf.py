"""report.pdf: printed from report.html by WeasyPrint (optional), and the clear message when it
cannot be. Skips when WeasyPrint or its Pango libraries are missing, unless
TRIALSYNTH_REQUIRE_PDF=1 (as in CI), where it fails instead."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.flow_review import FLOW
from trialsynth.cli import main
from trialsynth.report.pdf import pdf_unavailable

CRT = Path(__file__).resolve().parents[2] / "examples" / "imaging-guided-crt"
A4 = (595.28, 841.89)  # points (210 × 297 mm)
POINT = 0.5  # page sizes compared to half a point (PDF boxes are written with 2-3 decimals)


def require_pdf() -> None:
    reason = pdf_unavailable()
    if reason is None:
        return
    if os.environ.get("TRIALSYNTH_REQUIRE_PDF") == "1":
        pytest.fail(f"TRIALSYNTH_REQUIRE_PDF=1 but no PDF support: {reason}")
    pytest.skip(reason)


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def crt_pdf(tmp_path_factory):
    require_pdf()
    out = tmp_path_factory.mktemp("pdf") / "crt"
    result = CliRunner().invoke(main, ["run", str(CRT), "--out", str(out), "--pdf"])
    assert result.exit_code == 0, result.output
    assert f"PDF: {out / 'report.pdf'}" in result.output
    return out / "report.pdf"


def test_pdf_has_pages_and_the_report_text(crt_pdf):
    from pypdf import PdfReader

    reader = PdfReader(crt_pdf)
    assert len(reader.pages) >= 5
    text = words(" ".join(page.extract_text() for page in reader.pages))
    assert (
        "Imaging-guided cardiac resynchronization therapy: a meta-analysis of randomized controlled trials"
        in text
    )
    assert reader.metadata.title.startswith("Imaging-guided cardiac resynchronization therapy")
    for heading in ("Study selection (PRISMA 2020)", "Summary of findings (GRADE)", "Data gaps"):
        assert heading in text
    # The bundled review has no flow counts: the PDF says so rather than drawing a diagram.
    assert "flow counts (records identified, screened, assessed and excluded) are not reported" in text


def test_pdf_pages_are_a4_from_the_print_style_sheet(crt_pdf):
    from pypdf import PdfReader

    for page in PdfReader(crt_pdf).pages:
        box = page.mediabox
        assert float(box.width) == pytest.approx(A4[0], abs=POINT)
        assert float(box.height) == pytest.approx(A4[1], abs=POINT)


def test_page_numbers_are_printed(crt_pdf):
    from pypdf import PdfReader

    reader = PdfReader(crt_pdf)
    n = len(reader.pages)
    assert f"1 / {n}" in reader.pages[0].extract_text()
    assert f"{n} / {n}" in reader.pages[-1].extract_text()


def test_without_weasyprint_the_html_report_stands(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint now raises ImportError
    assert pdf_unavailable().startswith("WeasyPrint is not installed; install the optional PDF support")
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(FLOW), "--out", str(tmp_path / "auto")])
    assert result.exit_code == 0, result.output
    assert "report.pdf not written (optional): WeasyPrint is not installed" in result.output
    assert (tmp_path / "auto" / "report.html").is_file() and not (tmp_path / "auto" / "report.pdf").exists()
    # Asked for explicitly, it is an error with the same reason.
    result = runner.invoke(main, ["run", str(FLOW), "--out", str(tmp_path / "asked"), "--pdf"])
    assert result.exit_code == 1
    assert "report.pdf not written: WeasyPrint is not installed" in result.output
    assert (tmp_path / "asked" / "report.html").is_file()


def test_no_pdf_skips_it(tmp_path):
    result = CliRunner().invoke(main, ["run", str(FLOW), "--out", str(tmp_path / "out"), "--no-pdf"])
    assert result.exit_code == 0, result.output
    assert "report.pdf" not in result.output and not (tmp_path / "out" / "report.pdf").exists()


def _table_fragments(html: Path):
    """Per page, the table fragments WeasyPrint laid out there: (page, [rows as lists of cell
    tags]) for the header row groups and for the body rows."""
    import weasyprint
    from weasyprint.formatting_structure import boxes

    def walk(box):
        yield box
        for child in getattr(box, "children", None) or []:
            yield from walk(child)

    document = weasyprint.HTML(filename=str(html), media_type="print").render()
    for number, page in enumerate(document.pages, 1):
        for box in walk(page._page_box):
            if isinstance(box, boxes.TableBox):
                groups = [g for g in box.children if isinstance(g, boxes.TableRowGroupBox)]
                rows = [
                    (g.is_header, [c.element_tag for c in r.children]) for g in groups for r in g.children
                ]
                yield number, [r for h, r in rows if h], [r for h, r in rows if not h]


def test_no_table_header_is_left_alone_at_a_page_bottom(crt_pdf):
    # Every table fragment on a page has at least one data row, its column headers are in a
    # repeated header group (thead: printed again on each page a table runs onto), and no
    # page ends with a row of headers only.
    fragments = list(_table_fragments(crt_pdf.with_name("report.html")))
    assert len({page for page, _, _ in fragments}) >= 10
    for page, _, body in fragments:
        assert body, f"page {page}: a table's header without any of its rows"
        assert not all(tag == "th" for tag in body[-1]), f"page {page}: a header row alone"
    # Tables whose first row is all column headers: headers repeated on each page.
    repeated = [head for _, head, _ in fragments if head]
    assert len(repeated) >= len(fragments) - 1  # the question-and-methods table has row headers only
    assert all(row and all(tag == "th" for tag in row) for head in repeated for row in head)


def test_footer_is_not_left_alone_on_the_last_page(tmp_path):
    # The BCG report used to end on a page holding only the footer line.
    require_pdf()
    from pypdf import PdfReader

    bcg = CRT.parent / "bcg"
    result = CliRunner().invoke(main, ["run", str(bcg), "--out", str(tmp_path / "bcg"), "--pdf"])
    assert result.exit_code == 0, result.output
    last = words(PdfReader(tmp_path / "bcg" / "report.pdf").pages[-1].extract_text())
    assert "Results are recomputed from the data in the review folder" in last
    assert "Excluded studies" in last  # the report's last section (References) ends with it
