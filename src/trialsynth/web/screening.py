"""The screening page: a small local web server for one reviewer's session.

``trialsynth serve REVIEW_DIR --reviewer NAME`` serves one page (``templates/screen.html.j2``,
no external assets) and a few JSON endpoints over the same :class:`ScreeningSession` that
the terminal uses. It binds to the loopback interface by default.

Safety
------
* The page's address carries a random key (``/?key=...``, printed when the server starts);
  without it the page is refused, so other users of the machine cannot screen as you.
* Every ``/api/`` request must carry the same key in the ``X-Trialsynth-Key`` header, and
  requests that change anything must be ``POST`` with a JSON body (a cross-site form or
  script cannot set that header, nor read the page that holds the key).
* The ``Host`` header must name the address the server is bound to (a page on another site
  cannot reach the server through its own domain name, "DNS rebinding"); an ``Origin``
  header, when sent, must be the server's own.
* The page's Content-Security-Policy lets only its own inline script and style run (with a
  fresh nonce); record texts are inserted as text, never as HTML, and the template escapes
  everything it writes.
"""

from __future__ import annotations

import hmac
import json
import secrets
import sys
import threading
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from trialsynth._core.errors import InputError
from trialsynth._core.serialize import dumps_json
from trialsynth.workflow.screening.session import ScreeningSession, screening_agreement

__all__ = ["ScreeningServer"]

#: Largest request body (bytes): the API's JSON bodies are a few hundred bytes.
_MAX_BODY = 64 * 1024
#: Connections the operating system queues while the server is busy (the standard library's
#: default, 5, reset 91 of 200 simultaneous connections).
BACKLOG = 128
#: Seconds a connection may stay silent (reading a request or its body) before it is closed,
#: so that a slow or stalled client cannot hold a worker thread for ever.
IDLE_TIMEOUT = 30.0


class _Server(ThreadingHTTPServer):
    request_queue_size = BACKLOG
    daemon_threads = True
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _record_json(record) -> dict[str, object] | None:
    if record is None:
        return None
    return {
        "id": record.id,
        "title": record.title,
        "abstract": record.abstract,
        "authors": list(record.authors),
        "year": record.year,
        "journal": record.journal,
        "doi": record.doi,
        "pmid": record.pmid,
        "database": record.database,
    }


def _decision_json(d) -> dict[str, object]:
    return {"reviewer": d.reviewer, "decision": d.decision, "reason": d.reason, "note": d.note}


