"""The frozen objects a review folder loads into (see :mod:`trialsynth.io.review`).

Text is kept exactly as the user wrote it (identifiers are stripped of surrounding
whitespace, nothing else is touched). Numbers that the loader had to read are given both
as written (``*_text``) and as floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trialsynth.stats.prisma import PrismaCounts

from trialsynth.io.review.rob import RiskOfBias
from trialsynth.io.review.signalling import Rob2Assessment

__all__ = [
    "AnalysisDefaults",
    "AnalysisSet",
    "BaselineValue",
    "BayesSettings",
    "Cumulative",
    "DataGap",
    "Eligibility",
    "Grade",
    "GradeDomain",
    "LeadPosition",
    "ModelSpec",
    "Moderator",
    "OISSettings",
    "Outcome",
    "OutcomeRow",
    "OutcomeTable",
    "Question",
    "Reported",
    "Review",
    "RiskOfBias",
    "Search",
    "Study",
    "Subgroup",
    "TSASettings",
]


@dataclass(frozen=True)
class ModelSpec:
    """A pooling model: ``method`` (FE, MH, PETO, DL, REML, ...), Hartung–Knapp or not.

    ``origin`` says where it came from: ``"outcome"`` (set in the outcome's table),
    ``"analysis"`` (the review's ``[analysis]`` default) or ``"default"`` (the built-in
    default, REML without Hartung–Knapp, that the review did not choose).
    """

    method: str
    hk: bool = False
    assumption: str = ""
    origin: str = "default"
    #: Hartung–Knapp variant: "knha" (metafor's default) or "adhoc" (max(1, q); Knapp &
    #: Hartung 2003), which never gives an interval narrower than the z-based one.
    hk_variant: str = "knha"
    #: With ``method = "GLMM"``: the binomial–normal model (UM.FS, UM.RS, CM.EL, CM.AL, as
    #: metafor's ``rma.glmm``) and whether it is the fixed-effect version (τ² = 0).
    glmm: str | None = None
    fixed: bool = False
    #: ``"CR2"``: cluster-robust tests (CR2, Satterthwaite df) for an outcome fitted by the
    #: multilevel model (rows with an ``es_id``); None: model-based tests.
    robust: str | None = None

    def pool_options(self) -> dict[str, object]:
        """Keyword arguments for :func:`trialsynth.stats.meta.pool_input`."""
        options: dict[str, object] = {"method": self.method, "hk": self.hk}
        if self.hk:
            options["hk_variant"] = self.hk_variant
        if self.method == "GLMM":
            options.update(glmm=self.glmm or "UM.FS", fixed=self.fixed)
        return options


@dataclass(frozen=True)
class Question:
    population: str
    intervention: str
    comparator: str
    outcomes: str = ""


@dataclass(frozen=True)
class Eligibility:
    inclusion: tuple[str, ...] = ()
    exclusion: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Search:
    """What is known of the search; every field may be empty (``note`` says why)."""

    databases: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()
    period: str = ""
    last_searched: str = ""
    note: str = ""


@dataclass(frozen=True)
class AnalysisDefaults:
    profile: str
    level: float
    model: ModelSpec
    sensitivity: tuple[ModelSpec, ...]
    label_treatment: str
    label_control: str


@dataclass(frozen=True)
class AnalysisSet:
    """A named set of outcome rows; the first set of a review is its primary analysis."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class TSASettings:
    """Trial sequential analysis settings of an outcome (see :func:`trialsynth.stats.tsa.tsa`):
    two-sided ``alpha`` and ``power`` as fractions, the anticipated effect (``control_risk``
    with ``rrr`` for binary outcomes, ``mean_difference`` with ``sd``, or ``hazard_ratio``),
    and the heterogeneity adjustment ``diversity`` ("auto" or a fraction)."""

    alpha: float = 0.05
    power: float = 0.80
    control_risk: float | None = None
    rrr: float | None = None
    mean_difference: float | None = None
    sd: float | None = None
    hazard_ratio: float | None = None
    diversity: float | str = "auto"
    note: str = ""


@dataclass(frozen=True)
class BayesSettings:
    """Priors for the Bayesian random-effects analysis of an outcome (see
    :func:`trialsynth.stats.bayes.bayes_meta`): ``tau_prior`` such as "halfnormal:0.5" and
    ``mu_prior`` ("uniform" or "normal:M,S")."""

    tau_prior: str
    mu_prior: str = "uniform"
    note: str = ""


#: The five GRADE domains that can lower the certainty of evidence from randomized trials
#: (Guyatt et al., J Clin Epidemiol 2011;64:383-94 and the GRADE series that follows it).
GRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
#: Certainty of evidence, from the lowest: randomized trials start at "high" and lose one
#: level per level of downgrade.
CERTAINTY = ("very low", "low", "moderate", "high")


@dataclass(frozen=True)
class GradeDomain:
    """A reviewer's judgement on one GRADE domain: ``rating`` 0 (not serious), -1 (serious)
    or -2 (very serious), with the ``reason`` (required when the rating is not 0)."""

    domain: str
    rating: int
    reason: str = ""


@dataclass(frozen=True)
class OISSettings:
    """The anticipated effect for the optimal information size (GRADE imprecision): ``rrr``
    (binary, with the assumed control risk), ``mean_difference`` with ``sd`` (continuous) or
    ``hazard_ratio``; two-sided ``alpha`` and ``power`` as fractions. Fields not given are None."""

    alpha: float = 0.05
    power: float = 0.80
    rrr: float | None = None
    mean_difference: float | None = None
    sd: float | None = None
    hazard_ratio: float | None = None


@dataclass(frozen=True)
class Grade:
    """An outcome's ``grade`` table: the reviewer's GRADE judgements (``domains``, empty when
    the certainty was not assessed) and the inputs of its summary-of-findings row: an
    entered assumed control risk with its source (else the control arms' risk, ``pooled``
    or ``median``, per ``control_risk_from``) and the OIS settings."""

    domains: tuple[GradeDomain, ...] = ()
    assumed_control_risk: float | None = None
    control_risk_source: str = ""
    control_risk_from: str = "pooled"
    ois: OISSettings | None = None
    note: str = ""
    #: Reasons to rate up (grade.csv: large_effect, dose_response, plausible_confounding), each
    #: with a positive rating and its reason (GRADE guidelines 9).
    upgrades: tuple[GradeDomain, ...] = ()
    #: Downgrade domains rated in grade.csv while the other ones are not yet (certainty not assessed).
    pending: tuple[GradeDomain, ...] = ()

    @property
    def assessed(self) -> bool:
        return bool(self.domains)

    @property
    def certainty(self) -> str:
        """High, lowered one level per level of downgrade and raised one per level of upgrade,
        never below very low nor above high; "not assessed" when the review gives no judgements."""
        if not self.domains:
            return "not assessed"
        level = len(CERTAINTY) - 1 + sum(d.rating for d in (*self.domains, *self.upgrades))
        return CERTAINTY[min(len(CERTAINTY) - 1, max(0, level))]


@dataclass(frozen=True)
class Outcome:
    id: str
    name: str
    data_type: str
    measure: str
    better: str
    unit: str
    label_treatment: str
    label_control: str
    model: ModelSpec
    sensitivity: tuple[ModelSpec, ...]
    definition: str = ""
    primary: bool = False
    note: str = ""
    tsa: TSASettings | None = None
    bayes: BayesSettings | None = None
    grade: Grade | None = None
    level: float | None = None  # confidence level (percent) of this outcome; None: [analysis] level


@dataclass(frozen=True)
class Subgroup:
    column: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Cumulative:
    order_by: str
    name: str = ""


@dataclass(frozen=True)
class Moderator:
    column: str
    name: str
    unit: str = ""


@dataclass(frozen=True)
class NetworkSpec:
    """A network meta-analysis of ``[[networks]]`` in review.toml: the arms or contrasts in
    ``file`` (a CSV in the folder, the format of ``trialsynth nma``), pooled by ``method``
    (REML, ML or FE) against ``reference``; ``better`` orders the ranking."""

    id: str
    name: str
    file: Path
    measure: str
    reference: str | None
    method: str = "REML"
    better: str = "lower"
    description: str = ""
    #: Continuity correction for arm counts: ``add`` to the arms of the studies ``to`` names
    #: (only0: a study with a zero cell; all: every study; none).
    add: float = 0.5
    to: str = "only0"


@dataclass(frozen=True)
class Study:
    """One row of studies.csv. ``attributes`` holds every cell of the row, keyed by the
    column name as written in the header (use :meth:`get` for a case-insensitive look-up)."""

    id: str
    label: str
    citation: str
    year: int
    source: str
    design: str
    n_randomised_treatment: int | None
    n_randomised_control: int | None
    follow_up: str
    status: str
    note: str
    kind: str
    analysis_sets: tuple[str, ...]
    attributes: Mapping[str, str]
    row: int

    @property
    def unconfirmed(self) -> bool:
        return self.status == "unconfirmed"

    def get(self, column: str, default: str = "") -> str:
        wanted = column.strip().casefold()
        for name, value in self.attributes.items():
            if name.strip().casefold() == wanted:
                return value
        return default


@dataclass(frozen=True)
class OutcomeRow:
    """One row of outcomes.csv. ``cells`` maps canonical (lower-case) column names to the
    cells as written; ``raw`` is the whole row in header order, for :func:`parse_pool_table`."""

    row: int
    outcome: str
    study: str
    use: bool
    has_data: bool
    kind: str
    source: str
    note: str
    denominator: str
    definition: str
    analysis_sets: tuple[str, ...]
    cells: Mapping[str, str]
    raw: tuple[str, ...]

    def get(self, column: str, default: str = "") -> str:
        return self.cells.get(column.strip().casefold(), default)


@dataclass(frozen=True)
class OutcomeTable:
    """The rows of one outcome that enter one analysis set, ready for
    ``parse_pool_table(list(header), [list(r) for r in rows], measure=..., source=source,
    row_numbers=list(row_numbers))`` (see :meth:`pool_arguments`)."""

    outcome: str
    analysis_set: str
    source: str
    header: tuple[str, ...]
    records: tuple[OutcomeRow, ...]

    @property
    def rows(self) -> tuple[tuple[str, ...], ...]:
        return tuple(r.raw for r in self.records)

    @property
    def row_numbers(self) -> tuple[int, ...]:
        return tuple(r.row for r in self.records)

    @property
    def studies(self) -> tuple[str, ...]:
        return tuple(r.study for r in self.records)

    def pool_arguments(self) -> tuple[list[str], list[list[str]], dict[str, object]]:
        """``(header, rows, keywords)`` for ``parse_pool_table(header, rows, measure=..., **keywords)``."""
        return (
            list(self.header),
            [list(r) for r in self.rows],
            {"source": self.source, "row_numbers": list(self.row_numbers)},
        )

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class DataGap:
    """An included study without usable data for an outcome in some analysis sets."""

    study: str
    outcome: str
    analysis_sets: tuple[str, ...]
    note: str
    rows: tuple[int, ...]


@dataclass(frozen=True)
class Reported:
    """A pooled result as printed by the published review (natural scale, verbatim text).

    ``p_bound`` is ``"upper"`` for a p-value printed as ``<.01`` (then ``p_value`` is
    the bound 0.01), ``"lower"`` for ``>.05``, and ``""`` for an exact value.
    """

    outcome: str
    analysis_set: str
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_value: float | None
    p_bound: str
    estimate_text: str
    ci_lower_text: str
    ci_upper_text: str
    p_value_text: str
    k: int | None
    n: int | None
    unit: str
    source: str
    note: str
    row: int


@dataclass(frozen=True)
class BaselineValue:
    """One baseline statistic. ``value`` is as written; ``number`` is its value, or
    ``low``/``high`` its bounds when it is a range such as an IQR (``25–40``)."""

    study: str
    characteristic: str
    arm: str
    statistic: str
    value: str
    number: float | None
    low: float | None
    high: float | None
    source: str
    kind: str
    note: str
    row: int


@dataclass(frozen=True)
class LeadPosition:
    study: str
    arm: str
    position: str
    percent: float
    percent_text: str
    source: str
    kind: str
    note: str
    row: int


@dataclass(frozen=True)
class Review:
    """A loaded review folder. Build it with :func:`trialsynth.io.review.load_review`."""

    path: Path
    title: str
    reproduces: str
    summary: str
    question: Question
    eligibility: Eligibility
    search: Search
    analysis: AnalysisDefaults
    analysis_sets: tuple[AnalysisSet, ...]
    outcomes: tuple[Outcome, ...]
    subgroups: tuple[Subgroup, ...]
    cumulative: Cumulative | None
    moderators: tuple[Moderator, ...]
    studies: tuple[Study, ...]
    outcome_header: tuple[str, ...]
    outcome_rows: tuple[OutcomeRow, ...]
    reported: tuple[Reported, ...]
    baseline: tuple[BaselineValue, ...]
    lead_positions: tuple[LeadPosition, ...]
    files: Mapping[str, str] = field(default_factory=dict)
    #: PRISMA 2020 flow counts (:class:`trialsynth.stats.prisma.PrismaCounts`) from the ``[prisma]``
    #: table of review.toml; None when the review gives none (the report then says so).
    prisma: PrismaCounts | None = None
    #: RoB 2 assessments from risk_of_bias.csv (empty when the folder has none).
    risk_of_bias: tuple[RiskOfBias, ...] = ()
    #: RoB 2 signalling answers and the algorithm's suggestions, from rob2_signalling.csv.
    rob2_signalling: tuple[Rob2Assessment, ...] = ()
    #: Network meta-analyses (``[[networks]]`` of review.toml).
    networks: tuple[NetworkSpec, ...] = ()

    # ------------------------------------------------------------------ look-ups
    @property
    def primary_set(self) -> str:
        return self.analysis_sets[0].id

    def outcome(self, outcome_id: str) -> Outcome:
        for outcome in self.outcomes:
            if outcome.id == outcome_id:
                return outcome
        raise KeyError(f"no outcome '{outcome_id}' in {self.files.get('review.toml', self.path)}")

    def study(self, study_id: str) -> Study:
        for study in self.studies:
            if study.id == study_id:
                return study
        raise KeyError(f"no study '{study_id}' in {self.files.get('studies.csv', self.path)}")

    def _set_id(self, analysis_set: str | None) -> str:
        if analysis_set is None:
            return self.primary_set
        if analysis_set not in {s.id for s in self.analysis_sets}:
            known = ", ".join(s.id for s in self.analysis_sets)
            raise KeyError(f"no analysis set '{analysis_set}' (the sets are: {known})")
        return analysis_set

    def studies_in(self, analysis_set: str | None = None) -> tuple[Study, ...]:
        """The studies included in an analysis set (default: the primary set)."""
        set_id = self._set_id(analysis_set)
        return tuple(s for s in self.studies if set_id in s.analysis_sets)

    def rows(self, outcome_id: str, analysis_set: str | None = None) -> tuple[OutcomeRow, ...]:
        """Every row of an outcome (used or not, with data or not), in file order; with
        ``analysis_set``, only the rows that belong to that set."""
        self.outcome(outcome_id)
        set_id = None if analysis_set is None else self._set_id(analysis_set)
        return tuple(
            r
            for r in self.outcome_rows
            if r.outcome == outcome_id and (set_id is None or set_id in r.analysis_sets)
        )

    def pool_table(self, outcome_id: str, analysis_set: str | None = None) -> OutcomeTable:
        """The rows marked ``use = yes`` of an outcome in an analysis set (default: the
        primary set): at most one per study, in file order."""
        set_id = self._set_id(analysis_set)
        records = tuple(r for r in self.rows(outcome_id, set_id) if r.use)
        return OutcomeTable(
            outcome=outcome_id,
            analysis_set=set_id,
            source=self.files.get("outcomes.csv", "outcomes.csv"),
            header=self.outcome_header,
            records=records,
        )

    def data_gaps(self, analysis_set: str | None = None) -> tuple[DataGap, ...]:
        """Every (study, outcome) of an included study without a used row, with its note.

        Without ``analysis_set`` every set is searched and each gap lists the sets it is
        a gap in; gaps are ordered by outcome (as in review.toml), then study (as in
        studies.csv). The note joins the notes of the study's rows for that outcome.
        """
        sets = [s.id for s in self.analysis_sets] if analysis_set is None else [self._set_id(analysis_set)]
        gaps: list[DataGap] = []
        for outcome in self.outcomes:
            for study in self.studies:
                missing = [
                    s
                    for s in sets
                    if s in study.analysis_sets
                    and not any(
                        r.use and r.study == study.id and s in r.analysis_sets
                        for r in self.outcome_rows
                        if r.outcome == outcome.id
                    )
                ]
                if not missing:
                    continue
                rows = [
                    r
                    for r in self.outcome_rows
                    if r.outcome == outcome.id
                    and r.study == study.id
                    and any(s in r.analysis_sets for s in missing)
                ]
                notes = [r.note.strip() for r in rows if r.note.strip()]
                gaps.append(
                    DataGap(
                        study=study.id,
                        outcome=outcome.id,
                        analysis_sets=tuple(missing),
                        note=" / ".join(dict.fromkeys(notes)),
                        rows=tuple(r.row for r in rows),
                    )
                )
        return tuple(gaps)

    def order_value(self, row: OutcomeRow) -> float:
        """The cumulative-ordering value of an outcome row: the row's own cell in the
        ``order_by`` column when outcomes.csv has one and it is filled (a result published
        after the trial's first report), else the study's."""
        if self.cumulative is None:
            raise ValueError("the review has no [cumulative] ordering")
        text = row.get(self.cumulative.order_by).strip() or self.study(row.study).get(
            self.cumulative.order_by
        )
        return float(text.strip().replace("\u2212", "-"))

    def risk_of_bias_for(self, outcome_id: str) -> tuple[RiskOfBias, ...]:
        """The RoB 2 assessments of an outcome, in file order."""
        return tuple(r for r in self.risk_of_bias if r.outcome == outcome_id)

    def rob2_signalling_for(self, outcome_id: str) -> tuple[Rob2Assessment, ...]:
        """The signalling answers (with suggested judgements) of an outcome, in file order."""
        return tuple(a for a in self.rob2_signalling if a.outcome == outcome_id)

    def reported_for(self, outcome_id: str, analysis_set: str | None = None) -> Reported | None:
        set_id = self._set_id(analysis_set)
        for item in self.reported:
            if item.outcome == outcome_id and item.analysis_set == set_id:
                return item
        return None
