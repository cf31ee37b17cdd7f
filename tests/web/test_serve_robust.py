"""``trialsynth serve`` (uvicorn, a real socket) under a careless or hostile client (issue 15):
a deeply nested JSON body, 200 simultaneous connections, a client that stops sending."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from tests.screening_data import make_review
from tests.web.servers import start_server
from trialsynth.web.app import BACKLOG


@pytest.fixture
def server(tmp_path):
    review = make_review(tmp_path / "review")
    srv = start_server(review, "ann", "title_abstract", rank=False, idle_timeout=1.0)
    yield srv
    srv.stop()


def _post(srv, path: str, body: bytes):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.request(
        "POST",
        path,
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Trialsynth-Key": srv.key,
            "Host": f"127.0.0.1:{srv.port}",
        },
    )
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_deeply_nested_json_body_is_a_400_with_a_message(server):
    # 30,000 nested arrays (60 kB, under the 64 KiB body limit): json.loads raised RecursionError,
    # outside the handler's own checks.
    status, data = _post(server, "/api/decide", b"[" * 30_000 + b"]" * 30_000)
    assert status == 400
    assert json.loads(data) == {"error": "the body's JSON is nested too deeply"}
    status, data = _post(server, "/api/decide", b'{"a":' * 10_000 + b"1" + b"}" * 10_000)
    assert status == 400
    # The server still answers.
    status, data = _post(server, "/api/skip", json.dumps({"record_id": 1}).encode())
    assert status == 200


def test_two_hundred_simultaneous_connections_are_all_answered(server):
    assert server.backlog == BACKLOG >= 128
    n = 200
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def one(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            conn.request(
                "GET",
                "/api/state",
                headers={"X-Trialsynth-Key": server.key, "Host": f"127.0.0.1:{server.port}"},
            )
            response = conn.getresponse()
            response.read()
            results[i] = response.status
            conn.close()
        except Exception as exc:  # a reset connection is what the test looks for
            results[i] = repr(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    failed = [r for r in results if r != 200]
    assert not failed, f"{len(failed)} of {n} connections failed, e.g. {failed[:3]}"


def test_a_slow_client_is_disconnected_and_others_are_served(server):
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    slow.sendall(b"POST /api/decide HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    started = time.monotonic()
    # Meanwhile another client is served at once.
    status, _ = _post(server, "/api/skip", json.dumps({"record_id": 1}).encode())
    assert status == 200
    # The idle timeout (1 s here, 30 s by default) closes the slow connection.
    assert slow.recv(1024) == b""
    assert time.monotonic() - started < 8
    slow.close()
    # A client that sends headers and then stalls in the body is closed too.
    stalled = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    stalled.sendall(
        f"POST /api/skip HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Trialsynth-Key: {server.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
    )
    stalled.settimeout(10)
    started = time.monotonic()
    answer = b""
    while chunk := stalled.recv(1024):  # a 408 answer, then the connection is closed
        answer += chunk
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < 8
    stalled.close()
