"""``trialsynth serve``: the screening page in a real browser (Playwright driving Debian's
chromium), and the server's refusals checked over plain HTTP.

The browser tests skip when playwright or /usr/bin/chromium is missing, unless
TRIALSYNTH_REQUIRE_BROWSER=1 (as in CI), when they fail instead."""

import http.client
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.screening_data import make_review
from tests.web.servers import start_server
from trialsynth.io.records.store import open_store
from trialsynth.workflow.screening.session import ScreeningSession

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the screenshot of the screening page is kept for a person to look at.
SCREENSHOT_DIR = Path(os.environ.get("TRIALSYNTH_SCREENSHOTS", "out/screenshots"))


def _need_browser():
    required = os.environ.get("TRIALSYNTH_REQUIRE_BROWSER") == "1"
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[dev]')"
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if problem is None and executable is None:
        problem = f"chromium is not installed ({CHROMIUM}, or on the PATH)"
    if problem:
        if required:
            pytest.fail(problem + " and TRIALSYNTH_REQUIRE_BROWSER=1")
        pytest.skip(problem)
    return executable


@pytest.fixture
def browser():
    executable = _need_browser()
    from playwright.sync_api import expect, sync_playwright

    # The machine running the suite may be busy (CI, parallel jobs): wait up to 20 s for what
    # the page should show rather than Playwright's 5 s.
    expect.set_options(timeout=20_000)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def serve():
    servers = []

    def start(review, reviewer, stage="title_abstract", *, rank=True):
        server = start_server(review, reviewer, stage, rank=rank)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _page(browser, server):
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.set_default_timeout(30_000)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.url_for("/screen"))
    return page, dialogs, errors


def _decisions(review, stage="title_abstract"):
    with open_store(review) as store:
        return {(d.record_id, d.reviewer): (d.decision, d.reason, d.note) for d in store.decisions(stage)}


def test_screening_with_keys_and_buttons_then_undo(tmp_path, browser, serve):
    from playwright.sync_api import expect

    review = make_review(tmp_path / "review")
    server = serve(review, "ann")
    page, dialogs, errors = _page(browser, server)
    title = page.locator("#title")
    expect(title).to_have_text(re.compile(r"^\[1\] Cardiac resynchronization guided by speckle tracking"))
    expect(page.locator("#ordering")).to_contain_text("Import order")
    page.keyboard.press("i")
    expect(title).to_have_text(re.compile(r"^\[2\] Outcomes of pacemaker"))
    page.click("#btn-exclude")
    # one include and one exclude: ranked now, the other lead-placement trials first
    expect(page.locator("#ordering")).to_contain_text("Ranked by relevance")
    expect(title).to_have_text(re.compile(r"^\[(3|6)\] "))
    ranked_first = int(title.text_content()[1])
    page.fill("#note", "check the methods")
    page.click("#btn-maybe")
    expect(page.locator("#status")).to_have_text(f"Record {ranked_first}: maybe")
    page.keyboard.press("u")
    expect(page.locator("#status")).to_have_text(f"Undid your maybe of record {ranked_first}")
    expect(title).to_have_text(re.compile(rf"^\[{ranked_first}\] "))
    expect(page.locator("#ordering")).to_have_text("The record you just undid")
    # a key typed in the note field is text, not a decision
    page.type("#note", "i")
    expect(page.locator("#note")).to_have_value("i")
    expect(title).to_have_text(re.compile(rf"^\[{ranked_first}\] "))
    page.locator("#note").press("Escape")
    page.keyboard.press("m")
    expect(page.locator("#progress")).to_contain_text("3 of 6 decided (1 include, 1 exclude, 1 maybe)")
    current = _decisions(review)
    assert current == {
        (1, "ann"): ("include", "", ""),
        (2, "ann"): ("exclude", "", ""),
        (ranked_first, "ann"): ("maybe", "", "i"),
    }
    with open_store(review) as store:
        assert [(d.record_id, d.note) for d in store.decisions("title_abstract", history=True)] == [
            (1, ""),
            (2, ""),
            (ranked_first, "check the methods"),  # undone, kept in the history
            (ranked_first, "i"),
        ]
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "screening-page.png"), full_page=True)
    assert (SCREENSHOT_DIR / "screening-page.png").stat().st_size > 10_000
    assert dialogs == [] and errors == []


