"""The review in the browser: one ASGI application (Starlette) served by uvicorn.

``trialsynth serve REVIEW_DIR`` builds :func:`build_app` from page modules and runs it with
:class:`WebServer`. Each page module (``web/screening.py``, ``web/studies.py``,
``web/analysis.py``, ``web/report.py``) has ``routes(ctx) -> list[Route]`` and ``NAV``
(``((path, label), ...)``, its entries in the navigation bar); adding a page is one module and one
entry in :data:`PAGES`.

Safety (carried over from the standard-library server it replaced, and tested)
----------------------------------------------------------------------------
* Pages are served only with the random key in the address (``?key=...``, printed by
  ``trialsynth serve``); every ``/api/`` request must carry the same key in the
  ``X-Trialsynth-Key`` header, and requests that change anything are ``POST`` with a JSON body
  (a cross-site form or script can set neither, nor read a page that holds the key).
* The ``Host`` header must name the address the server is bound to (DNS rebinding); an
  ``Origin`` header, when sent, must be the server's own.
* Bodies above :data:`MAX_BODY` bytes are refused (413) from their ``Content-Length`` or
  while they stream; JSON nested too deeply is a 400; a body that stalls for the idle timeout
  is answered 408 and closed; uvicorn closes connections that stay silent.
* Pages carry a strict Content-Security-Policy: no inline script or style without the
  page's fresh nonce, scripts only from the package's own ``/static/`` files, no external
  asset; figures are inline SVG produced by the report's plotting code.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from trialsynth._core.errors import InputError
from trialsynth._core.serialize import dumps_json

__all__ = [
    "BACKLOG",
    "IDLE_TIMEOUT",
    "MAX_BODY",
    "PAGES",
    "WebContext",
    "WebServer",
    "build_app",
    "json_body",
    "json_response",
    "page",
    "require_key",
]

#: Largest request body (bytes): the API's JSON bodies are a few kilobytes at most.
MAX_BODY = 64 * 1024
#: Connections the operating system queues while the server is busy.
BACKLOG = 128
#: Seconds a connection may stay silent (reading a request or its body) before it is closed.
IDLE_TIMEOUT = 30.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class HTTPError(Exception):
    """An answer other than 200, with a one-line message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class WebContext:
    """What the page modules share: the review folder, who is using the page, the key, a
    lock serialising writes to the folder, and per-module state (``extra``)."""

    review_dir: Path
    reviewer: str
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: Runs ``trialsynth run`` on the folder (given by the command line: the same code path).
    run_report: Callable[[], Path] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _page_modules():
    from trialsynth.web import analysis, report, screening, studies

    return (studies, analysis, screening, report)


#: The page modules, in the order of the navigation bar (a callable: imported when built).
PAGES = _page_modules


def security_headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def json_response(data: object, status: int = 200) -> Response:
    body = dumps_json(data, indent=None).encode("utf-8")
    return security_headers(Response(body, status, media_type="application/json; charset=utf-8"))


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _key_ok(ctx: WebContext, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), ctx.key.encode())


def require_key(ctx: WebContext, request: Request, *, in_query: bool = False) -> None:
    """Refuse (403) a request without the key: pages take it from ``?key=``, the API from the
    ``X-Trialsynth-Key`` header."""
    if in_query:
        if not _key_ok(ctx, request.query_params.get("key")):
            raise HTTPError(403, "open the address printed by trialsynth serve")
    elif not _key_ok(ctx, request.headers.get("x-trialsynth-key")):
        raise HTTPError(403, "missing or wrong key")


