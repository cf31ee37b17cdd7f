"""A systematic review as a folder of hand-written files, loaded strictly.

``load_review(folder)`` reads the folder into a frozen :class:`Review`. Nothing the user
wrote is changed (texts are kept verbatim; identifiers are stripped of surrounding spaces
for matching). The first problem raises :class:`~trialsynth._core.errors.InputError` naming the
file and the line (review.toml) or the row and column (CSV files). The format is described
with examples in ``examples/FORMAT.md``; this is the reference.

Files
-----
``review.toml`` (required)
    Only the keys below are allowed; any other key is an error naming its line.

    ``[review]``: ``title`` (required), ``reproduces`` (the published review reproduced),
    ``summary``. ``[review.question]`` (required): ``population``, ``intervention``,
    ``comparator`` (required), ``outcomes``. ``[review.eligibility]``: ``inclusion``,
    ``exclusion`` (lists of texts), ``note``.

    ``[search]``: ``databases``, ``queries`` (lists of texts), ``period``, ``last_searched``,
    ``note`` — all optional: write only what is known and say in ``note`` what is not.

    ``[screening]``: ``exclusion_reasons`` (list of texts), read by the screening commands
    (:mod:`trialsynth.workflow.screening`), not by this loader.

    ``[analysis]``, defaults for every outcome: ``profile`` ("metafor", the default, or
    "revman"), ``level`` (percent, default 95), ``model``, ``sensitivity``,
    ``label_treatment`` / ``label_control`` (forest-plot labels, default "Favours
    treatment" / "Favours control").

    A model is a table ``{ method = "DL", hk = false, assumption = "..." }``: ``method`` is
    one of FE, MH, PETO, DL, REML, PM, ML, HE, SJ, EB, HS, GLMM (MH only for OR, RR, RD; PETO
    and GLMM only for OR; GLMM names its binomial–normal model with ``glmm`` = UM.FS, UM.RS,
    CM.EL or CM.AL and ``fixed = true`` for its fixed-effect version); ``hk`` adds the
    Hartung–Knapp adjustment (not with MH, PETO or GLMM) and ``hk_variant = "adhoc"`` with it
    its ad hoc variant, max(1, q) (Knapp & Hartung 2003); ``robust = "CR2"`` asks
    cluster-robust tests for an outcome with nested effect sizes (below); ``assumption``
    says why the model was chosen, or that it is an assumption. ``sensitivity`` is a list of
    models. **Default model** (neither the outcome nor ``[analysis]`` sets one): REML without
    Hartung–Knapp, :data:`DEFAULT_MODEL` — metafor's default estimator and the one
    methodological comparisons recommend, with metafor's default Wald-type test, so that a
    default analysis matches ``rma()``; its ``origin`` is ``"default"`` so a report can say
    the review did not choose it. Sensitivity analyses default to none.

    ``[[analysis_sets]]`` (optional): ``id``, ``name`` (required), ``description``. The first
    set is the primary analysis. Without any, the review has one set, ``main``.

    ``[[outcomes]]`` (at least one): ``id``, ``name``, ``data_type`` (binary | continuous |
    generic | time_to_event), ``measure`` (OR | RR | RD | MD | SMD | HR; binary: OR, RR, RD;
    continuous: MD, SMD; time_to_event: HR; generic: any), ``better`` (lower | higher: the
    direction of the effect that is better for the intervention) — all required; ``unit``,
    ``label_treatment``, ``label_control``, ``model``, ``sensitivity``, ``definition``,
    ``primary`` (true/false), ``note``, ``tsa`` (trial sequential analysis settings, an inline
    table: ``alpha``, ``power`` (fractions; default 0.05, 0.80), the anticipated effect —
    ``control_risk`` with ``rrr``, ``mean_difference`` with ``sd``, or ``hazard_ratio`` — and
    ``diversity`` ("auto" or a fraction), ``note``) and ``bayes`` (Bayesian random effects,
    an inline table: ``tau_prior`` (required, e.g. "halfnormal:0.5", or a Turner et al. 2015
    setting "turner:OUTCOME:COMPARISON", see :mod:`trialsynth.stats.tau_priors`), ``mu_prior`` ("uniform"
    or "normal:M,S"), ``note``) and ``grade`` (GRADE judgements and summary-of-findings
    inputs, a table: the five domains ``risk_of_bias``, ``inconsistency``, ``indirectness``,
    ``imprecision``, ``publication_bias`` — all or none — each ``{ rating = 0 | -1 | -2,
    reason = "..." }`` (reason required when not 0); ``assumed_control_risk`` (a fraction; OR,
    RR, RD, HR only) with ``control_risk_source`` (required with it); ``control_risk_from``
    ("pooled", the default, or "median"); ``ois`` (``alpha``, ``power``, and ``rrr`` |
    ``mean_difference`` with ``sd`` | ``hazard_ratio``); ``note``).

    ``[[subgroups]]``: ``column`` (a column of studies.csv; a blank cell = not classified),
    ``name``, ``description``. ``[cumulative]``: ``order_by`` (a numeric column of
    studies.csv, filled for every study), ``name``. ``[[moderators]]``: ``column`` (a numeric
    column of studies.csv; blank = not known), ``name``, ``unit``.

    ``[[networks]]`` (optional, repeatable): a network meta-analysis of the arms or contrasts in
    ``file`` (a CSV inside the folder, the format of ``trialsynth nma``): ``id``, ``file``,
    ``measure`` (OR, RR, MD, SMD, HR) required; ``name``, ``reference``, ``method`` (REML, ML,
    FE), ``better`` (lower, higher), ``add`` and ``to`` (continuity correction of arm counts:
    only0, all, none), ``description``.

    ``[prisma]`` (optional): the PRISMA 2020 flow counts (see
    :func:`trialsynth.stats.prisma.prisma_from_mapping` for the keys), when the screening was done
    elsewhere. A bad key or number is an error naming its line; counts that do not add up are
    kept as entered, with a :class:`~trialsynth._core.errors.TrialsynthWarning` listing the problems.

``studies.csv`` (required; or ``studies.xlsx``, its first sheet, read by :mod:`trialsynth.io.xlsx`)
    One row per included study. Required: ``id`` (unique; ``pooled`` is reserved),
    ``label`` (unique), ``citation``, ``year`` (whole number), ``source``. Optional:
    ``design``, ``n_randomised_treatment``, ``n_randomised_control`` (whole numbers or
    blank), ``follow_up``, ``status`` (``included`` or blank, or ``unconfirmed``), ``note``,
    ``analysis_set`` (blank = every set, else ids separated by ``;``), ``kind`` (``quoted``
    | ``derived`` | blank). Any other column is a study attribute kept verbatim (subgroup
    and moderator columns).

``outcomes.csv`` (required; or ``outcomes.xlsx``)
    Long form: one row per study and outcome. Required columns: ``outcome`` (an id of
    review.toml), ``study`` (an id of studies.csv), ``use`` (``yes``: the row enters the
    outcome's analysis; ``no``: kept for provenance, or a data gap), ``kind`` (``quoted`` |
    ``derived``; required on rows with data; ``derived`` needs a ``note`` giving the
    arithmetic), ``source`` (required on rows with data), ``note``. Optional:
    ``denominator`` (``randomised`` | ``analysed``), ``definition`` (the trial's outcome
    definition), ``analysis_set`` (blank = every set the study is in, else ids separated by
    ``;``), the column named by ``[cumulative] order_by`` (a filled cell overrides the
    study's value for that row: a result published after the trial's first report),
    ``es_id`` and ``cluster`` (nested effect sizes: several used rows of a study for an
    outcome, each with its own ``es_id``, and/or studies grouped in clusters; the runner then
    fits the multilevel model ``~ 1 | cluster/study/es_id`` with the levels given, see
    :mod:`trialsynth.io.review.nesting`), and the data columns of
    :mod:`trialsynth.io.poolcsv`: ``events_treatment``, ``n_treatment``,
    ``events_control``, ``n_control`` | ``mean_treatment``, ``sd_treatment``,
    ``mean_control``, ``sd_control`` (with the ``n_`` columns) | ``estimate``,
    ``ci_lower``, ``ci_upper``, ``ci_level`` | ``log_estimate``, ``se`` | ``estimate``,
    ``se`` | ``o_minus_e``, ``v`` | ``p_value``, ``events``, ``direction``; and the forms whose
    numbers are derived (:mod:`trialsynth.stats.derive`, docs/derived-numbers.md), ``*`` being
    ``treatment`` and ``control``: ``percent_treatment``, ``percent_control`` (with the
    ``n_`` columns: events = round(percent × n)) | ``se_*`` | ``ci_lower_*``, ``ci_upper_*``
    (with ``mean_*``) |
    ``baseline_sd_*``, ``final_sd_*``, ``correlation`` (with ``mean_*`` as a change) |
    ``median_*`` with ``q1_*``, ``q3_*`` and/or ``min_*``, ``max_*`` | ``estimate``,
    ``p_value`` (an MD) | ``events_*``, ``person_time_*`` (IRR, IRD) | ``icc``,
    ``cluster_size`` (a cluster trial).
    In full: ``se_treatment``, ``se_control``, ``ci_lower_treatment``,
    ``ci_lower_control``, ``ci_upper_treatment``, ``ci_upper_control``,
    ``baseline_sd_treatment``, ``baseline_sd_control``, ``final_sd_treatment``,
    ``final_sd_control``, ``median_treatment``, ``median_control``, ``q1_treatment``,
    ``q1_control``, ``q3_treatment``, ``q3_control``, ``min_treatment``,
    ``min_control``, ``max_treatment``, ``max_control``, ``person_time_treatment``,
    ``person_time_control``.
    No other column is accepted. Data cells are kept as text and checked when pooled
    (:func:`trialsynth.io.poolcsv.parse_pool_table`).

    Every study has at least one row for every outcome in every analysis set it is in; a
    study without usable data has a row with the data cells blank, ``use = no`` and a note
    saying why (a *data gap*, see :meth:`Review.data_gaps`). A ``use = yes`` row has data, and
    a study has at most one ``use = yes`` row per outcome and analysis set: a later result
    *replaces* an earlier one by being in another set, never by being added.

``baseline.csv`` (optional)
    ``study`` (an id, or ``pooled`` for the published review's own figures),
    ``characteristic``, ``arm`` (treatment | control | all | unstated), ``statistic`` (mean |
    sd | median | iqr | range | n | percent | count | unstated: a central value not said to be
    a mean or a median), ``value`` (a number; ``low–high`` for iqr and range, and for another
    statistic only with a note), ``source``, ``kind``, ``note``. A median stays a median.
    Each (study, characteristic, arm, statistic) appears once.

``lead_position.csv`` (optional)
    ``study`` (an id or ``pooled``), ``arm``, ``position`` (as reported), ``percent`` (0–100),
    ``source``, ``kind``, ``note``.

``reported.csv`` (optional)
    The pooled results printed by the review being reproduced, as printed: ``outcome``,
    ``estimate``, ``ci_lower``, ``ci_upper`` (natural scale; blank when not printed),
    ``p_value`` (``.01``, ``<.01`` — kept as text, an upper bound flagged in
    :attr:`Reported.p_bound`), ``source``; optional ``analysis_set`` (blank = the first
    set), ``k``, ``n``, ``unit`` (as printed, where it differs), ``note``.

``risk_of_bias.csv`` (optional)
    RoB 2 (Sterne et al., BMJ 2019): one row per study and outcome. ``study``, ``outcome``,
    ``D1`` … ``D5`` (randomization process; deviations from intended interventions; missing
    outcome data; measurement of the outcome; selection of the reported result) and
    ``overall``, each ``low``, ``some concerns`` or ``high``; ``D1_support`` … ``D5_support``
    and ``overall_support`` (the support for each judgement, required), ``source``
    (required: where the judgements come from), ``note``, ``who`` and ``when`` (ISO 8601) of
    the last edit. The overall judgement follows RoB 2's rule (see
    :func:`trialsynth.io.review.rob.read_risk_of_bias`).

``rob2_signalling.csv`` (optional)
    RoB 2 signalling answers: ``study``, ``outcome``, ``variant`` (``assignment`` or
    ``adhering``), ``question`` ("1.1" … "5.3"), ``answer`` (Y, PY, PN, N, NI; NA where the
    guidance offers it), ``comment``, ``who``, ``when``. The suggested judgements of the
    guidance's algorithms (:mod:`trialsynth.io.review.rob2`) are computed at load
    (:attr:`Review.rob2_signalling`; :mod:`trialsynth.io.review.signalling`).

``grade.csv`` (optional)
    GRADE ratings over review.toml's: ``outcome``, ``domain`` (the five above, or
    ``large_effect``, ``dose_response``, ``plausible_confounding`` to rate up), ``rating``,
    ``reason`` (required unless 0), ``who``, ``when`` (:mod:`trialsynth.io.review.grade`).
    Edits of these files, one at a time with stale-edit protection:
    :mod:`trialsynth.io.review.assess`.

All files are UTF-8. CSV rows are numbered as a spreadsheet shows them (header = row 1);
column names match ignoring case and surrounding spaces; blank rows are ignored. Words from
a fixed list are written exactly as listed. A number that is not known is left blank.
"""

from trialsynth.io.review.load import DATA_COLUMNS, DEFAULT_MODEL, POOLED, load_review
from trialsynth.io.review.model import (
    AnalysisDefaults,
    AnalysisSet,
    BaselineValue,
    Cumulative,
    DataGap,
    Eligibility,
    LeadPosition,
    ModelSpec,
    Moderator,
    Outcome,
    OutcomeRow,
    OutcomeTable,
    Question,
    Reported,
    Review,
    RiskOfBias,
    Search,
    Study,
    Subgroup,
)

__all__ = [
    "DATA_COLUMNS",
    "DEFAULT_MODEL",
    "POOLED",
    "AnalysisDefaults",
    "AnalysisSet",
    "BaselineValue",
    "Cumulative",
    "DataGap",
    "Eligibility",
    "LeadPosition",
    "ModelSpec",
    "Moderator",
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
    "load_review",
]
