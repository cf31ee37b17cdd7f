"""Read RevMan 5's CSV export of a review's data and analyses ("Export > Data and analyses").

The export has one row per comparison, outcome, subgroup and study, told apart by the
``Comparison Number``, ``Outcome Number`` and ``Subgroup Number`` columns and by whether
``Data Type`` is filled (outcome and subgroup rows) or blank (study rows). RevMan's results
are rounded to eight decimals. Column names are matched ignoring case, spaces and the
superscript in ``I²``; the columns read are listed in ``_COLUMNS``.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from types import MappingProxyType

from trialsynth._core.errors import InputError
from trialsynth.io.revman._xml import FileReader, read_bytes
from trialsynth.io.revman.model import (
    ENTERED,
    RevManData,
    RevManFile,
    RevManOutcome,
    RevManStudy,
    RevManSubgroup,
)

# canonical key -> accepted header spellings (normalised: lower case, no spaces, ² -> 2)
_COLUMNS = {
    "comparison": ("comparisonnumber",),
    "outcome": ("outcomenumber",),
    "subgroup": ("subgroupnumber",),
    "name": ("name",),
    "type": ("datatype",),
    "method": ("statisticalmethod",),
    "measure": ("effectmeasure",),
    "model": ("analysismodel",),
    "EVENTS_1": ("events1",),
    "MEAN_1": ("mean1",),
    "SD_1": ("sd1",),
    "TOTAL_1": ("total1",),
    "EVENTS_2": ("events2",),
    "MEAN_2": ("mean2",),
    "SD_2": ("sd2",),
    "TOTAL_2": ("total2",),
    "O_E": ("o-e",),
    "VAR": ("variance", "var"),
    "EFFECT_SIZE": ("effectestimate",),
    "SE": ("se",),
    "CI_START": ("cistart",),
    "CI_END": ("ciend",),
    "WEIGHT": ("weight",),
    "CHI2": ("q",),
    "P_CHI2": ("p(q)",),
    "I2": ("i2(q)",),
    "TAU2": ("tau2",),
    "Z": ("z",),
    "P_Z": ("p(z)",),
    "Q": ("qint",),
    "P_Q": ("p(qint)",),
    "I2_Q": ("i2(qint)",),
    "DF": ("df",),
    "group1": ("grouplabel1",),
    "group2": ("grouplabel2",),
    "graph1": ("leftgraphlabel",),
    "graph2": ("rightgraphlabel",),
    "year": ("yearofstudy",),
    "order": ("userdefinedorder",),
    "totals": ("totals",),
    "ci_study": ("studyconfidenceinterval",),
    "ci_total": ("totalconfidenceinterval",),
    "swap": ("swapeventandnon-event",),
    "log": ("entereddataareonlogscale(genericinversevarianceonly)",),
}
_REQUIRED = ("comparison", "outcome", "subgroup", "name")
_POOLED = ("EFFECT_SIZE", "CI_START", "CI_END", "WEIGHT", "CHI2", "P_CHI2", "I2", "TAU2", "Z", "P_Z", "DF")
_TEST = ("Q", "P_Q", "I2_Q")
_TYPES = {
    "DIC": "DICH",
    "CON": "CONT",
    "GIV": "IV",
    "IV": "IV",
    "GEN": "IV",
    "IPD": "IPD",
    "O-E": "IPD",
    "OE": "IPD",
}
_METHODS = {"MH": "MH", "IV": "IV", "PETO": "PETO", "EXP_O_E_VAR": "EXP_O_E_VAR", "INVERSE": "IV"}
_MEASURE_NAMES = {
    "ODDS RATIO": "OR",
    "RISK RATIO": "RR",
    "RISK DIFFERENCE": "RD",
    "MEAN DIFFERENCE": "MD",
    "STD. MEAN DIFFERENCE": "SMD",
    "STANDARDISED MEAN DIFFERENCE": "SMD",
    "STANDARDIZED MEAN DIFFERENCE": "SMD",
    "PETO ODDS RATIO": "PETO_OR",
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("²", "2").replace(" ", "")


class _Reader(FileReader):
    def fail(self, message: str, row: int | None = None, column: str | None = None) -> InputError:
        return InputError(message, file=self.source, row=row, column=column)

    def read(self) -> RevManFile:
        raw = read_bytes(self.path)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="strict") if _cp1252_ok(raw) else None
            if text is None:
                raise self.fail("the file is neither UTF-8 nor Windows-1252 text") from None
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        except csv.Error as exc:
            raise self.fail(f"this is not a readable CSV file ({exc})") from None
        rows = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
        if not rows:
            raise self.fail("the file is empty")
        header_row, header = rows[0]
        self.columns: dict[str, int] = {}
        for index, name in enumerate(header):
            norm = _normalise(name)
            for key, spellings in _COLUMNS.items():
                if norm in spellings and key not in self.columns:
                    self.columns[key] = index
        missing = [key for key in _REQUIRED if key not in self.columns]
        if missing:
            names = {
                "comparison": "Comparison Number",
                "outcome": "Outcome Number",
                "subgroup": "Subgroup Number",
            }
            wanted = ", ".join(f"'{names.get(k, k.title())}'" for k in missing)
            raise self.fail(
                f"not a RevMan CSV export: column(s) {wanted} are missing (export them from RevMan)",
                header_row,
            )
        self.width = len(header)
        return self.build(rows[1:])

    def cell(self, row: list[str], key: str) -> str:
        index = self.columns.get(key)
        return row[index].strip() if index is not None and index < len(row) else ""

    def integer(self, row: list[str], number: int, key: str) -> int:
        text = self.cell(row, key)
        try:
            return int(text or "0")
        except ValueError:
            raise self.fail(f"'{text}' is not a whole number", number, key) from None

    def build(self, rows: list[tuple[int, list[str]]]) -> RevManFile:
        studies: dict[str, RevManStudy] = {}
        comparisons: dict[int, str] = {}
        outcomes: list[dict] = []
        current: dict | None = None
        for number, row in rows:
            if len(row) != self.width:
                raise self.fail(
                    f"the row has {len(row)} fields, the header {self.width} (a 'Risk of bias tables' field "
                    "in the export breaks its rows: export without it)",
                    number,
                )
            comp = self.integer(row, number, "comparison")
            out = self.integer(row, number, "outcome")
            sub = self.integer(row, number, "subgroup")
            name = self.cell(row, "name")
            dtype = self.cell(row, "type")
            if out == 0:
                if comp in comparisons:
                    raise self.fail(f"comparison number {comp} is used twice", number, "Comparison Number")
                comparisons[comp] = name
                continue
            if dtype:
                if sub == 0:
                    if any((o["comparison"], o["no"]) == (comp, out) for o in outcomes):
                        raise self.fail(
                            f"outcome number {comp}.{out} is used twice", number, "Outcome Number"
                        )
                    current = self.outcome_row(row, number, comp, out, name, dtype, comparisons)
                    outcomes.append(current)
                else:
                    if current is None or (current["comparison"], current["no"]) != (comp, out):
                        raise self.fail(
                            f"subgroup row of outcome {comp}.{out} before the outcome's own row", number
                        )
                    current["subgroups"].append(
                        RevManSubgroup(
                            no=str(sub),
                            name=name or f"Subgroup {sub}",
                            stored=self.stored(row, _POOLED),
                            where=f"{self.name}: row {number} (subgroup {comp}.{out}.{sub})",
                        )
                    )
                    current["subgroup_numbers"].append(sub)
                continue
            if current is None or (current["comparison"], current["no"]) != (comp, out):
                raise self.fail(f"study row of outcome {comp}.{out} before the outcome's own row", number)
            if not name:
                raise self.fail("a study row without a study name", number, "Name")
            if name not in studies:
                studies[name] = RevManStudy(
                    key=name,
                    name=name,
                    year=self.cell(row, "year"),
                    data_source="",
                    where=f"{self.name}: row {number} (study '{name}')",
                )
            current["data"].append((number, row, sub, name))
        built = []
        for item in outcomes:
            if item["kind"] is None:
                continue
            built.append(self.finish(item))
        if not built:
            raise self.fail("the file has no analysis with data to import")
        return RevManFile(
            source=self.source,
            flavour="csv",
            title=self.path.stem,
            revman_version="5 (CSV export)",
            studies=tuple(studies.values()),
            outcomes=tuple(built),
            skipped=tuple(self.skipped),
        )

    def stored(self, row: list[str], keys) -> MappingProxyType:
        return MappingProxyType({k: self.cell(row, k) for k in keys if self.cell(row, k)})

    def outcome_row(self, row, number, comp, out, name, dtype, comparisons) -> dict:
        kind = _TYPES.get(dtype.upper())
        if kind is None:
            self.skipped.append(
                f"outcome {comp}.{out} {name} (row {number}): data type '{dtype}' is not imported"
            )
        method_text = self.cell(row, "method")
        method = _METHODS.get(method_text.upper())
        if kind is not None and method is None:
            raise self.fail(
                f"statistical method '{method_text}' is not one RevMan uses", number, "Statistical Method"
            )
        measure = self.cell(row, "measure")
        measure = _MEASURE_NAMES.get(
            measure.upper(), measure.upper() if kind in ("DICH", "CONT") else measure
        )
        model = self.cell(row, "model").lower()
        if kind is not None and model not in ("fixed", "random"):
            raise self.fail(f"analysis model '{model}' is neither Fixed nor Random", number, "Analysis Model")

        def level(key):
            text = self.cell(row, key).rstrip("%") or "95"
            try:
                value = float(text)
            except ValueError:
                raise self.fail(f"'{text}' is not a confidence level in percent", number, key) from None
            if not 50 < value < 100:
                raise self.fail(f"{text} is not a confidence level between 50 and 100", number, key)
            return value

        return {
            "comparison": comp,
            "no": out,
            "row": number,
            "kind": kind,
            "name": name,
            "comparison_name": comparisons.get(comp, ""),
            "method": method,
            "measure": measure,
            "random": model == "random",
            "ci_study": level("ci_study"),
            "ci_total": level("ci_total"),
            "totals": (self.cell(row, "totals") or "YES").upper(),
            "swap": self.cell(row, "swap").upper() == "YES",
            "log": self.cell(row, "log").upper() == "YES",
            "labels": tuple(self.cell(row, k) for k in ("group1", "group2", "graph1", "graph2")),
            "stored": self.stored(row, _POOLED + _TEST),
            "subgroups": [],
            "subgroup_numbers": [],
            "data": [],
        }

    def finish(self, item: dict) -> RevManOutcome:
        kind = item["kind"]
        data = []
        for number, row, sub, name in item["data"]:
            subgroup = None
            if item["subgroups"]:
                if sub not in item["subgroup_numbers"]:
                    raise self.fail(
                        f"subgroup {sub} of outcome {item['comparison']}.{item['no']} has no row", number
                    )
                subgroup = item["subgroup_numbers"].index(sub)
            entered = {}
            if kind == "IV":
                # The export gives RevMan's estimate (natural scale for ratios) and the SE.
                for key in ("EFFECT_SIZE", "SE"):
                    if not self.cell(row, key):
                        raise self.fail("the study's estimate and SE are needed", number, key)
                entered["ESTIMATE_EXPORTED"] = self.cell(row, "EFFECT_SIZE")
                entered["SE"] = self.cell(row, "SE")
            else:
                for key in ENTERED[kind]:
                    text = self.cell(row, key)
                    if not text:
                        raise self.fail(f"the study's {key} is blank", number, key)
                    entered[key] = text
            for key, text in entered.items():
                try:
                    value = float(text.replace(",", ""))
                except ValueError:
                    raise self.fail(f"'{text}' is not a number", number, key) from None
                if not math.isfinite(value):
                    raise self.fail(f"'{text}' is not a finite number", number, key)
                entered[key] = text.replace(",", "")
            stored_keys = ("EFFECT_SIZE", "CI_START", "CI_END", "WEIGHT") + (() if kind == "IV" else ("SE",))
            data.append(
                RevManData(
                    study=name,
                    subgroup=subgroup,
                    entered=MappingProxyType(entered),
                    stored=self.stored(row, stored_keys),
                    where=f"{self.name}: row {number} "
                    f"(outcome {item['comparison']}.{item['no']}, study '{name}')",
                )
            )
        g1, g2, l1, l2 = item["labels"]
        return RevManOutcome(
            comparison_no=str(item["comparison"]),
            comparison_name=item["comparison_name"],
            no=str(item["no"]),
            revman_id="",
            name=item["name"] or f"Outcome {item['comparison']}.{item['no']}",
            kind=kind,
            measure=item["measure"],
            method=item["method"],
            random=item["random"],
            ci_study=item["ci_study"],
            ci_total=item["ci_total"],
            totals=item["totals"],
            has_subgroups=bool(item["subgroups"]),
            subgroup_test=True,
            swap_events=item["swap"],
            log_data=item["log"] if "log" in self.columns else None,
            group_label_1=g1,
            group_label_2=g2,
            graph_label_1=l1,
            graph_label_2=l2,
            units="",
            stored=item["stored"],
            where=f"{self.name}: row {item['row']} (outcome {item['comparison']}.{item['no']})",
            subgroups=tuple(item["subgroups"]),
            data=tuple(data),
        )


def _cp1252_ok(raw: bytes) -> bool:
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def read_revman_csv(path: str | Path) -> RevManFile:
    """Read RevMan's CSV export; malformed files raise InputError naming the file, row and column."""
    return _Reader(Path(path)).read()
