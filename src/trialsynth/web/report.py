"""The report page: a button that runs ``trialsynth run`` on the folder (the command line
hands the app that very function, so the page and the CLI share one code path) in a
background thread, then links to the report and results.json it wrote."""

from __future__ import annotations

import threading
import traceback
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from trialsynth.web.app import (
    HTTPError,
    WebContext,
    json_body,
    json_response,
    page,
    require_key,
    security_headers,
)

__all__ = ["DOWNLOADS", "NAV", "routes"]

NAV = (("/report", "Report"),)
#: The files of the run's output that the page offers for download.
DOWNLOADS = ("report.html", "results.json", "report.docx", "results.xlsx", "report.pdf")


class _Run:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = "idle"  # idle | running | done | failed
        self.message = ""
        self.out: Path | None = None
        self.thread: threading.Thread | None = None

    def json(self) -> dict[str, object]:
        files = [n for n in DOWNLOADS if self.out is not None and (self.out / n).exists()]
        return {"state": self.state, "message": self.message, "files": files if self.state == "done" else []}


def _run(ctx: WebContext) -> _Run:
    return ctx.extra.setdefault("report_run", _Run())


def _build(ctx: WebContext, run: _Run) -> None:
    try:
        assert ctx.run_report is not None
        with ctx.lock:
            report = ctx.run_report()
        run.out, run.state, run.message = Path(report).parent, "done", f"Report written to {report}"
    except Exception as exc:
        text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if not str(exc):
            traceback.print_exc()
        run.state, run.message = "failed", text


def routes(ctx: WebContext) -> list[Route]:
    def report_page(request: Request) -> Response:
        return page(ctx, request, "web_report.html.j2", downloads=DOWNLOADS)

    async def start(request: Request) -> Response:
        await json_body(ctx, request)
        if ctx.run_report is None:
            raise HTTPError(501, "this server cannot build reports")
        run = _run(ctx)
        with run.lock:
            if run.state == "running":
                raise HTTPError(409, "a report is being built already")
            run.state, run.message = "running", "Building the report…"
            run.thread = threading.Thread(target=_build, args=(ctx, run), daemon=True)
            run.thread.start()
        return json_response(run.json())

    def status(request: Request) -> Response:
        require_key(ctx, request)
        return json_response(_run(ctx).json())

    def download(request: Request) -> Response:
        require_key(ctx, request, in_query=True)
        name = request.path_params["name"]
        run = _run(ctx)
        if name not in DOWNLOADS or run.out is None or not (run.out / name).is_file():
            raise HTTPError(404, "not built yet")
        return security_headers(FileResponse(run.out / name, filename=name))

    return [
        Route("/report", report_page),
        Route("/api/report/run", start, methods=["POST"]),
        Route("/api/report/status", status),
        Route("/download/{name}", download),
    ]
