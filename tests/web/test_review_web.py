"""The whole review in a real browser (Playwright driving Debian's chromium, as
test_screen_web.py): start from an empty folder, enter the seed review's four trials for its
CRT-response outcome, watch the pooled estimate appear and change, choose the model, build
and download the report; then ``trialsynth run`` on the folder gives the same results.json
byte for byte, and the pooled log odds ratio equals metafor's.

Skips when playwright or chromium is missing, unless TRIALSYNTH_REQUIRE_BROWSER=1 (CI)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.servers import start_server
from tests.web.test_screen_web import SCREENSHOT_DIR, browser  # noqa: F401 - the fixture
from trialsynth.cli.screen import report_runner

SRC = Path(__file__).resolve().parents[2] / "src"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reviews_metafor.json"

#: The seed review's four trials (src/trialsynth/examples/imaging-guided-crt/studies.csv).
STUDIES = [
    ("starter", "STARTER (Saba 2013)", "Saba S et al. Circ Heart Fail 2013;6:427-34", "2013"),
    ("imagingcrt", "ImagingCRT (Sommer 2016)", "Sommer A et al. Eur J Heart Fail 2016;18:1365-74", "2016"),
    ("borgquist", "Borgquist 2020 (unconfirmed)", "Borgquist R et al. JACC Clin EP 2020;6:1300-9", "2020"),
]  # fmt: skip
#: CRT response, as the seed's outcomes.csv derives the counts from the quoted percentages:
#: TARGET 70% of 103 → 72 vs 55% of 104 → 57; ImagingCRT 74% of 89 → 66 vs 58% of 93 → 54.
#: STARTER and Borgquist have no response numbers (data gaps, as in the seed).
COUNTS = {"target": ("72", "103", "57", "104"), "imagingcrt": ("66", "89", "54", "93")}


def _metafor_response(method: str) -> dict:
    """metafor's rma(measure="OR", method=...) on the two trials, the seed review's fixture
    (validation/review_fixtures.R)."""
    cases = json.loads(FIXTURES.read_text())["cases"]
    return next(
        c for c in cases
        if c["review"] == "imaging-guided-crt" and c["outcome"] == "response" and c["method"] == method
        and not c["hk"] and isinstance(c["estimate"], float)
    )  # fmt: skip


def _assert_labelled(page) -> None:
    """Every input, select and textarea has a <label for> (or is inside its label)."""
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll("input, select, textarea"))
             .filter(el => el.type !== "hidden")
             .filter(el => !(el.id && document.querySelector(`label[for="${el.id}"]`)))
             .filter(el => !el.closest("label"))
             .map(el => el.name || el.id || el.outerHTML)"""
    )
    assert unlabelled == []


def _pooled(page) -> str:
    from playwright.sync_api import expect

    pooled = page.locator("#pooled")
    expect(pooled).not_to_have_text("…")
    return pooled.text_content()


