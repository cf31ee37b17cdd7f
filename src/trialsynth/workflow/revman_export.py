"""A review folder as a RevMan 5 review: the mapping behind ``trialsynth revman export``.

:func:`revman_export` turns an analysed review (:func:`trialsynth.workflow.runner.analyse_review`)
into a :class:`~trialsynth.io.revman.model.RevManFile`, which
:func:`trialsynth.io.revman.rm5write.write_rm5` writes as a ``.rm5`` file. The mapping is the
inverse of the import (:mod:`trialsynth.io.revman.folder`), so that ``trialsynth revman import``
of the file repeats every analysis RevMan 5 can represent with the same numbers.

* Studies: one RevMan ``STUDY`` per study (ID ``STD-`` + the study id, escaped as RevMan does;
  a folder imported from RevMan keeps its ``revman_id``), NAME the label, YEAR the year.
* Analysis sets: one RevMan comparison each (a single set: one comparison; a folder imported
  from RevMan keeps its comparison and outcome numbers).
* Each outcome: one RevMan analysis with the primary model; each sensitivity model that RevMan
  can represent with other settings, a further analysis ("... (sensitivity analysis: ...)");
  the first subgroup analysis inside the outcome's analysis (RevMan's subgroups), further
  subgroup variables as further analyses.
* Data: studies with 2×2 counts (also counts derived from percentages) → dichotomous data
  (``DICH_DATA``); means, SDs and sizes (also derived from SEs, CIs, medians) → continuous data
  (``CONT_DATA``); anything else — or a mixture of forms, or counts and sizes that are not whole
  numbers (cluster-adjusted) — → generic inverse variance (``IV_DATA``: the study's estimate on
  the analysis scale, log for ratios, and its SE, as trialsynth computed them).
* Models: FE → inverse variance fixed; MH → Mantel–Haenszel fixed; PETO → Peto; DL → random
  effects (with the ``revman`` profile and 2×2 counts: Mantel–Haenszel random, whose τ² is
  DerSimonian–Laird from Q around the MH estimate; otherwise inverse variance random).

What RevMan 5 cannot represent is warned about (:class:`TrialsynthWarning`) and listed in
:attr:`RevManExport.not_represented`: τ² estimators other than DerSimonian–Laird (RevMan 5 has
only DL; such a primary model is exported as DL random effects, marked not exact), binomial–normal
models (GLMM), the Hartung–Knapp adjustment, measures other than OR, RR, RD, MD, SMD and HR,
meta-regression (moderators), cumulative and network meta-analysis, trial sequential analysis and
Bayesian analyses.
Under the ``metafor`` profile some analyses follow conventions RevMan does not share (RevMan's
standardised mean difference variance, Mantel–Haenszel risk-difference variance and zero-cell
correction): those are exported with their data, and marked not exact with the reason.
Deeks JJ, Higgins JPT. Statistical algorithms in Review Manager 5. The Cochrane
Collaboration, 2010 (the methods RevMan uses).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.revman.model import RevManData, RevManFile, RevManOutcome, RevManStudy, RevManSubgroup
from trialsynth.io.revman.rm5write import encode_id, write_rm5

_COUNT_KINDS = frozenset({"binary", "binary_percent"})
_MEAN_KINDS = frozenset(
    {"continuous", "continuous_se", "continuous_ci", "continuous_change", "continuous_median"}
)
#: Measures RevMan 5 pools (generic inverse variance: by the names RevMan shows).
IV_MEASURE_NAMES = {
    "OR": "Odds Ratio",
    "RR": "Risk Ratio",
    "RD": "Risk Difference",
    "MD": "Mean Difference",
    "SMD": "Std. Mean Difference",
    "HR": "Hazard Ratio",
}
_RATIOS = ("OR", "RR", "HR")
_METHOD_NAMES = {
    ("MH", False): "Mantel–Haenszel, fixed effect",
    ("MH", True): "Mantel–Haenszel, random effects",
    ("IV", False): "inverse variance, fixed effect",
    ("IV", True): "inverse variance, random effects",
    ("PETO", False): "Peto",
}


@dataclass(frozen=True)
class ExportedAnalysis:
    """One RevMan analysis of the file and the trialsynth analysis it stands for.

    ``number`` is RevMan's (``"1.2"``); ``role`` is ``primary``, ``sensitivity`` or
    ``subgroups``; ``model`` the trialsynth model (method, hk); ``method``/``random`` RevMan's
    settings. ``exact`` is True when RevMan (and trialsynth's import of the file) repeats
    trialsynth's numbers for that model; otherwise ``note`` says what differs.
    """

    number: str
    outcome: str
    analysis_set: str
    role: str
    model: object
    method: str
    random: bool
    subgroup_column: str
    exact: bool
    note: str


@dataclass(frozen=True)
class RevManExport:
    """What :func:`revman_export` made: the RevMan file model, its analyses and what is left out."""

    revman: RevManFile
    analyses: tuple[ExportedAnalysis, ...]
    not_represented: tuple[str, ...]


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(values)) and np.all(values >= 0) and np.all(values == np.round(values)))


def _form(oa, values: dict[str, np.ndarray]) -> str:
    """RevMan data type for an outcome's used rows: DICH, CONT or IV."""
    data, measure = oa.data, oa.outcome.measure
    kinds = set(data.kinds)
    counts = ("events_treatment", "n_treatment", "events_control", "n_control")
    if kinds <= _COUNT_KINDS and measure in ("OR", "RR", "RD") and all(c in values for c in counts):
        if all(_whole(values[c]) for c in counts) and np.all(values["n_treatment"] > 0):
            if np.all(values["n_control"] > 0):
                return "DICH"
    means = ("mean_treatment", "sd_treatment", "n_treatment", "mean_control", "sd_control", "n_control")
    if kinds <= _MEAN_KINDS and measure in ("MD", "SMD") and all(c in values for c in means):
        sizes_ok = _whole(values["n_treatment"]) and _whole(values["n_control"])
        finite = all(np.all(np.isfinite(values[c])) for c in means)
        if sizes_ok and finite:
            return "CONT"
    return "IV"


def _empty_form(outcome) -> str:
    if outcome.data_type == "binary" and outcome.measure in ("OR", "RR", "RD"):
        return "DICH"
    if outcome.data_type == "continuous" and outcome.measure in ("MD", "SMD"):
        return "CONT"
    return "IV"


def _mh_random(oa, profile: str) -> bool:
    """Whether trialsynth's DL on these data is RevMan's Mantel–Haenszel random effects
    (:func:`trialsynth.stats.meta.pool_input`: the revman profile, OR/RR/RD, 2×2 counts)."""
    if profile != "revman" or oa.outcome.measure not in ("OR", "RR", "RD"):
        return False
    return oa.data is None or all(k == "binary" for k in oa.data.kinds)


def _setting(model, form: str, oa, profile: str, values) -> tuple[str, bool, list[str]]:
    """RevMan's (METHOD, RANDOM) for a trialsynth model, and what RevMan cannot repeat."""
    problems = []
    method = model.method
    if model.hk:
        problems.append("the Hartung–Knapp adjustment (RevMan 5 has none: its interval is z-based)")
    if getattr(oa, "multilevel", None) is not None:
        problems.append(
            f"the multilevel model {oa.multilevel.formula} (RevMan 5 has none: its rows are pooled as "
            "independent studies)"
        )
    if method in ("MH", "PETO") and form != "DICH":
        raise InputError(f"outcome '{oa.outcome.id}': method {method} needs 2×2 counts for every study")
    if method == "MH":
        revman = ("MH", False)
    elif method == "PETO":
        revman = ("PETO", False)
    elif method == "FE" or (method == "GLMM" and getattr(model, "fixed", False)):
        revman = ("IV", False)
        if method == "GLMM":
            problems.append(f"the binomial–normal model (GLMM {model.glmm or 'UM.FS'}; RevMan 5 has none)")
    else:
        if method == "GLMM":
            problems.append(f"the binomial–normal model (GLMM {model.glmm or 'UM.FS'}; RevMan 5 has none)")
        elif method != "DL":
            problems.append(f"the {method} estimate of τ² (RevMan 5 estimates τ² by DerSimonian–Laird only)")
        revman = ("MH", True) if form == "DICH" and _mh_random(oa, profile) else ("IV", True)
    if profile != "revman":
        if form == "CONT" and oa.outcome.measure == "SMD":
            problems.append(
                "RevMan's standardised mean difference (Hedges' g with RevMan's variance) differs "
                "from the metafor profile's"
            )
        if revman[0] == "MH" and form == "DICH" and values is not None:
            a, n1 = values["events_treatment"], values["n_treatment"]
            c, n2 = values["events_control"], values["n_control"]
            if oa.outcome.measure == "RD":
                problems.append("RevMan's Mantel–Haenszel risk-difference variance differs from metafor's")
            if np.any((a == 0) | (c == 0) | (a == n1) | (c == n2)):
                problems.append(
                    "RevMan adds 0.5 to the zero cells of Mantel–Haenszel tables; metafor does not"
                )
    return revman[0], revman[1], problems


def _model_name(model) -> str:
    name = model.method
    if model.method == "GLMM":
        name += f" {model.glmm or 'UM.FS'}" + (" fixed" if getattr(model, "fixed", False) else "")
    return name + (" with Hartung–Knapp" if model.hk else "")


def _subgroup_values(review, oa, column: str) -> list[str]:
    """Per pooled study, its subgroup (a filled cell of outcomes.csv overrides the study's)."""
    row_of = {r.study: r for r in oa.used_rows}
    return [row_of[s].get(column).strip() or review.study(s).get(column).strip() for s in oa.data.labels]


def _short(label: str, fallback: str) -> str:
    for prefix in ("Favours ", "favours ", "Favors ", "favors "):
        if label.startswith(prefix) and label[len(prefix) :].strip():
            return label[len(prefix) :].strip()
    return fallback


class _Builder:
    def __init__(self, analysis, *, sensitivity: bool) -> None:
        self.analysis = analysis
        self.review = analysis.review
        self.sensitivity = sensitivity
        self.profile = self.review.analysis.profile
        self.not_represented: list[str] = []
        #: (what, why) -> the outcomes it concerns
        self.left_out: dict[tuple[str, str], list[str]] = {}
        self.exported: list[ExportedAnalysis] = []
        self.keys = self._study_keys()

    # ------------------------------------------------------------------ studies
    def _study_keys(self) -> dict[str, str]:
        keys = {}
        for study in self.review.studies:
            revman_id = study.get("revman_id").strip()
            keys[study.id] = revman_id or "STD-" + encode_id(study.id)
        return keys

    def studies(self) -> tuple[RevManStudy, ...]:
        out: dict[str, RevManStudy] = {}
        for study in self.review.studies:
            key = self.keys[study.id]
            if key in out:
                continue  # a further entry of a study imported from RevMan: one STUDY in the file
            out[key] = RevManStudy(
                key=key,
                name=study.label,
                year=study.get("revman_year").strip() or str(study.year),
                data_source=study.get("data_source").strip() or "PUB",
                where="",
            )
        return tuple(out.values())

    # ------------------------------------------------------------------ numbering
    def _numbering(self) -> dict[tuple[str, str], tuple[str, str, str]]:
        """(set id, outcome id) -> (comparison number, its name, outcome number)."""
        review = self.review
        sets = review.analysis_sets
        q = review.question
        base = f"{q.intervention} versus {q.comparator}"
        pattern = re.compile(r"^(\d+)\.(\d+)$")
        kept = len(sets) == 1 and all(pattern.match(o.id) for o in review.outcomes)
        kept = kept and len({o.id for o in review.outcomes}) == len(review.outcomes)
        out = {}
        for s_index, aset in enumerate(sets, start=1):
            for o_index, outcome in enumerate(review.outcomes, start=1):
                if kept:
                    numbers = pattern.match(outcome.id)  # every id matched: ``kept`` above
                    c_no, o_no = numbers.groups() if numbers else ("", "")
                    found = re.search(rf"RevMan comparison {c_no} \((.*?)\), outcome", outcome.note)
                    name = found.group(1) if found else base
                    out[(aset.id, outcome.id)] = (c_no, name, o_no)
                else:
                    name = base if len(sets) == 1 else f"{base} ({aset.name})"
                    out[(aset.id, outcome.id)] = (str(s_index), name, str(o_index))
        return out

    # ------------------------------------------------------------------ outcomes
    def _outcome_analyses(self, oa, c_no, c_name, o_no, allocate):
        outcome = oa.outcome
        label = f"outcome '{outcome.id}'" + (
            f" (set {oa.analysis_set})" if len(self.review.analysis_sets) > 1 else ""
        )
        if outcome.measure not in IV_MEASURE_NAMES:
            raise _Skip(f"{label}: measure {outcome.measure} (RevMan 5 pools OR, RR, RD, MD, SMD and HR)")
        values = None
        if oa.data is not None:
            from trialsynth.stats.derive_rows import derive_rows

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TrialsynthWarning)  # shown when the review was analysed
                values, _ = derive_rows(oa.data.kinds, oa.data.values, labels=oa.data.labels)
            form = _form(oa, values)
        else:
            form = _empty_form(outcome)
        level = self.review.analysis.level if outcome.level is None else outcome.level
        level = level * 100 if level <= 1 else level
        data = self._data(oa, form, values)
        common = {
            "comparison_no": c_no,
            "comparison_name": c_name,
            "kind": form,
            "ci_study": level,
            "ci_total": level,
            "totals": "YES",
            "swap_events": False,
            "log_data": (outcome.measure in _RATIOS) if form == "IV" else None,
            "units": outcome.unit if form == "CONT" else "",
            "stored": MappingProxyType({}),
            "where": "",
            **self._labels(outcome),
        }
        measure = outcome.measure if form != "IV" else IV_MEASURE_NAMES[outcome.measure]
        subgroup_sets = [] if oa.data is None else [(sub, res) for sub, res in oa.subgroups]

        def make(model, no, name, role, subgroup=None):
            method, random, problems = _setting(model, form, oa, self.profile, values)
            subgroups: tuple[RevManSubgroup, ...] = ()
            items = data
            if subgroup is not None:
                groups = _subgroup_values(self.review, oa, subgroup.column)
                levels = list(dict.fromkeys(groups))
                subgroups = tuple(
                    RevManSubgroup(no=str(i + 1), name=g, stored=MappingProxyType({}), where="")
                    for i, g in enumerate(levels)
                )
                by_label = dict(zip(oa.data.labels, groups, strict=True))
                items = tuple(
                    RevManData(d.study, levels.index(by_label[lab]), d.entered, d.stored, d.where)
                    for lab, d in zip(self._data_labels(oa, form), data, strict=True)
                )
            rm_outcome = RevManOutcome(
                no=no,
                revman_id="",
                name=name,
                measure=("PETO_OR" if method == "PETO" else measure),
                method=method,
                random=random,
                has_subgroups=bool(subgroups),
                subgroup_test=True,
                subgroups=subgroups,
                data=items,
                **common,
            )
            number = f"{c_no}.{no}"
            note = "; ".join(problems)
            if problems:
                warnings.warn(
                    f"RevMan export: {label}, {role} analysis ({_model_name(model)}) cannot be represented "
                    "exactly in "
                    f"RevMan 5: {note}. RevMan analysis {number} is {_METHOD_NAMES[(method, random)]}.",
                    TrialsynthWarning,
                    stacklevel=4,
                )
            self.exported.append(
                ExportedAnalysis(
                    number=number,
                    outcome=outcome.id,
                    analysis_set=oa.analysis_set,
                    role=role,
                    model=model,
                    method=method,
                    random=random,
                    subgroup_column=subgroup.column if subgroup is not None else "",
                    exact=not problems,
                    note=note,
                )
            )
            return rm_outcome, (method, random)

        inline = subgroup_sets[0][0] if subgroup_sets else None
        first, setting = make(outcome.model, o_no, outcome.name, "primary", inline)
        more = []
        # RevMan setting -> (its analysis number, whether that analysis repeats its model exactly)
        seen = {setting: (f"{c_no}.{o_no}", self.exported[-1].exact)}
        if self.sensitivity and oa.data is not None:
            for spec in outcome.sensitivity:
                method, random, problems = _setting(spec, form, oa, self.profile, values)
                if problems:
                    what = f"sensitivity analysis {_model_name(spec)}"
                    self.left_out.setdefault((what, "; ".join(problems)), []).append(label)
                    continue
                if (method, random) in seen:
                    number, exact = seen[(method, random)]
                    if not exact:
                        # The analysis written for an approximated primary model is this
                        # sensitivity model exactly (REML primary, DL sensitivity: RevMan's DL).
                        self.exported.append(
                            ExportedAnalysis(
                                number=number,
                                outcome=outcome.id,
                                analysis_set=oa.analysis_set,
                                role="sensitivity",
                                model=spec,
                                method=method,
                                random=random,
                                subgroup_column="",
                                exact=True,
                                note="",
                            )
                        )
                        seen[(method, random)] = (number, True)
                    continue
                name = f"{outcome.name} (sensitivity analysis: {_METHOD_NAMES[(method, random)]})"
                no = allocate()
                more.append(make(spec, no, name, "sensitivity")[0])
                seen[(method, random)] = (f"{c_no}.{no}", True)
        for sub, _ in subgroup_sets[1:]:
            name = f"{outcome.name}, by {sub.name}"
            more.append(make(outcome.model, allocate(), name, "subgroups", sub)[0])
        return first, more

    def _labels(self, outcome) -> dict[str, str]:
        q = self.review.question
        treat, control = outcome.label_treatment, outcome.label_control
        left, right = (treat, control) if outcome.better == "lower" else (control, treat)
        return {
            "group_label_1": _short(treat, q.intervention),
            "group_label_2": _short(control, q.comparator),
            "graph_label_1": left,
            "graph_label_2": right,
        }

    def _data_labels(self, oa, form: str) -> list[str]:
        """The study ids of :meth:`_data`'s items, in order."""
        if form != "IV":
            return list(oa.data.labels)
        return [s.study for s in oa.primary.studies if math.isfinite(s.yi) and math.isfinite(s.vi)]

    def _data(self, oa, form: str, values) -> tuple[RevManData, ...]:
        if oa.data is None:
            return ()
        items = []
        if form == "DICH":
            names = {"EVENTS_1": "events_treatment", "TOTAL_1": "n_treatment"}
            names |= {"EVENTS_2": "events_control", "TOTAL_2": "n_control"}
            for i, label in enumerate(oa.data.labels):
                entered = {k: str(int(values[c][i])) for k, c in names.items()}
                items.append(RevManData(self.keys[label], None, MappingProxyType(entered), {}, ""))
        elif form == "CONT":
            names = {"MEAN_1": "mean_treatment", "SD_1": "sd_treatment", "MEAN_2": "mean_control"}
            names |= {"SD_2": "sd_control"}
            for i, label in enumerate(oa.data.labels):
                entered = {k: repr(float(values[c][i])) for k, c in names.items()}
                entered["TOTAL_1"] = str(int(values["n_treatment"][i]))
                entered["TOTAL_2"] = str(int(values["n_control"][i]))
                items.append(RevManData(self.keys[label], None, MappingProxyType(entered), {}, ""))
        else:
            index = {lab: i for i, lab in enumerate(oa.data.labels)}
            for row in oa.primary.studies:
                if not (math.isfinite(row.yi) and math.isfinite(row.vi)):
                    continue  # not estimable: RevMan could not pool it either
                entered = {"ESTIMATE": repr(float(row.yi)), "SE": repr(math.sqrt(row.vi))}
                i = index[row.study]
                for key, col in (("TOTAL_1", "n_treatment"), ("TOTAL_2", "n_control")):
                    if col in values and math.isfinite(values[col][i]) and _whole(values[col][i : i + 1]):
                        entered[key] = str(int(values[col][i]))
                items.append(RevManData(self.keys[row.study], None, MappingProxyType(entered), {}, ""))
        return tuple(items)

    # ------------------------------------------------------------------ the review
    def review_level_gaps(self, names_up_to: int | None = None) -> list[str]:
        """What the RevMan 5 file leaves out. Every analysis is named, or, with ``names_up_to``,
        an item concerning more analyses than that gives their number (for a warning read at a
        glance; the full list stays in :attr:`RevManExport.not_represented`)."""
        gaps = self._feature_gaps()
        for (what, why), labels in self.left_out.items():
            names = list(dict.fromkeys(labels))
            short = names_up_to is not None and len(names) > names_up_to
            gaps.append(f"{what} of {f'{len(names)} analyses' if short else ', '.join(names)} ({why})")
        return gaps

    def _feature_gaps(self) -> list[str]:
        review = self.review
        gaps = []
        if review.moderators:
            names = ", ".join(m.name for m in review.moderators)
            gaps.append(f"meta-regression (moderators: {names}; RevMan 5 has no meta-regression)")
        if review.cumulative is not None:
            gaps.append("cumulative meta-analysis (RevMan 5 has none)")
        networks = getattr(review, "networks", ())
        if networks:
            names = ", ".join(n.name for n in networks)
            gaps.append(f"network meta-analysis ({names}; RevMan 5 has none)")
        tsa = [o.id for o in review.outcomes if o.tsa is not None]
        if tsa:
            gaps.append(f"trial sequential analysis (outcomes {', '.join(tsa)})")
        bayes = [o.id for o in review.outcomes if o.bayes is not None]
        if bayes:
            gaps.append(f"Bayesian random-effects analysis (outcomes {', '.join(bayes)})")
        return gaps


