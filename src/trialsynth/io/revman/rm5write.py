"""Write a :class:`~trialsynth.io.revman.model.RevManFile` as a RevMan 5 review file (``.rm5``, XML).

The inverse of :mod:`trialsynth.io.revman.rm5`: the same elements and attributes that the reader
takes, in RevMan 5's layout (root ``COCHRANE_REVIEW``; ``COVER_SHEET/TITLE``; the studies in
``STUDIES_AND_REFERENCES/STUDIES/INCLUDED_STUDIES``; the analyses in ``ANALYSES_AND_DATA``, one
``COMPARISON`` per comparison with its ``DICH_OUTCOME``, ``CONT_OUTCOME``, ``IV_OUTCOME`` or
``IPD_OUTCOME`` elements, their ``*_SUBGROUP`` and ``*_DATA``). Settings are attributes of the
outcome element (``METHOD``, ``EFFECT_MEASURE``, ``RANDOM``, ``CI_STUDY``, ``CI_TOTAL``,
``TOTALS``, ``SUBGROUPS``, ``SUBGROUP_TEST``, ``SWAP_EVENTS``, ``LOG_DATA``); the numbers a reviewer
enters are attributes of the data elements (``EVENTS_1`` ...). RevMan's computed results are
written only where the model holds them (``stored``); RevMan recomputes every analysis when the
file is opened. The empty top-level sections RevMan 5 keeps in every review (main text,
characteristics of studies, figures, ...) are written empty, in RevMan's order.

The XML is built with the standard library's ElementTree (every text and attribute escaped) and
written atomically (:mod:`trialsynth.io._atomic`: a temporary file beside the target, then
:func:`os.replace`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io._atomic import write_bytes_atomic
from trialsynth.io.revman.model import RevManData, RevManFile, RevManOutcome, RevManStudy

#: RevMan 5's top-level sections, in the order of its files (COCHRANE_REVIEW's children).
SECTIONS = (
    "COVER_SHEET",
    "MAIN_TEXT",
    "STUDIES_AND_REFERENCES",
    "CHARACTERISTICS_OF_STUDIES",
    "QUALITY_ITEMS",
    "SOF_TABLES",
    "ADDITIONAL_TABLES",
    "ANALYSES_AND_DATA",
    "FIGURES",
    "FEEDBACK",
    "APPENDICES",
    "EXTENSIONS",
)
#: Characters XML 1.0 cannot carry (control characters other than tab and line breaks).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_STUDY_SECTIONS = ("INCLUDED_STUDIES", "EXCLUDED_STUDIES", "AWAITING_STUDIES", "ONGOING_STUDIES")


def encode_id(text: str) -> str:
    """RevMan's escaping of characters in IDs (the inverse of
    :func:`trialsynth.io.revman.rm5.decode_id`): anything but letters and digits becomes
    ``_xHHHH_`` (``ISIS-2`` is ``ISIS_x002d_2``); ``_`` is kept unless it would start such an
    escape."""
    out = []
    for i, ch in enumerate(text):
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch == "_" and not text.startswith("_x", i):
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"_x{ord(ch):04x}_")
        else:
            raise InputError(f"the identifier '{text}' has a character RevMan IDs cannot hold ({ch!r})")
    return "".join(out)


def _yes(flag: bool) -> str:
    return "YES" if flag else "NO"


def _level(value: float) -> str:
    return f"{value:g}"


def _text_child(parent: ET.Element, tag: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = text
    return child


def _study(parent: ET.Element, study: RevManStudy) -> None:
    attrs = {
        "DATA_SOURCE": study.data_source or "PUB",
        "ID": study.key,
        "NAME": study.name,
        "YEAR": study.year,
    }
    element = ET.SubElement(parent, "STUDY", attrs)
    ET.SubElement(element, "REFERENCE", {"PRIMARY": "NO", "TYPE": "JOURNAL_ARTICLE"})
    ET.SubElement(element, "IDENTIFIERS")


def _data(parent: ET.Element, kind: str, item: RevManData, order: int) -> None:
    attrs = {**item.entered, **item.stored, "ORDER": str(order), "STUDY_ID": item.study}
    ET.SubElement(parent, f"{kind}_DATA", dict(sorted(attrs.items())))


def _totals(outcome: RevManOutcome) -> dict[str, str]:
    """The outcome's summary attributes RevMan keeps beside its settings: number of studies and,
    for dichotomous and continuous data, the participants (and events) of each group."""
    out = {"STUDIES": str(len({d.study for d in outcome.data}))}
    keys = {"DICH": ("EVENTS_1", "TOTAL_1", "EVENTS_2", "TOTAL_2"), "CONT": ("TOTAL_1", "TOTAL_2")}
    for key in keys.get(outcome.kind, ()):
        out[key] = str(sum(int(d.entered[key]) for d in outcome.data))
    return out


def _outcome(parent: ET.Element, o: RevManOutcome, ids: dict[str, int]) -> None:
    kind = o.kind
    attrs = {
        "CI_STUDY": _level(o.ci_study),
        "CI_TOTAL": _level(o.ci_total),
        "ID": o.revman_id or f"CMP-{int(o.comparison_no):03d}.{int(o.no):02d}",
        "METHOD": o.method,
        "NO": o.no,
        "RANDOM": _yes(o.random),
        "SORT_BY": "STUDY",
        "SUBGROUPS": _yes(o.has_subgroups),
        "SUBGROUP_TEST": _yes(o.subgroup_test),
        "TOTALS": o.totals,
        **_totals(o),
        **o.stored,
    }
    if kind in ("DICH", "CONT"):
        attrs["EFFECT_MEASURE"] = o.measure
    if kind == "DICH":
        attrs["SWAP_EVENTS"] = _yes(o.swap_events)
    if kind == "CONT":
        attrs["UNITS"] = o.units
    if kind == "IV" and o.log_data is not None:
        attrs["LOG_DATA"] = _yes(o.log_data)
    element = ET.SubElement(parent, f"{kind}_OUTCOME", dict(sorted(attrs.items())))
    _text_child(element, "NAME", o.name)
    for tag, text in (
        ("GROUP_LABEL_1", o.group_label_1),
        ("GROUP_LABEL_2", o.group_label_2),
        ("GRAPH_LABEL_1", o.graph_label_1),
        ("GRAPH_LABEL_2", o.graph_label_2),
    ):
        _text_child(element, tag, text)
    if kind in ("IV", "IPD"):
        _text_child(element, "EFFECT_MEASURE", o.measure)
    if o.subgroups:
        for index, sub in enumerate(o.subgroups):
            sub_id = f"{element.get('ID')}.{index + 1:02d}"
            sub_el = ET.SubElement(
                element, f"{kind}_SUBGROUP", dict(sorted({"ID": sub_id, "NO": sub.no, **sub.stored}.items()))
            )
            _text_child(sub_el, "NAME", sub.name)
            for item in o.data:
                if item.subgroup == index:
                    ids["order"] += 1
                    _data(sub_el, kind, item, ids["order"])
    else:
        for item in o.data:
            ids["order"] += 1
            _data(element, kind, item, ids["order"])


def _check(rm: RevManFile) -> None:
    keys = [s.key for s in rm.studies]
    if len(set(keys)) != len(keys):
        raise InputError("two studies have the same RevMan ID", file=rm.source)
    known = set(keys)
    numbers = set()
    for o in rm.outcomes:
        if o.number in numbers:
            raise InputError(f"two analyses are numbered {o.number}", file=rm.source)
        numbers.add(o.number)
        for item in o.data:
            if item.study not in known:
                raise InputError(f"analysis {o.number} uses study '{item.study}', which is not listed")
            if o.subgroups and (item.subgroup is None or not 0 <= item.subgroup < len(o.subgroups)):
                raise InputError(f"analysis {o.number}: study '{item.study}' is in no subgroup")


def rm5_tree(rm: RevManFile) -> ET.Element:
    """The ``COCHRANE_REVIEW`` element of ``rm`` (studies and analyses; other sections empty)."""
    _check(rm)
    major, _, sub = rm.revman_version.partition(" ")
    root = ET.Element(
        "COCHRANE_REVIEW",
        {
            "ID": "0",
            "REVMAN_SUB_VERSION": sub or "5.3.5",
            "REVMAN_VERSION": major or "5",
            "STAGE": "R",
            "TYPE": "INTERVENTION",
        },
    )
    sections = {tag: ET.SubElement(root, tag) for tag in SECTIONS}
    _text_child(sections["COVER_SHEET"], "TITLE", rm.title)
    studies = ET.SubElement(sections["STUDIES_AND_REFERENCES"], "STUDIES")
    blocks = {tag: ET.SubElement(studies, tag) for tag in _STUDY_SECTIONS}
    for study in rm.studies:
        _study(blocks["INCLUDED_STUDIES"], study)
    ET.SubElement(sections["STUDIES_AND_REFERENCES"], "OTHER_REFERENCES")
    analyses = sections["ANALYSES_AND_DATA"]
    analyses.set("CALCULATED_DATA", _yes(any(o.stored for o in rm.outcomes)))
    comparisons: dict[str, ET.Element] = {}
    ids = {"order": 0}
    for o in rm.outcomes:
        if o.comparison_no not in comparisons:
            element = ET.SubElement(
                analyses, "COMPARISON", {"ID": f"CMP-{int(o.comparison_no):03d}", "NO": o.comparison_no}
            )
            _text_child(element, "NAME", o.comparison_name)
            comparisons[o.comparison_no] = element
        _outcome(comparisons[o.comparison_no], o, ids)
    return root


def _check_characters(root: ET.Element, source: str) -> None:
    for element in root.iter():
        for text in (element.text or "", *element.attrib.values()):
            bad = _NOT_XML.search(text)
            if bad:
                raise InputError(
                    f"the text '{text[:60]}' holds the control character U+{ord(bad.group()):04X}, "
                    f"which an XML file cannot hold (<{element.tag}>); remove it",
                    file=source,
                )


def rm5_bytes(rm: RevManFile) -> bytes:
    """The ``.rm5`` file's bytes: UTF-8 XML with its declaration, one element per line."""
    root = rm5_tree(rm)
    _check_characters(root, rm.source)
    ET.indent(root, space="")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + body + "\n").encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`trialsynth.io._atomic.write_bytes_atomic`:
    a temporary file beside it, then :func:`os.replace`), so that a reader never sees half a
    file and a failed write leaves the old file intact. The folder must exist."""
    path = Path(path)
    if path.is_dir():
        raise InputError("the output is a folder, not a file name", file=str(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("the folder of the output file does not exist", file=str(path))
    write_bytes_atomic(path, data)


def write_rm5(rm: RevManFile, path: str | Path) -> Path:
    """Write ``rm`` as a RevMan 5 file at ``path`` (atomically); returns the path."""
    path = Path(path)
    write_atomic(path, rm5_bytes(rm))
    return path
