"""Live analyses: each outcome's pooled estimate, heterogeneity and forest plot, refitted
from the folder after every change with the same code as ``trialsynth run``
(:func:`trialsynth.workflow.runner.analyse_review`, the report's forest plot and texts)."""

from __future__ import annotations

import io
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trialsynth._core.errors import InputError
from trialsynth.web.app import (
    HTTPError,
    WebContext,
    json_body,
    json_response,
    page,
    require_key,
    security_headers,
)

__all__ = ["NAV", "live_outcome", "routes"]

NAV = (("/analysis", "Analyses"),)


def _analyses(ctx: WebContext):
    import warnings

    from trialsynth.workflow.runner import analyse_review

    with ctx.lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyse_review(ctx.review_dir)


def _find(analysis, outcome: str, analysis_set: str | None):
    for oa in analysis.outcomes:
        if oa.outcome.id == outcome and (analysis_set is None or oa.analysis_set == analysis_set):
            return oa
    raise HTTPError(404, f"no outcome {outcome!r} in review.toml")


def live_outcome(ctx: WebContext, outcome: str, analysis_set: str | None = None) -> dict[str, Any]:
    """The outcome's primary analysis as the report words it (``pooled`` is ``None`` until a
    study has usable data); ``error`` is the loader's message when the folder does not load."""
    from trialsynth.report.html import _heterogeneity_line, _model_name, _row_estimate

    try:
        analysis = _analyses(ctx)
    except InputError as exc:
        return {"outcome": outcome, "error": str(exc), "pooled": None}
    oa = _find(analysis, outcome, analysis_set)
    r = oa.primary
    out: dict[str, Any] = {
        "outcome": outcome,
        "name": oa.outcome.name,
        "analysis_set": oa.analysis_set,
        "error": None,
        "pooled": None,
        "k": 0 if r is None else r.k,
        "messages": list(oa.messages),
    }
    if r is not None:
        out.update(
            pooled=f"{r.measure} {_row_estimate(r)}",
            model=_model_name(r.method, r.hk),
            heterogeneity=_heterogeneity_line(r),
            estimate=r.estimate,
            sensitivity=[
                f"{_model_name(spec.method, spec.hk, spec)}: {res.measure} {_row_estimate(res)}"
                for spec, res in oa.sensitivity
            ],
        )
        funnel = _funnel(analysis, oa)
        out["funnel_note"] = funnel.get("funnel_note", "")
        out["funnel"] = "funnel_plot" in funnel
    return out


def _funnel(analysis, oa) -> dict[str, Any]:
    """The report's funnel plot and its trim-and-fill note (or why there is none: fewer than
    ten pooled trials), drawn into a temporary folder."""
    import tempfile
    from pathlib import Path

    from trialsynth.report.html import _funnel_figure, _relabel

    labels = {s.id: s.label for s in analysis.review.studies}
    with tempfile.TemporaryDirectory(prefix="trialsynth-funnel-") as tmp:
        return _funnel_figure(oa, _relabel(oa.primary, labels), Path(tmp), "live")


def _funnel_svg(ctx: WebContext, outcome: str) -> bytes:
    analysis = _analyses(ctx)
    oa = _find(analysis, outcome, None)
    funnel = {} if oa.primary is None else _funnel(analysis, oa)
    if "funnel_plot" not in funnel:
        raise HTTPError(404, "no funnel plot for this outcome (fewer than ten pooled trials)")
    return funnel["funnel_plot"].encode("utf-8")


def _forest_svg(ctx: WebContext, outcome: str) -> bytes:
    import matplotlib

    from trialsynth.plots._common import rc_params
    from trialsynth.report.html import forest_figure

    analysis = _analyses(ctx)
    oa = _find(analysis, outcome, None)
    if oa.primary is None:
        raise HTTPError(404, "no study has usable data for this outcome yet")
    labels = {s.id: s.label for s in analysis.review.studies}
    fig, *_ = forest_figure(oa, labels, analysis.review)
    buffer = io.BytesIO()
    with matplotlib.rc_context(rc_params()):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, facecolor="white")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _method_names() -> dict[str, str]:
    from trialsynth.report.text import METHOD_NAMES

    return dict(METHOD_NAMES)


def routes(ctx: WebContext) -> list[Route]:
    def analysis_page(request: Request) -> Response:
        from trialsynth.io.review.edit import outcome_models
        from trialsynth.io.review.load import load_review
        from trialsynth.stats.meta import METHODS

        try:
            review = load_review(ctx.review_dir)
            error = None
        except InputError as exc:
            review, error = None, str(exc)
        outcomes = [] if review is None else list(review.outcomes)
        version, _ = outcome_models(ctx.review_dir) if review is not None else ("", {})
        methods = [m for m in METHODS if m != "GLMM"]
        return page(ctx, request, "web_analysis.html.j2", outcomes=outcomes, error=error, version=version,
                    methods=methods, method_names=_method_names())

    async def set_model(request: Request) -> Response:
        from trialsynth.io.review.edit import StaleEdit, set_outcome_model
        from trialsynth.web.studies import editor

        body = await json_body(ctx, request)
        outcome, method, hk, version = (body.get(k) for k in ("outcome", "method", "hk", "version"))
        sensitivity = body.get("sensitivity")
        if sensitivity is not None and (
            not isinstance(sensitivity, list) or not all(isinstance(m, str) for m in sensitivity)
        ):
            raise HTTPError(400, "sensitivity must be a list of methods")
        if not (
            isinstance(outcome, str) and isinstance(method, str) and isinstance(version, str)
            and isinstance(hk, bool)
        ):
            raise HTTPError(400, "send outcome, method and version as text and hk as true or false")
        try:
            await run_in_threadpool(
                lambda: set_outcome_model(
                    editor(ctx), outcome, method=method, hk=hk, who=ctx.reviewer, version=version,
                    sensitivity=sensitivity,
                )
            )
        except StaleEdit as exc:
            raise HTTPError(409, str(exc)) from None
        return json_response({"ok": True})

    async def live(request: Request) -> Response:
        require_key(ctx, request)
        outcome = request.query_params.get("outcome", "")
        return json_response(await run_in_threadpool(live_outcome, ctx, outcome))

    def figure(draw):
        async def answer(request: Request) -> Response:
            require_key(ctx, request, in_query=True)
            svg = await run_in_threadpool(draw, ctx, request.path_params["outcome"])
            return security_headers(Response(svg, media_type="image/svg+xml"))

        return answer

    return [
        Route("/analysis", analysis_page),
        Route("/api/analysis", live),
        Route("/api/analysis/model", set_model, methods=["POST"]),
        Route("/figure/forest/{outcome}.svg", figure(_forest_svg)),
        Route("/figure/funnel/{outcome}.svg", figure(_funnel_svg)),
    ]