class _Skip(Exception):
    pass


def revman_export(analysis, *, sensitivity: bool = True, title: str | None = None) -> RevManExport:
    """Map an analysed review (:class:`~trialsynth.workflow.runner.ReviewAnalysis`) to RevMan 5.

    ``sensitivity=False`` leaves out the sensitivity analyses. Every analysis or feature that
    RevMan 5 cannot represent exactly is a :class:`TrialsynthWarning` (see the module docstring).
    """
    builder = _Builder(analysis, sensitivity=sensitivity)
    review = analysis.review
    outcomes: list[RevManOutcome] = []
    extra: list[RevManOutcome] = []
    numbering = builder._numbering()
    next_no: dict[str, int] = {}
    for c_no, _, o_no in numbering.values():
        next_no[c_no] = max(next_no.get(c_no, 0), int(o_no))
    for oa in analysis.outcomes:
        c_no, c_name, o_no = numbering[(oa.analysis_set, oa.outcome.id)]

        def allocate(c_no=c_no) -> str:
            next_no[c_no] += 1
            return str(next_no[c_no])

        try:
            first, more = builder._outcome_analyses(oa, c_no, c_name, o_no, allocate)
        except _Skip as exc:
            builder.not_represented.append(str(exc))
            continue
        outcomes.append(first)
        extra += more
    if not outcomes:
        raise InputError(
            "no outcome of the review can be written as a RevMan 5 analysis: "
            + "; ".join(builder.not_represented),
            file=str(review.path),
        )
    gaps = builder.review_level_gaps() + builder.not_represented
    if gaps:
        warnings.warn(
            "RevMan export: not represented in the RevMan 5 file: "
            + "; ".join(builder.review_level_gaps(names_up_to=2) + builder.not_represented),
            TrialsynthWarning,
            stacklevel=2,
        )
    ordered = sorted(outcomes + extra, key=lambda o: (int(o.comparison_no), int(o.no)))
    rm = RevManFile(
        source=str(review.path),
        flavour="rm5",
        title=title or review.title,
        revman_version="5 5.3.5",
        studies=builder.studies(),
        outcomes=tuple(ordered),
        skipped=(),
    )
    exported = sorted(builder.exported, key=lambda e: tuple(int(p) for p in e.number.split(".")))
    return RevManExport(rm, tuple(exported), tuple(gaps))


def write_revman_export(analysis, path: str | Path, *, sensitivity: bool = True) -> RevManExport:
    """Map ``analysis`` to RevMan 5 and write it as a ``.rm5`` file at ``path`` (atomically)."""
    export = revman_export(analysis, sensitivity=sensitivity)
    write_rm5(export.revman, path)
    return export


def export_review(review_dir: str | Path, path: str | Path, *, sensitivity: bool = True) -> RevManExport:
    """Analyse the review folder ``review_dir`` and write it as the RevMan 5 file ``path``."""
    from trialsynth.workflow.runner import analyse_review

    folder = Path(review_dir)
    if not folder.is_dir():
        raise InputError("not a review folder (no such directory)", file=str(folder))
    with warnings.catch_warnings():
        # The analyses' own warnings belong to `trialsynth run`; here only the export's are shown.
        warnings.simplefilter("ignore", TrialsynthWarning)
        analysis = analyse_review(folder)
    return write_revman_export(analysis, path, sensitivity=sensitivity)
