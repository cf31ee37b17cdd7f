"""Pages that edit the review folder: the home page (and the form that starts a review in an
empty folder), the studies (``studies.csv``) and the outcome data (``outcomes.csv``).

Every change goes through :class:`trialsynth.io.review.edit.ReviewEditor`: checked with the
loader's own code and messages, one atomic write, one line in ``changes.jsonl``, refused with a
409 when made against a stale version of the row; undo reverts the reviewer's last change.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trialsynth._core.errors import InputError
from trialsynth.io.review.edit import KEYS, ReviewEditor, StaleEdit, new_review
from trialsynth.web.app import HTTPError, WebContext, json_body, json_response, page

__all__ = ["NAV", "routes"]

NAV = (("/", "Review"), ("/studies", "Studies"), ("/data", "Outcome data"))

#: The outcome choices of review.toml (FORMAT.md): data type → its measures.
MEASURES = {
    "binary": ("RR", "OR", "RD"),
    "continuous": ("MD", "SMD"),
    "generic": ("RR", "OR", "RD", "MD", "SMD", "HR"),
    "time_to_event": ("HR",),
}
#: The fields of the outcome-row form, per data form (FORMAT.md, outcomes.csv data columns).
FORMS = {
    "counts": (("events_treatment", "Events, treatment"), ("n_treatment", "Participants, treatment"),
               ("events_control", "Events, control"), ("n_control", "Participants, control")),
    "means": (("mean_treatment", "Mean, treatment"), ("sd_treatment", "SD, treatment"),
              ("n_treatment", "Participants, treatment"), ("mean_control", "Mean, control"),
              ("sd_control", "SD, control"), ("n_control", "Participants, control")),
    "estimate": (("estimate", "Estimate"), ("ci_lower", "Lower 95% CI"), ("ci_upper", "Upper 95% CI")),
    "estimate_se": (("log_estimate", "Log ratio (with its SE)"), ("se", "SE of the estimate or log ratio")),
}


def validate(folder) -> None:
    """What ``trialsynth run`` checks before it writes anything: the loader, then every
    outcome's data parsed and analysed (:func:`trialsynth.workflow.runner.analyse_review`)."""
    import warnings

    from trialsynth.workflow.runner import analyse_review

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analyse_review(folder)


def editor(ctx: WebContext) -> ReviewEditor:
    with ctx.lock:
        ed = ctx.extra.get("editor")
        if ed is None:
            ed = ctx.extra["editor"] = ReviewEditor(ctx.review_dir, validate=validate, lock=ctx.lock)
        return ed


def _review(ctx: WebContext):
    """The review as the loader reads it, or the loader's message."""
    from trialsynth.io.review.load import load_review

    if not (ctx.review_dir / "review.toml").exists():
        return None, None
    try:
        return load_review(ctx.review_dir), None
    except InputError as exc:
        return None, str(exc)


def _file(body: dict[str, Any]) -> str:
    file = body.get("file")
    if file not in KEYS:
        raise HTTPError(400, f"file must be one of {', '.join(KEYS)}")
    return file


def _mapping(body: dict[str, Any], name: str, *, optional: bool = False) -> dict[str, str] | None:
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        raise HTTPError(400, f"{name} must be an object of texts")
    return {k: str(v) for k, v in value.items()}


def routes(ctx: WebContext) -> list[Route]:
    def home(request: Request) -> Response:
        review, error = _review(ctx)
        return page(
            ctx, request, "web_home.html.j2", review=review, error=error,
            started=(ctx.review_dir / "review.toml").exists(), measures=MEASURES,
        )

    def studies_page(request: Request) -> Response:
        _, error = _review(ctx)
        return page(ctx, request, "web_studies.html.j2", rows=editor(ctx).rows("studies.csv"), error=error,
                    started=(ctx.review_dir / "review.toml").exists())

    def data_page(request: Request) -> Response:
        review, error = _review(ctx)
        outcomes = [] if review is None else list(review.outcomes)
        chosen = request.query_params.get("outcome") or (outcomes[0].id if outcomes else "")
        rows = [r for r in editor(ctx).rows("outcomes.csv") if r.get("outcome") == chosen]
        studies = editor(ctx).rows("studies.csv")
        return page(ctx, request, "web_data.html.j2", outcomes=outcomes, chosen=chosen, rows=rows,
                    studies=studies, forms=FORMS, error=error)

    async def start(request: Request) -> Response:
        body = await json_body(ctx, request)
        fields = ("title", "population", "intervention", "comparator", "outcome_id", "outcome_name",
                  "data_type", "measure", "better")
        values = {f: body.get(f, "") for f in fields}
        if not all(isinstance(v, str) for v in values.values()):
            raise HTTPError(400, "every field must be text")
        clean: dict[str, Any] = {k: v.strip() for k, v in values.items()}
        study = {c: body.get(f"study_{c}", "") for c in ("id", "label", "citation", "year", "source")}
        if not all(isinstance(v, str) for v in study.values()):
            raise HTTPError(400, "every field must be text")
        clean["study"] = {**study, "kind": "quoted"}

        def create() -> None:
            with ctx.lock:
                if (ctx.review_dir / "review.toml").exists():
                    raise HTTPError(409, "this folder has a review already (reload the page)")
                new_review(ctx.review_dir, **clean)

        await run_in_threadpool(create)
        return json_response({"ok": True})

    async def check(request: Request) -> Response:
        body = await json_body(ctx, request)
        file = _file(body)
        key = _mapping(body, "key", optional=True)
        values = _mapping(body, "values")
        message = await run_in_threadpool(editor(ctx).check, file, key, values)
        return json_response({"error": message})

    async def save(request: Request) -> Response:
        body = await json_body(ctx, request)
        file = _file(body)
        key = _mapping(body, "key", optional=True)
        values = None if body.get("delete") is True else _mapping(body, "values")
        version = body.get("version")
        if version is not None and not isinstance(version, str):
            raise HTTPError(400, "version must be text")
        try:
            changes = await run_in_threadpool(
                lambda: editor(ctx).change(file, who=ctx.reviewer, key=key, version=version, values=values)
            )
        except StaleEdit as exc:
            raise HTTPError(409, str(exc)) from None
        first = changes[0]
        return json_response({"ok": True, "key": first.key, "who": first.who, "when": first.when,
                              "rows": len(changes)})

    async def undo(request: Request) -> Response:
        await json_body(ctx, request)
        try:
            changes = await run_in_threadpool(editor(ctx).undo, ctx.reviewer)
        except StaleEdit as exc:
            raise HTTPError(409, str(exc)) from None
        return json_response({"undone": bool(changes), "rows": len(changes)})

    def history(request: Request) -> Response:
        from trialsynth.web.app import require_key

        require_key(ctx, request)
        return json_response({"changes": editor(ctx).history()})

    return [
        Route("/", home),
        Route("/studies", studies_page),
        Route("/data", data_page),
        Route("/api/review/start", start, methods=["POST"]),
        Route("/api/rows/check", check, methods=["POST"]),
        Route("/api/rows/save", save, methods=["POST"]),
        Route("/api/rows/undo", undo, methods=["POST"]),
        Route("/api/rows/history", history),
    ]
