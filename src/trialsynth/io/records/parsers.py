"""Readers for search exports: MEDLINE text (.nbib), PubMed XML, RIS, BibTeX, CSV and Web of
Science plain text.

Each reader takes the file's decoded text and returns a :class:`ParseResult`: the records
(every field as read, the raw text of each record verbatim, the line where it starts) and
warnings that name the file and line. A malformed record is skipped with a warning and
the others are read; a file that is not the format at all raises
:class:`~trialsynth._core.errors.InputError`.

Specifications followed
-----------------------
* MEDLINE/PubMed text: NLM, "MEDLINE/PubMed Data Element (Field) Descriptions"
  (https://www.nlm.nih.gov/bsd/mms/medlineelements.html) and the PubMed Help "Display
  formats": the tag is left-justified in columns 1–4, column 5 is a hyphen and column 6 a
  space, the value starts in column 7; a value that does not fit continues on lines indented
  by six spaces; records are separated by a blank line and start with ``PMID-``.
* PubMed XML: NLM's PubMed DTD (``pubmed_250101.dtd``, "PubMed XML Element Descriptions
  and their Attributes", https://www.nlm.nih.gov/bsd/licensee/elements_descriptions.html):
  ``PubmedArticleSet`` / ``PubmedArticle`` / ``MedlineCitation`` / ``Article``. Read with
  :mod:`defusedxml` (no entity expansion, no external entities).
* RIS: the RIS format specification of Research Information Systems (Reference Manager's
  "RIS Format Specifications"): each line is a two-character tag (a capital letter, then a
  capital letter or digit), two spaces, a hyphen and a space, then the value; a record
  starts with ``TY`` and ends with ``ER``. Fields are mapped to names with :mod:`rispy`.
  PMIDs are read where exports put them (see :func:`ris_pmid`): labelled ``PMID:`` (as NLM
  labels them) in the identifier and note fields, or the accession number ``AN`` of a record
  whose database ``DB`` is MEDLINE or PubMed.
* BibTeX: Patashnik, "BibTeXing" (1988) and the entry syntax read by :mod:`bibtexparser`
  2; LaTeX in values is decoded to text with :mod:`pylatexenc` for the record's columns (the
  fields and raw text keep it as written).
* Web of Science plain text: Clarivate, "Web of Science Core Collection Field Tags"
  (https://images.webofknowledge.com/images/help/WOS/hs_wos_fieldtags.html): ``FN`` file
  name and ``VR`` version number first, ``PT`` publication type starts a record and ``ER``
  ends it, ``EF`` ends the file; two-character tags (``TI`` title, ``AU`` authors, ``SO``
  publication name, ``PY`` year, ``VL``, ``IS``, ``BP``/``EP`` pages, ``AR`` article number,
  ``DI`` DOI, ``PM`` PubMed ID, ``UT`` accession number, ``DE`` author keywords, ``AB``
  abstract); continuation lines are indented by three spaces.
* CSV: RFC 4180, with the header names used by PubMed, Scopus and Web of Science exports
  (see :data:`CSV_COLUMNS`) and the ``records.csv`` that :mod:`trialsynth.io.records.export` writes.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth._core.limits import max_records_bytes
from trialsynth.io.records.store import NewRecord

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "MAX_BYTES",
    "ParseResult",
    "decode",
    "detect_format",
    "normalise_doi",
    "parse_text",
    "ris_pmid",
]

FORMATS = ("medline", "pubmed_xml", "ris", "bibtex", "csv", "wos")
#: Largest file read by default (bytes): a guard against runaway memory, far above any real
#: export (``TRIALSYNTH_MAX_RECORDS_MB`` changes it; trialsynth._core.limits).
MAX_BYTES = 512 * 1_000_000


@dataclass
class ParseResult:
    """What a reader found: records, warnings (each naming file and line), how many records
    were skipped, and the source database when the file names it (else "")."""

    format: str
    records: list[NewRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0
    database: str = ""

    def warn(self, file: str, line: int, message: str) -> None:
        self.warnings.append(f"{file}, line {line}: {message}")

    def skip(self, file: str, line: int, message: str) -> None:
        self.skipped += 1
        self.warn(file, line, message + "; the record was skipped")


# ================================================================================ text helpers


def decode(data: bytes, file: str) -> tuple[str, str, list[str]]:
    """Decode a file: UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252
    with a warning per undecodable line (first five). Returns (text, encoding, warnings)."""
    limit = max_records_bytes()
    if len(data) > limit:
        raise InputError(
            f"the file is larger than {limit / 1e6:g} MB, the limit for record files "
            "(set TRIALSYNTH_MAX_RECORDS_MB to change it)",
            file=file,
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as exc:
            raise InputError(f"the file starts as UTF-16 but is not ({exc.reason})", file=file) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data, encoding = data[3:], "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        return data.decode("utf-8"), encoding, []
    except UnicodeDecodeError:
        pass
    bad_lines: list[str] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = line[exc.start : exc.start + 1].hex()
            bad_lines.append(f"{file}, line {number}: not UTF-8 (byte 0x{byte})")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise InputError(
            f"the file is neither UTF-8 nor Windows-1252 text (byte 0x{byte})",
            file=file,
            row=line,
        ) from None
    shown = bad_lines[:5]
    more = f" (and {len(bad_lines) - 5} more lines)" if len(bad_lines) > 5 else ""
    warnings = [
        *shown,
        f"{file}: the file is not UTF-8 ({len(bad_lines)} line(s){more}); it was read as Windows-1252 — "
        "check accented letters, or export it again as UTF-8",
    ]
    return text, "cp1252", warnings


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _lines(text: str) -> list[str]:
    """The lines of a text with their line ends (\\n, \\r\\n or \\r), as an editor numbers them."""
    return _LINE.findall(text)


def _strip_end(line: str) -> str:
    return line.rstrip("\r\n")


def normalise_doi(value: str) -> str:
    """A DOI as a matching key: without ``doi:`` or resolver prefixes, lower case (DOIs are
    case-insensitive: DOI Handbook, section 2.4)."""
    doi = value.strip()
    doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", doi, flags=re.IGNORECASE)
    doi = doi.strip().rstrip(".")
    return doi.casefold() if doi.startswith("10.") else ""


def _year(value: str) -> int | None:
    match = re.search(r"(?<!\d)(1[5-9]\d\d|20\d\d|21\d\d)(?!\d)", value)
    return int(match.group(1)) if match else None


def _first(fields: dict[str, list[str]], *tags: str) -> str:
    for tag in tags:
        for value in fields.get(tag, ()):
            if value.strip():
                return value.strip()
    return ""


def _pages(start: str, end: str) -> str:
    return f"{start}-{end}" if start and end else start or end


# ================================================================================ format detection

_SNIFF = (
    ("wos", re.compile(r"\A\ufeff?\s*FN [^\r\n]*\r?\n\s*VR ")),
    ("pubmed_xml", re.compile(r"\A\s*(?:<\?xml|<!DOCTYPE\s+PubmedArticleSet|<PubmedArticleSet)")),
    ("medline", re.compile(r"^PMID- ", re.MULTILINE)),
    ("ris", re.compile(r"^TY  -", re.MULTILINE)),
    ("bibtex", re.compile(r"^\s*@[A-Za-z]+\s*[{(]", re.MULTILINE)),
)
_EXTENSIONS = {
    ".nbib": "medline",
    ".medline": "medline",
    ".xml": "pubmed_xml",
    ".ris": "ris",
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".csv": "csv",
    ".ciw": "wos",
}


def detect_format(path: str | Path, text: str) -> str:
    """The format of a file: from its extension when it is one of ours, else from its
    first lines (Web of Science ``FN``/``VR``, MEDLINE ``PMID-``, RIS ``TY  -``, BibTeX
    ``@type{``, XML), else CSV when
    the first line has commas. Unknown: :class:`InputError`."""
    suffix = Path(path).suffix.casefold()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    head = text[:200_000]
    for name, pattern in _SNIFF:
        if pattern.search(head):
            return name
    first = next((ln for ln in _lines(head) if ln.strip()), "")
    if "," in first:
        return "csv"
    raise InputError(
        "the format of this file is not recognised (MEDLINE .nbib, PubMed .xml, .ris, .bib, .csv or "
        "Web of Science plain text); "
        "name it with --format",
        file=str(path),
    )


def parse_text(text: str, format: str, file: str) -> ParseResult:
    """Read ``text`` (the decoded file) as ``format``."""
    readers = {
        "medline": parse_medline,
        "pubmed_xml": parse_pubmed_xml,
        "ris": parse_ris,
        "bibtex": parse_bibtex,
        "csv": parse_csv,
        "wos": parse_wos,
    }
    if format not in readers:
        raise InputError(f"unknown format '{format}'; the formats are: {', '.join(FORMATS)}", file=file)
    return readers[format](text, file)


# ================================================================================ MEDLINE text

_MEDLINE_TAG = re.compile(r"([A-Z][A-Z0-9]{1,3}) {0,2}-(?: (.*)|)$")


def _medline_tag(line: str) -> tuple[str, str] | None:
    """``(tag, value)`` for a tag line (tag in columns 1–4, hyphen in column 5), else None."""
    if len(line) < 5 or line[4] != "-":
        return None
    match = _MEDLINE_TAG.fullmatch(line)
    if match is None:
        return None
    return match.group(1), match.group(2) or ""


def _chunks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Blocks of non-blank lines with the line number of their first line."""
    block: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def parse_medline(text: str, file: str) -> ParseResult:
    """MEDLINE/PubMed text (PubMed's "Save → PubMed format", .nbib, or efetch rettype=medline)."""
    result = ParseResult("medline", database="PubMed")
    lines = _lines(text)
    if not any(ln.startswith("PMID-") for ln in lines):
        raise InputError("this is not a MEDLINE/PubMed text file: no line starts with 'PMID- '", file=file)
    for start, block in _chunks(lines):
        fields: dict[str, list[str]] = {}
        last: str | None = None
        problem = ""
        for offset, line in enumerate(block):
            body = _strip_end(line)
            tagged = _medline_tag(body)
            if tagged is not None:
                last, value = tagged
                fields.setdefault(last, []).append(value)
            elif body.startswith("      ") and last is not None:
                fields[last][-1] += " " + body.strip()
            else:
                problem = f"line {start + offset} is neither a 'TAG - value' line nor a continuation"
                break
        if problem:
            result.skip(file, start, f"malformed MEDLINE record ({problem})")
            continue
        if not fields.get("PMID"):
            result.skip(file, start, "a MEDLINE record must start with 'PMID- '")
            continue
        if not block[0].startswith("PMID-"):
            result.warn(file, start, "the record does not start with its PMID line")
        doi = ""
        for value in (*fields.get("LID", ()), *fields.get("AID", ())):
            if value.rstrip().endswith("[doi]"):
                doi = normalise_doi(value.rstrip()[: -len("[doi]")])
                break
        result.records.append(
            NewRecord(
                line=start,
                raw="".join(block),
                fields=fields,
                title=_first(fields, "TI", "BTI"),
                abstract=_first(fields, "AB"),
                authors=tuple(fields.get("FAU") or fields.get("AU") or fields.get("CN") or ()),
                year=_year(_first(fields, "DP")),
                journal=_first(fields, "JT", "TA"),
                volume=_first(fields, "VI"),
                issue=_first(fields, "IP"),
                pages=_first(fields, "PG"),
                doi=doi,
                pmid=_first(fields, "PMID"),
                keywords=tuple(fields.get("OT", ())) + tuple(fields.get("MH", ())),
                record_type="; ".join(fields.get("PT", ())),
            )
        )
    return result


# ================================================================================ PubMed XML


def _text(element) -> str:
    """All the text inside an element (inline markup such as <i> flattened), whitespace kept."""
    return "".join(element.itertext()).strip() if element is not None else ""


def parse_pubmed_xml(text: str, file: str) -> ParseResult:
    """PubMed XML (``PubmedArticleSet``, from PubMed's "Save → XML" or efetch retmode=xml)."""
    from xml.etree.ElementTree import ParseError, TreeBuilder

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    data = text.encode("utf-8")
    spans: list[tuple[int, int, int]] = []  # (start byte, end byte, line)
    builder = TreeBuilder()

    class Target:
        def __init__(self) -> None:
            self.depth = 0
            self.open: tuple[int, int] | None = None

        def start(self, tag, attrs):
            self.depth += 1
            if self.depth == 2:
                expat = parser.parser
                self.open = (expat.CurrentByteIndex, expat.CurrentLineNumber)
            return builder.start(tag, attrs)

        def end(self, tag):
            if self.depth == 2 and self.open is not None:
                index = parser.parser.CurrentByteIndex
                close = data.find(b">", index) + 1
                spans.append((self.open[0], close, self.open[1]))
            self.depth -= 1
            return builder.end(tag)

        def data(self, chunk):
            return builder.data(chunk)

        def close(self):
            return builder.close()

    parser = DefusedXMLParser(target=Target(), forbid_dtd=False, forbid_entities=True, forbid_external=True)
    try:
        # The declared encoding no longer applies: the text is already decoded.
        data = re.sub(rb"\A(\s*<\?xml[^>]*?)\s+encoding=(['\"])[^'\"]*\2", rb"\1", data)
        parser.feed(data)
        root = parser.close()
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise InputError(f"the XML is not well-formed ({exc})", file=file, row=line) from None
    except DefusedXmlException as exc:
        raise InputError(
            f"the XML declares entities, which are refused for safety ({exc})", file=file
        ) from None
    if root.tag != "PubmedArticleSet":
        raise InputError(
            f"this is not PubMed XML: the root element is <{root.tag}>, not <PubmedArticleSet>", file=file
        )
    result = ParseResult("pubmed_xml", database="PubMed")
    for element, (begin, end, line) in zip(list(root), spans, strict=True):
        raw = data[begin:end].decode("utf-8")
        if element.tag not in ("PubmedArticle", "PubmedBookArticle"):
            if element.tag != "DeleteCitation":
                result.warn(file, line, f"<{element.tag}> is not an article and was not read")
            continue
        pmid = _text(element.find("MedlineCitation/PMID")) or _text(element.find("BookDocument/PMID"))
        if not pmid:
            result.skip(file, line, f"<{element.tag}> without a PMID")
            continue
        article = element.find("MedlineCitation/Article")
        if article is None:
            article = element.find("BookDocument")
        if article is None:
            result.skip(file, line, f"<{element.tag}> (PMID {pmid}) has no <Article>")
            continue
        abstract_parts = []
        for part in article.findall("Abstract/AbstractText"):
            label = part.get("Label")
            abstract_parts.append(f"{label}: {_text(part)}" if label else _text(part))
        authors = []
        for author in article.findall("AuthorList/Author"):
            last, fore = _text(author.find("LastName")), _text(author.find("ForeName"))
            collective = _text(author.find("CollectiveName"))
            authors.append(f"{last}, {fore}" if last and fore else last or collective)
        journal = article.find("Journal")
        issue = journal.find("JournalIssue") if journal is not None else None
        pub_date = issue.find("PubDate") if issue is not None else None
        year_text = ""
        if pub_date is not None:
            year_text = _text(pub_date.find("Year")) or _text(pub_date.find("MedlineDate"))
        doi = ""
        for node in (*article.findall("ELocationID"), *element.findall("PubmedData/ArticleIdList/ArticleId")):
            if node.get("EIdType") == "doi" or node.get("IdType") == "doi":
                doi = normalise_doi(_text(node))
                if doi:
                    break
        keywords = [_text(k) for k in element.findall("MedlineCitation/KeywordList/Keyword")]
        mesh = [
            _text(m) for m in element.findall("MedlineCitation/MeshHeadingList/MeshHeading/DescriptorName")
        ]
        types = [_text(t) for t in article.findall("PublicationTypeList/PublicationType")]
        values = {
            "PMID": [pmid],
            "ArticleTitle": [_text(article.find("ArticleTitle")) or _text(article.find("BookTitle"))],
            "AbstractText": abstract_parts,
            "Author": authors,
            "Journal": [_text(journal.find("Title"))] if journal is not None else [],
            "ISOAbbreviation": [_text(journal.find("ISOAbbreviation"))] if journal is not None else [],
            "Volume": [_text(issue.find("Volume"))] if issue is not None else [],
            "Issue": [_text(issue.find("Issue"))] if issue is not None else [],
            "PubDate": [year_text],
            "MedlinePgn": [_text(article.find("Pagination/MedlinePgn"))],
            "DOI": [doi] if doi else [],
            "Keyword": keywords,
            "MeshHeading": mesh,
            "PublicationType": types,
        }
        fields = {k: [v for v in vs if v] for k, vs in values.items() if any(vs)}
        result.records.append(
            NewRecord(
                line=line,
                raw=raw,
                fields=fields,
                title=_first(fields, "ArticleTitle"),
                abstract="\n".join(abstract_parts),
                authors=tuple(authors),
                year=_year(year_text),
                journal=_first(fields, "Journal", "ISOAbbreviation"),
                volume=_first(fields, "Volume"),
                issue=_first(fields, "Issue"),
                pages=_first(fields, "MedlinePgn"),
                doi=doi,
                pmid=pmid,
                keywords=tuple(keywords + mesh),
                record_type="; ".join(types),
            )
        )
    return result


# ================================================================================ RIS

_RIS_TAG = re.compile(r"([A-Z][A-Z0-9])  -(?: (.*)|\s*)$")


#: A PubMed identifier written with its label, as NLM writes it ("PMID: 12345678") or as
#: "PubMed ID" / "PUBMED 12345678": the label says what the number is, whatever the exporter.
#: A PMID is a number of one to eight digits (NLM, MEDLINE/PubMed Data Element Descriptions,
#: "PubMed Unique Identifier").
_PMID_LABELLED = re.compile(r"\b(?:PMID|PubMed(?:[ _]?ID)?)\s*[:#=]?\s*(\d{1,8})\b", re.IGNORECASE)
#: The RIS fields that hold identifiers and notes (RIS specification: AN accession number,
#: ID reference ID, N1 notes, M1–M3 miscellaneous, C1–C8 custom, U1–U5 user fields); the
#: abstract and the title are not read for identifiers (an abstract may cite another PMID).
_RIS_ID_TAGS = (
    "AN",
    "ID",
    "N1",
    "M1",
    "M2",
    "M3",
    *(f"C{i}" for i in range(1, 9)),
    *(f"U{i}" for i in range(1, 6)),
)
#: A database whose accession numbers are PMIDs: MEDLINE and PubMed (the PMID is PubMed's
#: accession number; NLM, "PubMed Unique Identifier").
_PUBMED_DATABASE = re.compile(r"\b(?:medline|pubmed)\b", re.IGNORECASE)


def ris_pmid(fields: dict[str, list[str]], *, database: str = "") -> tuple[str, list[str]]:
    """The PMID of a RIS record and the distinct PMIDs found (more than one: none is used).

    Read where exports put it: a number labelled as a PMID (``PMID: 12345678``, ``PubMed ID
    12345678``, ``PUBMED 12345678``) in an identifier or note field (:data:`_RIS_ID_TAGS`),
    or the accession number (``AN``) itself when it is a number of up to eight digits and the
    record's database (``DB``, else ``database``: the source the import names) is MEDLINE or
    PubMed. An accession number of any other database (Embase's, for one) is not a PMID and is
    not read as one."""
    found: list[str] = []
    for tag in _RIS_ID_TAGS:
        for value in fields.get(tag, ()):
            found += [m.group(1).lstrip("0") or "0" for m in _PMID_LABELLED.finditer(value)]
    if _PUBMED_DATABASE.search(" ".join(fields.get("DB", ())) or database):
        found += [v.strip().lstrip("0") for v in fields.get("AN", ()) if re.fullmatch(r"\s*\d{1,8}\s*", v)]
    distinct = list(dict.fromkeys(p for p in found if p and p != "0"))
    return (distinct[0] if len(distinct) == 1 else ""), distinct


def parse_ris(text: str, file: str) -> ParseResult:
    """RIS (Embase, Scopus, Cochrane CENTRAL, Web of Science, EndNote, Zotero exports)."""
    import rispy

    result = ParseResult("ris")
    lines = _lines(text)
    if not any(ln.startswith("TY  -") for ln in lines):
        raise InputError("this is not a RIS file: no record starts with 'TY  - '", file=file)
    databases: set[str] = set()
    block: list[str] = []
    start = 0
    fields: dict[str, list[str]] = {}
    last: str | None = None

    def finish(end_line: int) -> None:
        raw = "".join(block)
        if not any(_strip_end(b).startswith("ER  -") for b in block):
            result.skip(
                file, start, f"the record starting here has no 'ER  - ' line (it runs to line {end_line})"
            )
            return
        try:
            parsed = rispy.loads(raw)
        except Exception as exc:  # rispy's own errors vary by version: report, never crash
            result.skip(file, start, f"the record could not be read as RIS ({exc})")
            return
        if len(parsed) != 1:
            result.skip(file, start, "the record could not be read as RIS")
            return
        entry = parsed[0]
        db = _first(fields, "DB")
        if db:
            databases.add(db)
        pmid, pmids = ris_pmid(fields)
        if len(pmids) > 1:
            result.warn(
                file,
                start,
                f"the record names several PMIDs ({', '.join(pmids)}); none is used for matching",
            )
        authors = [a for tag in ("AU", "A1") for a in fields.get(tag, ())]
        if not authors:
            authors = [a for tag in ("A2", "A3", "A4") for a in fields.get(tag, ())]
        result.records.append(
            NewRecord(
                line=start,
                raw=raw,
                fields=dict(fields),
                title=str(
                    entry.get("title") or entry.get("primary_title") or _first(fields, "TI", "T1", "CT")
                ),
                abstract=str(entry.get("abstract") or entry.get("notes_abstract") or ""),
                authors=tuple(authors),
                year=_year(_first(fields, "PY", "Y1", "DA")),
                journal=_first(fields, "T2", "JF", "JO", "JA", "J2"),
                volume=_first(fields, "VL"),
                issue=_first(fields, "IS"),
                pages=_pages(_first(fields, "SP"), _first(fields, "EP")),
                doi=normalise_doi(_first(fields, "DO")),
                pmid=pmid,
                keywords=tuple(fields.get("KW", ())),
                record_type=_first(fields, "TY"),
            )
        )

    in_record = False
    outside = False  # inside a run of text between records (warned once per run)
    for number, line in enumerate(lines, start=1):
        body = _strip_end(line)
        match = _RIS_TAG.match(body)
        if not in_record:
            if not body.strip():
                continue
            if match and match.group(1) == "TY":
                in_record, outside, block, start, fields, last = True, False, [], number, {}, None
            else:
                if not outside:
                    result.warn(
                        file, number, "text outside a record (not between 'TY  - ' and 'ER  - ') was not read"
                    )
                outside = True
                continue
        block.append(line)
        if match:
            tag, value = match.group(1), (match.group(2) or "").rstrip()
            if tag == "TY" and len(block) > 1:
                # A new record before the previous one's ER.
                block.pop()
                finish(number - 1)
                block, start, fields, last = [line], number, {}, None
            last = tag
            fields.setdefault(tag, []).append(value)
            if tag == "ER":
                finish(number)
                in_record = False
        elif body.strip() and last is not None:
            # A value continued on the next line (abstracts in several exporters), joined
            # with a space as rispy does.
            fields[last][-1] += " " + body.strip()
    if in_record:
        finish(len(lines))
    if len(databases) == 1:
        result.database = databases.pop()
    return result


# ================================================================================ Web of Science

#: Field tags whose continuation lines are further values (one author, address or cited
#: reference a line); in every other field a continuation line goes on the same value.
_WOS_LIST_TAGS = frozenset({"AU", "AF", "BA", "BF", "BE", "CA", "GP", "C1", "C3", "CR"})
_WOS_TAG = re.compile(r"([A-Z][A-Z0-9])(?: (.*))?$")


def parse_wos(text: str, file: str) -> ParseResult:
    """Web of Science plain text ("Export → Plain text file" / "Other reference software").

    Clarivate, *Web of Science Core Collection Field Tags*: the file starts with ``FN`` (file
    name) and ``VR`` (version number) and ends with ``EF`` (end of file); each record starts
    with ``PT`` (publication type) and ends with ``ER`` (end of record); each line is a two-
    character tag, a space and the value; a line starting with three spaces continues the
    field above (for authors, addresses and cited references: the next one).
    """
    result = ParseResult("wos", database="Web of Science")
    lines = _lines(text)
    first = next((ln for ln in lines if ln.strip()), "")
    if not _strip_end(first).lstrip("\ufeff").startswith("FN "):
        raise InputError(
            "this is not a Web of Science plain-text file: it does not start with an 'FN' line", file=file
        )
    block: list[str] = []
    fields: dict[str, list[str]] = {}
    last: str | None = None
    start = 0
    ended = False

    def finish(end_line: int, closed: bool) -> None:
        raw = "".join(block)
        if not closed:
            result.skip(
                file, start, f"the record starting here has no 'ER' line (it runs to line {end_line})"
            )
            return
        authors = fields.get("AU") or fields.get("AF") or fields.get("CA") or []
        pages = _pages(_first(fields, "BP"), _first(fields, "EP")) or _first(fields, "AR")
        pmid = _first(fields, "PM")
        if pmid and not pmid.isdigit():
            result.warn(file, start, f"the PubMed ID '{pmid}' is not a number and was not used for matching")
            pmid = ""
        keywords = [k.strip() for value in fields.get("DE", ()) for k in value.split(";") if k.strip()]
        result.records.append(
            NewRecord(
                line=start,
                raw=raw,
                fields=dict(fields),
                title=_first(fields, "TI"),
                abstract=_first(fields, "AB"),
                authors=tuple(authors),
                year=_year(_first(fields, "PY")),
                journal=_first(fields, "SO"),
                volume=_first(fields, "VL"),
                issue=_first(fields, "IS"),
                pages=pages,
                doi=normalise_doi(_first(fields, "DI")),
                pmid=pmid,
                keywords=tuple(keywords),
                record_type=_first(fields, "DT", "PT"),
            )
        )

    in_record = False
    for number, line in enumerate(lines, start=1):
        body = _strip_end(line)
        if number == 1:
            body = body.lstrip("\ufeff")
        if not body.strip():
            continue
        if body.startswith("   ") and in_record:
            block.append(line)
            if last is None:
                continue
            value = body.strip()
            if last in _WOS_LIST_TAGS:
                fields[last].append(value)
            else:
                fields[last][-1] += " " + value
            continue
        match = _WOS_TAG.fullmatch(body)
        if match is None:
            if in_record:
                block.append(line)
            result.warn(file, number, "a line that is neither a field nor its continuation was not read")
            continue
        tag, value = match.group(1), (match.group(2) or "").strip()
        if not in_record:
            if tag in ("FN", "VR"):
                continue
            if tag == "EF":
                ended = True
                continue
            if tag != "PT":
                result.warn(
                    file, number, f"a '{tag}' line outside a record (records start with 'PT') was not read"
                )
                continue
            in_record, block, fields, last, start = True, [], {}, None, number
        elif tag == "PT":  # a new record before the previous one's ER
            finish(number - 1, False)
            block, fields, last, start = [], {}, None, number
        block.append(line)
        if tag == "ER":
            finish(number, True)
            in_record = False
            continue
        last = tag
        fields.setdefault(tag, []).append(value)
    if in_record:
        finish(len(lines), False)
    if not ended:
        result.warn(file, len(lines), "the file does not end with 'EF': it may have been cut short")
    return result


# ================================================================================ BibTeX


def _split_names(value: str) -> list[str]:
    """BibTeX author list: names separated by 'and' outside braces."""
    names: list[str] = []
    current: list[str] = []
    depth = 0
    tokens = re.split(r"(\s+and\s+|[{}])", value, flags=re.IGNORECASE)
    for token in tokens:
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
        if depth == 0 and re.fullmatch(r"\s+and\s+", token, flags=re.IGNORECASE):
            names.append("".join(current).strip())
            current = []
        else:
            current.append(token)
    names.append("".join(current).strip())
    return [n for n in names if n]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a library's malformed log call must not stop an import
            pass


@contextlib.contextmanager
def _library_logs_silenced(*names: str) -> Iterator[list[str]]:
    """Keep the log messages of ``names`` (bibtexparser, pylatexenc) off stderr; yields them.

    bibtexparser logs each block it cannot parse ("Parsing of `@article` block (line 0)
    aborted ... Expected comma after entry key") through :mod:`logging`, which without a
    configured handler prints to stderr in the middle of our output. :func:`parse_bibtex`
    puts the reason into the import's own report instead (the skipped record's message).
    """
    collect = _Collect()
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg.propagate, lg.handlers[:]) for lg in loggers]
    for lg in loggers:
        lg.propagate, lg.handlers = False, [collect]
    try:
        yield collect.messages
    finally:
        for lg, (propagate, handlers) in zip(loggers, saved, strict=True):
            lg.propagate, lg.handlers = propagate, handlers


