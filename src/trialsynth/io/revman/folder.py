"""Turn a :class:`~trialsynth.io.revman.model.RevManFile` into a review folder (examples/FORMAT.md).

The folder gets ``review.toml`` (profile ``revman``; per outcome the measure, model and
labels RevMan used), ``studies.csv``, ``outcomes.csv`` (every number with its source: the
file and the element or row it came from), ``reported.csv`` (RevMan's pooled results, for the
report's comparison), ``revman_stored.csv`` (every result RevMan stored, which ``trialsynth
run`` compares with its own in ``revman_comparison.csv``) and a ``README.md``.

Mapping of RevMan's analysis settings to models: Mantel–Haenszel fixed → ``MH``;
Mantel–Haenszel random → ``DL`` (the ``revman`` profile takes τ² from Q around the MH
estimate, as RevMan does); Peto → ``PETO``; inverse variance fixed → ``FE``, random → ``DL``
(RevMan 5's only τ² estimator is DerSimonian–Laird). O − E and variance outcomes are pooled
by RevMan with Peto's method, Σ(O − E)/ΣV with variance 1/ΣV, which is the fixed-effect
inverse-variance pool of (O − E)/V with variances 1/V: ``FE``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
from collections import Counter
from pathlib import Path

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.atomic import replace_file, replace_folder
from trialsynth.io.poolcsv import NUMERIC_COLUMNS
from trialsynth.io.revman.model import RevManData, RevManFile, RevManOutcome, RevManStudy
from trialsynth.io.revman.rm5 import decode_id

#: The files an import writes (and, with ``force``, replaces).
FILES = ("review.toml", "studies.csv", "outcomes.csv", "reported.csv", "revman_stored.csv", "README.md")
SUBGROUP_COLUMN = "revman_subgroup"
#: Written in the note of an outcome whose RevMan analysis shows subtotals only (TOTALS = SUB):
#: RevMan's study weights are then percentages of the subgroup, not of the whole analysis.
SUBTOTALS_ONLY = "RevMan TOTALS = SUB"

_OUTCOME_COLUMNS = (
    "outcome",
    "study",
    "use",
    "kind",
    "source",
    "note",
    SUBGROUP_COLUMN,
    *NUMERIC_COLUMNS,  # those no row fills are left out when the file is written
)
_STUDY_COLUMNS = (
    "id",
    "label",
    "citation",
    "year",
    "source",
    "kind",
    "note",
    "revman_id",
    "revman_year",
    "data_source",
    SUBGROUP_COLUMN,
)
STORED_COLUMNS = (
    "outcome",
    "level",
    "subgroup",
    "study",
    "statistic",
    "value",
    "ci_level",
    "precision",
    "source",
)


def _measure_from_name(name: str) -> str | None:
    """Our measure for a generic inverse variance / O − E outcome's measure name."""
    text = name.upper()
    if text in ("OR", "RR", "RD", "MD", "SMD", "HR"):
        return text
    if "HAZARD" in text:
        return "HR"
    if "ODDS" in text:
        return "OR"
    if "RISK RATIO" in text or "RELATIVE RISK" in text:
        return "RR"
    if "RISK DIFF" in text:
        return "RD"
    if "STD" in text or "STANDARDI" in text:
        return "SMD"
    if "MEAN DIFF" in text:
        return "MD"
    return None


