"""report.html in a real browser: headless Debian chromium driven by Playwright.

The bundled review is run into a temporary folder and its report opened from disk. Checked:
no console errors, every image and inline figure rendered, no request beyond the file itself,
user text that looks like HTML shown as text (no script runs, no dialog opens), a phone-sized
viewport without horizontal overflow (wide tables scroll inside their own container), and the
print style sheet. A full-page screenshot is written next to the report.

Skips when chromium (/usr/bin/chromium) or Playwright is missing, unless
TRIALSYNTH_REQUIRE_BROWSER=1 (as in CI), where it fails instead.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from tests.flow_review import copy_flow
from trialsynth.report.review import run_review

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
#: A4 (210 mm) less the print style sheet's 12 mm side margins, in CSS pixels (96 per inch).
PRINT_WIDTH = round((210 - 24) / 25.4 * 96)
XSS = "<script>alert(1)</script>"
XSS_ATTR = "<img src=x onerror=alert(2)>"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no chromium at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (dev extra)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason is not None:
        if os.environ.get("TRIALSYNTH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TRIALSYNTH_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def crt_report(tmp_path_factory) -> Path:
    return run_review(None, tmp_path_factory.mktemp("browser") / "crt")


class Visit:
    """A page opened on a report file, with everything the browser reported."""

    def __init__(self, browser, report: Path, viewport=None, media: str | None = None) -> None:
        self.context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        if media:
            self.page.emulate_media(media=media)
        self.url = report.resolve().as_uri()
        self.page.goto(self.url, wait_until="load")

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def desktop(browser, crt_report):
    visit = Visit(browser, crt_report)
    yield visit
    visit.close()


def test_no_console_errors_and_no_network(desktop):
    assert desktop.errors == []
    assert [m for m in desktop.console if m.startswith("error")] == []
    # Only the report file itself (inline SVG and data: URLs need no request).
    assert [u for u in desktop.requests if u != desktop.url and not u.startswith("data:")] == []
    assert desktop.requests[0] == desktop.url


def test_every_image_and_figure_rendered(desktop):
    images = desktop.page.evaluate(
        "Array.from(document.images).map(i => [i.currentSrc, i.complete, i.naturalWidth])"
    )
    assert all(complete and width > 0 for _, complete, width in images), images
    figures = desktop.page.evaluate(
        "Array.from(document.querySelectorAll('figure svg, figure img'))"
        ".map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    assert len(figures) >= 5  # forest, cumulative and TSA plots of the bundled review
    assert all(w > 100 and h > 50 for w, h in figures), figures


def test_screenshot(desktop, crt_report):
    path = crt_report.parent / "report-screenshot.png"
    desktop.page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width == 1280 and height > 3000  # the whole long report, not one screen


def test_html_in_user_text_is_shown_as_text(browser, tmp_path):
    folder = copy_flow(tmp_path)
    path = folder / "studies.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[1][1] = XSS  # the label of the first trial
    rows[1][2] = XSS_ATTR  # its citation
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    visit = Visit(browser, run_review(folder, tmp_path / "out"))
    try:
        page = visit.page
        page.wait_for_timeout(300)  # give any injected handler the chance to fire
        assert visit.dialogs == [] and visit.errors == []
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        assert page.evaluate("document.images.length") == 0  # the citation's <img> is text too
        label = page.get_by_text(XSS, exact=True).first
        assert label.is_visible()
        assert page.get_by_text(XSS_ATTR, exact=True).first.is_visible()
        assert [u for u in visit.requests if u != visit.url and not u.startswith("data:")] == []
    finally:
        visit.close()


OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.querySelectorAll('p, li, h1, h2, h3, figcaption, figure, nav')) {
    if (el.closest('.scroll')) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1) bad.push(el.tagName + ': ' + el.textContent.slice(0, 60));
  }
  return {width, scrollWidth: document.documentElement.scrollWidth, bad};
}"""

