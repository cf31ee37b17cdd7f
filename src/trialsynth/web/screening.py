"""The screening page (``/screen``) and its JSON API over the same :class:`ScreeningSession`
that the terminal uses; one page module of :mod:`trialsynth.web.app`, which does the safety
checks (key, Host/Origin, body limits, CSP). Record texts are inserted as text, never as
HTML, and the template escapes everything it writes.
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trialsynth._core.errors import InputError
from trialsynth.web.app import HTTPError, WebContext, json_body, json_response, page, require_key
from trialsynth.workflow.screening.session import ScreeningSession, screening_agreement

__all__ = ["NAV", "Screening", "routes"]


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


class Screening:
    """The screening API over one :class:`ScreeningSession` (the page's JSON answers)."""

    def __init__(self, session: ScreeningSession) -> None:
        self.session = session

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


NAV = (("/screen", "Screening"),)


def _session(ctx: WebContext) -> Screening:
    screening = ctx.extra.get("screening")
    if screening is None:
        raise HTTPError(409, "this review has no records to screen yet (trialsynth records import)")
    return screening


def routes(ctx: WebContext) -> list[Route]:
    """The screening page and its JSON endpoints (``/api/state``, ``/api/conflicts``,
    ``/api/agreement``; ``POST`` ``/api/decide``, ``/api/skip``, ``/api/undo``,
    ``/api/resolve``, ``/api/undo-resolution``). ``ctx.extra["screening"]`` holds the
    :class:`Screening` (absent when the folder has no records)."""

    def screen_page(request: Request) -> Response:
        screening = ctx.extra.get("screening")
        return page(
            ctx,
            request,
            "screen.html.j2",
            stage=screening.session.stage if screening else "title_abstract",
            has_records=screening is not None,
        )

    def getter(name: str):
        def answer(request: Request) -> Response:
            require_key(ctx, request)
            return json_response(getattr(_session(ctx), name)())

        return answer

    async def post(request: Request) -> Response:
        body = await json_body(ctx, request)
        screening = _session(ctx)
        path = request.url.path
        try:
            return json_response(await run_in_threadpool(screening.post, path, body))
        except LookupError:
            raise HTTPError(404, "not found") from None

    posts = ("/api/decide", "/api/skip", "/api/undo", "/api/resolve", "/api/undo-resolution")
    return [
        Route("/screen", screen_page),
        Route("/api/state", getter("state")),
        Route("/api/conflicts", getter("conflicts")),
        Route("/api/agreement", getter("agreement")),
        *(Route(p, post, methods=["POST"]) for p in posts),
    ]
