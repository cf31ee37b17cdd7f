"""Nested effect sizes in outcomes.csv: the optional ``es_id`` and ``cluster`` columns.

``es_id`` names the effect sizes of one study (several used rows per study and outcome);
``cluster`` groups studies (a school district, a research group, a country). Either one makes
the runner fit the multilevel model ``~ 1 | cluster/study/es_id`` (the levels given) for that
outcome in that analysis set. The rules checked here (one-line errors naming file, row and
column): an outcome in an analysis set gives the column on every used row or on none; an
``es_id`` is unique within a study (checked while reading, with the row it repeats); a study
sits in one cluster.
"""

from __future__ import annotations

from trialsynth._core.errors import InputError

#: The nesting columns, outer level first (the study level sits between them).
NESTING_COLUMNS = ("cluster", "es_id")


def nesting_levels(records) -> tuple[str, ...]:
    """The nesting columns the used rows of one outcome in one analysis set fill (``()``: none,
    the ordinary one-row-per-study analysis)."""
    return tuple(c for c in NESTING_COLUMNS if any(r.get(c).strip() for r in records))


def check_nesting(records, source: str) -> None:
    """Check the ``es_id`` and ``cluster`` columns of the used rows, per outcome and analysis set."""
    groups: dict[tuple[str, str], list] = {}
    for r in records:
        if r.use:
            for set_id in r.analysis_sets:
                groups.setdefault((r.outcome, set_id), []).append(r)
    for (outcome, set_id), rows in groups.items():
        for column in nesting_levels(rows):
            given = next(r for r in rows if r.get(column).strip())
            blank = next((r for r in rows if not r.get(column).strip()), None)
            if blank is not None:
                raise InputError(
                    f"{column} is blank, but row {given.row} of outcome '{outcome}' in analysis set "
                    f"'{set_id}' gives one; fill {column} on every used row of the outcome, or on none",
                    file=source,
                    row=blank.row,
                    column=column,
                )
        cluster_of: dict[str, tuple[str, int]] = {}
        for r in rows:
            cluster = r.get("cluster").strip()
            if not cluster:
                continue
            seen = cluster_of.setdefault(r.study, (cluster, r.row))
            if seen[0] != cluster:
                raise InputError(
                    f"study '{r.study}' is in cluster '{seen[0]}' on row {seen[1]} and in '{cluster}' here; "
                    "a study sits in one cluster",
                    file=source,
                    row=r.row,
                    column="cluster",
                )
