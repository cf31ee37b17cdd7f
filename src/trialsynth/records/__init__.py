"""Search records of a review: import, de-duplication, screening decisions, PRISMA counts.

The store (:mod:`trialsynth.records.store`) is one SQLite file in the review folder; the
importers (:mod:`trialsynth.records.parsers`) read PubMed (MEDLINE text and XML), RIS,
BibTeX and CSV exports; :mod:`trialsynth.records.dedup` finds duplicates across sources;
:mod:`trialsynth.records.prisma` computes the PRISMA 2020 counts from the store;
:mod:`trialsynth.records.export` writes the plain-text copy kept in git. See docs/records.md.
"""

from trialsynth.records.store import (
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