def test_record_text_with_markup_shows_as_text(tmp_path, browser, serve):
    from playwright.sync_api import expect

    review = make_review(tmp_path / "review")
    server = serve(review, "ann", rank=False)
    page, dialogs, errors = _page(browser, server)
    title = page.locator("#title")
    for n in (1, 2, 3, 4):
        expect(title).to_have_text(re.compile(rf"^\[{n}\] "))
        page.keyboard.press("s")
    expect(title).to_have_text("[5] <script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in title.inner_html()
    expect(page.locator("#abstract")).to_have_text(
        "An abstract with <b>markup</b> & an ampersand that must show as text."
    )
    assert page.locator("#abstract b").count() == 0
    assert page.locator("script").count() == 1  # only the page's own
    expect(page.locator("#progress")).to_contain_text("(4 skipped)")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "screening-markup.png"))
    assert dialogs == [] and errors == []


def test_full_text_exclusion_reason_by_number_and_by_button(tmp_path, browser, serve):
    from playwright.sync_api import expect

    review = make_review(
        tmp_path / "review", reasons=["Not randomized", "Wrong population", "No outcome data"]
    )
    with open_store(review) as store:
        store.set_reviewers_required(1)
    ta = ScreeningSession(review, "ann", rank=False)
    for rid in (1, 2, 3):
        ta.decide(rid, "include")
    server = serve(review, "ann", "full_text", rank=False)
    page, dialogs, errors = _page(browser, server)
    title = page.locator("#title")
    expect(title).to_have_text(re.compile(r"^\[1\] "))
    page.keyboard.press("e")
    expect(page.locator("#reasons")).to_be_visible()
    expect(page.locator("#reason-list li")).to_have_count(3)
    page.keyboard.press("Escape")
    expect(page.locator("#reasons")).to_be_hidden()
    assert _decisions(review, "full_text") == {}
    page.keyboard.press("e")
    page.keyboard.press("2")
    expect(title).to_have_text(re.compile(r"^\[2\] "))
    page.click("#btn-exclude")
    page.click("#reason-list button[data-reason='No outcome data']")
    expect(title).to_have_text(re.compile(r"^\[3\] "))
    page.keyboard.press("i")
    expect(page.locator("#done")).to_be_visible()
    assert _decisions(review, "full_text") == {
        (1, "ann"): ("exclude", "Wrong population", ""),
        (2, "ann"): ("exclude", "No outcome data", ""),
        (3, "ann"): ("include", "", ""),
    }
    assert dialogs == [] and errors == []


def test_conflicts_tab_lists_and_resolves(tmp_path, browser, serve):
    from playwright.sync_api import expect

    review = make_review(tmp_path / "review")
    ann, bob = ScreeningSession(review, "ann"), ScreeningSession(review, "bob")
    ann.decide(1, "include")
    bob.decide(1, "exclude", note="no control group?")
    ann.decide(2, "maybe")
    bob.decide(2, "exclude")
    server = serve(review, "carol")
    page, dialogs, errors = _page(browser, server)
    expect(page.locator("#n-conflicts")).to_have_text("(2)")
    page.click("#tab-conflicts")
    expect(page.locator("#c-title")).to_have_text(re.compile(r"^\[1\] "))
    expect(page.locator("#c-decisions li")).to_have_text(["ann: include", "bob: exclude — no control group?"])
    # A key pressed while the page is still fetching is ignored (the page is aria-busy then).
    expect(page.locator("body")).not_to_have_attribute("aria-busy", "true")
    page.keyboard.press("i")
    expect(page.locator("#status")).to_have_text("Record 1 resolved: include (third reviewer)")
    expect(page.locator("#c-title")).to_have_text(re.compile(r"^\[2\] "))
    page.click("#btn-c-exclude")
    expect(page.locator("#no-conflicts")).to_be_visible()
    page.click("#btn-nc-undo")
    expect(page.locator("#status")).to_have_text("Record 2 is in conflict again")
    expect(page.locator("#c-title")).to_have_text(re.compile(r"^\[2\] "))
    page.keyboard.press("e")
    expect(page.locator("#no-conflicts")).to_be_visible()
    with open_store(review) as store:
        res = {r["record_id"]: (r["decision"], r["resolved_by"], r["note"]) for r in store.resolutions()}
    assert res == {1: ("include", "carol", "third reviewer"), 2: ("exclude", "carol", "third reviewer")}
    assert dialogs == [] and errors == []


