"""The references of a review's included and excluded studies, and their RIS and BibTeX files.

Where the references come from, in this order:

* the record store (``REVIEW_DIR/records.sqlite``): every record linked to an included study
  (``trialsynth records link``) is a reference of that study, and every record excluded at the
  full-text stage (agreed by the reviewers or resolved) is an excluded study, with its reason;
* otherwise, for an included study without a linked record, the ``citation`` cell of
  ``studies.csv``, read when it has the Vancouver shape ``Authors. [Title.] Journal
  Year;Volume(Issue):Pages`` (as ``Khan FZ et al. J Am Coll Cardiol 2012;59:1509-18``); a
  citation of another shape is kept verbatim as a note, never guessed into fields.

Every :class:`Reference` says where it came from (``origin``). The writers give RIS (the
tagged format of Research Information Systems, as reference managers import it) and BibTeX
(UTF-8, LaTeX's special characters escaped), both deterministic in content and order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Reference",
    "bibtex_text",
    "expand_pages",
    "parse_citation",
    "review_references",
    "ris_text",
    "split_name",
    "vancouver_name",
]


@dataclass(frozen=True)
class Reference:
    """One bibliographic reference.

    ``authors`` are in Vancouver form (``"Khan FZ"``: surname, then initials without stops);
    ``et_al`` is True when the source lists only the first authors. ``journal_abbrev`` is the
    journal's abbreviation when the source gives one. ``pages`` as the source prints them.
    ``text`` is the source's citation verbatim when it could not be read into fields.
    """

    key: str
    study: str = ""
    authors: tuple[str, ...] = ()
    et_al: bool = False
    title: str = ""
    journal: str = ""
    journal_abbrev: str = ""
    year: int | None = None
    volume: str = ""
    issue: str = ""
    pages: str = ""
    doi: str = ""
    pmid: str = ""
    reason: str = ""
    origin: str = ""
    text: str = ""

    @property
    def structured(self) -> bool:
        """True when the reference has fields (authors or title and journal), not only text."""
        return not self.text


# --------------------------------------------------------------------------- names and pages

_VANCOUVER_NAME = re.compile(r"^(?P<last>.+?)\s+(?P<initials>[A-Z]{1,4})$")


def _initials(given: str) -> str:
    parts = [p for p in re.split(r"[\s.\-]+", given) if p]
    return "".join(p[0].upper() for p in parts if p[0].isalpha())


def vancouver_name(name: str) -> str:
    """An author's name in Vancouver form (surname and initials).

    ``"Khan, Fakhar Z."`` → ``"Khan FZ"``; a name already in that form is kept; a name of
    another shape (an organisation) is kept as given."""
    name = " ".join(name.split())
    if "," in name:
        last, given = (s.strip() for s in name.split(",", 1))
        initials = _initials(given)
        return f"{last} {initials}" if initials else last
    return name


def split_name(name: str) -> tuple[str, str]:
    """``"Khan FZ"`` → ``("Khan", "FZ")``; a name without initials → ``(name, "")``."""
    m = _VANCOUVER_NAME.match(name)
    return (m["last"], m["initials"]) if m else (name, "")


def expand_pages(pages: str) -> tuple[str, str]:
    """First and last page, the last written out in full: ``"1509-18"`` → ``("1509", "1518")``."""
    parts = [p.strip() for p in re.split(r"\s*[-–]\s*", pages.strip(), maxsplit=1)]
    if len(parts) < 2 or not parts[1]:
        return parts[0], ""
    first, last = parts
    if first.isdigit() and last.isdigit() and len(last) < len(first):
        last = first[: len(first) - len(last)] + last
    return first, last


# --------------------------------------------------------------------------- studies.csv citations

_TAIL = re.compile(
    r"(?P<journal>[^.]+?)\.?\s+(?P<year>\d{4})\s*;\s*(?P<volume>[^(:;]+?)?\s*"
    r"(?:\((?P<issue>[^)]+)\))?\s*:\s*(?P<pages>[A-Za-z]?\d+[A-Za-z]?(?:\s*[-–]\s*[A-Za-z]?\d+[A-Za-z]?)?)\.?$"
)
_TRAILERS = re.compile(r"\s*\((?:PubMed|PMID)[:\s]*(?P<pmid>\d+)\)\s*$|\s*doi:\s*(?P<doi>\S+?)\.?\s*$", re.I)


def parse_citation(
    text: str, *, key: str, study: str = "", year: int | None = None, origin: str = ""
) -> Reference:
    """Read a Vancouver-shaped citation into a :class:`Reference`; any other text is kept
    verbatim in ``text`` (with the study's ``year``)."""
    rest = " ".join(text.split())
    pmid = doi = ""
    while True:
        m = _TRAILERS.search(rest)
        if not m:
            break
        pmid = m["pmid"] or pmid
        doi = m["doi"] or doi
        rest = rest[: m.start()].rstrip()
    head, sep, body = rest.partition(". ")
    tail = _TAIL.search(body) if sep else None
    if tail is None or not head:
        return Reference(
            key=key, study=study, year=year, origin=origin, text=text.strip(), pmid=pmid, doi=doi
        )
    et_al = False
    names = head
    if re.search(r",?\s+et al\.?$", names):
        names = re.sub(r",?\s+et al\.?$", "", names)
        et_al = True
    authors = tuple(a.strip() for a in names.split(",") if a.strip())
    before = body[: tail.start()].strip()
    return Reference(
        key=key,
        study=study,
        authors=authors,
        et_al=et_al,
        title=before.rstrip("."),
        journal_abbrev=tail["journal"].strip(),
        year=int(tail["year"]),
        volume=(tail["volume"] or "").strip(),
        issue=(tail["issue"] or "").strip(),
        pages=tail["pages"].replace(" ", "").replace("–", "-"),
        doi=doi,
        pmid=pmid,
        origin=origin,
    )


# --------------------------------------------------------------------------- the record store

_ABBREV_TAGS = ("J2", "JA", "TA", "JO", "journal_abbreviation")


def _from_record(record, *, key: str, study: str = "", reason: str = "") -> Reference:
    abbrev = next((record.fields[t][0] for t in _ABBREV_TAGS if record.fields.get(t)), "")
    return Reference(
        key=key,
        study=study,
        authors=tuple(vancouver_name(a) for a in record.authors),
        title=" ".join(record.title.split()).rstrip("."),
        journal=" ".join(record.journal.split()),
        journal_abbrev=" ".join(abbrev.split()),
        year=record.year,
        volume=record.volume,
        issue=record.issue,
        pages=record.pages.replace(" ", "").replace("–", "-"),
        doi=record.doi,
        pmid=record.pmid,
        reason=reason,
        origin=f"records.sqlite record {record.id} ({record.database}, line {record.line})",
    )


def _safe_key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_:-]+", "-", text).strip("-") or "ref"