class ScreeningServer:
    """Serve ``session`` on ``host``:``port`` (port 0: any free port). Use :meth:`start`
    (a background thread) or :meth:`serve_forever`; :attr:`url` is the page's address."""

    def __init__(
        self,
        session: ScreeningSession,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.session = session
        self.key = secrets.token_urlsafe(24)
        self.idle_timeout = idle_timeout
        self.httpd = _Server((host, port), _handler(self))
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/?key={self.key}"

    def allowed_hosts(self) -> set[str] | None:
        """The ``Host`` headers accepted (``None``: any, when bound to all interfaces)."""
        if self.host in ("", "0.0.0.0", "::"):
            return None
        names = {self.host, *(_LOOPBACK if self.host in _LOOPBACK else ())}
        return {f"[{n}]:{self.port}" if ":" in n else f"{n}:{self.port}" for n in names}

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    # ------------------------------------------------------------------ the API
    def state(self) -> dict[str, object]:
        s = self.session
        nxt, progress = s.status()
        return {
            "reviewer": s.reviewer,
            "stage": s.stage,
            "reasons": list(s.reasons),
            "record": _record_json(nxt.record),
            "ordering": nxt.ordering,
            "trained_include": nxt.trained_include,
            "trained_exclude": nxt.trained_exclude,
            "progress": asdict(progress),
            "stopping": s.stopping_state().to_dict(),
        }

    def agreement(self) -> dict[str, object]:
        """Two-screener agreement at the session's stage (κ, AC1, conflicts and how they were
        resolved, per pair of reviewers); ``None`` until two reviewers decided a record."""
        s = self.session
        return {"stage": s.stage, "agreement": screening_agreement(s.review_dir).get(s.stage)}

    def conflicts(self) -> dict[str, object]:
        return {
            "stage": self.session.stage,
            "reasons": list(self.session.reasons),
            "conflicts": [
                {"record": _record_json(c.record), "decisions": [_decision_json(d) for d in c.decisions]}
                for c in self.session.conflicts()
            ],
        }

    def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        s = self.session

        def record_id() -> int:
            value = body.get("record_id")
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError("record_id must be a record number")
            return value

        def text(name: str) -> str:
            value = body.get(name, "")
            if not isinstance(value, str):
                raise InputError(f"{name} must be text")
            return value

        if path == "/api/decide":
            s.decide(record_id(), text("decision"), reason=text("reason"), note=text("note"))
            return self.state()
        if path == "/api/skip":
            s.skip(record_id())
            return self.state()
        if path == "/api/undo":
            undone = s.undo()
            out = self.state()
            out["undone"] = (
                None if undone is None else {"record_id": undone.record_id, "decision": undone.decision}
            )
            return out
        if path == "/api/resolve":
            how = s.resolve(record_id(), text("decision"), reason=text("reason"), note=text("note"))
            return {**self.conflicts(), "resolved_as": how}
        if path == "/api/undo-resolution":
            undone_record = s.undo_resolution()
            return {**self.conflicts(), "undone": undone_record}
        raise LookupError(path)


def _handler(server: ScreeningServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "trialsynth"
        sys_version = ""
        # A socket timeout per connection (StreamRequestHandler sets it on the socket): a
        # client that stops sending is disconnected after this many seconds.
        timeout = server.idle_timeout

        def log_message(self, format: str, *args: object) -> None:  # quiet: the terminal is the UI
            pass

        # ---------------------------------------------------------- responses
        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Frame-Options", "DENY")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: dict[str, object]) -> None:
            body = dumps_json(data, indent=None).encode("utf-8")
            self._send(status, body, "application/json; charset=utf-8")

        def _error(self, status: HTTPStatus, message: str) -> None:
            self._json(status, {"error": message})

        # ---------------------------------------------------------- checks
        def _host_ok(self) -> bool:
            allowed = server.allowed_hosts()
            return allowed is None or self.headers.get("Host", "") in allowed

        def _key_ok(self, given: str | None) -> bool:
            return given is not None and hmac.compare_digest(given.encode(), server.key.encode())

        def _guard(self) -> bool:
            if not self._host_ok():
                self._error(HTTPStatus.FORBIDDEN, "this server answers only at its own address")
                return False
            origin = self.headers.get("Origin")
            if origin is not None and origin != server.origin:
                self._error(HTTPStatus.FORBIDDEN, "requests from other sites are refused")
                return False
            return True

        # ---------------------------------------------------------- methods
        def do_GET(self) -> None:
            if not self._guard():
                return
            url = urlsplit(self.path)
            try:
                if url.path == "/":
                    if not self._key_ok(parse_qs(url.query).get("key", [None])[0]):
                        self._error(HTTPStatus.FORBIDDEN, "open the address printed by trialsynth serve")
                        return
                    self._page()
                    return
                if url.path in ("/api/state", "/api/conflicts", "/api/agreement"):
                    if not self._key_ok(self.headers.get("X-Trialsynth-Key")):
                        self._error(HTTPStatus.FORBIDDEN, "missing or wrong key")
                        return
                    answer = {
                        "/api/state": server.state,
                        "/api/conflicts": server.conflicts,
                        "/api/agreement": server.agreement,
                    }[url.path]
                    self._json(HTTPStatus.OK, answer())
                    return
                self._error(HTTPStatus.NOT_FOUND, "not found")
            except InputError as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
            except Exception as exc:  # keep serving; say what went wrong on the terminal
                print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (see the terminal)")

        def do_POST(self) -> None:
            if not self._guard():
                return
            if not self._key_ok(self.headers.get("X-Trialsynth-Key")):
                self._error(HTTPStatus.FORBIDDEN, "missing or wrong key")
                return
            if self.headers.get_content_type() != "application/json":
                self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON")
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= _MAX_BODY:
                self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body missing or too large")
                return
            try:
                body = json.loads(self.rfile.read(length).decode("utf-8") or "{}")
            except (UnicodeDecodeError, json.JSONDecodeError):
                self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON")
                return
            except RecursionError:
                self._error(HTTPStatus.BAD_REQUEST, "the body's JSON is nested too deeply")
                return
            if not isinstance(body, dict):
                self._error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
                return
            try:
                self._json(HTTPStatus.OK, server.post(urlsplit(self.path).path, body))
            except LookupError:
                self._error(HTTPStatus.NOT_FOUND, "not found")
            except InputError as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
            except Exception as exc:
                print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (see the terminal)")

        def _page(self) -> None:
            import jinja2

            nonce = secrets.token_urlsafe(16)
            env = jinja2.Environment(
                loader=jinja2.PackageLoader("trialsynth", "templates"),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
            )
            html = env.get_template("screen.html.j2").render(
                key=server.key,
                nonce=nonce,
                reviewer=server.session.reviewer,
                stage=server.session.stage,
            )
            csp = (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                "frame-ancestors 'none'"
            )
            self._send(
                HTTPStatus.OK,
                html.encode("utf-8"),
                "text/html; charset=utf-8",
                {"Content-Security-Policy": csp},
            )

    return Handler
