"""Screening of search records: sessions for one reviewer at one stage
(:mod:`trialsynth.workflow.screening.session`), ranking by a relevance model
(:mod:`trialsynth.workflow.screening.rank`), simulation of prioritised screening on a labelled set
(:mod:`trialsynth.workflow.screening.simulate`), the stopping rule
(:mod:`trialsynth.workflow.screening.stopping`, and on a real screening
:mod:`trialsynth.workflow.screening.sampling`) and the local web page
(:mod:`trialsynth.web.screening`). See docs/screening.md."""

from trialsynth.workflow.screening.session import (
    DEFAULT_EXCLUSION_REASONS,
    Conflict,
    Next,
    Progress,
    ScreeningSession,
    cohen_kappa,
    exclusion_reasons,
    screening_summary,
)

__all__ = [
    "DEFAULT_EXCLUSION_REASONS",
    "Conflict",
    "Next",
    "Progress",
    "ScreeningSession",
    "cohen_kappa",
    "exclusion_reasons",
    "screening_summary",
]