async def json_body(ctx: WebContext, request: Request) -> dict[str, Any]:
    """The request's JSON object, after the key and content-type checks."""
    require_key(ctx, request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPError(415, "send JSON")
    raw = await request.body()
    try:
        body = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPError(400, "the body is not JSON") from None
    except RecursionError:
        raise HTTPError(400, "the body's JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    return body


def _templates():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("trialsynth", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


_ENV: list[Any] = []


def page(ctx: WebContext, request: Request, template: str, **values: Any) -> Response:
    """Render a page (after the key check) with a fresh CSP nonce."""
    require_key(ctx, request, in_query=True)
    if not _ENV:
        _ENV.append(_templates())
    nonce = secrets.token_urlsafe(16)
    nav = [entry for m in PAGES() for entry in m.NAV]
    html = _ENV[0].get_template(template).render(
        key=ctx.key, nonce=nonce, reviewer=ctx.reviewer, nav=nav, folder=ctx.review_dir.name,
        current=request.url.path, **values,
    )
    csp = (
        f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    response = HTMLResponse(html, headers={"Content-Security-Policy": csp})
    return security_headers(response)


class _Guard:
    """ASGI middleware: Host/Origin checks, body size limit and body idle timeout, and the
    translation of errors into JSON answers."""

    def __init__(self, app, ctx: WebContext, server: WebServer | None, idle_timeout: float) -> None:
        self.app = app
        self.ctx = ctx
        self.server = server
        self.idle_timeout = idle_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = None
        if self.server is not None:
            allowed = self.server.allowed_hosts()
            if allowed is not None and headers.get("host", "") not in allowed:
                refusal = _error(403, "this server answers only at its own address")
            elif "origin" in headers and headers["origin"] != self.server.origin:
                refusal = _error(403, "requests from other sites are refused")
        length = headers.get("content-length")
        if refusal is None and length is not None:
            if not length.isdigit() or int(length) > MAX_BODY:
                refusal = _error(413, "body missing or too large")
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout)
            except TimeoutError:
                raise HTTPError(408, "the request's body stalled") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY:
                    raise HTTPError(413, "body missing or too large")
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            await _answer(exc)(scope, receive, send)


def _answer(exc: BaseException) -> Response:
    if isinstance(exc, HTTPError):
        return _error(exc.status, exc.message)
    if isinstance(exc, InputError):
        return _error(400, str(exc))
    print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return _error(500, "internal error (see the terminal)")


def build_app(ctx: WebContext, server: WebServer | None = None, *, idle_timeout: float = IDLE_TIMEOUT):
    """The ASGI application for ``ctx``: every page module's routes, the static files, and
    the :class:`_Guard` around them (Host/Origin checks need ``server``'s address)."""
    routes: list[BaseRoute] = []
    for module in PAGES():
        routes.extend(module.routes(ctx))
    static = Path(__file__).with_name("static")
    routes.append(Mount("/static", app=StaticFiles(directory=static), name="static"))

    async def not_found(request, exc):
        return _error(404, "not found")

    async def not_allowed(request, exc):
        return _error(405, "method not allowed")

    async def known_error(request, exc: Exception):
        return _answer(exc)

    handlers: dict[Any, Any] = {
        404: not_found, 405: not_allowed, HTTPError: known_error, InputError: known_error,
        Exception: known_error,  # a 500 in JSON; the error is printed on the terminal
    }  # fmt: skip
    app = Starlette(routes=routes, exception_handlers=handlers)
    return _Guard(app, ctx, server, idle_timeout)


class WebServer:
    """Serve the app for ``ctx`` with uvicorn on ``host``:``port`` (port 0: any free port).
    :meth:`start` runs it in a background thread, :meth:`serve_forever` in this one (Ctrl-C
    or SIGTERM stop it); :attr:`url` is the home page's address."""

    def __init__(
        self, ctx: WebContext, *, host: str = "127.0.0.1", port: int = 0, idle_timeout: float = IDLE_TIMEOUT
    ) -> None:
        import uvicorn

        self.ctx = ctx
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
        except OSError:
            self.socket.close()
            raise
        self.socket.listen(BACKLOG)
        self.backlog = BACKLOG
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(
            build_app(ctx, self, idle_timeout=idle_timeout),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=max(1, int(idle_timeout)),
            backlog=BACKLOG,
            server_header=False,
            date_header=False,
            http=_idle_protocol(idle_timeout),
        )
        self.uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def key(self) -> str:
        return self.ctx.key

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.url_for("/")

    def url_for(self, path: str) -> str:
        return f"{self.origin}{path}?key={self.key}"

    def allowed_hosts(self) -> set[str] | None:
        """The ``Host`` headers accepted (``None``: any, when bound to all interfaces)."""
        if self.host in ("", "0.0.0.0", "::"):
            return None
        names = {self.host, *(_LOOPBACK if self.host in _LOOPBACK else ())}
        return {f"[{n}]:{self.port}" if ":" in n else f"{n}:{self.port}" for n in names}

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        while not self.uvicorn.started and self._thread.is_alive():
            threading.Event().wait(0.01)

    def serve_forever(self) -> None:
        self.uvicorn.run(sockets=[self.socket])

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.socket.close()


def _idle_protocol(idle_timeout: float):
    """uvicorn's HTTP/1.1 protocol with one more timer: a connection whose request headers
    have not all arrived ``idle_timeout`` seconds after it opened (or after its previous
    response) is closed, so that a client that stops sending cannot hold it for ever."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class IdleH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(idle_timeout, self._header_timeout)

        def _header_timeout(self) -> None:
            if self.cycle is None or self.cycle.response_complete:
                if not self.transport.is_closing():
                    self.transport.close()

        def handle_events(self) -> None:
            timer = getattr(self, "_header_timer", None)
            super().handle_events()
            if timer is not None and self.cycle is not None and not self.cycle.response_complete:
                timer.cancel()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            if not self.transport.is_closing():
                self._arm_header_timer()

        def connection_lost(self, exc) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

    return IdleH11Protocol