TABLES = """() => Array.from(document.querySelectorAll('table')).map(t => {
  const box = t.closest('.scroll');
  const outer = box || t.parentElement;
  return {
    inScroll: !!box,
    overflowX: box ? getComputedStyle(box).overflowX : '',
    fits: t.getBoundingClientRect().width <= outer.clientWidth + 1,
    boxFits: outer.getBoundingClientRect().right <= document.documentElement.clientWidth + 1,
  };
})"""


def test_phone_viewport_has_no_horizontal_overflow(browser, crt_report):
    visit = Visit(browser, crt_report, viewport=PHONE)
    try:
        layout = visit.page.evaluate(OVERFLOW)
        assert layout["width"] == PHONE["width"]
        assert layout["scrollWidth"] <= PHONE["width"], layout
        assert layout["bad"] == []
        tables = visit.page.evaluate(TABLES)
        # A table wider than the phone scrolls inside its own container; the container fits.
        wide = [t for t in tables if not t["fits"]]
        assert wide, "no table is wider than a phone: the check below would test nothing"
        assert all(t["inScroll"] and t["overflowX"] == "auto" for t in wide), wide
        assert all(t["boxFits"] for t in tables)
        visit.page.screenshot(path=str(crt_report.parent / "report-phone.png"), full_page=False)
    finally:
        visit.close()


def test_print_style_sheet(browser, crt_report):
    visit = Visit(browser, crt_report, viewport={"width": PRINT_WIDTH, "height": 1000}, media="print")
    try:
        page = visit.page
        assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
        layout = page.evaluate(OVERFLOW)
        assert layout["scrollWidth"] <= PRINT_WIDTH and layout["bad"] == [], layout
        tables = page.evaluate(TABLES)
        # On paper nothing can scroll: every table fits the page width and wraps its text.
        assert all(t["fits"] and t["boxFits"] for t in tables), [t for t in tables if not t["fits"]]
        assert {t["overflowX"] for t in tables if t["inScroll"]} == {"visible"}
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf[:5] == b"%PDF-"
    finally:
        visit.close()


ALIGNMENT = """() => [...document.querySelectorAll('table')].flatMap((table) => {
  const head = table.querySelector('thead tr');
  const first = table.querySelector('tbody tr');
  if (!head || !first) return [];
  return [...head.children].map((th, i) => ({
    header: th.textContent,
    th: getComputedStyle(th).textAlign,
    td: first.children[i] ? getComputedStyle(first.children[i]).textAlign : null,
  }));
})"""


def test_column_headers_align_with_their_cells(desktop):
    # A right-aligned column of numbers has its header right-aligned above it (RevMan, JAMA).
    columns = desktop.page.evaluate(ALIGNMENT)
    numeric = [c for c in columns if c["td"] == "right"]
    assert len(numeric) >= 10
    assert [c for c in columns if c["td"] is not None and c["th"] != c["td"]] == []


WIDE = """() => [...document.querySelectorAll('figure.wide')].map((f) => ({
  svg: f.querySelector('svg').getBoundingClientRect().width,
  figure: f.getBoundingClientRect().right,
  overflowX: getComputedStyle(f).overflowX,
}))"""


def test_phone_keeps_wide_figures_readable_and_scrolls_them(browser, crt_report):
    # On a 390-pixel phone a forest plot scaled to the screen would print its text at ~3 px:
    # wide figures keep at least 640 px and scroll sideways inside their own box.
    visit = Visit(browser, crt_report, viewport=PHONE)
    try:
        wide = visit.page.evaluate(WIDE)
        assert len(wide) >= 8
        assert all(f["svg"] >= 640 and f["overflowX"] == "auto" for f in wide), wide
        assert all(f["figure"] <= PHONE["width"] + 1 for f in wide), wide
        assert visit.page.evaluate(OVERFLOW)["scrollWidth"] <= PHONE["width"]
    finally:
        visit.close()
