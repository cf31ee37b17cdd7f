"""Read a RevMan 5 review file (``.rm5``, XML) into a :class:`~trialsynth.io.revman.model.RevManFile`.

The parts read are the included studies (``STUDIES_AND_REFERENCES/STUDIES``) and the
analyses (``ANALYSES_AND_DATA``): every ``COMPARISON`` with its ``DICH_OUTCOME``,
``CONT_OUTCOME``, ``IV_OUTCOME`` and ``IPD_OUTCOME`` elements, their subgroups
(``*_SUBGROUP``) and per-study data (``*_DATA``). Settings and RevMan's computed results are
attributes of those elements (RevMan 5 file format, The Cochrane Collaboration). Text
outcomes (``OTHER_OUTCOME``) hold no numbers to pool and are listed as skipped.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import MappingProxyType

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.revman._xml import Element, FileReader, error_at, parse_xml, read_bytes
from trialsynth.io.revman.model import (
    ENTERED,
    KINDS,
    OPTIONAL_ENTERED,
    POOLED_RESULTS,
    STUDY_RESULTS,
    SUBGROUP_TEST_RESULTS,
    RevManData,
    RevManFile,
    RevManOutcome,
    RevManStudy,
    RevManSubgroup,
)

_METHODS = {
    "DICH": ("MH", "IV", "PETO"),
    "CONT": ("IV",),
    "IV": ("IV",),
    "IPD": ("EXP_O_E_VAR", "PETO", "IV"),
}
_DICH_MEASURES = ("OR", "RR", "RD", "PETO_OR")
_CONT_MEASURES = ("MD", "SMD")


def decode_id(text: str) -> str:
    """RevMan escapes characters in IDs as ``_xHHHH_`` (``STD-ISIS_x002d_2`` is ISIS-2)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("_x", i) and i + 7 <= len(text) and text[i + 6] == "_":
            try:
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 7
                continue
            except ValueError:
                pass
        out.append(text[i])
        i += 1
    return "".join(out)