# ------------------------------------------------------------------ refusals, over plain HTTP


def _request(server, method, path, *, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_server_refuses_requests_without_the_key_or_from_elsewhere(tmp_path, serve):
    review = make_review(tmp_path / "review")
    server = serve(review, "ann")
    key = server.key
    good = {"X-Trialsynth-Key": key, "Content-Type": "application/json"}
    assert urlsplit(server.url).hostname == "127.0.0.1"

    assert _request(server, "GET", "/")[0] == 403
    assert _request(server, "GET", "/?key=wrong")[0] == 403
    for path in ("/", "/screen", "/studies", "/data", "/analysis", "/report"):
        assert _request(server, "GET", path)[0] == 403
        assert _request(server, "GET", f"{path}?key=wrong")[0] == 403
        status, headers, page = _request(server, "GET", f"{path}?key={key}")
        assert status == 200, path
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self' 'nonce-" in csp
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert b"http://" not in page and b"https://" not in page  # no external assets

    assert _request(server, "GET", "/api/state")[0] == 403
    assert _request(server, "GET", "/api/state", headers={"X-Trialsynth-Key": key})[0] == 200
    # DNS rebinding: another name for the same address
    assert (
        _request(server, "GET", "/api/state", headers={"X-Trialsynth-Key": key, "Host": "evil.example"})[0]
        == 403
    )
    decide = json.dumps({"record_id": 1, "decision": "include"})
    assert (
        _request(server, "POST", "/api/decide", body=decide, headers={"Content-Type": "application/json"})[0]
        == 403
    )
    other_site = {**good, "Origin": "http://evil.example"}
    assert _request(server, "POST", "/api/decide", body=decide, headers=other_site)[0] == 403
    form = {"X-Trialsynth-Key": key, "Content-Type": "application/x-www-form-urlencoded"}
    assert _request(server, "POST", "/api/decide", body="record_id=1", headers=form)[0] == 415
    assert _decisions(review) == {}

    status, _, body = _request(server, "POST", "/api/decide", body='{"record_id": 1}', headers=good)
    assert status == 400 and "include, exclude or maybe" in json.loads(body)["error"]
    status, _, body = _request(server, "POST", "/api/decide", body="[1]", headers=good)
    assert status == 400
    assert _request(server, "POST", "/api/nothing", body="{}", headers=good)[0] == 404
    assert _request(server, "GET", "/api/nothing", headers=good)[0] == 404

    status, _, body = _request(
        server, "POST", "/api/decide", body=decide, headers={**good, "Origin": server.origin}
    )
    assert status == 200 and json.loads(body)["progress"]["decided"] == 1
    assert _decisions(review) == {(1, "ann"): ("include", "", "")}


def test_serve_command_prints_its_address_and_saves_the_csv_copy_when_stopped(tmp_path):
    import signal
    import subprocess
    import sys
    import urllib.request

    review = make_review(tmp_path / "review")
    proc = subprocess.Popen(
        [sys.executable, "-m", "trialsynth", "serve", str(review), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRIALSYNTH_REVIEWER": "dana"},
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:(\d+))/\?key=(\S+)", line)
        assert match, line
        base, key = match.group(1), match.group(3)
        request = urllib.request.Request(
            base + "/api/decide",
            data=json.dumps({"record_id": 2, "decision": "exclude"}).encode(),
            headers={"X-Trialsynth-Key": key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["progress"]["exclude"] == 1
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "dana: 1 of 6 decided" in out
    rows = (review / "records" / "decisions.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 and ",2,title_abstract,dana,exclude," in rows[1]


def test_missing_browser_skips_or_fails_when_required(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_playwright(name, *args, **kwargs):
        if name.startswith("playwright"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_playwright)
    monkeypatch.delenv("TRIALSYNTH_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="playwright is not installed"):
        _need_browser()
    monkeypatch.setenv("TRIALSYNTH_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="TRIALSYNTH_REQUIRE_BROWSER=1"):
        _need_browser()