def review_references(review) -> tuple[list[Reference], list[Reference]]:
    """The included studies' references (studies.csv order; all linked reports of a study) and
    the studies excluded at full text (by record id), as described in the module docstring."""
    from trialsynth.io.records.store import STORE_NAME, open_store

    linked: dict[str, list] = {}
    excluded: list[Reference] = []
    if (Path(review.path) / STORE_NAME).exists():
        with open_store(review.path, create=False) as store:
            for record_id, study_id in sorted(store.study_links().items()):
                linked.setdefault(study_id, []).append(store.record(record_id))
            for state in store.screening("full_text"):
                if state.status in ("agreed", "resolved") and state.decision == "exclude":
                    rec = store.record(state.record_id)
                    excluded.append(_from_record(rec, key=f"record{rec.id}", reason=state.reason))
    included: list[Reference] = []
    studies_file = review.files.get("studies.csv", "studies.csv")
    studies_name = Path(studies_file).name
    for s in review.studies:
        key = _safe_key(s.id)
        records = linked.get(s.id, [])
        if records:
            for n, rec in enumerate(records):
                included.append(_from_record(rec, key=key if n == 0 else f"{key}-{n + 1}", study=s.id))
        else:
            included.append(
                parse_citation(
                    s.citation,
                    key=key,
                    study=s.id,
                    year=s.year,
                    origin=f"{studies_name} row {s.row}, column citation",
                )
            )
    return included, excluded


