"""``results.xlsx``: the review's analyses as an Excel workbook (openpyxl).

Sheets:

* ``Analyses`` — one row per analysis (analysis set × outcome): the pooled result and the name
  of the sheet that holds its trials;
* one sheet per analysis with results — the trials' effects, confidence limits and weights,
  then the pooled rows of the primary model and of each sensitivity analysis;
* one sheet per network meta-analysis, ``network-<id>`` — effects against the reference, every
  pairwise comparison and the ranking;
* ``Data`` — provenance: every number that entered an analysis, with the file and row it was
  read from, its source (paper, table), whether it was quoted or derived, and the note.

Numbers are numeric cells (ratios on the natural scale, as in ``results.json``), to the 16
significant digits openpyxl writes (Excel shows 15); a missing value is an empty cell. Text
is always a text cell: a study label such as ``=HYPERLINK(...)`` is stored as that string,
never as a formula. The file is byte-reproducible: the same analyses give the same bytes
(:func:`trialsynth.io._atomic.reproducible_zip`).
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

from trialsynth.io._atomic import reproducible_zip, write_bytes_atomic
from trialsynth.io.poolcsv import NUMERIC_COLUMNS

__all__ = ["ANALYSIS_COLUMNS", "DATA_COLUMNS", "STUDY_COLUMNS", "workbook_bytes", "write_workbook"]

#: The pooled result's keys (results.json names) in the Analyses sheet.
_RESULT_KEYS = (
    "estimate",
    "ci_lower",
    "ci_upper",
    "p_value",
    "tau2",
    "i2",
    "q",
    "q_df",
    "q_p_value",
    "pi_lower",
    "pi_upper",
)
ANALYSIS_COLUMNS = (
    "analysis_set",
    "outcome",
    "name",
    "measure",
    "scale",
    "method",
    "hk",
    "k",
    "pooled",
    *_RESULT_KEYS,
    "sheet",
)
STUDY_COLUMNS = (
    "row_type",
    "study",
    "label",
    "model",
    "k",
    "estimate",
    "ci_lower",
    "ci_upper",
    "weight_percent",
    "included",
    "p_value",
    "tau2",
    "i2",
    "note",
)
#: Numeric input columns of the Data sheet: every column poolcsv recognises, in its order.
_INPUT_ORDER = NUMERIC_COLUMNS
DATA_COLUMNS = (
    "analysis_set",
    "outcome",
    "study",
    "label",
    "form",
    *(f"input_{c}" for c in _INPUT_ORDER),
    "kind",
    "source",
    "definition",
    "denominator",
    "note",
    "file",
    "row",
)

#: Columns of a network's sheet: its effects against the reference, every pairwise comparison
#: (the league table) and the ranking. Estimates on the scale of results.json (log for ratios).
NETWORK_COLUMNS = (
    "row_type",
    "treatment_1",
    "treatment_2",
    "scale",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "p_value",
    "p_score",
    "sucra",
    "mean_rank",
)

_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BAD_SHEET = re.compile(r"[\[\]:*?/\\]")


def _value(x: Any) -> Any:
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int | float):
        return float(x) if isinstance(x, float) or not float(x).is_integer() else int(x)
    return str(x)


def _put(ws, row: int, col: int, value: Any) -> None:
    """One cell: numbers as numbers (NaN and ±inf left empty), text always as text."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, float) and not math.isfinite(value):
        return
    value = _value(value)
    if isinstance(value, str):
        value = _ILLEGAL.sub("", value)
        cell.value = value
        cell.data_type = "s"  # never a formula, whatever the text starts with
    else:
        cell.value = value


def _table(ws, columns, rows) -> None:
    from openpyxl.styles import Font

    for j, name in enumerate(columns, start=1):
        _put(ws, 1, j, name)
        ws.cell(row=1, column=j).font = Font(bold=True)
    for i, row in enumerate(rows, start=2):
        for j, name in enumerate(columns, start=1):
            _put(ws, i, j, row.get(name))
    ws.freeze_panes = "A2"


def _sheet_name(entry: dict[str, Any], used: set[str]) -> str:
    base = _BAD_SHEET.sub("-", f"{entry['analysis_set']}-{entry['outcome']}")[:31]
    name, n = base, 2
    while name.casefold() in used or name.casefold() in {"analyses", "data"}:
        suffix = f"-{n}"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.casefold())
    return name


def _pooled_row(kind: str, model: str, res: dict[str, Any]) -> dict[str, Any]:
    return {
        "row_type": kind,
        "label": "Pooled" if res["pooled"] else "Single trial (not pooled)",
        "model": model,
        "k": res["k"],
        "estimate": res["estimate"],
        "ci_lower": res["ci_lower"],
        "ci_upper": res["ci_upper"],
        "p_value": res["p_value"],
        "tau2": res["tau2"],
        "i2": res["i2"],
        "note": "; ".join(res["notes"]),
    }