_BIBTEX_LOG = re.compile(r"block \(line (\d+)\) aborted.*?:\s*(.+)", re.DOTALL)


def parse_bibtex(text: str, file: str) -> ParseResult:
    """BibTeX (Web of Science, Scopus, Zotero, JabRef exports), read with bibtexparser 2.

    Field names are case-insensitive in BibTeX and are kept lower-case in ``fields`` (with
    ``ENTRYTYPE`` and ``ID``); the raw entry keeps them as written. An entry whose key is
    used twice is kept (with a warning): duplicates are for de-duplication to judge."""
    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry
    from pylatexenc.latex2text import LatexNodes2Text

    latex = LatexNodes2Text()

    def plain(value: str) -> str:
        try:
            with _library_logs_silenced("pylatexenc"):
                return " ".join(latex.latex_to_text(value).split())
        except Exception:  # pylatexenc gives up on some malformed LaTeX: keep the text as written
            return " ".join(value.split())

    try:
        with _library_logs_silenced("bibtexparser", "pylatexenc") as logged:
            library = bibtexparser.parse_string(text)
    except Exception as exc:  # the parser's failures on odd input are not all its own errors
        raise InputError(f"the file cannot be read as BibTeX ({exc})", file=file) from None
    result = ParseResult("bibtex")
    reasons: dict[int, str] = {}
    for message in logged:
        match = _BIBTEX_LOG.search(message)
        if match:
            reasons.setdefault(int(match.group(1)), " ".join(match.group(2).split()))
    entries: list[Entry] = list(library.entries)
    for block in library.failed_blocks:
        # bibtexparser types start_line, raw and the kept block as optional; parse_string sets them.
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock) and isinstance(block.ignore_error_block, Entry):
            entries.append(block.ignore_error_block)
            result.warn(file, line, f"the key '{block.key}' is used twice; both entries were kept")
        else:
            reason = str(getattr(block, "error", "") or "").split("\n")[0]
            reason = reason or reasons.get(block.start_line or 0, "")
            result.skip(file, line, f"malformed BibTeX entry{': ' + reason if reason else ''}")
    if not entries and not result.skipped:
        raise InputError("this is not a BibTeX file: no @type{key, ...} entry was found", file=file)
    entries.sort(key=lambda e: e.start_line or 0)
    sources = set()
    for entry in entries:
        fields = {k.casefold(): [str(f.value)] for k, f in entry.fields_dict.items()}
        fields["ENTRYTYPE"] = [entry.entry_type]
        fields["ID"] = [entry.key]
        if _first(fields, "unique-id").upper().startswith("WOS:"):
            sources.add("Web of Science")
        elif _first(fields, "source"):
            sources.add(_first(fields, "source"))
        else:
            sources.add("")
        pmid = _first(fields, "pmid")
        if not pmid:
            match = re.search(r"\b(?:pmid|pubmed id)\s*:?\s*(\d+)", _first(fields, "note"), re.IGNORECASE)
            pmid = match.group(1) if match else ""
        result.records.append(
            NewRecord(
                line=(entry.start_line or 0) + 1,
                raw=entry.raw or "",
                fields=fields,
                title=plain(_first(fields, "title")),
                abstract=plain(_first(fields, "abstract")),
                authors=tuple(plain(n) for n in _split_names(_first(fields, "author"))),
                year=_year(_first(fields, "year", "date")),
                journal=plain(_first(fields, "journal", "journaltitle", "booktitle")),
                volume=_first(fields, "volume"),
                issue=_first(fields, "number", "issue"),
                pages=_first(fields, "pages").replace("--", "-"),
                doi=normalise_doi(_first(fields, "doi")),
                pmid=pmid,
                keywords=tuple(k.strip() for k in re.split(r"[;,]", _first(fields, "keywords")) if k.strip()),
                record_type=entry.entry_type,
            )
        )
    if len(sources) == 1 and "" not in sources:
        result.database = sources.pop()
    return result


