"""``trialsynth serve``'s endpoints under bad input: Starlette's TestClient for the app's own
answers, a real uvicorn on loopback where the behaviour depends on the server (Host/Origin,
body limits on the wire, concurrent edits)."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from tests.web.servers import start_server
from trialsynth.io.review.edit import ReviewEditor
from trialsynth.web.app import MAX_BODY, WebContext, build_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:starlette")

START = {
    "title": "Imaging-guided CRT", "population": "Heart failure with CRT",
    "intervention": "Imaging-guided LV lead placement", "comparator": "Routine placement",
    "outcome_id": "response", "outcome_name": "CRT response", "data_type": "binary", "measure": "OR",
    "better": "higher", "study_id": "target", "study_label": "TARGET (Khan 2012)",
    "study_citation": "Khan FZ et al. J Am Coll Cardiol 2012;59:1509-18", "study_year": "2012",
    "study_source": "abstract (PubMed 22405632)",
}  # fmt: skip
#: Every endpoint: (method, path); the pages take the key in the address, the API in a header.
PAGES = ("/", "/studies", "/data", "/analysis", "/report", "/screen")
API_GET = ("/api/rows/history", "/api/analysis?outcome=response", "/api/report/status", "/api/state")
API_POST = (
    "/api/review/start", "/api/rows/check", "/api/rows/save", "/api/rows/undo", "/api/analysis/model",
    "/api/report/run", "/api/decide", "/api/skip", "/api/undo", "/api/resolve", "/api/undo-resolution",
)  # fmt: skip


@pytest.fixture
def client(tmp_path):
    from starlette.testclient import TestClient

    ctx = WebContext(tmp_path / "review", "ann")
    (tmp_path / "review").mkdir()
    with TestClient(build_app(ctx), raise_server_exceptions=False) as c:
        c.ctx = ctx
        c.headers.update({"X-Trialsynth-Key": ctx.key})
        yield c


def _started(client):
    r = client.post("/api/review/start", json=START)
    assert r.status_code == 200, r.text
    return ReviewEditor(client.ctx.review_dir)


def _target(ed):
    return next(r for r in ed.rows("outcomes.csv") if r["study"] == "target")


def test_every_endpoint_refuses_a_missing_or_wrong_key(client):
    for path in PAGES:
        assert client.get(path, headers={"X-Trialsynth-Key": ""}).status_code == 403
        assert client.get(f"{path}?key=wrong").status_code == 403
    for path in API_GET:
        for key in ("", "wrong"):
            r = client.get(path, headers={"X-Trialsynth-Key": key})
            assert r.status_code == 403 and r.json() == {"error": "missing or wrong key"}, path
    for path in API_POST:
        r = client.post(path, json={}, headers={"X-Trialsynth-Key": "wrong"})
        assert r.status_code == 403, path
    assert client.get("/figure/forest/response.svg?key=wrong").status_code == 403
    assert client.get("/figure/funnel/response.svg?key=wrong").status_code == 403
    assert client.get("/download/report.html?key=wrong").status_code == 403
    assert not (client.ctx.review_dir / "review.toml").exists()


def test_every_post_refuses_bad_bodies(client):
    nested = b"[" * 30_000 + b"]" * 30_000
    for path in API_POST:
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        form = client.post(path, content=b"a=1", headers=form_type)
        assert form.status_code == 415, path
        r = client.post(path, content=b"{not json", headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()) == (400, {"error": "the body is not JSON"}), path
        r = client.post(path, content=nested, headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()) == (400, {"error": "the body's JSON is nested too deeply"}), path
        r = client.post(path, content=b"[1]", headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()) == (400, {"error": "the body must be a JSON object"}), path
        big = json.dumps({"title": "x" * MAX_BODY}).encode()
        r = client.post(path, content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, path
    assert client.get("/api/nothing").status_code == 404
    assert client.post("/api/nothing", json={}).status_code == 404
    assert client.get("/api/rows/save").status_code == 405


def test_start_from_an_empty_folder(client):
    r = client.get(f"/?key={client.ctx.key}")
    assert r.status_code == 200 and 'id="start-form"' in r.text
    # Every input of the form has its label.
    for name in ("title", "population", "outcome_id", "study_id", "study_source"):
        assert f'<label for="{name}">' in r.text and f'id="{name}"' in r.text
    bad = client.post("/api/review/start", json={**START, "study_year": "twenty twelve"})
    assert bad.status_code == 400 and "studies.csv" in bad.json()["error"] and "year" in bad.json()["error"]
    assert not (client.ctx.review_dir / "review.toml").exists()
    assert client.post("/api/review/start", json={**START, "title": 3}).status_code == 400
    _started(client)
    again = client.post("/api/review/start", json=START)
    assert again.status_code == 409
    page = client.get(f"/data?key={client.ctx.key}")
    assert page.status_code == 200 and "TARGET (Khan 2012)" in page.text


def test_row_endpoints_bad_input_and_the_loaders_message(client):
    ed = _started(client)
    row = _target(ed)
    for body in (
        {"file": "review.toml", "values": {}},
        {"file": "../outcomes.csv", "values": {}},
        {"file": "outcomes.csv", "values": "x"},
        {"file": "outcomes.csv", "values": {"use": True}},
        {"file": "outcomes.csv", "values": {"use": ["yes"]}},
        {"file": "outcomes.csv", "key": "target", "values": {}},
        {"file": "outcomes.csv", "key": row["_key"], "version": 3, "values": {}},
    ):
        r = client.post("/api/rows/save", json=body)
        assert r.status_code == 400, body
    values = {"use": "yes", "events_treatment": "72", "n_treatment": "103", "events_control": "57",
              "n_control": "ten", "kind": "quoted", "source": "abstract"}  # fmt: skip
    body = {"file": "outcomes.csv", "key": row["_key"], "values": values}
    check = client.post("/api/rows/check", json=body)
    assert check.status_code == 200
    message = check.json()["error"]
    assert message.startswith("outcomes.csv, row 2") and "n_control" in message
    save = client.post(
        "/api/rows/save",
        json={"file": "outcomes.csv", "key": row["_key"], "version": row["_version"], "values": values},
    )
    assert (save.status_code, save.json()) == (400, {"error": message})
    ok = client.post(
        "/api/rows/save",
        json={"file": "outcomes.csv", "key": row["_key"], "version": row["_version"],
              "values": {**values, "n_control": "104"}},
    )  # fmt: skip
    assert ok.status_code == 200
    stale = client.post(
        "/api/rows/save",
        json={"file": "outcomes.csv", "key": row["_key"], "version": row["_version"],
              "values": {"note": "x"}},
    )
    assert stale.status_code == 409 and "changed by someone else" in stale.json()["error"]
    history = client.get("/api/rows/history").json()["changes"]
    assert [(c["who"], c["file"], c["new"]["n_control"]) for c in history] == [("ann", "outcomes.csv", "104")]
    assert client.post("/api/rows/undo", json={}).json() == {"undone": True, "rows": 1}
    assert client.post("/api/rows/undo", json={}).json() == {"undone": False, "rows": 0}


def test_model_and_report_endpoints_bad_input(client):
    _started(client)
    for body in ({"outcome": "response", "method": "DL", "hk": "no", "version": "x"},
                 {"outcome": "response", "method": 1, "hk": False, "version": "x"},
                 {"outcome": "response", "method": "DL", "hk": False, "version": "x", "sensitivity": "FE"},
                 {"outcome": "response", "method": "DL", "hk": False, "version": "x",
                  "sensitivity": ["FE", 3]}):  # fmt: skip
        assert client.post("/api/analysis/model", json=body).status_code == 400
    stale = client.post("/api/analysis/model", json={"outcome": "response", "method": "DL", "hk": False,
                                                     "version": "0000"})  # fmt: skip
    assert stale.status_code == 409
    assert client.get("/api/analysis?outcome=nothing").status_code == 404
    assert client.get(f"/figure/forest/response.svg?key={client.ctx.key}").status_code == 404  # no data yet
    assert client.get(f"/figure/funnel/response.svg?key={client.ctx.key}").status_code == 404
    assert client.get(f"/figure/forest/nothing.svg?key={client.ctx.key}").status_code == 404
    assert client.post("/api/report/run", json={}).status_code == 501  # no runner given
    assert client.get(f"/download/results.json?key={client.ctx.key}").status_code == 404
    assert client.get(f"/download/..%2Freview.toml?key={client.ctx.key}").status_code == 404
    # Screening without records: a message, not a crash.
    assert client.get("/api/state").status_code == 409
    assert "no records to screen" in client.get(f"/screen?key={client.ctx.key}").text


# ------------------------------------------------------------------ a real server on loopback


def _request(server, method, path, *, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path):
    from starlette.testclient import TestClient

    folder = tmp_path / "review"
    folder.mkdir()
    srv = start_server(folder, "ann")
    with TestClient(build_app(srv.ctx)) as c:  # the same context: start the review
        started = c.post("/api/review/start", json=START, headers={"X-Trialsynth-Key": srv.key})
        assert started.status_code == 200
    yield srv
    srv.stop()


def test_host_and_origin_checks_on_every_endpoint(server):
    key = server.key
    good = {"X-Trialsynth-Key": key, "Content-Type": "application/json"}
    for path in PAGES:
        assert _request(server, "GET", f"{path}?key={key}")[0] == 200, path
        assert _request(server, "GET", f"{path}?key={key}", headers={"Host": "evil.example"})[0] == 403
    for path in API_POST:
        other = {**good, "Origin": "http://evil.example"}
        status, body = _request(server, "POST", path, body="{}", headers=other)
        assert (status, json.loads(body)) == (403, {"error": "requests from other sites are refused"}), path
        rebound = {**good, "Host": f"evil.example:{server.port}"}
        status, _ = _request(server, "POST", path, body="{}", headers=rebound)
        assert status == 403, path
    # A Content-Length above the limit is refused before the body is read.
    big = b"{" + b" " * (MAX_BODY + 10) + b"}"
    status, _ = _request(server, "POST", "/api/rows/save", body=big, headers=good)
    assert status == 413
    status, _ = _request(server, "GET", "/api/rows/history", headers={**good, "Origin": server.origin})
    assert status == 200


def test_concurrent_edits_over_http_one_saved_the_others_409(server):
    ed = ReviewEditor(server.ctx.review_dir)
    row = _target(ed)
    n = 8
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def one(i):
        body = json.dumps({"file": "outcomes.csv", "key": row["_key"], "version": row["_version"],
                           "values": {"note": f"reviewer {i}"}})  # fmt: skip
        barrier.wait(timeout=30)
        results[i] = _request(
            server, "POST", "/api/rows/save", body=body,
            headers={"X-Trialsynth-Key": server.key, "Content-Type": "application/json"},
        )  # fmt: skip

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    statuses = sorted(r[0] for r in results)
    assert statuses == [200] + [409] * (n - 1), results
    winner = next(i for i, r in enumerate(results) if r[0] == 200)
    assert _target(ed)["note"] == f"reviewer {winner}"
    refused = next(r for r in results if r[0] == 409)
    assert "changed by someone else" in json.loads(refused[1])["error"]
    assert len(ed.history()) == 1