def _model(method: str, hk: bool) -> str:
    return method + (" + HK" if hk else "")


def _data_rows(analysis, doc) -> list[dict[str, Any]]:
    review = analysis.review
    labels = {s.id: s.label for s in review.studies}
    source_file = Path(review.files.get("outcomes.csv", "outcomes.csv")).name
    rows = []
    for oa in analysis.outcomes:
        if oa.data is None:
            continue
        by_study = {r.study: r for r in oa.used_rows}
        for i, sid in enumerate(oa.data.labels):
            used = by_study[sid] if getattr(oa, "multilevel", None) is None else oa.used_rows[i]
            row = {
                "analysis_set": oa.analysis_set,
                "outcome": oa.outcome.id,
                "study": sid,
                "label": labels.get(sid, sid),
                "form": oa.data.kinds[i],
                "kind": used.kind,
                "source": used.source,
                "definition": used.definition,
                "denominator": used.denominator,
                "note": used.note,
                "file": source_file,
                "row": used.row,
            }
            for c in _INPUT_ORDER:
                if c in oa.data.values:
                    x = float(oa.data.values[c][i])
                    if math.isfinite(x):
                        row[f"input_{c}"] = x
            rows.append(row)
    return rows


def _network_rows(net: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("estimate", "se", "ci_lower", "ci_upper", "p_value")
    rows = [
        {
            "row_type": "effect",
            "treatment_1": e["treatment"],
            "treatment_2": net["reference"],
            "scale": net["scale"],
            **{k: e[k] for k in keys},
        }
        for e in net["effects"]
    ]
    rows += [
        {
            "row_type": "comparison",
            "scale": net["scale"],
            **{k: c[k] for k in ("treatment_1", "treatment_2", *keys)},
        }
        for c in net["league_table"]
    ]
    rows += [
        {
            "row_type": "rank",
            "treatment_1": r["treatment"],
            **{k: r[k] for k in ("p_score", "sucra", "mean_rank")},
        }
        for r in net["ranking"]["treatments"]
    ]
    return rows


def workbook_bytes(analysis, doc: dict[str, Any]) -> bytes:
    """The workbook of a review's analyses (``doc`` is its ``results.json`` document)."""
    from openpyxl import Workbook

    wb = Workbook()
    index = wb.worksheets[0]  # the sheet a new workbook opens with (wb.active, typed as optional)
    index.title = "Analyses"
    used: set[str] = set()
    index_rows = []
    for entry in doc["outcomes"]:
        res = entry.get("result")
        row = {
            "analysis_set": entry["analysis_set"],
            "outcome": entry["outcome"],
            "name": entry["name"],
            "measure": entry["measure"],
            "scale": entry["scale"],
            "method": entry["model"]["method"],
            "hk": entry["model"]["hk"],
            "k": entry["k"],
            "pooled": entry["pooled"],
        }
        if res is not None:
            row.update({c: res[c] for c in _RESULT_KEYS})
            name = row["sheet"] = _sheet_name(entry, used)
            ws = wb.create_sheet(name)
            model = _model(entry["model"]["method"], entry["model"]["hk"])
            rows = [
                {
                    "row_type": "study",
                    "model": model,
                    **{
                        k: s[k]
                        for k in ("study", "label", "estimate", "ci_lower", "ci_upper", "included", "note")
                    },
                    "weight_percent": s["weight"],
                }
                for s in res["studies"]
            ]
            rows.append(_pooled_row("pooled", model, res))
            rows += [
                _pooled_row("sensitivity", _model(s["method"], s["hk"]), s) for s in entry["sensitivity"]
            ]
            _table(ws, STUDY_COLUMNS, rows)
        index_rows.append(row)
    _table(index, ANALYSIS_COLUMNS, index_rows)
    for net in doc.get("networks", []):
        _table(
            wb.create_sheet(_sheet_name({"analysis_set": "network", "outcome": net["id"]}, used)),
            NETWORK_COLUMNS,
            _network_rows(net),
        )
    _table(wb.create_sheet("Data"), DATA_COLUMNS, _data_rows(analysis, doc))
    wb.properties.creator = doc["generator"]
    wb.properties.title = doc["title"]
    buffer = io.BytesIO()
    wb.save(buffer)
    return reproducible_zip(buffer.getvalue())


def write_workbook(analysis, doc: dict[str, Any], path: str | Path) -> Path:
    """Write ``results.xlsx`` atomically; returns its path."""
    return write_bytes_atomic(path, workbook_bytes(analysis, doc))
