"""PRISMA 2020 counts computed from the record store (Page et al., BMJ 2021;372:n71, Fig. 1).

Each box of the flow diagram is counted from what the store holds, never from the
arithmetic between boxes, so that :func:`trialsynth.stats.prisma.check_prisma` can tell the user
when screening is not finished (a record still pending or in conflict shows as a box that
does not add up, and a note says how many):

* records identified: records per import, by source database (``kind`` ``database`` or
  ``register``; ``other`` goes to the other-methods column);
* duplicates removed: records of those sources removed as confirmed duplicates (every
  record of a duplicate group but the first stored);
* records screened: the unique records from databases and registers;
* records excluded: final title/abstract exclusions (agreed or resolved);
* reports sought: records with a final title/abstract inclusion;
* reports not retrieved: those whose latest retrieval status is ``not_retrieved``;
* reports assessed: sought reports with a final full-text decision;
* reports excluded, by reason: final full-text exclusions;
* reports included: final full-text inclusions; studies included: distinct studies they
  are linked to (a report without a study link counts as its own study, with a note).

* records removed before screening, besides duplicates: those the store marks removed
  (:meth:`~trialsynth.io.records.store.RecordStore.remove_before_screening`) as ``automation``
  ("records marked as ineligible by automation tools") or ``other`` ("records removed for
  other reasons"), among the database and register records not removed as duplicates (a
  record is counted in one box only: as a duplicate first).
"""

from __future__ import annotations

from collections import Counter

from trialsynth.io.records.store import RecordStore, ScreeningState
from trialsynth.stats.prisma import PrismaCounts

__all__ = ["prisma_from_store"]


def _final(states: list[ScreeningState]) -> dict[int, ScreeningState]:
    return {s.record_id: s for s in states if s.status in ("agreed", "resolved")}


def prisma_from_store(store: RecordStore) -> PrismaCounts:
    """The PRISMA 2020 counts of the review's records (``origin="records"``)."""
    records = store.records()
    removed = store.removed_duplicates()
    identified: dict[str, Counter[str]] = {"database": Counter(), "register": Counter(), "other": Counter()}
    for r in records:
        identified[r.kind][r.database] += 1
    main_column = [r for r in records if r.kind != "other"]
    other_column = [r for r in records if r.kind == "other"]
    duplicates_removed = sum(r.id in removed for r in main_column)
    removals = store.removals()
    before_screening = Counter(
        removals[r.id] for r in main_column if r.id not in removed and r.id in removals
    )
    screened = [r for r in main_column if r.id not in removed and r.id not in removals]
    notes: list[str] = []

    ta_states = store.screening("title_abstract")
    ta_final = _final(ta_states)
    open_ta = len(ta_states) - len(ta_final)
    if open_ta:
        notes.append(f"{open_ta} record(s) without a final title/abstract decision (pending or in conflict)")
    records_excluded = sum(1 for s in ta_final.values() if s.decision == "exclude")
    sought_main = [r.id for r in screened if r.id in ta_final and ta_final[r.id].decision == "include"]
    sought_other = [r.id for r in other_column if r.id not in removed and r.id not in removals]
    removed_other = sum(1 for r in other_column if r.id not in removed and r.id in removals)
    if removed_other:
        notes.append(
            f"{removed_other} record(s) from other methods removed before retrieval (PRISMA 2020 "
            "has no box for them)"
        )

    retrieval = store.retrieval()
    ft_states = store.screening("full_text")
    ft_final = _final(ft_states)
    links = store.study_links()

    def column(sought: list[int]) -> tuple[int, list[int], Counter[str], list[int]]:
        not_retrieved = sum(retrieval.get(i) == "not_retrieved" for i in sought)
        assessed = [i for i in sought if i in ft_final and retrieval.get(i) != "not_retrieved"]
        excluded = Counter(ft_final[i].reason for i in assessed if ft_final[i].decision == "exclude")
        included = [i for i in assessed if ft_final[i].decision == "include"]
        return not_retrieved, assessed, excluded, included

    nr_main, assessed_main, excluded_main, included_main = column(sought_main)
    nr_other, assessed_other, excluded_other, included_other = column(sought_other)
    open_ft = sum(
        1 for i in [*sought_main, *sought_other] if i not in ft_final and retrieval.get(i) != "not_retrieved"
    )
    if open_ft:
        notes.append(
            f"{open_ft} report(s) sought without a final full-text decision (pending, in conflict or "
            "not yet retrieved)"
        )
    included = [*included_main, *included_other]
    unlinked = [i for i in included if i not in links]
    if unlinked:
        notes.append(
            f"{len(unlinked)} included report(s) not linked to a study; each counted as its own study"
        )
    studies = {links[i] for i in included if i in links} | {f"record:{i}" for i in unlinked}
    if removed & {r.id for r in other_column}:
        notes.append(
            f"{len(removed & {r.id for r in other_column})} record(s) from other methods removed as "
            "duplicates of database records"
        )
    uses_other = bool(other_column)
    return PrismaCounts(
        databases=tuple(identified["database"].items()),
        registers=tuple(identified["register"].items()),
        duplicates_removed=duplicates_removed,
        automation_removed=before_screening["automation"],
        other_removed=before_screening["other"],
        records_screened=len(screened),
        records_excluded=records_excluded,
        reports_sought=len(sought_main),
        reports_not_retrieved=nr_main,
        reports_assessed=len(assessed_main),
        reports_excluded=tuple(sorted(excluded_main.items())),
        studies_included=len(studies),
        reports_included=len(included),
        other_sources=tuple(identified["other"].items()),
        other_reports_sought=len(sought_other) if uses_other else None,
        other_reports_not_retrieved=nr_other if uses_other else None,
        other_reports_assessed=len(assessed_other) if uses_other else None,
        other_reports_excluded=tuple(sorted(excluded_other.items())),
        origin="records",
        notes=tuple(notes),
    )
