"""The PubMed E-utilities client against a stub server on 127.0.0.1 (there is no network here).

The stub answers esearch (JSON, history server) and efetch (MEDLINE text, retstart/retmax)
as NCBI's "Entrez Programming Utilities Help" describes them, serving the records of
tests/fixtures/records/pubmed.nbib; it can be told to fail a number of times first.
"""

import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError
from trialsynth.cli import main
from trialsynth.io.records.pubmed import PubMedClient, run_search
from trialsynth.io.records.store import open_store

SAMPLE = (Path(__file__).parents[1] / "fixtures" / "records" / "pubmed.nbib").read_text(encoding="utf-8")
#: Allowance for the stub server's thread scheduling when it notes arrival times (seconds).
JITTER = 0.02
RECORDS = [block + "\n" for block in SAMPLE.strip("\n").split("\n\n")]


class Stub:
    def __init__(self):
        self.calls = []  # (time, endpoint, params)
        self.failures = {}  # endpoint -> list of (status, headers) to answer first
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/eutils/"

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("ascii")))
                endpoint = self.path.rsplit("/", 1)[-1]
                stub.calls.append((time.monotonic(), endpoint, params))
                pending = stub.failures.get(endpoint)
                if pending:
                    status, headers = pending.pop(0)
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                if endpoint == "esearch.fcgi":
                    if params["term"] == "bad[[":
                        self.send_response(400)
                        self.end_headers()
                        self.wfile.write(b"Invalid query")
                        return
                    count = 0 if params["term"] == "nothing" else len(RECORDS)
                    body = json.dumps(
                        {
                            "esearchresult": {
                                "count": str(count),
                                "retmax": "0",
                                "webenv": "WE1",
                                "querykey": "1",
                                "idlist": [],
                                "querytranslation": params["term"],
                            }
                        }
                    ).encode()
                    kind = "application/json"
                elif (
                    endpoint == "efetch.fcgi"
                    and params.get("WebEnv") == "WE1"
                    and params.get("query_key") == "1"
                ):
                    start, size = int(params["retstart"]), int(params["retmax"])
                    body = "\n".join(RECORDS[start : start + size]).encode("utf-8")
                    kind = "text/plain"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    with Stub() as s:
        yield s


def _review(folder, queries=("cardiac resynchronization AND imaging",), databases=("PubMed", "Embase")):
    folder.mkdir(exist_ok=True)
    q = ", ".join(json.dumps(x) for x in queries)
    d = ", ".join(json.dumps(x) for x in databases)
    (folder / "review.toml").write_text(f"[search]\ndatabases = [{d}]\nqueries = [{q}]\n", encoding="utf-8")
    return folder


def test_search_fetches_in_batches_and_imports(tmp_path, stub, monkeypatch):
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.setenv("NCBI_EMAIL", "reviewer@example.org")
    review = _review(tmp_path / "r")
    client = PubMedClient(stub.url, batch_size=2, backoff=0.01)
    with open_store(review) as store:
        ((result, outcome),) = run_search(store, review, client=client, today="2024-05-01")
        records = store.records()
    assert (result.count, result.webenv, result.query_key) == (3, "WE1", "1")
    assert [r.pmid for r in records] == ["31000001", "33000002", "29000003"]
    info = outcome.info
    assert (info.database, info.search_date, info.query, info.format) == (
        "PubMed",
        "2024-05-01",
        "cardiac resynchronization AND imaging",
        "medline",
    )
    endpoints = [(c[1], c[2].get("retstart")) for c in stub.calls]
    assert endpoints == [("esearch.fcgi", None), ("efetch.fcgi", "0"), ("efetch.fcgi", "2")]
    first = stub.calls[0][2]
    assert (first["usehistory"], first["tool"], first["email"]) == ("y", "trialsynth", "reviewer@example.org")
    assert "api_key" not in first
    # No more than 3 requests a second without a key. Arrival times at the stub carry the
    # server thread's scheduling jitter (JITTER); the client's own spacing is checked exactly
    # with a fake clock in test_rate_limit_spacing_is_exact.
    gaps = [b[0] - a[0] for a, b in zip(stub.calls, stub.calls[1:], strict=False)]
    assert min(gaps) >= 1 / 3 - JITTER
    assert (review / "searches" / "pubmed-2024-05-01-1.nbib").read_text(encoding="utf-8").count("PMID- ") == 3