# ================================================================================ CSV

#: Header names (case-insensitive) read into each column of a record, first match wins.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "article title", "document title", "ti"),
    "abstract": ("abstract", "ab"),
    "authors": ("authors", "author full names", "author", "au"),
    "year": ("year", "publication year", "py"),
    "journal": ("journal", "source title", "journal/book", "journal title", "publication title", "so"),
    "volume": ("volume", "vl"),
    "issue": ("issue", "is"),
    "pages": ("pages", "page range"),
    "page_start": ("page start", "start page", "bp"),
    "page_end": ("page end", "end page", "ep"),
    "doi": ("doi", "di"),
    "pmid": ("pmid", "pubmed id", "pm"),
    "keywords": ("keywords", "author keywords", "de"),
    "record_type": ("record_type", "document type", "publication type", "type", "dt"),
    "database": ("database", "source"),
}
_SURNAME_INITIALS = re.compile(r"[^\d,;]+ [A-Z]{1,3}\.?")


def _csv_authors(cell: str) -> tuple[str, ...]:
    cell = cell.strip()
    if not cell:
        return ()
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except (ValueError, RecursionError):  # RecursionError: brackets nested too deep
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    if ";" in cell:
        return tuple(a.strip() for a in cell.split(";") if a.strip())
    parts = [p.strip() for p in cell.rstrip(".").split(",")]
    if len(parts) > 1 and all(_SURNAME_INITIALS.fullmatch(p) for p in parts):
        return tuple(parts)  # PubMed's CSV: "Doe J, Roe RA"
    return (cell,)


