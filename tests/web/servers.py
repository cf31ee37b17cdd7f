"""Start ``trialsynth serve``'s app (as the command does) on a free loopback port for tests."""

from __future__ import annotations

from pathlib import Path

from trialsynth.web.app import IDLE_TIMEOUT, WebContext, WebServer
from trialsynth.web.screening import Screening
from trialsynth.workflow.screening.session import ScreeningSession


def start_server(review, reviewer, stage=None, *, rank=True, idle_timeout=IDLE_TIMEOUT, run_report=None):
    """A started :class:`WebServer` on ``review`` (screening too when ``stage`` is given)."""
    ctx = WebContext(Path(review), reviewer, run_report=run_report)
    if stage is not None:
        ctx.extra["screening"] = Screening(ScreeningSession(review, reviewer, stage, rank=rank))
    server = WebServer(ctx, host="127.0.0.1", port=0, idle_timeout=idle_timeout)
    server.start()
    return server
