"""Duplicate records across sources: exact identifiers and a fuzzy bibliographic match.

Two records are candidate duplicates when

* they share a **DOI** (normalised: lower case, without resolver prefix) or a **PMID** —
  these pairs are accepted automatically (decided ``duplicate`` by ``auto``), except when
  their titles are plainly different (similarity below :data:`IDENTIFIER_TITLE_FLOOR`, as
  with a supplement DOI shared by many conference abstracts): then the user decides;
* or their **normalised titles** are similar (2·LCS / total length at least ``threshold``,
  default :data:`FUZZY_THRESHOLD`), their **years** differ by at most one (an e-pub ahead of
  print is often indexed a year early) and their **first authors' surnames** agree, where
  both are known. Records whose DOIs (or PMIDs) are both present and differ are not fuzzy
  candidates. Fuzzy pairs are for the user to confirm or reject.

Normalised title: NFKD, accents dropped, case-folded, every character that is not a letter
or digit removed (so spacing, hyphens and punctuation do not matter).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Indel

from trialsynth.io.records.store import Record, RecordStore

__all__ = [
    "FUZZY_THRESHOLD",
    "IDENTIFIER_TITLE_FLOOR",
    "SourceCount",
    "find_duplicates",
    "normalise_title",
    "source_counts",
    "surname",
    "title_similarity",
]

#: Minimum similarity of normalised titles for a fuzzy candidate pair.
FUZZY_THRESHOLD = 0.90
#: Below this title similarity a shared DOI or PMID is not accepted without the user.
IDENTIFIER_TITLE_FLOOR = 0.60


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def normalise_title(title: str) -> str:
    """Title as a matching key: NFKD, no accents, case-folded, letters and digits only."""
    return "".join(c for c in _fold(title) if c.isalnum())


def surname(author: str) -> str:
    """Surname of an author as written in exports, folded for matching: "Müller, Jürgen",
    "Muller, J." and "Müller J" all give "muller"; "John Smith" gives "smith"."""
    name = author.strip()
    if not name:
        return ""
    if "," in name:
        family = name.split(",", 1)[0]
    else:
        parts = name.split()
        if len(parts) > 1 and re.fullmatch(r"[A-Z]{1,3}\.?", parts[-1]):
            family = " ".join(parts[:-1])  # MEDLINE style "Doe JA"
        else:
            family = parts[-1]
    return "".join(c for c in _fold(family) if c.isalnum())


def title_similarity(a: str, b: str) -> float:
    """Similarity of two normalised titles: 2·LCS / (len a + len b), with LCS the length of
    their longest common subsequence (the normalised Indel similarity of rapidfuzz;
    0 when either is empty)."""
    if not a or not b:
        return 0.0
    return float(Indel.normalized_similarity(a, b))


def _exact_pairs(records: list[Record], key: str) -> Iterable[tuple[Record, Record]]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        value = getattr(r, key)
        if value:
            groups[value].append(r)
    for group in groups.values():
        for other in group[1:]:
            yield group[0], other


def _different_ids(a: Record, b: Record) -> bool:
    return bool((a.doi and b.doi and a.doi != b.doi) or (a.pmid and b.pmid and a.pmid != b.pmid))


def _fuzzy_pairs(records: list[Record], threshold: float) -> Iterable[tuple[Record, Record, float]]:
    """Pairs passing the fuzzy rules. Records are blocked by first-author surname and year
    (a record without an author or a year is compared with every surname or year), so a
    record is compared only with those that could pass."""
    Item = tuple[Record, str, str]
    blocks: dict[str, dict[int | None, list[Item]]] = defaultdict(lambda: defaultdict(list))
    anyone: dict[int | None, list[Item]] = defaultdict(list)  # every surname, by year
    keyed = [(r, normalise_title(r.title), surname(r.first_author)) for r in records]
    for item in keyed:
        if item[1]:
            blocks[item[2]][item[0].year].append(item)
            anyone[item[0].year].append(item)
    for a, title_a, name_a in keyed:
        if not title_a:
            continue
        sources = [blocks[name_a], blocks[""]] if name_a else [anyone]
        pool: list[Item] = []
        for by_year in sources:
            years = list(by_year) if a.year is None else [a.year - 1, a.year, a.year + 1, None]
            pool += [x for y in years for x in by_year.get(y, ()) if x[0].id > a.id]
        if not pool:
            continue
        matches = process.extract(
            title_a,
            [x[1] for x in pool],
            scorer=Indel.normalized_similarity,
            score_cutoff=threshold,
            limit=None,
        )
        for _, score, index in sorted(matches, key=lambda m: m[2]):
            b = pool[index][0]
            if not _different_ids(a, b):
                yield a, b, float(score)


def find_duplicates(store: RecordStore, *, threshold: float = FUZZY_THRESHOLD) -> dict[str, int]:
    """Find candidate pairs among all records, store the new ones, and accept the
    identifier matches (DOI or PMID, similar titles) that nobody has decided yet.

    Returns counts: ``new_pairs``, ``auto_accepted`` and ``undecided`` (pairs awaiting the user).
    """
    records = store.records()
    found: dict[tuple[int, int], tuple[str, float]] = {}
    for key in ("doi", "pmid"):
        for a, b in _exact_pairs(records, key):
            pair = (min(a.id, b.id), max(a.id, b.id))
            found.setdefault(pair, (key, 1.0))
    # Records already joined by a shared identifier or a confirmed pair need no fuzzy pair.
    group: dict[int, int] = {}

    def root(x: int) -> int:
        while group.get(x, x) != x:
            x = group[x]
        return x

    joined = [*found, *((g[0], other) for g in store.duplicate_groups() for other in g[1:])]
    for a_id, b_id in joined:
        ra, rb = root(a_id), root(b_id)
        if ra != rb:
            group[max(ra, rb)] = min(ra, rb)
    for a, b, score in _fuzzy_pairs(records, threshold):
        if root(a.id) != root(b.id):
            found.setdefault((a.id, b.id), ("fuzzy", score))
    new = store.add_pairs([(a, b, reason, score) for (a, b), (reason, score) in sorted(found.items())])
    by_id = {r.id: r for r in records}
    accepted = 0
    for pair in store.pairs(undecided=True):
        if pair.reason == "fuzzy":
            continue
        a, b = by_id[pair.record_a], by_id[pair.record_b]
        title_a, title_b = normalise_title(a.title), normalise_title(b.title)
        if title_a and title_b and title_similarity(title_a, title_b) < IDENTIFIER_TITLE_FLOOR:
            continue
        store.decide_pair(pair.id, "duplicate", "auto")
        accepted += 1
    return {"new_pairs": new, "auto_accepted": accepted, "undecided": len(store.pairs(undecided=True))}


@dataclass(frozen=True)
class SourceCount:
    """Per source database: records imported, removed as duplicates, left (unique), and
    records in a pair still awaiting a decision."""

    database: str
    kind: str
    records: int
    duplicates_removed: int
    unique: int
    undecided: int


def source_counts(store: RecordStore) -> list[SourceCount]:
    """Counts per source database, in the order the sources were first imported."""
    removed = store.removed_duplicates()
    waiting = {r for p in store.pairs(undecided=True) for r in (p.record_a, p.record_b)}
    order: dict[tuple[str, str], list[Record]] = {}
    for r in store.records():
        order.setdefault((r.database, r.kind), []).append(r)
    return [
        SourceCount(
            database=database,
            kind=kind,
            records=len(rs),
            duplicates_removed=sum(r.id in removed for r in rs),
            unique=sum(r.id not in removed for r in rs),
            undecided=sum(r.id in waiting for r in rs),
        )
        for (database, kind), rs in order.items()
    ]
