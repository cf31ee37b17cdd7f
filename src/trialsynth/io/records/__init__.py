"""Search records of a review: import, de-duplication, screening decisions, PRISMA counts.

The store (:mod:`trialsynth.io.records.store`) is one SQLite file in the review folder; the
importers (:mod:`trialsynth.io.records.parsers`) read PubMed (MEDLINE text and XML), RIS,
BibTeX and CSV exports; :mod:`trialsynth.workflow.records.dedup` finds duplicates across sources;
:mod:`trialsynth.workflow.records.prisma` computes the PRISMA 2020 counts from the store;
:mod:`trialsynth.io.records.export` writes the plain-text copy kept in git. See docs/records.md.
"""

from trialsynth.io.records.store import (
    DECISIONS,
    KINDS,
    STAGES,
    STORE_NAME,
    Decision,
    DuplicatePair,
    ImportInfo,
    NewRecord,
    Record,
    RecordStore,
    ScreeningState,
    open_store,
)

__all__ = [
    "DECISIONS",
    "KINDS",
    "STAGES",
    "STORE_NAME",
    "Decision",
    "DuplicatePair",
    "ImportInfo",
    "NewRecord",
    "Record",
    "RecordStore",
    "ScreeningState",
    "open_store",
]