def test_api_key_from_environment_raises_the_rate(tmp_path, stub, monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", "k-123")
    client = PubMedClient(stub.url, batch_size=1)
    assert client.min_interval == 0.1
    result = client.esearch("x")
    client.efetch_medline(result)
    assert [c[2]["api_key"] for c in stub.calls] == ["k-123"] * 4
    gaps = [b[0] - a[0] for a, b in zip(stub.calls, stub.calls[1:], strict=False)]
    assert min(gaps) >= 0.1 - JITTER


def test_rate_limit_spacing_is_exact(stub):
    now = [100.0]
    sent = []

    def sleep(seconds):
        now[0] += seconds

    def clock():
        return now[0]

    client = PubMedClient(stub.url, batch_size=1, api_key=None, sleep=sleep, clock=clock)
    client.api_key = None
    original = client._wait_turn

    def wait_and_note():
        original()
        sent.append(now[0])
        now[0] += 0.05  # each request takes 50 ms of the fake clock

    client._wait_turn = wait_and_note
    client.efetch_medline(client.esearch("x"))
    # Request starts are 1/3 s apart: 50 ms spent in each request, 1/3 - 0.05 slept.
    assert sent == pytest.approx([100.0 + i / 3 for i in range(4)], rel=0, abs=1e-12)


def test_429_and_5xx_are_retried_with_backoff(stub, monkeypatch):
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    stub.failures["esearch.fcgi"] = [(429, {"Retry-After": "0.5"})]
    stub.failures["efetch.fcgi"] = [(503, {}), (502, {})]
    sleeps = []
    client = PubMedClient(
        stub.url, batch_size=5, backoff=0.05, sleep=lambda s: (sleeps.append(s), time.sleep(s))
    )
    result = client.esearch("x")
    text = client.efetch_medline(result)
    assert text.decode().count("PMID- ") == 3
    assert client.requests == 5  # 2 esearch, 3 efetch
    # Retry-After honoured (0.5 s); then back-off 0.05 * 2**0 and 0.05 * 2**1 (each at least the rate limit).
    assert 0.5 in sleeps and 0.05 in sleeps and 0.1 in sleeps


def test_persistent_failure_and_refusal_are_clear_errors(stub):
    stub.failures["esearch.fcgi"] = [(500, {})] * 3
    client = PubMedClient(stub.url, max_tries=3, backoff=0.01, api_key="k")
    with pytest.raises(InputError, match=r"could not be reached .* after 3 tries \(HTTP 500\)"):
        client.esearch("x")
    with pytest.raises(InputError, match=r"refused the request to esearch.fcgi \(HTTP 400\): Invalid query"):
        client.esearch("bad[[")


def test_unreachable_server(tmp_path):
    client = PubMedClient("http://127.0.0.1:9/", max_tries=2, backoff=0.01, api_key="k", timeout=2)
    with pytest.raises(
        InputError, match=re.escape("could not be reached at http://127.0.0.1:9/esearch.fcgi after 2 tries")
    ):
        client.esearch("x")


def test_review_without_pubmed_or_queries(tmp_path, stub):
    client = PubMedClient(stub.url, api_key="k")
    with open_store(tmp_path) as store:
        _review(tmp_path, databases=("Embase",))
        with pytest.raises(InputError, match="does not list PubMed or MEDLINE"):
            run_search(store, tmp_path, client=client)
        _review(tmp_path, queries=())
        with pytest.raises(InputError, match="queries is empty"):
            run_search(store, tmp_path, client=client)
        _review(tmp_path, queries=("nothing",))
        ((result, outcome),) = run_search(store, tmp_path, client=client, today="2024-05-01")
        assert result.count == 0 and outcome.info is None and store.count_records() == 0


def test_cli_search_twice(tmp_path, stub, monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", "k")
    review = _review(tmp_path / "r")
    runner = CliRunner()
    first = runner.invoke(main, ["search", str(review), "--base-url", stub.url])
    assert first.exit_code == 0, first.output
    assert "PubMed: 3 records for cardiac resynchronization AND imaging" in first.output
    assert "3 records from PubMed (medline, database, searched " in first.output
    second = runner.invoke(main, ["search", str(review), "--base-url", stub.url])
    assert second.exit_code == 0 and "already imported" in second.output  # same results: nothing doubled
    with open_store(review) as store:
        assert store.count_records() == 3