# --------------------------------------------------------------------------- RIS


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def ris_text(refs: list[Reference]) -> str:
    """The references as RIS: ``TY`` JOUR (GEN for a citation kept as text), ``AU`` one per
    author (``Surname, Initials``), ``TI``, ``T2`` journal, ``J2`` abbreviation, ``PY``, ``VL``,
    ``IS``, ``SP``/``EP`` (last page written out), ``DO``, ``AN`` PubMed id, ``N1`` notes
    (exclusion reason, verbatim citation, origin), ``ID`` the key."""
    lines: list[str] = []

    def tag(name: str, value: object) -> None:
        if value not in (None, ""):
            lines.append(f"{name}  - {_one_line(value)}")

    for r in refs:
        tag("TY", "JOUR" if r.structured else "GEN")
        tag("ID", r.key)
        for a in r.authors:
            last, initials = split_name(a)
            tag("AU", f"{last}, {initials}" if initials else last)
        tag("TI", r.title)
        tag("T2", r.journal)
        tag("J2", r.journal_abbrev)
        tag("PY", r.year)
        tag("VL", r.volume)
        tag("IS", r.issue)
        if r.pages:
            first, last_page = expand_pages(r.pages)
            tag("SP", first)
            tag("EP", last_page)
        tag("DO", r.doi)
        tag("AN", r.pmid)
        if r.et_al:
            tag("N1", "Author list incomplete in the source (et al.)")
        if r.reason:
            tag("N1", f"Excluded: {r.reason}")
        if r.text:
            tag("N1", r.text)
        tag("N1", f"Source: {r.origin}")
        lines.append("ER  - ")
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")


# --------------------------------------------------------------------------- BibTeX

_LATEX_SPECIAL = re.compile(r"([&%#$_])")


def bibtex_escape(text: str) -> str:
    """LaTeX's special characters & % # $ _ escaped with a backslash; braces and backslashes
    (which would unbalance or break the entry) dropped; whitespace made single spaces."""
    text = _one_line(text).replace("\\", "").replace("{", "").replace("}", "")
    return _LATEX_SPECIAL.sub(r"\\\1", text)


def _bib_author(name: str) -> str:
    last, initials = split_name(name)
    if not initials:
        return "{" + bibtex_escape(last) + "}"  # an organisation: one name, never split
    return f"{bibtex_escape(last)}, " + " ".join(f"{c}." for c in initials)


def bibtex_text(refs: list[Reference]) -> str:
    """The references as BibTeX ``@article`` entries (``@misc`` for a citation kept as text).

    Authors as ``Surname, I. I.`` (``and others`` for an incomplete list); ``pages`` with an en
    dash (``--``); the exclusion reason, verbatim citation and origin in ``note``."""
    entries = []
    for r in refs:
        fields: list[tuple[str, str]] = []
        names = [_bib_author(a) for a in r.authors] + (["others"] if r.et_al else [])
        if names:
            fields.append(("author", " and ".join(names)))
        if r.title:
            fields.append(("title", bibtex_escape(r.title)))
        if r.journal or r.journal_abbrev:
            fields.append(("journal", bibtex_escape(r.journal or r.journal_abbrev)))
        if r.journal and r.journal_abbrev:
            fields.append(("shortjournal", bibtex_escape(r.journal_abbrev)))
        if r.year is not None:
            fields.append(("year", str(r.year)))
        for name, value in (("volume", r.volume), ("number", r.issue)):
            if value:
                fields.append((name, bibtex_escape(value)))
        if r.pages:
            first, last = expand_pages(r.pages)
            fields.append(("pages", bibtex_escape(f"{first}--{last}" if last else first)))
        if r.doi:
            fields.append(("doi", bibtex_escape(r.doi)))
        if r.pmid:
            fields.append(("pmid", bibtex_escape(r.pmid)))
        notes = [f"Excluded: {r.reason}"] if r.reason else []
        notes += [r.text] if r.text else []
        notes.append(f"Source: {r.origin}")
        fields.append(("note", bibtex_escape(". ".join(notes))))
        kind = "article" if r.structured else "misc"
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@{kind}{{{r.key},\n{body}\n}}\n")
    return "\n".join(entries)