def test_empty_folder_to_report_in_the_browser(tmp_path, browser, monkeypatch):  # noqa: F811
    from playwright.sync_api import expect

    shots = SCREENSHOT_DIR.resolve()
    monkeypatch.chdir(tmp_path)  # the report goes to out/<folder name>, as `trialsynth run` does
    folder = tmp_path / "crt"
    folder.mkdir()
    server = start_server(folder, "ann", run_report=report_runner(folder))
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server.url)

        # ---- start the review (keyboard only: Tab moves through the fields in order)
        _assert_labelled(page)
        page.get_by_label("Title").focus()
        for field, text in (
            ("title", "Imaging-guided CRT: a meta-analysis of randomized controlled trials"),
            ("population", "Patients with heart failure receiving CRT"),
            ("intervention", "Imaging-guided LV-lead placement"),
            ("comparator", "Routine LV-lead placement"),
            ("outcome_id", "response"),
            ("outcome_name", "CRT response"),
        ):
            expect(page.locator(f"#{field}")).to_be_focused()
            page.keyboard.type(text)
            page.keyboard.press("Tab")
        page.select_option("#data_type", "binary")
        page.select_option("#measure", "OR")
        page.select_option("#better", "higher")
        page.get_by_label("Study id").fill("target")
        page.get_by_label("Label (as in tables and plots)").fill("TARGET (Khan 2012)")
        page.get_by_label("Year").fill("2012")
        page.get_by_label("Citation").fill("Khan FZ et al. J Am Coll Cardiol 2012;59:1509-18")
        page.get_by_label("Source of this row").fill("Khan 2012, abstract (PubMed 22405632)")
        page.get_by_role("button", name="Create the review").click()
        page.wait_for_url(re.compile(r"/data\?"))
        assert (folder / "review.toml").exists()
        _assert_labelled(page)
        expect(page.locator("#pooled")).to_have_text("Not pooled yet: no study has usable data.")

        # ---- the other three trials
        page.get_by_role("link", name="Studies").click()
        for sid, label, citation, year in STUDIES:
            _assert_labelled(page)
            form = page.locator("#new-study")
            form.get_by_label("Id (letters, digits, _)").fill(sid)
            form.get_by_label("Label").fill(label)
            form.get_by_label("Citation").fill(citation)
            form.get_by_label("Year").fill(year)
            form.get_by_label("Source of this row").fill(citation + ": abstract")
            with page.expect_navigation():  # saved, then the page reloads
                form.get_by_role("button", name="Add study").click()
            expect(page.locator("#page-message")).to_have_text("Saved.")
        expect(page.locator("form.row-form h2")).to_have_text(
            ["TARGET (Khan 2012)", "STARTER (Saba 2013)", "ImagingCRT (Sommer 2016)",
             "Borgquist 2020 (unconfirmed)", "Add a study"]
        )  # fmt: skip

        # ---- the counts, with their source and the words they come from
        page.get_by_role("link", name="Outcome data").click()
        _assert_labelled(page)

        def enter(sid: str, note: str) -> None:
            row = page.locator(f"details[data-study={sid}]")
            row.locator("summary").click()
            form = row.locator("form")
            form.get_by_label("Use in the analysis").select_option("yes")
            form.get_by_label("Events, treatment").focus()
            for value in COUNTS[sid]:  # events and participants per arm, in tab order
                page.keyboard.type(value)
                page.keyboard.press("Tab")
            form.get_by_label("Kind").select_option("derived")
            form.get_by_label("Source (citation and where").fill(f"{sid}: abstract")
            form.get_by_label("Quote or note").fill(note)
            expect(form.locator(".message")).to_have_text("")  # checked as typed: valid
            with page.expect_navigation():
                form.get_by_role("button", name="Save").click()
            expect(page.locator("#page-message")).to_have_text("Saved.")

        # A typo is caught as it is typed, with run's own message.
        row = page.locator("details[data-study=target]")
        row.locator("summary").click()
        row.get_by_label("Use in the analysis").select_option("yes")
        row.get_by_label("Participants, control").fill("ten")
        expect(row.locator(".message")).to_contain_text("outcomes.csv, row 2")
        page.reload()

        enter("target", "Quoted: 70% vs 55%, p = 0.031 (70% x 103 = 72; 55% x 104 = 57)")
        first = _pooled(page)
        assert first.startswith("OR ") and first.endswith("· 1 study")
        enter("imagingcrt", "Quoted: 74% vs 58% responders (74% x 89 = 66; 58% x 93 = 54)")
        second = _pooled(page)
        assert second.endswith("· 2 studies") and second != first
        expect(page.locator("#heterogeneity")).to_contain_text("Heterogeneity: τ² =")
        expect(page.locator("#forest")).to_be_visible()
        assert page.evaluate("document.querySelector('#forest').naturalWidth") > 100

        # ---- the model, as the seed review's: DerSimonian-Laird
        page.get_by_role("link", name="Analyses").click()
        _assert_labelled(page)
        page.get_by_label("Model").select_option("DL")
        page.get_by_label("fixed effect (inverse variance)").check()  # a sensitivity analysis
        with page.expect_navigation():
            page.get_by_role("button", name="Use this model").click()
        expect(page.locator("section.live .model")).to_have_text("random effects (DerSimonian–Laird)")
        pooled_dl = page.locator("section.live .pooled").text_content()
        expect(page.locator("section.live .sensitivity-results li")).to_have_text(
            [re.compile(r"^Sensitivity, fixed effect \(inverse variance\): OR ")]
        )
        expect(page.locator("section.live .funnel-note")).to_contain_text("fewer than 10 pooled trials")

        # ---- the report
        page.get_by_role("link", name="Report").click()
        page.get_by_role("button", name="Build the report").click()
        expect(page.locator("#downloads a", has_text="results.json")).to_be_visible(timeout=300_000)
        with page.expect_download() as info:
            page.locator("#downloads a", has_text="report.html").click()
        report = Path(info.value.path()).read_text(encoding="utf-8")
        assert "Imaging-guided CRT: a meta-analysis of randomized controlled trials" in report
        shots.mkdir(parents=True, exist_ok=True)
        page.goto(server.url_for("/data"))
        _pooled(page)
        expect(page.locator("#forest")).to_be_visible()
        page.screenshot(path=str(shots / "review-data-page.png"), full_page=True)
        assert errors == []
    finally:
        server.stop()

    # ---- `trialsynth run` on the same folder: the same results.json, byte for byte
    web_results = (tmp_path / "out" / "crt" / "results.json").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "trialsynth", "run", str(folder), "--out", str(tmp_path / "cli"), "-q"],
        capture_output=True, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "cli" / "results.json").read_bytes() == web_results

    # ---- and the pooled odds ratio is metafor's (rma(measure="OR", method="DL"), fitted on the
    # log scale: compared as exp(metafor), relative tolerance 1e-6)
    results = json.loads(web_results)
    expected = _metafor_response("DL")
    entry = next(o for o in results["outcomes"] if o["outcome"] == "response")
    assert entry["model"]["method"] == "DL" and entry["k"] == expected["k"] == 2
    for key in ("estimate", "ci_lower", "ci_upper"):
        assert entry[key] == pytest.approx(math.exp(expected[key]), rel=1e-6), key
    fixed = _metafor_response("FE")
    [sensitivity] = entry["sensitivity"]
    assert sensitivity["method"] == "FE"
    for key in ("estimate", "ci_lower", "ci_upper"):
        assert sensitivity[key] == pytest.approx(math.exp(fixed[key]), rel=1e-6), key
    assert pooled_dl.startswith("OR ")