class _Reader(FileReader):
    def fail(self, element: Element | None, message: str) -> InputError:
        return error_at(self.source, element, message)

    def where(self, *parts: str, element: Element) -> str:
        return f"{self.name}: {' / '.join(parts)} (line {element.line})"

    def attr(self, element: Element, name: str, *, required: bool = True) -> str:
        value = element.attrs.get(name)
        if value is None:
            if required:
                raise self.fail(element, f"attribute {name} is missing")
            return ""
        return value.strip()

    def yes_no(self, element: Element, name: str, default: bool) -> bool:
        value = element.attrs.get(name, "").strip().upper()
        if value == "":
            return default
        if value not in ("YES", "NO"):
            raise self.fail(element, f"attribute {name} is '{value}', not YES or NO")
        return value == "YES"

    def level(self, element: Element, name: str) -> float:
        text = element.attrs.get(name, "").strip() or "95"
        try:
            value = float(text)
        except ValueError:
            raise self.fail(
                element, f"attribute {name} is '{text}', not a confidence level in percent"
            ) from None
        if not 50 < value < 100:
            raise self.fail(element, f"attribute {name} is {text}, not a confidence level between 50 and 100")
        return value

    def child_text(self, element: Element, tag: str) -> str:
        child = element.find(tag)
        return "" if child is None else child.text.strip()

    # ------------------------------------------------------------------ the file
    def read(self) -> RevManFile:
        root = parse_xml(read_bytes(self.path), self.source)
        if root.tag != "COCHRANE_REVIEW":
            raise self.fail(root, "not a RevMan 5 review file (its root element should be <COCHRANE_REVIEW>)")
        cover = root.find("COVER_SHEET")
        title = "" if cover is None else self.child_text(cover, "TITLE")
        studies = self.studies(root)
        analyses = root.find("ANALYSES_AND_DATA")
        if analyses is None:
            raise self.fail(root, "the file has no <ANALYSES_AND_DATA>: there are no analyses to import")
        outcomes = []
        numbers: dict[str, int] = {}
        for comparison in analyses.findall("COMPARISON"):
            no = self.attr(comparison, "NO")
            if no in numbers:
                raise self.fail(
                    comparison, f"comparison number {no} is used twice (also on line {numbers[no]})"
                )
            numbers[no] = comparison.line
            outcomes += self.comparison(comparison, studies)
        if not outcomes:
            raise self.fail(analyses, "the file has no analysis with data to import")
        version = " ".join(
            v for v in (root.attrs.get("REVMAN_VERSION", ""), root.attrs.get("REVMAN_SUB_VERSION", "")) if v
        )
        return RevManFile(
            source=self.source,
            flavour="rm5",
            title=title or self.path.stem,
            revman_version=version,
            # The included studies, and any other study an analysis uses (RevMan keeps excluded,
            # awaiting and ongoing studies in the same list; they are not part of the review's data).
            studies=tuple(
                s
                for s in studies.values()
                if "INCLUDED_STUDIES" in s.where or any(d.study == s.key for o in outcomes for d in o.data)
            ),
            outcomes=tuple(outcomes),
            skipped=tuple(self.skipped),
        )

    def studies(self, root: Element) -> dict[str, RevManStudy]:
        out: dict[str, RevManStudy] = {}
        refs = root.find("STUDIES_AND_REFERENCES")
        block = None if refs is None else refs.find("STUDIES")
        if block is None:
            raise self.fail(root, "the file has no <STUDIES_AND_REFERENCES>/<STUDIES> list of studies")
        for section in block.children:
            for study in section.findall("STUDY"):
                key = self.attr(study, "ID")
                if key in out:
                    raise self.fail(study, f"study ID '{key}' is used twice")
                out[key] = RevManStudy(
                    key=key,
                    name=self.attr(study, "NAME", required=False) or decode_id(key.removeprefix("STD-")),
                    year=self.attr(study, "YEAR", required=False),
                    data_source=self.attr(study, "DATA_SOURCE", required=False),
                    where=self.where(section.tag, f"STUDY ID={key}", element=study),
                )
        return out

    def comparison(self, comparison: Element, studies: dict[str, RevManStudy]) -> list[RevManOutcome]:
        no = self.attr(comparison, "NO")
        name = self.child_text(comparison, "NAME")
        outcomes: list[RevManOutcome] = []
        for element in comparison.children:
            if not element.tag.endswith("_OUTCOME"):
                continue
            kind = element.tag.removesuffix("_OUTCOME")
            if kind not in KINDS:
                label = f"{no}.{element.attrs.get('NO', '?')} {self.child_text(element, 'NAME')}".strip()
                self.skipped.append(
                    f"outcome {label} (<{element.tag}>, line {element.line}): "
                    f"a RevMan '{kind.lower()}' outcome holds text, not data to pool"
                )
                continue
            number = element.attrs.get("NO", "")
            if any(o.no == number for o in outcomes):
                raise self.fail(element, f"outcome number {no}.{number} is used twice in comparison {no}")
            outcomes.append(self.outcome(element, kind, no, name, studies))
        return outcomes

    def outcome(
        self, element: Element, kind: str, comparison_no: str, comparison_name: str, studies: dict
    ) -> RevManOutcome:
        tag = element.tag
        out_no = self.attr(element, "NO")
        out_id = self.attr(element, "ID", required=False)
        path = (f"COMPARISON NO={comparison_no}", f"{tag} NO={out_no}" + (f" ID={out_id}" if out_id else ""))
        # Continuous, generic and O − E outcomes have one method each; files may leave it out.
        default = {"CONT": "IV", "IV": "IV", "IPD": "EXP_O_E_VAR"}.get(kind, "")
        method = self.attr(element, "METHOD", required=kind == "DICH").upper() or default
        if method not in _METHODS[kind]:
            raise self.fail(element, f"METHOD '{method}' is not a RevMan method for a {tag}")
        if kind in ("DICH", "CONT"):
            measure = self.attr(element, "EFFECT_MEASURE").upper()
            allowed = _DICH_MEASURES if kind == "DICH" else _CONT_MEASURES
            if measure not in allowed:
                raise self.fail(element, f"EFFECT_MEASURE '{measure}' is not one of {', '.join(allowed)}")
        else:
            # Generic inverse variance and O − E outcomes name their measure in a child element.
            measure = (
                self.child_text(element, "EFFECT_MEASURE") or element.attrs.get("EFFECT_MEASURE", "").strip()
            )
        stored = {
            k: element.attrs[k].strip() for k in POOLED_RESULTS + SUBGROUP_TEST_RESULTS if k in element.attrs
        }
        has_subgroups = self.yes_no(element, "SUBGROUPS", False)
        subgroups: list[RevManSubgroup] = []
        data: list[RevManData] = []
        sub_tag, data_tag = f"{kind}_SUBGROUP", f"{kind}_DATA"
        for child in element.children:
            if child.tag == sub_tag:
                index = len(subgroups)
                sub_no = self.attr(child, "NO", required=False) or str(index + 1)
                sub_path = (*path, f"{sub_tag} NO={sub_no}")
                subgroups.append(
                    RevManSubgroup(
                        no=sub_no,
                        name=self.child_text(child, "NAME") or f"Subgroup {sub_no}",
                        stored=MappingProxyType(
                            {k: child.attrs[k].strip() for k in POOLED_RESULTS if k in child.attrs}
                        ),
                        where=self.where(*sub_path, element=child),
                    )
                )
                for item in child.findall(data_tag):
                    data.append(self.data(item, kind, index, sub_path, studies))
            elif child.tag == data_tag:
                data.append(self.data(child, kind, None, path, studies))
        if subgroups and any(d.subgroup is None for d in data):
            raise self.fail(element, "the outcome mixes study data inside and outside subgroups")
        if has_subgroups and not subgroups:
            has_subgroups = False
        number = f"{comparison_no}.{out_no}"
        if not data:
            warnings.warn(
                f"{self.source}: outcome {number} has no study data", TrialsynthWarning, stacklevel=2
            )
        return RevManOutcome(
            comparison_no=comparison_no,
            comparison_name=comparison_name,
            no=out_no,
            revman_id=out_id,
            name=self.child_text(element, "NAME") or f"Outcome {number}",
            kind=kind,
            measure=measure,
            method=method,
            random=self.yes_no(element, "RANDOM", False),
            ci_study=self.level(element, "CI_STUDY"),
            ci_total=self.level(element, "CI_TOTAL"),
            totals=(self.attr(element, "TOTALS", required=False) or "YES").upper(),
            has_subgroups=bool(subgroups),
            subgroup_test=self.yes_no(element, "SUBGROUP_TEST", True),
            swap_events=self.yes_no(element, "SWAP_EVENTS", False),
            log_data=self.yes_no(element, "LOG_DATA", False) if "LOG_DATA" in element.attrs else None,
            group_label_1=self.child_text(element, "GROUP_LABEL_1"),
            group_label_2=self.child_text(element, "GROUP_LABEL_2"),
            graph_label_1=self.child_text(element, "GRAPH_LABEL_1"),
            graph_label_2=self.child_text(element, "GRAPH_LABEL_2"),
            units=self.attr(element, "UNITS", required=False),
            stored=MappingProxyType(stored),
            where=self.where(*path, element=element),
            subgroups=tuple(subgroups),
            data=tuple(data),
        )

    def data(
        self, item: Element, kind: str, subgroup: int | None, path: tuple[str, ...], studies: dict
    ) -> RevManData:
        study = self.attr(item, "STUDY_ID")
        if study not in studies:
            raise self.fail(item, f"STUDY_ID '{study}' is not a study listed in the file")
        entered = {}
        for name in ENTERED[kind]:
            value = item.attrs.get(name)
            if value is None or not value.strip():
                raise self.fail(item, f"attribute {name} (entered data) is missing for study '{study}'")
            entered[name] = value.strip()
        for name in OPTIONAL_ENTERED.get(kind, ()):
            if item.attrs.get(name, "").strip():
                entered[name] = item.attrs[name].strip()
        for name, value in entered.items():
            try:
                number = float(value)
            except ValueError:
                raise self.fail(
                    item, f"attribute {name} is '{value}', not a number (study '{study}')"
                ) from None
            if number != number or number in (float("inf"), float("-inf")):
                raise self.fail(item, f"attribute {name} is '{value}', not a finite number (study '{study}')")
        entered_names = set(ENTERED[kind]) | set(OPTIONAL_ENTERED.get(kind, ()))
        stored = {
            k: item.attrs[k].strip()
            for k in (*STUDY_RESULTS, "ESTIMABLE")
            if k in item.attrs and k not in entered_names
        }
        return RevManData(
            study=study,
            subgroup=subgroup,
            entered=MappingProxyType(entered),
            stored=MappingProxyType(stored),
            where=self.where(*path, f"{item.tag} STUDY_ID={study}", element=item),
        )


def read_rm5(path: str | Path) -> RevManFile:
    """Read a RevMan 5 ``.rm5`` file; malformed files raise InputError naming file, line and element."""
    return _Reader(Path(path)).read()