def _csv_list(cell: str) -> tuple[str, ...]:
    cell = cell.strip()
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except (ValueError, RecursionError):  # RecursionError: brackets nested too deep
            value = None
        if isinstance(value, list):
            return tuple(str(v) for v in value)
    return tuple(k.strip() for k in cell.split(";") if k.strip())


def parse_csv(text: str, file: str) -> ParseResult:
    """A CSV of records with a header row (PubMed, Scopus, Web of Science, spreadsheets, and
    the ``records.csv`` export of a record store)."""
    result = ParseResult("csv")
    # Abstracts and raw records can exceed the csv module's default cell limit (128 KiB).
    csv.field_size_limit(max(csv.field_size_limit(), MAX_BYTES))
    lines = _lines(text)
    reader = csv.reader(iter(lines))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("the file is empty", file=file) from None
    except csv.Error as exc:
        raise InputError(f"the header cannot be read as CSV ({exc})", file=file, row=1) from None
    names = [h.strip().lstrip("\ufeff").casefold() for h in header]
    where: dict[str, int] = {}
    for column, aliases in CSV_COLUMNS.items():
        for alias in aliases:
            if alias in names:
                where[column] = names.index(alias)
                break
    if "title" not in where:
        raise InputError(
            "this is not a CSV of records: there is no title column (the columns are: "
            f"{', '.join(h.strip() for h in header)})",
            file=file,
            row=1,
        )
    own_export = {"raw", "fields", "import_id"} <= set(names)
    databases: set[str] = set()
    consumed = reader.line_num
    while True:
        start = consumed + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.skip(file, start, f"malformed CSV row ({exc})")
            consumed = reader.line_num
            continue
        raw = "".join(lines[consumed : reader.line_num])
        consumed = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            result.skip(file, start, f"the row has {len(row)} cells but the header has {len(header)}")
            continue

        if own_export:  # the export escaped formula-like cells (export.escape_cell)
            from trialsynth.io.records.export import unescape_cell

            row = [unescape_cell(c) for c in row]

        def cell(column: str, row=row) -> str:
            return row[where[column]].strip() if column in where else ""

        fields = {h.strip(): [v] for h, v in zip(header, row, strict=True) if v.strip()}
        if own_export:
            stored_cell = row[names.index("fields")]
            try:
                stored = json.loads(stored_cell) if stored_cell.strip() else fields
            except (ValueError, RecursionError):
                result.skip(file, start, "the 'fields' cell is not the JSON a records export writes")
                continue
            fields = stored if isinstance(stored, dict) else fields
            raw = row[names.index("raw")] or raw
        if cell("database"):
            databases.add(cell("database"))
        result.records.append(
            NewRecord(
                line=start,
                raw=raw,
                fields=fields,
                title=cell("title"),
                abstract=cell("abstract"),
                authors=_csv_authors(cell("authors")),
                year=_year(cell("year")),
                journal=cell("journal"),
                volume=cell("volume"),
                issue=cell("issue"),
                pages=cell("pages") or _pages(cell("page_start"), cell("page_end")),
                doi=normalise_doi(cell("doi")),
                pmid=cell("pmid") if cell("pmid").isdigit() else "",
                keywords=_csv_list(cell("keywords")),
                record_type=cell("record_type"),
            )
        )
        if cell("pmid") and not cell("pmid").isdigit():
            result.warn(
                file, start, f"the PMID '{cell('pmid')}' is not a number and was not used for matching"
            )
    if len(databases) == 1:
        result.database = databases.pop()
    elif not databases and {"pmid", "citation", "journal/book"} <= set(names):
        result.database = "PubMed"  # PubMed's "Save → CSV" layout
    return result