class _Spec:
    """How one RevMan outcome maps to our outcome: data type, measure, model, form."""

    def __init__(self, o: RevManOutcome, flavour: str) -> None:
        self.outcome = o
        self.problem = ""
        method = "DL" if o.random else "FE"
        self.form = o.kind
        if o.kind == "DICH":
            self.data_type = "binary"
            self.measure = "OR" if o.measure == "PETO_OR" else o.measure
            if o.method == "PETO" or o.measure == "PETO_OR":
                if o.method != "PETO" or o.measure != "PETO_OR":
                    self.problem = (
                        f"METHOD {o.method} with EFFECT_MEASURE {o.measure} is not a RevMan analysis"
                    )
                method = "PETO"
            elif o.method == "MH":
                method = "DL" if o.random else "MH"
        elif o.kind == "CONT":
            self.data_type = "continuous"
            self.measure = o.measure
        else:
            measure = _measure_from_name(o.measure)
            self.measure = measure or ""
            ratio = measure in ("OR", "RR", "HR")
            if measure is None:
                self.problem = (
                    f"the effect measure '{o.measure}' is not one trialsynth pools (OR, RR, RD, MD, SMD, HR)"
                )
            elif o.kind == "IV":
                self.data_type = "generic"
                # RevMan takes the generic estimates of ratios on the log scale; a file that
                # says otherwise describes an analysis trialsynth cannot repeat.
                if flavour == "rm5" and o.log_data is not None and ratio != o.log_data:
                    scale = "on" if o.log_data else "not on"
                    self.problem = f"effect measure '{o.measure}' with data {scale} the log scale"
                self.form = "IV_LOG" if ratio else "IV_DIFF"
            else:  # IPD: O − E and variance
                if measure == "HR":
                    self.data_type, self.form = "time_to_event", "IPD_HR"
                elif measure == "OR":
                    self.data_type, self.form = "generic", "IPD_OR"
                else:
                    self.problem = f"O − E and variance data with effect measure '{o.measure}'"
        if o.random and method == "PETO":
            warnings.warn(
                f"outcome {o.number}: RevMan marks a Peto analysis as random effects; Peto is a fixed-effect "
                "method, so the Peto fixed-effect analysis is imported",
                TrialsynthWarning,
                stacklevel=3,
            )
        self.method = method

    def model_assumption(self) -> str:
        o = self.outcome
        setting = f"METHOD {o.method}, {'random' if o.random else 'fixed'} effect"
        text = f"As set in the RevMan file ({setting}; {o.where})."
        if self.method == "DL" and o.method == "MH":
            text += " RevMan's Mantel–Haenszel random effects: DerSimonian–Laird τ² from Q around the MH"
            text += " estimate."
        elif self.method == "DL":
            text += " RevMan 5 estimates τ² by DerSimonian–Laird."
        if o.kind == "IPD":
            text += " RevMan pools O − E and V by Peto's method, the same as inverse-variance pooling"
            text += " of (O − E)/V."
        return text


def _better(o: RevManOutcome) -> tuple[str, str]:
    """``better`` and its basis, read from the forest-plot labels (RevMan does not store it)."""
    left, right = o.graph_label_1.lower(), o.graph_label_2.lower()
    g1, g2 = o.group_label_1.lower(), o.group_label_2.lower()

    def names_treatment(label):
        return any(w in label for w in ("experimental", "treatment", "intervention")) or bool(
            g1 and g1 in label
        )

    def names_control(label):
        return "control" in label or bool(g2 and g2 in label)

    if names_control(left) and not names_treatment(left) and names_treatment(right):
        return "higher", f"the left forest-plot label '{o.graph_label_1}'"
    if names_treatment(left):
        return "lower", f"the left forest-plot label '{o.graph_label_1}'"
    return "lower", "RevMan's default forest plot (experimental favoured on the left); the labels do not say"


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-")
    return slug or "study"


def _year(study, source: str) -> str:
    for text in (study.year, study.name):
        match = re.search(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)", text)
        if match:
            return match.group(1)
    raise InputError(
        f"study '{study.name}' has no year (YEAR is '{study.year}'); "
        "a review folder needs one for every study",
        file=source,
    )


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def _num(text: str) -> float:
    return float(text)


