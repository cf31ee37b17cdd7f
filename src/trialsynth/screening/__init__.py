"""Screening of search records: sessions for one reviewer at one stage
(:mod:`trialsynth.screening.session`), ranking by a relevance model
(:mod:`trialsynth.screening.rank`), simulation of prioritised screening on a labelled set
(:mod:`trialsynth.screening.simulate`) and the local web page
(:mod:`trialsynth.screening.web`). See docs/screening.md."""

from trialsynth.screening.session import (
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
