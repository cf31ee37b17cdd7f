"""Sensitivity analysis without derived numbers: an outcome pooled again from the trials whose
numbers were taken as reported, leaving out every trial whose row is marked ``derived`` in
outcomes.csv or whose numbers trialsynth derived (counts from percentages, SDs from SEs or CIs,
means and SDs from medians, combined or split arms; :mod:`trialsynth.stats.derive`).

Asked for with ``sensitivity_without_derived = true`` in ``[analysis]`` of review.toml.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from trialsynth._core.errors import NotEstimable, TrialsynthWarning
from trialsynth._core.results import MetaResult

__all__ = ["DerivedSensitivity", "derived_studies", "without_derived"]


@dataclass(frozen=True)
class DerivedSensitivity:
    """The outcome pooled without the trials in ``excluded``; ``result`` is None (with
    ``note`` saying why) when no trial is left or the fit is not estimable."""

    excluded: tuple[str, ...]
    result: MetaResult | None
    note: str = ""


def derived_studies(primary: MetaResult, used_rows) -> tuple[str, ...]:
    """The pooled labels whose numbers were derived (row kind ``derived``, derivations kept
    with the row or with the study's result), in the analysis' order."""
    by_label = {r.study: r for r in used_rows}
    out = []
    for s in primary.studies:
        row = by_label.get(s.study)
        if s.derivations or (row is not None and (row.kind == "derived" or row.derivations)):
            out.append(s.study)
    return tuple(out)


def without_derived(data, primary: MetaResult, used_rows, options: dict) -> DerivedSensitivity | None:
    """Pool ``data`` again without the trials with derived numbers, with the primary model's
    ``options``; None when no trial has derived numbers (nothing to compare)."""
    from trialsynth.stats.analyses import subset_input
    from trialsynth.stats.meta import pool_input

    excluded = derived_studies(primary, used_rows)
    if not excluded:
        return None
    keep = [i for i, label in enumerate(data.labels) if label not in excluded]
    if not keep:
        return DerivedSensitivity(excluded, None, "every trial with data has derived numbers")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrialsynthWarning)
            result = pool_input(subset_input(data, keep), **options)
    except NotEstimable as exc:
        return DerivedSensitivity(excluded, None, f"not estimable: {exc.reason}")
    return DerivedSensitivity(excluded, result)