class _Writer:
    def __init__(self, rm: RevManFile) -> None:
        self.rm = rm
        self.name = Path(rm.source).name
        self.skipped = list(rm.skipped)
        self.specs: list[_Spec] = []
        for o in rm.outcomes:
            spec = _Spec(o, rm.flavour)
            if spec.problem:
                self.skipped.append(f"outcome {o.number} {o.name} ({o.where}): {spec.problem}")
                warnings.warn(
                    f"{rm.source}: outcome {o.number} not imported: {spec.problem}",
                    TrialsynthWarning,
                    stacklevel=3,
                )
                continue
            self.specs.append(spec)
        if not self.specs:
            raise InputError(
                "no outcome of the file can be imported: " + "; ".join(self.skipped), file=rm.source
            )
        self.study_ids = self._study_ids()
        self.entries = self._entries()

    # ------------------------------------------------------------------ studies
    def _study_ids(self) -> dict[str, str]:
        ids: dict[str, str] = {}
        used: set[str] = {"pooled"}
        for study in self.rm.studies:
            key = decode_id(study.key.removeprefix("STD-")) if self.rm.flavour == "rm5" else study.name
            base = _slug(key)
            candidate, n = base, 1
            while candidate.casefold() in used:
                n += 1
                candidate = f"{base}_{n}"
            used.add(candidate.casefold())
            ids[study.key] = candidate
        self.used_ids = used
        return ids

    def _entries(self) -> dict[tuple[str, int], tuple[str, RevManData]]:
        """(outcome number, index of the data row) -> (our study id, data). A study that
        appears more than once in one analysis (RevMan allows it, e.g. once per subgroup)
        gets an extra study entry per repeat, so each enters the analysis once."""
        out: dict[tuple[str, int], tuple[str, RevManData]] = {}
        self.extra: list[tuple[str, str, RevManStudy, str]] = []  # (id, label, study, outcome number)
        for spec in self.specs:
            o = spec.outcome
            seen: Counter[str] = Counter()
            for i, item in enumerate(o.data):
                seen[item.study] += 1
                sid = self.study_ids[item.study]
                if seen[item.study] > 1:
                    base = f"{sid}.{o.number}.{seen[item.study]}"
                    sid = base
                    while sid.casefold() in self.used_ids:
                        sid += "_"
                    self.used_ids.add(sid.casefold())
                    study = next(s for s in self.rm.studies if s.key == item.study)
                    self.extra.append(
                        (sid, f"{study.name} (entry {seen[item.study]} in {o.number})", study, o.number)
                    )
                out[(o.number, i)] = (sid, item)
        return out

    def studies_rows(self) -> list[dict[str, str]]:
        rows = []
        labels: Counter[str] = Counter(s.name for s in self.rm.studies)
        for study in self.rm.studies:
            year = _year(study, self.rm.source)
            label = study.name if labels[study.name] == 1 else f"{study.name} ({study.key})"
            rows.append(
                {
                    "id": self.study_ids[study.key],
                    "label": label,
                    "citation": f"{study.name} {study.year}".strip() + f" (as named in {self.name})",
                    "year": year,
                    "source": study.where,
                    "kind": "quoted",
                    "note": "" if year == study.year else f"year taken from '{study.year or study.name}'",
                    "revman_id": study.key,
                    "revman_year": study.year,
                    "data_source": study.data_source,
                    SUBGROUP_COLUMN: "",
                }
            )
        for sid, label, study, number in self.extra:
            rows.append(
                {
                    "id": sid,
                    "label": label,
                    "citation": f"{study.name} {study.year}".strip() + f" (as named in {self.name})",
                    "year": _year(study, self.rm.source),
                    "source": study.where,
                    "kind": "quoted",
                    "note": f"a further entry of study '{study.name}' in RevMan analysis {number} "
                    "(RevMan lets a "
                    "study appear more than once in an analysis, e.g. in two subgroups); it exists for that "
                    "analysis only",
                    "revman_id": study.key,
                    "revman_year": study.year,
                    "data_source": study.data_source,
                    SUBGROUP_COLUMN: "",
                }
            )
        return rows

    # ------------------------------------------------------------------ outcomes.csv
    def outcome_rows(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        all_ids = [self.study_ids[s.key] for s in self.rm.studies] + [e[0] for e in self.extra]
        for spec in self.specs:
            o = spec.outcome
            present = set()
            for i, _ in enumerate(o.data):
                sid, item = self.entries[(o.number, i)]
                present.add(sid)
                subgroup = o.subgroups[item.subgroup].name if item.subgroup is not None else ""
                rows += self._data_rows(spec, sid, item, subgroup)
            for sid in all_ids:
                if sid not in present:
                    rows.append(
                        {
                            "outcome": o.number,
                            "study": sid,
                            "use": "no",
                            "note": f"not in RevMan analysis {o.number} of {self.name} "
                            "(the file holds no data there)",
                        }
                    )
        return rows

    def _data_rows(self, spec: _Spec, sid: str, item: RevManData, subgroup: str) -> list[dict[str, str]]:
        rows = self._entered_rows(spec, sid, item, subgroup)
        o = spec.outcome
        if spec.form == "DICH" and o.method == "IV" and o.random:
            rows = _inverse_variance_rows(rows, spec.measure)
        return rows

    def _entered_rows(self, spec: _Spec, sid: str, item: RevManData, subgroup: str) -> list[dict[str, str]]:
        o, e = spec.outcome, item.entered
        base = {"outcome": o.number, "study": sid, "source": item.where, SUBGROUP_COLUMN: subgroup}
        fail = _DataError(self.rm.source, item, o)
        if spec.form == "DICH":
            values = {k: e[k] for k in ("EVENTS_1", "TOTAL_1", "EVENTS_2", "TOTAL_2")}
            counts = {k: fail.whole(k, v) for k, v in values.items()}
            for arm in ("1", "2"):
                if counts[f"EVENTS_{arm}"] > counts[f"TOTAL_{arm}"]:
                    raise fail(
                        f"EVENTS_{arm} ({values[f'EVENTS_{arm}']}) is above "
                        f"TOTAL_{arm} ({values[f'TOTAL_{arm}']})"
                    )
            quoted = {
                "events_treatment": values["EVENTS_1"],
                "n_treatment": values["TOTAL_1"],
                "events_control": values["EVENTS_2"],
                "n_control": values["TOTAL_2"],
            }
            if counts["TOTAL_1"] == 0 or counts["TOTAL_2"] == 0:
                return [
                    {
                        **base,
                        **quoted,
                        "use": "no",
                        "kind": "quoted",
                        "note": _NOT_ESTIMABLE + "no participants in an arm",
                    }
                ]
            if o.swap_events:
                derived = {
                    **quoted,
                    "events_treatment": str(counts["TOTAL_1"] - counts["EVENTS_1"]),
                    "events_control": str(counts["TOTAL_2"] - counts["EVENTS_2"]),
                }
                note = (
                    "RevMan analyses non-events (SWAP_EVENTS): events = TOTAL − EVENTS: "
                    f"{values['TOTAL_1']} − {values['EVENTS_1']} and "
                    f"{values['TOTAL_2']} − {values['EVENTS_2']}"
                )
                return [
                    {**base, **quoted, "use": "no", "kind": "quoted", "note": "events as entered in RevMan"},
                    {**base, **derived, "use": "yes", "kind": "derived", "note": note},
                ]
            return [{**base, **quoted, "use": "yes", "kind": "quoted", "note": ""}]
        if spec.form == "CONT":
            quoted = {
                "mean_treatment": e["MEAN_1"],
                "sd_treatment": e["SD_1"],
                "n_treatment": e["TOTAL_1"],
                "mean_control": e["MEAN_2"],
                "sd_control": e["SD_2"],
                "n_control": e["TOTAL_2"],
            }
            n1, n2 = fail.whole("TOTAL_1", e["TOTAL_1"]), fail.whole("TOTAL_2", e["TOTAL_2"])
            sd1, sd2 = _num(e["SD_1"]), _num(e["SD_2"])
            if sd1 < 0 or sd2 < 0:
                raise fail("a standard deviation is negative")
            if n1 == 0 or n2 == 0 or sd1 == 0 or sd2 == 0:
                why = "no participants in an arm" if n1 == 0 or n2 == 0 else "an SD of zero"
                return [{**base, **quoted, "use": "no", "kind": "quoted", "note": _NOT_ESTIMABLE + why}]
            return [{**base, **quoted, "use": "yes", "kind": "quoted", "note": ""}]
        if spec.form in ("IV_LOG", "IV_DIFF"):
            se = e["SE"]
            if _num(se) <= 0:
                return [
                    {
                        **base,
                        "se": se,
                        "use": "no",
                        "kind": "quoted",
                        "note": _NOT_ESTIMABLE + "SE not above 0",
                    }
                ]
            if "ESTIMATE" in e:  # .rm5: the estimate as entered, on the analysis scale
                column = "log_estimate" if spec.form == "IV_LOG" else "estimate"
                return [{**base, column: e["ESTIMATE"], "se": se, "use": "yes", "kind": "quoted", "note": ""}]
            exported = e["ESTIMATE_EXPORTED"]  # CSV export: RevMan's estimate, natural scale
            if spec.form == "IV_DIFF":
                return [{**base, "estimate": exported, "se": se, "use": "yes", "kind": "quoted", "note": ""}]
            if _num(exported) <= 0:
                raise fail(f"the ratio estimate {exported} is not above 0")
            log = repr(math.log(_num(exported)))
            note = f"log_estimate = ln({exported}) (the export gives the ratio; RevMan pools its log)"
            return [{**base, "log_estimate": log, "se": se, "use": "yes", "kind": "derived", "note": note}]
        # O − E and variance
        ome, var = e["O_E"], e["VAR"]
        if _num(var) <= 0:
            return [
                {
                    **base,
                    "o_minus_e": ome,
                    "v": var,
                    "use": "no",
                    "kind": "quoted",
                    "note": _NOT_ESTIMABLE + "V not above 0",
                }
            ]
        if spec.form == "IPD_HR":
            return [{**base, "o_minus_e": ome, "v": var, "use": "yes", "kind": "quoted", "note": ""}]
        log = repr(_num(ome) / _num(var))
        se = repr(1.0 / math.sqrt(_num(var)))
        note = f"Peto log odds ratio = (O − E)/V = {ome}/{var}; SE = 1/√V"
        return [
            {
                **base,
                "o_minus_e": ome,
                "v": var,
                "use": "no",
                "kind": "quoted",
                "note": "O − E and V as entered in RevMan",
            },
            {**base, "log_estimate": log, "se": se, "use": "yes", "kind": "derived", "note": note},
        ]

    # ------------------------------------------------------------------ RevMan's results
    def stored_rows(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        precision = self.rm.precision
        for spec in self.specs:
            o = spec.outcome
            for key, value in o.stored.items():
                if not value:
                    continue
                test = key in ("Q", "P_Q", "I2_Q")
                if test and not (o.has_subgroups and o.subgroup_test):
                    continue  # RevMan writes 0 when there is no subgroup test
                rows.append(
                    {
                        "outcome": o.number,
                        "level": "subgroup_test" if test else "total",
                        "statistic": key,
                        "value": value,
                        "ci_level": f"{o.ci_total:g}",
                        "precision": precision,
                        "source": o.where,
                    }
                )
            for sub in o.subgroups:
                for key, value in sub.stored.items():
                    if value:
                        rows.append(
                            {
                                "outcome": o.number,
                                "level": "subgroup",
                                "subgroup": sub.name,
                                "statistic": key,
                                "value": value,
                                "ci_level": f"{o.ci_total:g}",
                                "precision": precision,
                                "source": sub.where,
                            }
                        )
            for i, _ in enumerate(o.data):
                sid, item = self.entries[(o.number, i)]
                for key, value in item.stored.items():
                    if value:
                        rows.append(
                            {
                                "outcome": o.number,
                                "level": "study",
                                "subgroup": "" if item.subgroup is None else o.subgroups[item.subgroup].name,
                                "study": sid,
                                "statistic": key,
                                "value": value,
                                "ci_level": f"{o.ci_study:g}",
                                "precision": precision,
                                "source": item.where,
                            }
                        )
        return rows

    def reported_rows(self) -> list[dict[str, str]]:
        rows = []
        for spec in self.specs:
            o, s = spec.outcome, spec.outcome.stored
            if not s.get("EFFECT_SIZE"):
                continue
            rows.append(
                {
                    "outcome": o.number,
                    "estimate": s.get("EFFECT_SIZE", ""),
                    "ci_lower": s.get("CI_START", ""),
                    "ci_upper": s.get("CI_END", ""),
                    "p_value": s.get("P_Z", ""),
                    "source": f"RevMan's own result stored in {o.where}",
                    "k": str(len(o.data)),
                    "note": f"{o.ci_total:g}% confidence interval; computed by RevMan "
                    f"{self.rm.revman_version}".strip(),
                }
            )
        return rows

    # ------------------------------------------------------------------ review.toml
    def toml(self) -> str:
        first = self.specs[0].outcome
        levels = Counter(s.outcome.ci_total for s in self.specs)
        level = levels.most_common(1)[0][0]
        lines = [
            f"# Imported from {self.name} by `trialsynth revman import`. Format: examples/FORMAT.md.",
            "",
            "[review]",
            f"title = {_q(self.rm.title)}",
            f"summary = {_q(self._summary())}",
            "",
            "[review.question]",
            f"population = {_q('not recorded in the analyses of ' + self.name + ' (see the review text)')}",
            f"intervention = {_q(first.group_label_1 or 'experimental (RevMan group 1)')}",
            f"comparator = {_q(first.group_label_2 or 'control (RevMan group 2)')}",
            f"outcomes = {_q('; '.join(f'{s.outcome.number} {s.outcome.name}' for s in self.specs))}",
            "",
            "[search]",
            f"note = {_q('The search is described in the RevMan review, not imported here.')}",
            "",
            "[analysis]",
            'profile = "revman"',
            f"level = {level:g}",
            "",
        ]
        for spec in self.specs:
            o = spec.outcome
            better, basis = _better(o)
            left, right = o.graph_label_1, o.graph_label_2
            favour_t, favour_c = (left, right) if better == "lower" else (right, left)
            notes = [f"RevMan comparison {o.comparison_no} ({o.comparison_name}), outcome {o.number}"]
            if o.revman_id:
                notes[0] += f" ({o.revman_id})"
            notes.append(f"arms: {o.group_label_1 or 'group 1'} vs {o.group_label_2 or 'group 2'}")
            notes.append(f"better = {better}: from {basis}")
            if o.ci_study != o.ci_total:
                notes.append(f"RevMan shows study CIs at {o.ci_study:g}% and the total at {o.ci_total:g}%")
            if o.totals != "YES":
                notes.append(
                    f"RevMan TOTALS = {o.totals} "  # SUBTOTALS_ONLY when SUB
                    f"(it shows {'subtotals only' if o.totals == 'SUB' else 'no totals'})"
                )
            if o.has_subgroups and not o.subgroup_test:
                notes.append("RevMan does not show the test for subgroup differences")
            if o.kind in ("IV", "IPD"):
                notes.append(f"RevMan effect measure: {o.measure}")
            lines += [
                "[[outcomes]]",
                f"id = {_q(o.number)}",
                f"name = {_q(o.name)}",
                f"data_type = {_q(spec.data_type)}",
                f"measure = {_q(spec.measure)}",
                f"better = {_q(better)}",
            ]
            if o.units:
                lines.append(f"unit = {_q(o.units)}")
            if favour_t:
                lines.append(f"label_treatment = {_q(favour_t)}")
            if favour_c:
                lines.append(f"label_control = {_q(favour_c)}")
            if o.ci_total != level:
                lines.append(f"level = {o.ci_total:g}")
            lines.append(
                f"model = {{ method = {_q(spec.method)}, hk = false, "
                f"assumption = {_q(spec.model_assumption())} }}"
            )
            lines.append(f"note = {_q('; '.join(notes) + '.')}")
            lines.append("")
        if any(s.outcome.has_subgroups for s in self.specs):
            lines += [
                "[[subgroups]]",
                f"column = {_q(SUBGROUP_COLUMN)}",
                'name = "RevMan subgroups"',
                "description = "
                + _q(f"The subgroups of each RevMan analysis (outcomes.csv, column {SUBGROUP_COLUMN})."),
                "",
            ]
        return "\n".join(lines)

    def _summary(self) -> str:
        version = f" (RevMan {self.rm.revman_version})" if self.rm.revman_version else ""
        text = (
            f"Imported from the RevMan file {self.name}{version}: {len(self.specs)} analyses and "
            f"{len(self.rm.studies)} studies, with RevMan's conventions (profile revman)."
        )
        if self.skipped:
            text += f" Not imported: {'; '.join(self.skipped)}."
        return text

    def readme(self) -> str:
        lines = [
            f"# {self.rm.title}",
            "",
            f"Imported from `{self.name}` by `trialsynth revman import`;",
            "run it with `trialsynth run <this folder>`.",
            "",
            "- `review.toml`, `studies.csv`, `outcomes.csv`: the analyses, studies and data; every number's",
            "  `source` names the file and the element (line) or row it came from.",
            "- `reported.csv`: RevMan's own pooled results, shown beside ours in the report.",
            "- `revman_stored.csv`: every result RevMan stored; `trialsynth run` writes",
            "  `revman_comparison.csv` comparing each with ours.",
            "",
        ]
        empty = [s.outcome for s in self.specs if not s.outcome.stored.get("EFFECT_SIZE")]
        for o in empty:
            lines.append(
                f"Analysis {o.number} ({o.name}): the file stores no RevMan results (no effect estimates) "
                "to compare with."
            )
        if self.skipped:
            lines += ["", "Not imported:", ""] + [f"- {s}" for s in self.skipped]
        return "\n".join(lines) + "\n"


_NOT_ESTIMABLE = "not estimable in RevMan and not pooled: "


def _inverse_variance_rows(rows: list[dict[str, str]], measure: str) -> list[dict[str, str]]:
    """RevMan's inverse-variance random effects on dichotomous data: τ² is DerSimonian–Laird
    from Q around the inverse-variance estimate (Deeks & Higgins 2010, section 3.3.3), not
    around the Mantel–Haenszel one as for RevMan's M-H random effects, which is what the
    revman profile does with ``DL`` on 2×2 counts. So the used count row is kept for the record
    (``use = no``) and a derived row carries the study's effect and SE computed from the counts
    as RevMan does (log scale for OR and RR; 0.5 added to every cell of a table with a zero cell;
    a table without events, or only events, in both arms not estimable for OR and RR)."""
    from trialsynth.stats.effects import binary_effects

    out = []
    for row in rows:
        if row.get("use") != "yes":
            out.append(row)
            continue
        counts = [float(row[c]) for c in ("events_treatment", "n_treatment", "events_control", "n_control")]
        a, n1, c, n2 = ([x] for x in counts)
        eff = binary_effects(a, n1, c, n2, measure, add=0.5, to="only0")
        note = (row["note"] + "; " if row["note"] else "") + "counts as used below"
        kept = {**row, "use": "no", "note": note}
        out.append(kept)
        base = {k: row[k] for k in ("outcome", "study", "source", SUBGROUP_COLUMN) if k in row}
        if eff.dropped[0]:
            why = _NOT_ESTIMABLE + "no events in both arms"
            out.append({**base, "use": "no", "kind": "quoted", "note": why})
            continue
        column = "estimate" if measure == "RD" else "log_estimate"
        name = {"OR": "log odds ratio", "RR": "log risk ratio", "RD": "risk difference"}[measure]
        note = (
            f"RevMan inverse-variance random effects: {name} and its SE from the counts "
            f"{row['events_treatment']}/{row['n_treatment']} vs {row['events_control']}/{row['n_control']}"
            + ("; 0.5 added to every cell (zero cell)" if eff.corrected[0] else "")
        )
        out.append(
            {
                **base,
                column: repr(float(eff.yi[0])),
                "se": repr(math.sqrt(float(eff.vi[0]))),
                "use": "yes",
                "kind": "derived",
                "note": note,
            }
        )
    return out


class _DataError:
    def __init__(self, source: str, item: RevManData, outcome: RevManOutcome) -> None:
        self.source, self.item, self.outcome = source, item, outcome

    def __call__(self, message: str) -> InputError:
        return InputError(f"{self.item.where}: {message}", file=self.source)

    def whole(self, name: str, text: str) -> int:
        value = float(text)
        if value < 0 or value != int(value):
            raise self(f"{name} is '{text}', not a whole number of participants or events")
        return int(value)


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return buffer.getvalue()


def write_review(rm: RevManFile, out: str | Path, *, force: bool = False) -> Path:
    """Write ``rm`` as a review folder ``out``. A folder that exists and is not empty is
    refused unless ``force`` (then the import's own files in it are replaced)."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError("the output exists and is not a folder", file=str(folder))
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise InputError(
            "the output folder exists and is not empty (use --force to replace the import in it)",
            file=str(folder),
        )
    writer = _Writer(rm)
    toml = writer.toml()
    studies = writer.studies_rows()
    outcomes = writer.outcome_rows()
    stored = writer.stored_rows()
    reported = writer.reported_rows()
    # Data columns that no row fills are left out: an unused column would be reported as a
    # half-filled column set at every run.
    outcome_columns = tuple(
        c for c in _OUTCOME_COLUMNS if c in _OUTCOME_COLUMNS[:6] or any(r.get(c) for r in outcomes)
    )
    study_columns = _STUDY_COLUMNS
    if not any(s.outcome.has_subgroups for s in writer.specs):
        outcome_columns = tuple(c for c in outcome_columns if c != SUBGROUP_COLUMN)
        study_columns = tuple(c for c in study_columns if c != SUBGROUP_COLUMN)
    files = {
        "review.toml": toml,
        "studies.csv": _csv_text(study_columns, studies),
        "outcomes.csv": _csv_text(outcome_columns, outcomes),
        "revman_stored.csv": _csv_text(STORED_COLUMNS, stored),
    }
    if reported:
        files["reported.csv"] = _csv_text(
            ("outcome", "estimate", "ci_lower", "ci_upper", "p_value", "source", "k", "note"), reported
        )
    files["README.md"] = writer.readme()
    if folder.is_dir() and any(folder.iterdir()):
        # --force into a folder with other files (a record store, notes): those stay; the
        # import's files, all prepared above, are each replaced atomically.
        for name in FILES:
            if name not in files:
                (folder / name).unlink(missing_ok=True)
        for name, text in files.items():
            replace_file(folder / name, text)
    else:
        # A new folder appears whole or not at all.
        with replace_folder(folder) as tmp:
            for name, text in files.items():
                replace_file(tmp / name, text)
    return folder