def test_a_stale_edit_is_refused_with_a_message_in_the_page(tmp_path, browser):  # noqa: F811
    from playwright.sync_api import expect

    from trialsynth.io.review.edit import new_review

    folder = new_review(
        tmp_path / "r", title="T", population="P", intervention="I", comparator="C", outcome_id="response",
        outcome_name="CRT response", data_type="binary", measure="OR", better="higher",
        study={"id": "target", "label": "TARGET", "citation": "Khan 2012", "year": "2012",
               "source": "abstract"},
    )  # fmt: skip
    server = start_server(folder, "ann")
    try:
        pages = [browser.new_page(), browser.new_page()]
        for page in pages:
            page.set_default_timeout(60_000)
            page.goto(server.url_for("/data"))
            page.locator("details[data-study=target] summary").click()
        first, second = (p.locator("details[data-study=target] form") for p in pages)
        first.get_by_label("Quote or note").fill("first reviewer's note")
        with pages[0].expect_navigation():
            first.get_by_role("button", name="Save").click()
        second.get_by_label("Quote or note").fill("second reviewer's note")
        second.get_by_role("button", name="Save").click()
        message = "was changed by someone else since you loaded it; reload the page to see their change"
        expect(pages[1].locator("#page-message")).to_contain_text(message)
        expect(second.locator(".message")).to_contain_text(message)
        assert "first reviewer's note" in (folder / "outcomes.csv").read_text()
        assert "second reviewer's note" not in (folder / "outcomes.csv").read_text()
    finally:
        server.stop()


def test_serve_command_on_a_new_folder_and_a_non_loopback_host(tmp_path):
    import signal
    import urllib.request

    folder = tmp_path / "does" / "not" / "exist"
    proc = subprocess.Popen(
        [sys.executable, "-m", "trialsynth", "serve", str(folder), "--reviewer", "ann", "--host", "0.0.0.0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://0\.0\.0\.0:(\d+)/\?key=(\S+)", line)
        assert match, line
        home = f"http://127.0.0.1:{match.group(1)}/?key={match.group(2)}"
        with urllib.request.urlopen(home, timeout=30) as r:
            assert 'id="start-form"' in r.read().decode()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert folder.is_dir()
    assert "warning: listening on 0.0.0.0, not only on this machine" in err
